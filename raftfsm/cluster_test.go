package raftfsm

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// startWith starts tm with extra configuration.
func startWith(t *testing.T, tm *testMember, mod func(*Config)) {
	t.Helper()
	if tm.ln == nil {
		ln, err := net.Listen("tcp", machines.HostPort(tm.m.PeerURLs[0]))
		if err != nil {
			t.Fatal(err)
		}
		tm.ln = ln
	}
	tm.st = store.New()
	cfg := Config{ID: tm.m.ID, Name: tm.m.Name, DataDir: tm.dir, PeerListener: tm.ln,
		PeerURLs: tm.m.PeerURLs, ClientURLs: []string{"http://client-" + tm.m.Name},
		Store: tm.st, Log: testLogger(t), StrictReconfigCheck: true,
		ElectionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tm.node, tm.ln = n, nil
	t.Cleanup(func() { _ = n.Close() })
}

// put writes a key like a client would: retrying when the outcome of a
// write in flight during a leader change is unknown (a plain set is
// idempotent).
func put(t *testing.T, n *Node, key, val string) *store.Event {
	t.Helper()
	for attempt := 0; ; attempt++ {
		ev, err := n.Propose(context.Background(), &store.Request{Method: store.MethodPut, Path: key, Value: val})
		if err == nil {
			return ev
		}
		if attempt >= 5 || !(errors.Is(err, ErrLeadershipLost) || errors.Is(err, ErrNoLeader)) {
			t.Fatalf("put %s: %v", key, err)
		}
	}
}

func sameState(t *testing.T, ms []*testMember) {
	t.Helper()
	eventually(t, "identical stores", func() bool {
		var first []byte
		for i, tm := range ms {
			if tm.node == nil {
				continue
			}
			var b bytesBuf
			_ = tm.st.Save(&b)
			if i == 0 || first == nil {
				first = b.b
			} else if string(b.b) != string(first) {
				return false
			}
		}
		return true
	})
}

// 0.x scripted joins: one member bootstraps, the others join through it,
// two of them at the same time.
func TestJoinByPeers(t *testing.T) {
	t.Parallel()
	ms := newTestCluster(t, 3)
	startWith(t, ms[0], func(c *Config) { c.InitialMembers = []*machines.Member{ms[0].m}; c.ClusterID = 42 })
	eventually(t, "first leader", func() bool { return ms[0].node.IsLeader() })
	errs := make(chan error, 2)
	for _, tm := range ms[1:] {
		startWith(t, tm, nil)
		go func(tm *testMember) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := tm.node.Join(ctx, []string{ms[0].m.PeerAddr()})
			if err == nil && res.ClusterID != 42 {
				err = errors.New("wrong cluster ID")
			}
			errs <- err
		}(tm)
	}
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, tm := range ms {
		eventually(t, "three members everywhere", func() bool { return len(tm.node.Cluster().ClientURLs()) == 3 && len(tm.node.voters()) == 3 })
	}
	put(t, ms[2].node, "/x", "1")
	sameState(t, ms)
	// A repeated join of a member already in the cluster is harmless.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := ms[1].node.Join(ctx, []string{ms[0].m.PeerAddr()}); err != nil {
		t.Errorf("repeated join: %v", err)
	}
}

// Bootstrap five members statically, lose two, keep working; lose the
// leader too and a new one takes over.
func TestFiveMembersFailover(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 5)
	eventually(t, "leader", func() bool { return leaderOf(ms) != nil })
	put(t, leaderOf(ms).node, "/a", "1")
	ld := leaderOf(ms)
	_ = ld.node.Close()
	ld.node = nil
	var rest []*testMember
	for _, tm := range ms {
		if tm.node != nil {
			rest = append(rest, tm)
		}
	}
	eventually(t, "new leader", func() bool { return leaderOf(rest) != nil })
	_ = rest[0].node.Close()
	if rest[0] == leaderOf(rest) {
		eventually(t, "another leader", func() bool { return leaderOf(rest[1:]) != nil })
	}
	rest[0].node = nil
	put(t, rest[1].node, "/b", "2")
	sameState(t, rest[1:])
}

// Runtime reconfiguration with the strict check: on three running voters
// a fourth and a fifth unstarted member may be added, a sixth is refused;
// removing a running member that would leave no running quorum is
// refused, removing an unstarted one is fine.
func TestStrictReconfigCheck(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	for _, tm := range ms {
		startedOK := tm
		eventually(t, "published", func() bool { return len(startedOK.node.Cluster().ClientURLs()) == 3 })
	}
	ld := leaderOf(ms)
	eventually(t, "followers probed", func() bool { return ld.node.monitor.activeCount(ld.node.voters()) == 3 })
	// Ask a follower: it forwards to the leader.
	f := without(ms, ld)[0]
	ctx := context.Background()
	m4, err := f.node.AddMember(ctx, []string{"http://127.0.0.1:1"}, false)
	if err != nil {
		t.Fatalf("4th: %v", err)
	}
	if _, err := f.node.AddMember(ctx, []string{"http://127.0.0.1:2"}, false); err != nil {
		t.Fatalf("5th: %v", err)
	}
	_, err = f.node.AddMember(ctx, []string{"http://127.0.0.1:3"}, false)
	if !errors.Is(err, machines.ErrStrictReconfig) {
		t.Fatalf("6th: got %v, want a strict reconfiguration refusal", err)
	}
	t.Logf("refusal: %v", err)
	// The two unstarted members are in the table, not yet in raft's
	// configuration: they cannot take the quorum away.
	if got := len(ld.node.voters()); got != 3 {
		t.Errorf("raft voters after adding two unstarted members: %d, want 3", got)
	}
	if got := len(ld.node.Cluster().Members); got != 5 {
		t.Errorf("table members: %d, want 5", got)
	}
	put(t, f.node, "/still", "ok")
	if err := f.node.RemoveMember(ctx, f.m.ID); !errors.Is(err, machines.ErrStrictReconfig) {
		t.Fatalf("removing a running member from 3-of-5: got %v", err)
	}
	if err := f.node.RemoveMember(ctx, m4.ID); err != nil {
		t.Fatalf("removing an unstarted member: %v", err)
	}
	if err := f.node.RemoveMember(ctx, m4.ID); !errors.Is(err, machines.ErrIDRemoved) {
		t.Fatalf("removing it again: got %v, want ErrIDRemoved", err)
	}
	if _, err := f.node.AddMember(ctx, []string{ms[0].m.PeerURLs[0]}, false); !errors.Is(err, machines.ErrPeerURLExists) {
		t.Fatalf("duplicate peer URL: got %v", err)
	}
}

// A learner receives the log without voting and is promoted once caught
// up; a removed member learns it was removed.
func TestLearnerPromoteAndRemove(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	eventually(t, "leader", func() bool { return leaderOf(ms) != nil })
	ld := leaderOf(ms)
	for i := 0; i < 20; i++ {
		put(t, ld.node, "/pre", "v")
	}
	extra := newTestCluster(t, 1)[0]
	extra.m.Name = "learner"
	m, err := ld.node.AddMember(context.Background(), extra.m.PeerURLs, true)
	if err != nil {
		t.Fatal(err)
	}
	// etcd 2.x flow: the new process looks itself up, then starts.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := LookupMember(ctx, []string{ms[0].m.PeerAddr()}, extra.m.PeerURLs, nil)
	if err != nil || res.Member.ID != m.ID {
		t.Fatalf("lookup: %+v %v", res, err)
	}
	extra.m.ID = res.Member.ID
	startWith(t, extra, func(c *Config) { c.ClusterID, c.KnownMembers = res.ClusterID, res.Members })
	eventually(t, "learner published", func() bool { return ld.node.Cluster().Members[m.ID].Name == "learner" })
	if len(ld.node.voters()) != 3 {
		t.Fatalf("a learner counts as a voter: %v", ld.node.voters())
	}
	sameState(t, append(ms, extra))
	eventually(t, "promotion", func() bool {
		_, err := ld.node.PromoteMember(context.Background(), m.ID)
		return err == nil
	})
	if len(ld.node.voters()) != 4 {
		t.Fatalf("voters after promotion: %v", ld.node.voters())
	}
	if _, err := ld.node.PromoteMember(context.Background(), m.ID); !errors.Is(err, machines.ErrNotLearner) {
		t.Errorf("second promotion: %v", err)
	}
	if err := ld.node.RemoveMember(context.Background(), m.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-extra.node.Removed():
	case <-time.After(30 * time.Second):
		t.Fatal("removed member was not told")
	}
}

// A member that missed more than SnapshotCount entries catches up from a
// snapshot: the leader compacted the entries it missed.
func TestSnapshotCatchUp(t *testing.T) {
	t.Parallel()
	ms := newTestCluster(t, 3)
	var initial []*machines.Member
	for _, tm := range ms {
		initial = append(initial, tm.m)
	}
	mod := func(c *Config) {
		c.InitialMembers, c.ClusterID = initial, 5
		c.SnapshotCount, c.SnapshotInterval = 30, 50*time.Millisecond
	}
	for _, tm := range ms {
		startWith(t, tm, mod)
	}
	eventually(t, "leader", func() bool { return leaderOf(ms) != nil })
	ld := leaderOf(ms)
	lag := without(ms, ld)[0]
	put(t, ld.node, "/before", "1")
	_ = lag.node.Close()
	lag.node = nil
	for i := 0; i < 300; i++ {
		put(t, ld.node, "/many/k", string(rune('a'+i%26)))
	}
	eventually(t, "leader compacted", func() bool {
		first, _ := ld.node.bolt.FirstIndex()
		return first > 100
	})
	startWith(t, lag, mod)
	sameState(t, ms)
}

// As in etcd, a one-member cluster may always grow: the added member
// enters raft's configuration when it starts, so the single member keeps
// its quorum meanwhile and even an added member that never starts can be
// removed again.
func TestGrowOneMemberCluster(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 1)
	n := ms[0].node
	eventually(t, "leader", func() bool { return n.IsLeader() })
	ghost, err := n.AddMember(context.Background(), []string{"http://127.0.0.1:1"}, false)
	if err != nil {
		t.Fatalf("adding to a one-member cluster: %v", err)
	}
	put(t, n, "/still/writable", "yes")
	if err := n.RemoveMember(context.Background(), ghost.ID); err != nil {
		t.Fatalf("removing the member that never started: %v", err)
	}
	// Now a real second member.
	extra := newTestCluster(t, 1)[0]
	m, err := n.AddMember(context.Background(), extra.m.PeerURLs, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := LookupMember(ctx, []string{ms[0].m.PeerAddr()}, extra.m.PeerURLs, nil)
	if err != nil || res.Member.ID != m.ID {
		t.Fatalf("lookup: %+v %v", res, err)
	}
	extra.m.ID = m.ID
	startWith(t, extra, func(c *Config) { c.ClusterID, c.KnownMembers = res.ClusterID, res.Members })
	eventually(t, "two voters", func() bool { return len(n.voters()) == 2 })
	put(t, extra.node, "/from/second", "ok")
	sameState(t, []*testMember{ms[0], extra})
}
