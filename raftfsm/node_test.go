package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// testLogger routes node logs to t.Log (shown only for failing tests).
// Lines written once the test's cleanups have stopped its nodes are
// dropped: raft's transport ends its connection goroutines after Close
// returns, and a line one of them logs then (a half-read command's
// "transport shutdown") would reach a finished test, which panics.
func testLogger(t testing.TB) *logrus.Entry {
	w := &tWriter{t: t}
	t.Cleanup(w.stop) // registered before the nodes' Close: runs after it
	l := logrus.New()
	l.SetOutput(w)
	l.SetLevel(logrus.InfoLevel)
	return logrus.NewEntry(l)
}

type tWriter struct {
	t    testing.TB
	mu   sync.Mutex // guards done; held across t.Log so stop waits for a line in progress
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(p))
	}
	return len(p), nil
}

func (w *tWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

type testMember struct {
	ln   net.Listener
	m    *machines.Member
	dir  string
	node *Node
	st   *store.Store
}

// newTestCluster prepares n members on loopback listeners.
func newTestCluster(t testing.TB, n int) []*testMember {
	t.Helper()
	var ms []*testMember
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		peer := "http://" + ln.Addr().String()
		m := &machines.Member{Name: "m" + string(rune('0'+i)), PeerURLs: []string{peer}}
		m.ID = machines.NewMemberID(m.PeerURLs, "test", nil)
		ms = append(ms, &testMember{ln: ln, m: m, dir: t.TempDir()})
	}
	return ms
}

func startMember(t testing.TB, tm *testMember, initial []*machines.Member, cid uint64) {
	t.Helper()
	if tm.ln == nil {
		ln, err := net.Listen("tcp", machines.HostPort(tm.m.PeerURLs[0]))
		if err != nil {
			t.Fatal(err)
		}
		tm.ln = ln
	}
	tm.st = store.New()
	node, err := New(Config{
		ID: tm.m.ID, Name: tm.m.Name, DataDir: tm.dir, PeerListener: tm.ln,
		PeerURLs: tm.m.PeerURLs, ClientURLs: []string{"http://client-" + tm.m.Name},
		InitialMembers: initial, ClusterID: cid, Store: tm.st, Log: testLogger(t), StrictReconfigCheck: true,
		ElectionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	tm.node = node
	tm.ln = nil
	t.Cleanup(func() { _ = node.Close() })
}

// bootstrapOf returns the initial member list and cluster ID that
// bootstrap ms as one cluster.
func bootstrapOf(ms []*testMember) ([]*machines.Member, uint64) {
	var initial []*machines.Member
	var ids []uint64
	for _, tm := range ms {
		initial = append(initial, tm.m)
		ids = append(ids, tm.m.ID)
	}
	return initial, machines.NewClusterID(ids)
}

func startCluster(t testing.TB, n int) []*testMember {
	ms := newTestCluster(t, n)
	initial, cid := bootstrapOf(ms)
	for _, tm := range ms {
		startMember(t, tm, initial, cid)
	}
	return ms
}

// eventually polls cond until it holds or the generous deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func leaderOf(ms []*testMember) *testMember {
	for _, tm := range ms {
		if tm.node != nil && tm.node.IsLeader() {
			return tm
		}
	}
	return nil
}

func TestSingleMemberProposeAndInit(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 1)
	n := ms[0].node
	eventually(t, "leader", func() bool { return n.IsLeader() })
	eventually(t, "init applied", func() bool { return ms[0].st.Index() >= 2 })
	ctx := context.Background()
	ev0, err := n.Propose(ctx, &store.Request{Method: store.MethodPut, Path: "/foo", Value: "bar"})
	if err != nil {
		t.Fatal(err)
	}
	if ev0.Node.ModifiedIndex != 3 || n.RaftIndex() == 0 {
		t.Errorf("first user write: index %d (want 3), raft index %d", ev0.Node.ModifiedIndex, n.RaftIndex())
	}
	ev, err := ms[0].st.Get("/_etcd/machines/m0", false, false, time.Now())
	if err != nil || *ev.Node.Value != "etcd=http%3A%2F%2Fclient-m0&raft="+urlEsc(ms[0].m.PeerURLs[0]) {
		t.Errorf("registry entry: %v %v", ev, err)
	}
	_, err = n.Propose(ctx, &store.Request{Method: store.MethodPut, Path: "/foo", Value: "x", PrevValue: "nope"})
	var se *store.Error
	if !errors.As(err, &se) || se.Code != store.EcodeTestFailed {
		t.Errorf("compare failure: got %v", err)
	}
	if err := n.ReadBarrier(ctx); err != nil {
		t.Errorf("read barrier: %v", err)
	}
}

func urlEsc(s string) string {
	r := ""
	for _, c := range s {
		switch c {
		case ':':
			r += "%3A"
		case '/':
			r += "%2F"
		default:
			r += string(c)
		}
	}
	return r
}

func TestThreeMembersReplicateAndForward(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	eventually(t, "leader", func() bool { return leaderOf(ms) != nil })
	eventually(t, "all published", func() bool {
		for _, tm := range ms {
			if len(tm.node.Cluster().ClientURLs()) != 3 {
				return false
			}
		}
		return true
	})
	ld := leaderOf(ms)
	follower := without(ms, ld)[0]
	ctx := context.Background()
	wev, err := follower.node.Propose(ctx, &store.Request{Method: store.MethodPut, Path: "/k", Value: "v"})
	if err != nil {
		t.Fatal(err)
	}
	// A local read after the answer waits for the read fence, then sees
	// the write.
	if err := follower.node.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if ev, err := follower.st.Get("/k", false, false, time.Now()); err != nil || *ev.Node.Value != "v" {
		t.Fatalf("follower did not apply its own forwarded write: %v", err)
	}
	if err := follower.node.ReadBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tm := range ms {
		eventually(t, "replication to "+tm.m.Name, func() bool { return tm.st.Index() >= wev.Node.ModifiedIndex })
	}
	var buf1, buf2 []byte
	for i, tm := range ms {
		var b bytesBuf
		if err := tm.st.Save(&b); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			buf1 = b.b
		} else {
			buf2 = b.b
			if string(buf1) != string(buf2) {
				t.Errorf("member %d's store differs from member 0's", i)
			}
		}
	}
}

type bytesBuf struct{ b []byte }

func (w *bytesBuf) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

// Concurrent writes share fsyncs: raft appends them in batches, so the
// number of durable appends stays well below the number of writes.
func TestConcurrentWritesAreBatched(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 1)
	n := ms[0].node
	eventually(t, "leader", func() bool { return n.IsLeader() })
	before := n.logStats()
	const writers = 200
	type outcome struct {
		key string
		ev  *store.Event
		err error
	}
	out := make(chan outcome, writers)
	for i := 0; i < writers; i++ {
		go func(i int) {
			key := fmt.Sprintf("/b/%d", i)
			ev, err := n.Propose(context.Background(), &store.Request{Method: store.MethodPut, Path: key, Value: key})
			out <- outcome{key, ev, err}
		}(i)
	}
	indexes := map[uint64]string{}
	for i := 0; i < writers; i++ {
		o := <-out
		if o.err != nil {
			t.Fatal(o.err)
		}
		// Each write of a batch is its own store write, with its own
		// index and its own answer.
		if o.ev.Node.Key != o.key || *o.ev.Node.Value != o.key {
			t.Fatalf("write of %s answered with %s=%s", o.key, o.ev.Node.Key, *o.ev.Node.Value)
		}
		if other, dup := indexes[o.ev.EtcdIndex]; dup {
			t.Fatalf("%s and %s share index %d", o.key, other, o.ev.EtcdIndex)
		}
		indexes[o.ev.EtcdIndex] = o.key
	}
	after := n.logStats()
	entries, batches := after.Entries-before.Entries, after.Batches-before.Batches
	t.Logf("%d writes: %d entries in %d durable appends", writers, entries, batches)
	if batches*2 > writers || entries > writers {
		t.Errorf("%d writes took %d entries in %d appends; want at most one append per two writes", writers, entries, batches)
	}
}

// A linearizable read appends nothing to the raft log.
func TestReadBarrierAppendsNothing(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	eventually(t, "leader", func() bool { return leaderOf(ms) != nil })
	for _, tm := range ms {
		eventually(t, "ready and published", func() bool {
			return tm.node.ReadBarrier(context.Background()) == nil && len(tm.node.Cluster().ClientURLs()) == 3
		})
	}
	ld := leaderOf(ms)
	last := ld.node.raft.LastIndex()
	for i := 0; i < 50; i++ {
		for _, tm := range ms {
			if err := tm.node.ReadBarrier(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := ld.node.raft.LastIndex(); got != last {
		t.Errorf("150 quorum reads moved the log from %d to %d", last, got)
	}
}

// TTL keys expire through the leader's sync command; a watcher sees the
// expire event, and every member removes the key at the same index.
func TestTTLExpiresThroughLeader(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	eventually(t, "leader", func() bool { return leaderOf(ms) != nil })
	var follower *testMember
	for _, tm := range ms {
		if !tm.node.IsLeader() {
			follower = tm
		}
	}
	ev, err := follower.node.Propose(context.Background(), &store.Request{Method: store.MethodPut, Path: "/ttl", Value: "v", HasTTL: true, TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// As a client's watch does: after the read fence.
	if err := follower.node.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	w, err := follower.st.Watch("/ttl", false, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Remove()
	var expireIndex uint64
	select {
	case e := <-w.EventChan():
		if e.Action != store.ActionExpire || e.Node.CreatedIndex != ev.Node.ModifiedIndex {
			t.Fatalf("watcher got %+v, want the expiry of the key created at %d", e, ev.Node.ModifiedIndex)
		}
		expireIndex = e.Node.ModifiedIndex
	case <-time.After(30 * time.Second):
		t.Fatal("TTL key never expired")
	}
	for _, tm := range ms {
		eventually(t, "expiry on "+tm.m.Name, func() bool {
			_, err := tm.st.Get("/ttl", false, false, time.Now())
			if err == nil {
				return false
			}
			h, err := tm.st.Watch("/ttl", false, false, expireIndex)
			if err != nil {
				return false
			}
			defer h.Remove()
			select {
			case e := <-h.EventChan():
				return e.Action == store.ActionExpire && e.Node.ModifiedIndex == expireIndex
			default:
				return false
			}
		})
	}
}

// Snapshots are taken every SnapshotCount entries and the log is
// compacted; a restarted member comes back from snapshot + log.
func TestSnapshotCompactionAndRestart(t *testing.T) {
	t.Parallel()
	ms := newTestCluster(t, 1)
	tm := ms[0]
	tm.st = store.New()
	cfg := Config{ID: tm.m.ID, Name: tm.m.Name, DataDir: tm.dir, PeerListener: tm.ln, PeerURLs: tm.m.PeerURLs,
		ClientURLs: []string{"http://c"}, InitialMembers: []*machines.Member{tm.m}, ClusterID: 7, Store: tm.st,
		Log: testLogger(t), SnapshotCount: 40, SnapshotInterval: 50 * time.Millisecond,
		ElectionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "leader", func() bool { return n.IsLeader() })
	for i := 0; i < 300; i++ {
		if _, err := n.Propose(context.Background(), &store.Request{Method: store.MethodPut, Path: "/s/k" + string(rune('a'+i%26)), Value: "v" + string(rune('0'+i%10))}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "log compaction", func() bool {
		first, _ := n.bolt.FirstIndex()
		return first > 100
	})
	want := tm.st.Index()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", machines.HostPort(tm.m.PeerURLs[0]))
	if err != nil {
		t.Fatal(err)
	}
	st2 := store.New()
	cfg.Store, cfg.PeerListener = st2, ln
	n2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n2.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n2.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if got := st2.Index(); got < want {
		t.Errorf("restarted store index %d, want %d", got, want)
	}
	var a, b bytesBuf
	_ = tm.st.Save(&a)
	eventually(t, "same state after restart", func() bool {
		b = bytesBuf{}
		_ = st2.Save(&b)
		return string(a.b) == string(b.b)
	})
}

// --snapshot-count counts writes, not log entries: concurrent writes
// batched into a handful of entries still bring a snapshot every
// SnapshotCount of them.
func TestSnapshotCountCountsBatchedWrites(t *testing.T) {
	t.Parallel()
	ms := newTestCluster(t, 1)
	tm := ms[0]
	startWith(t, tm, func(c *Config) {
		c.InitialMembers, c.ClusterID = []*machines.Member{tm.m}, 7
		// raft's own entry-count trigger stays out of reach.
		c.SnapshotCount, c.SnapshotInterval = 100, time.Hour
	})
	n := tm.node
	eventually(t, "leader", func() bool { return n.IsLeader() })
	before := n.logStats().Entries
	const writers = 300
	errs := make(chan error, writers)
	for i := 0; i < writers; i++ {
		go func(i int) {
			_, err := n.Propose(context.Background(), &store.Request{Method: store.MethodPut, Path: fmt.Sprintf("/s/%d", i), Value: "v"})
			errs <- err
		}(i)
	}
	for i := 0; i < writers; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	entries := n.logStats().Entries - before
	if entries >= 100 {
		t.Skipf("%d writes took %d entries: not batched enough to tell the counts apart", writers, entries)
	}
	eventually(t, "a snapshot", func() bool {
		snaps, err := os.ReadDir(filepath.Join(tm.dir, "member", "snapshots"))
		return err == nil && len(snaps) > 0
	})
	t.Logf("%d writes in %d entries brought a snapshot", writers, entries)
}

// A request that cannot be encoded fails alone; the writes batched with
// it still commit.
func TestBatchIsolatesBadRequest(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 1)
	n := ms[0].node
	eventually(t, "leader", func() bool { return n.IsLeader() })
	mk := func(method, key string) *pendingWrite {
		return &pendingWrite{req: &store.Request{Method: method, Path: key, Value: "v"}, done: make(chan writeOutcome, 1)}
	}
	batch := []*pendingWrite{mk(store.MethodPut, "/ok/1"), mk("PATCH", "/bad"), mk(store.MethodPut, "/ok/2")}
	n.props.writes.inflight <- struct{}{} // what run does before proposing
	n.props.writes.propose(append([]*pendingWrite(nil), batch...))
	for i, w := range batch {
		o := <-w.done
		if (o.err != nil) != (i == 1) {
			t.Fatalf("write %d (%s %s): %v", i, w.req.Method, w.req.Path, o.err)
		}
		if i != 1 && (o.res.Event == nil || o.res.Event.Node.Key != w.req.Path) {
			t.Fatalf("write %d answered with %+v", i, o.res.Event)
		}
	}
}
