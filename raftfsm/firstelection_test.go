package raftfsm

import (
	"testing"
	"time"
)

// A cluster stopped and started again as a whole elects as soon as its
// members see each other (firstelection.go), not after raft's own
// follower timeout. With a 9 s election timeout raft would stand no
// earlier than 6 s after a start; the kick stands within half of that
// once a quorum answers.
func TestRestartedClusterElectsWithoutWaitingOutTimeouts(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	_, cid := bootstrapOf(ms)
	eventually(t, "leader", func() bool { return leaderOf(ms) != nil })
	put(t, leaderOf(ms).node, "/k", "v")
	for _, tm := range ms {
		if err := tm.node.Close(); err != nil {
			t.Fatal(err)
		}
		tm.node = nil
	}
	const election = 9 * time.Second
	start := time.Now()
	for _, tm := range ms {
		// The cluster ID comes from the data dir's identity, as the server
		// passes it on a restart.
		startWith(t, tm, func(c *Config) { c.ElectionTimeout, c.ClusterID = election, cid })
	}
	deadline := start.Add(followerTimeout(election) * 9 / 10)
	for leaderOf(ms) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no leader %v after the restart: the first election waited for raft's follower timeout", time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("leader after %v", time.Since(start))
	// Every member goes back to the configured timeouts once it knows the
	// leader.
	want := followerTimeout(election)
	eventually(t, "configured timeouts restored", func() bool {
		for _, tm := range ms {
			rc := tm.node.raft.ReloadableConfig()
			if rc.HeartbeatTimeout != want || rc.ElectionTimeout != want {
				return false
			}
		}
		return true
	})
	eventually(t, "the write before the stop on every member", func() bool {
		for _, tm := range ms {
			if _, err := tm.st.Get("/k", false, false, time.Now()); err != nil {
				return false
			}
		}
		return true
	})
}

// --initial-election-tick-advance=false (Config.NoEarlyElection): no
// early first election, whatever the member's state.
func TestNoEarlyElectionTurnsTheKickOff(t *testing.T) {
	n := &raftNode{hasState: true, cfg: Config{NoEarlyElection: true}}
	if k := newElectionKick(n); k != nil {
		t.Fatal("an early election with NoEarlyElection set")
	}
}
