package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// Three members take writes through each of them; two are lost for good.
// The survivor, restarted with ForceNewCluster, leads a cluster of itself
// alone with every acknowledged write, has removed the lost members from
// the table and the registry (a replicated command: the store index moves
// on), refuses their hellos, and takes a new member by a 0.x join; the two
// end with the same state. Without ForceNewCluster the survivor never
// elects itself.
func TestForceNewCluster(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	eventually(t, "leader", func() bool { return leaderOf(ms) != nil })
	const writes = 30
	for i := 0; i < writes; i++ {
		put(t, ms[i%3].node, fmt.Sprintf("/k%d", i), "v")
	}
	survivor, lost := ms[0], ms[1:]
	cid := survivor.node.ClusterID()
	for _, tm := range ms {
		_ = tm.node.Close()
		tm.node = nil
	}
	before := time.Now()
	startWith(t, survivor, func(c *Config) { c.ForceNewCluster, c.Existing, c.ClusterID = true, true, cid })
	n := survivor.node
	eventually(t, "the survivor leads alone", func() bool { return n.IsLeader() })
	t.Logf("leader %v after the restart", time.Since(before))
	for i := 0; i < writes; i++ {
		if _, err := survivor.st.Get(fmt.Sprintf("/k%d", i), false, false, time.Now()); err != nil {
			t.Fatalf("acknowledged write /k%d: %v", i, err)
		}
	}
	eventually(t, "the lost members removed from the table", func() bool {
		c := n.Cluster()
		return len(c.Members) == 1 && c.Members[n.ID()] != nil && c.Removed[lost[0].m.ID] && c.Removed[lost[1].m.ID]
	})
	if v := n.voters(); !slices.Equal(v, []uint64{n.ID()}) {
		t.Errorf("raft voters %v, want only the survivor", v)
	}
	if _, err := os.Stat(filepath.Join(survivor.dir, "member", recoveryFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there once recorded: %v", recoveryFileName, err)
	}
	for _, tm := range lost {
		if _, err := survivor.st.Get(machines.RegistryKey(tm.m.Name), false, false, time.Now()); err == nil {
			t.Errorf("registry key of lost member %s still there", tm.m.Name)
		}
		err := n.checkHello(protoRaft, hello{Version: helloVersion, ClusterID: cid, MemberID: tm.m.ID})
		if err == nil {
			t.Errorf("the hello of lost member %s is accepted", tm.m.Name)
		}
	}
	put(t, n, "/after", "1")

	// A new member joins the survivor the 0.x way and gets everything.
	nm := newTestCluster(t, 1)[0]
	nm.m.Name = "new"
	startWith(t, nm, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := nm.node.Join(ctx, []string{survivor.m.PeerAddr()}); err != nil {
		t.Fatalf("join the forced cluster: %v", err)
	}
	eventually(t, "two voters", func() bool { return len(n.voters()) == 2 })
	put(t, nm.node, "/joined", "1")
	sameState(t, []*testMember{survivor, nm})
}

// A forced new cluster restarted before it recorded the removals keeps
// refusing the lost members (recovery.json), then records them; a damaged
// record stops the start with one line naming the file.
func TestRecoveryRecord(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, recoveryFileName)
	var r recovery
	if err := r.load(path); err != nil || r.pending() {
		t.Fatalf("no record: pending %v, err %v", r.pending(), err)
	}
	if err := r.record([]uint64{7, 3}); err != nil {
		t.Fatal(err)
	}
	var again recovery
	if err := again.load(path); err != nil {
		t.Fatal(err)
	}
	if !again.pending() || !again.removes(3) || !again.removes(7) || again.removes(5) || !slices.Equal(again.ids(), []uint64{3, 7}) {
		t.Errorf("reloaded record: pending %v ids %v", again.pending(), again.ids())
	}
	b, _ := os.ReadFile(path)
	b[len(b)-5] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var damaged recovery
	if err := damaged.load(path); !errors.Is(err, ErrDamaged) {
		t.Errorf("damaged record: %v, want ErrDamaged", err)
	}
	if err := again.done(); err != nil || again.pending() || !again.removes(3) {
		t.Errorf("done: %v, pending %v", err, again.pending())
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("record not deleted: %v", err)
	}
}

// ForceNewCluster on a member without raft state is a normal first start.
func TestForceNewClusterFirstStart(t *testing.T) {
	t.Parallel()
	ms := newTestCluster(t, 1)
	initial, cid := bootstrapOf(ms)
	startWith(t, ms[0], func(c *Config) { c.ForceNewCluster, c.InitialMembers, c.ClusterID = true, initial, cid })
	eventually(t, "leader", func() bool { return ms[0].node.IsLeader() })
	if _, err := ms[0].node.Propose(context.Background(), &store.Request{Method: store.MethodPut, Path: "/x", Value: "1"}); err != nil {
		t.Fatal(err)
	}
}
