package raftfsm

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// Followers apply a write without waiting for raft's CommitTimeout: the
// leader's commit notice, or the answer to a forwarded write, tells them
// it is committed. With a heartbeat interval of 900 ms raft's backstop is
// 4.5 s; every member must apply each write (the last of its burst, so
// no later entry carries the news) well before that.
func TestFollowersApplyWithoutCommitTimeout(t *testing.T) {
	t.Parallel()
	ms := newTestCluster(t, 3)
	initial, cid := bootstrapOf(ms)
	for _, tm := range ms {
		startWith(t, tm, func(c *Config) {
			c.InitialMembers, c.ClusterID = initial, cid
			c.HeartbeatInterval = 900 * time.Millisecond
		})
	}
	eventually(t, "leader", func() bool { return leaderOf(ms) != nil })
	ld := leaderOf(ms)
	fs := without(ms, ld)
	backstop := 5 * ms[0].node.cfg.HeartbeatInterval
	for i, via := range []*testMember{ld, fs[0], fs[1], ld} {
		start := time.Now()
		ev := put(t, via.node, "/fresh", string(rune('a'+i)))
		for _, tm := range ms {
			for tm.st.Index() < ev.Node.ModifiedIndex {
				if time.Since(start) > backstop/2 {
					t.Fatalf("write %d through %s: %s had not applied it %v later (raft's backstop: %v)", i, via.m.Name, tm.m.Name, time.Since(start).Round(time.Millisecond), backstop)
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
}

// A follower answers a forwarded write before applying it; its read fence
// makes WaitReady (every local read) wait until it has. A write through
// the leader raises no fence.
func TestForwardedWriteRaisesTheReadFence(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	eventually(t, "leader", func() bool { return leaderOf(ms) != nil })
	ld := leaderOf(ms)
	f := without(ms, ld)[0]
	before := ld.node.fence.get()
	put(t, ld.node, "/a", "1")
	if got := ld.node.fence.get(); got != before {
		t.Errorf("a write on the leader moved its fence from %d to %d", before, got)
	}
	put(t, f.node, "/b", "2")
	fence := f.node.fence.get()
	if fence == 0 || f.node.RaftIndex() < fence {
		t.Fatalf("forwarded write: fence %d, RaftIndex %d", fence, f.node.RaftIndex())
	}
	if err := f.node.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.node.fsm.AppliedIndex() < fence {
		t.Errorf("WaitReady returned with %d applied, below the fence %d", f.node.fsm.AppliedIndex(), fence)
	}
	if ev, err := f.st.Get("/b", false, false, time.Now()); err != nil || *ev.Node.Value != "2" {
		t.Errorf("after WaitReady: %v %v", ev, err)
	}
	// An application error (a failed compare) is committed too, and
	// fences like a write.
	_, err := f.node.Propose(context.Background(), &store.Request{Method: store.MethodPut, Path: "/b", Value: "3", PrevValue: "nope"})
	if err == nil {
		t.Fatal("compare-and-swap with a wrong prevValue succeeded")
	}
	if got := f.node.fence.get(); got <= fence {
		t.Errorf("a failed compare left the fence at %d (was %d)", got, fence)
	}
}

func TestDecodeCommitNotice(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		in          []byte
		index, term uint64
		ok          bool
	}{
		{"valid", []byte{0x96, 0x01, 0x07}, 150, 7, true},
		{"empty", nil, 0, 0, false},
		{"no term", []byte{0x05}, 0, 0, false},
		{"trailing bytes", []byte{0x05, 0x01, 0x00}, 0, 0, false},
		{"truncated varint", []byte{0x05, 0x80}, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			index, term, err := decodeCommitNotice(tc.in)
			if (err == nil) != tc.ok || index != tc.index || term != tc.term {
				t.Errorf("got %d %d %v, want %d %d ok=%v", index, term, err, tc.index, tc.term, tc.ok)
			}
		})
	}
}

// countConn counts the writes that reach the socket.
type countConn struct {
	net.Conn
	writes atomic.Int32
}

func (c *countConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return len(p), nil
}

func (c *countConn) SetWriteDeadline(time.Time) error { return nil }

// Frames written while other writers wait share one flush: the last of
// them flushes for all.
func TestFrameWriterSharesFlushes(t *testing.T) {
	t.Parallel()
	c := &countConn{}
	w := frameWriter{bw: bufio.NewWriter(c)}
	w.mu.Lock() // a writer in progress
	const waiting = 5
	var wg sync.WaitGroup
	for i := 0; i < waiting; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := w.write(c, func(bw *bufio.Writer) error {
				writeFrame(bw, uint32(i), statusOK, []byte("payload"))
				return nil
			}); err != nil {
				t.Error(err)
			}
		}(i)
	}
	eventually(t, "writers waiting", func() bool { return w.waiting.Load() == waiting })
	w.mu.Unlock()
	wg.Wait()
	if got := c.writes.Load(); got != 1 {
		t.Errorf("%d frames written while the others waited took %d socket writes, want 1", waiting, got)
	}
	// Alone, a writer flushes at once.
	if err := w.write(c, func(bw *bufio.Writer) error { writeFrame(bw, 9, statusOK, nil); return nil }); err != nil {
		t.Fatal(err)
	}
	if got := c.writes.Load(); got != 2 {
		t.Errorf("a lone frame: %d socket writes in all, want 2", got)
	}
}

// Writes a follower forwards at the same time share calls to the leader
// (forward batching); each still gets its own answer.
func TestForwardedWritesShareCalls(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	eventually(t, "leader", func() bool { return leaderOf(ms) != nil })
	ld := leaderOf(ms)
	f := without(ms, ld)[0]
	put(t, f.node, "/warm", "x")
	calls0 := f.node.props.fwd.sent.Load()
	const n = 200
	start := make(chan struct{})
	evs := make([]*store.Event, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			evs[i], errs[i] = f.node.Propose(context.Background(), &store.Request{Method: store.MethodPut, Path: fmt.Sprintf("/fb/%d", i), Value: fmt.Sprint(i)})
		}(i)
	}
	close(start)
	wg.Wait()
	seen := map[uint64]bool{}
	for i, ev := range evs {
		if errs[i] != nil {
			t.Fatalf("write %d: %v", i, errs[i])
		}
		if ev.Node.Key != fmt.Sprintf("/fb/%d", i) || *ev.Node.Value != fmt.Sprint(i) || seen[ev.Node.ModifiedIndex] {
			t.Fatalf("write %d answered with %s=%s at %d", i, ev.Node.Key, *ev.Node.Value, ev.Node.ModifiedIndex)
		}
		seen[ev.Node.ModifiedIndex] = true
	}
	calls := f.node.props.fwd.sent.Load() - calls0
	if calls >= n/2 || f.node.props.fwd.batched.Load() == 0 {
		t.Errorf("%d concurrent forwarded writes took %d calls (%d in batches)", n, calls, f.node.props.fwd.batched.Load())
	}
	sameState(t, ms)
}

// The leader refuses a batch it cannot take whole, before proposing any
// of it: one holding anything but keys writes, a malformed one, or any
// batch on a follower.
func TestProposeBatchRefusals(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	eventually(t, "leader", func() bool { return leaderOf(ms) != nil })
	ld := leaderOf(ms)
	f := without(ms, ld)[0]
	svc := func(tm *testMember) *peerService {
		return &peerService{raftNode: tm.node.raftNode, p: tm.node.props, m: tm.node.members}
	}
	batch := func(cs ...*command) []byte {
		b := binary.AppendUvarint(nil, uint64(len(cs)))
		for _, c := range cs {
			data, err := encodeCommand(c)
			if err != nil {
				t.Fatal(err)
			}
			b = binary.AppendUvarint(b, uint64(len(data)))
			b = append(b, data...)
		}
		return b
	}
	write := &command{Type: cmdRequest, Req: &store.Request{Method: store.MethodPut, Path: "/refused", Value: "v"}}
	auth := &command{Type: cmdRequest, Req: &store.Request{Method: store.MethodAuth, Auth: &store.AuthChange{}}}
	publish := &command{Type: cmdPublish, Cluster: &clusterCmd{Member: f.m}}
	from := peerIdentity{Member: f.m.ID}
	for _, tc := range []struct {
		name    string
		on      *testMember
		payload []byte
		want    error
	}{
		{"a publish among writes", ld, batch(write, publish), errPeerCall},
		{"an auth change", ld, batch(write, auth), errPeerCall},
		{"empty", ld, binary.AppendUvarint(nil, 0), errPeerCall},
		{"count beyond the bytes", ld, binary.AppendUvarint(nil, 50), errPeerCall},
		{"trailing bytes", ld, append(batch(write), 1), nil}, // any error
		{"on a follower", f, batch(write), errNotLeader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc(tc.on).proposeBatch(context.Background(), from, tc.payload)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	if ev, err := ld.st.Get("/refused", false, false, time.Now()); err == nil {
		t.Errorf("a refused batch wrote %v", ev)
	}
}
