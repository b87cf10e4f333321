package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// Three members, writes acknowledged, all stopped, one restarted alone:
// before any leader exists it has already rebuilt the committed state from
// its own disk (the persisted commit index), but it is not ready — its
// newest entries may be committed without it knowing — so WaitReady fails
// with "no leader". Once the others are back it becomes ready and has
// every acknowledged write.
func TestRestartAloneRestoresCommittedState(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	eventually(t, "leader", func() bool { return leaderOf(ms) != nil })
	ctx := context.Background()
	const writes = 20
	for i := 0; i < writes; i++ {
		if _, err := ms[i%3].node.Propose(ctx, &store.Request{Method: store.MethodPut, Path: fmt.Sprintf("/k%d", i), Value: "v"}); err != nil {
			t.Fatal(err)
		}
	}
	var alone *testMember
	for _, tm := range ms {
		if !tm.node.IsLeader() {
			alone = tm
		}
	}
	for _, tm := range ms {
		if err := tm.node.Close(); err != nil {
			t.Fatal(err)
		}
	}
	initial, cid := bootstrapOf(ms)
	startMember(t, alone, initial, cid)
	// Restored inside New: no leader can exist yet (the others are down).
	if got := alone.st.Index(); got < writes {
		t.Errorf("store index %d right after a restart alone; want the committed writes (>= %d)", got, writes)
	}
	if _, err := alone.st.Get("/k0", false, false, time.Now()); err != nil {
		t.Errorf("first write after a restart alone: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	err := alone.node.WaitReady(wctx)
	cancel()
	if !errors.Is(err, ErrNoLeader) && alone.node.fsm.AppliedIndex() < alone.node.startIndex {
		t.Errorf("WaitReady alone, behind its log: %v, want ErrNoLeader", err)
	}

	for _, tm := range ms {
		if tm != alone {
			startMember(t, tm, initial, cid)
		}
	}
	wctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := alone.node.WaitReady(wctx); err != nil {
		t.Fatalf("WaitReady with the others back: %v", err)
	}
	for i := 0; i < writes; i++ {
		if _, err := alone.st.Get(fmt.Sprintf("/k%d", i), false, false, time.Now()); err != nil {
			t.Errorf("acknowledged write %d missing once ready: %v", i, err)
		}
	}
}

// A member whose whole log is committed (a lone member after a clean
// stop) restores it before raft starts and is ready at once.
func TestRestartSingleMemberRestoresBeforeElection(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 1)
	tm := ms[0]
	eventually(t, "leader", func() bool { return tm.node.IsLeader() })
	for i := 0; i < 5; i++ {
		if _, err := tm.node.Propose(context.Background(), &store.Request{Method: store.MethodPut, Path: fmt.Sprintf("/k%d", i), Value: "v"}); err != nil {
			t.Fatal(err)
		}
	}
	want := tm.st.Index()
	if err := tm.node.Close(); err != nil {
		t.Fatal(err)
	}
	initial, cid := bootstrapOf(ms)
	startMember(t, tm, initial, cid)
	// The last write's commit reached the disk with the leader's next
	// append at the earliest; everything before it is there at once.
	if got := tm.st.Index(); got < want-1 {
		t.Errorf("store index %d right after restart, want at least %d", got, want-1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tm.node.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if got := tm.st.Index(); got < want {
		t.Errorf("store index %d once ready, want %d", got, want)
	}
}
