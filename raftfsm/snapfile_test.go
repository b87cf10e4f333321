package raftfsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// offsetClock is the system clock moved by a fixed offset: a member that
// starts "an hour later".
type offsetClock struct{ d time.Duration }

func (c offsetClock) Now() time.Time { return time.Now().Add(c.d) }
func (c offsetClock) NewTicker(d time.Duration) (<-chan time.Time, func()) {
	return SystemClock{}.NewTicker(d)
}

// snapshotOf takes a snapshot file of a running member.
func snapshotOf(t *testing.T, n *Node) []byte {
	t.Helper()
	ss, err := NewSnapshotSource(n).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	var b bytes.Buffer
	if _, err := ss.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A snapshot file of a member holds exactly its store (the same bytes
// when saved again) at the raft and store indexes its header names; a
// second snapshot with nothing applied in between is the same state; any
// flipped byte or truncation is refused.
func TestSnapshotFile(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 1)
	n := ms[0].node
	eventually(t, "leader", func() bool { return n.IsLeader() })
	for i := 0; i < 50; i++ {
		put(t, n, fmt.Sprintf("/d/k%02d", i), "v")
	}
	put(t, n, "/_hidden", "h")
	ttl := &store.Request{Method: store.MethodPut, Path: "/ttl", Value: "t", TTL: 100 * time.Second, HasTTL: true}
	if _, err := n.Propose(context.Background(), ttl); err != nil {
		t.Fatal(err)
	}
	raw := snapshotOf(t, n)
	again := snapshotOf(t, n) // nothing new: raft's last snapshot
	f, err := ReadSnapshotFile(bytes.NewReader(raw), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want, got bytes.Buffer
	_ = ms[0].st.Save(&want)
	_ = f.State.Store().Save(&got)
	if !bytes.Equal(want.Bytes(), got.Bytes()) {
		t.Errorf("the file's store differs from the member's")
	}
	if f.Info.StoreIndex != ms[0].st.Index() || f.Info.RaftIndex != n.RaftIndex() || f.Size != int64(len(raw)) {
		t.Errorf("header %+v (size %d), member at store %d raft %d (file %d bytes)", f.Info, f.Size, ms[0].st.Index(), n.RaftIndex(), len(raw))
	}
	g, err := ReadSnapshotFile(bytes.NewReader(again), 0, nil)
	if err != nil || g.Info.StoreIndex != f.Info.StoreIndex || g.Info.RaftIndex != f.Info.RaftIndex {
		t.Errorf("second snapshot: %+v %v", g, err)
	}
	for _, at := range []int{3, 20, len(raw) / 2, len(raw) - 40, len(raw) - 1} {
		bad := bytes.Clone(raw)
		bad[at] ^= 0x20
		if _, err := ReadSnapshotFile(bytes.NewReader(bad), 0, nil); !errors.Is(err, ErrBadSnapshotFile) {
			t.Errorf("byte %d flipped: %v, want ErrBadSnapshotFile", at, err)
		}
	}
	for _, n := range []int{0, 8, len(raw) / 2, len(raw) - 1} {
		if _, err := ReadSnapshotFile(bytes.NewReader(raw[:n]), 0, nil); !errors.Is(err, ErrBadSnapshotFile) {
			t.Errorf("truncated to %d bytes: %v, want ErrBadSnapshotFile", n, err)
		}
	}
	if _, err := ReadSnapshotFile(bytes.NewReader(append(bytes.Clone(raw), 0)), 0, nil); !errors.Is(err, ErrBadSnapshotFile) {
		t.Errorf("a byte appended: %v", err)
	}
}

// A snapshot file restored into three new members (WriteDataDir with the
// new membership) starts a new cluster with every key, its own cluster ID
// and members, the old registry gone, the store index going on from the
// file's; the members start "an hour later" and the TTL key still has
// the time it had left when the snapshot was taken. Without the TTL base
// it would have expired.
func TestRestoreSnapshotIntoNewCluster(t *testing.T) {
	t.Parallel()
	src := newTestCluster(t, 1)
	src[0].m.Name = "source"
	initial, cid := bootstrapOf(src)
	startMember(t, src[0], initial, cid)
	n := src[0].node
	eventually(t, "leader", func() bool { return n.IsLeader() })
	for i := 0; i < 20; i++ {
		put(t, n, fmt.Sprintf("/k%02d", i), "v")
	}
	ttl := &store.Request{Method: store.MethodPut, Path: "/ttl", Value: "t", TTL: 100 * time.Second, HasTTL: true}
	if _, err := n.Propose(context.Background(), ttl); err != nil {
		t.Fatal(err)
	}
	f, err := ReadSnapshotFile(bytes.NewReader(snapshotOf(t, n)), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw := snapshotOf(t, n)
	ms := newTestCluster(t, 3)
	initial, cid = bootstrapOf(ms)
	for _, tm := range ms {
		g, err := ReadSnapshotFile(bytes.NewReader(raw), 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.State.WriteDataDir(DataDirSpec{Dir: tm.dir, ClusterID: cid, Members: initial, TTLBase: g.Info.TakenAt}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.State.WriteDataDir(DataDirSpec{Dir: ms[0].dir, ClusterID: cid, Members: initial}); err == nil {
		t.Errorf("WriteDataDir over a member's data: no error")
	}
	later := offsetClock{time.Hour}
	for _, tm := range ms {
		startWith(t, tm, func(c *Config) { c.Existing, c.ClusterID, c.Clock = true, cid, later })
	}
	eventually(t, "a leader", func() bool { return leaderOf(ms) != nil })
	ld := leaderOf(ms)
	ev := put(t, ld.node, "/after", "1")
	if ev.Node.ModifiedIndex <= f.Info.StoreIndex {
		t.Errorf("first write at index %d, the file's store index is %d", ev.Node.ModifiedIndex, f.Info.StoreIndex)
	}
	sameState(t, ms)
	for _, tm := range ms {
		for i := 0; i < 20; i++ {
			if _, err := tm.st.Get(fmt.Sprintf("/k%02d", i), false, false, later.Now()); err != nil {
				t.Fatalf("%s: /k%02d: %v", tm.m.Name, i, err)
			}
		}
		e, err := tm.st.Get("/ttl", false, false, later.Now())
		if err != nil {
			t.Fatalf("%s: /ttl an hour later: %v", tm.m.Name, err)
		}
		if e.Node.TTL < 95 || e.Node.TTL > 100 {
			t.Errorf("%s: /ttl an hour later has %d s left, want about 100", tm.m.Name, e.Node.TTL)
		}
		if _, err := tm.st.Get(machines.RegistryKey(src[0].m.Name), false, false, later.Now()); err == nil {
			t.Errorf("%s: the old member's registry key is still there", tm.m.Name)
		}
		if tm.node.ClusterID() != cid {
			t.Errorf("%s: cluster ID %x, want %x", tm.m.Name, tm.node.ClusterID(), cid)
		}
	}
	eventually(t, "three published members", func() bool { return len(ld.node.Cluster().ClientURLs()) == 3 })
}

// A stopped member's data dir read offline (ReadDataDir) holds every
// acknowledged write, and one still in use is refused.
func TestReadDataDir(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 1)
	n := ms[0].node
	eventually(t, "leader", func() bool { return n.IsLeader() })
	for i := 0; i < 30; i++ {
		put(t, n, fmt.Sprintf("/k%02d", i), "v")
	}
	if _, err := ReadDataDir(ms[0].dir, n.ID(), 0, nil); err == nil {
		t.Errorf("read the data dir of a running member: no error")
	}
	var want bytes.Buffer
	_ = ms[0].st.Save(&want)
	_ = n.Close()
	st, err := ReadDataDir(ms[0].dir, n.ID(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	_ = st.Store().Save(&got)
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Errorf("the offline state differs from the member's")
	}
	if st.RaftIndex() < n.RaftIndex() || len(st.servers) != 1 {
		t.Errorf("raft index %d (member %d), configuration %v", st.RaftIndex(), n.RaftIndex(), st.servers)
	}
}
