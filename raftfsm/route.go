package raftfsm

import (
	"context"
	"time"

	"github.com/hashicorp/raft"
)

// waitLeader returns the leader's address ("" if it is this member),
// waiting at most three election timeouts (an election, with its
// randomised timeouts, plus a margin) before failing fast with
// ErrNoLeader instead of hanging for the whole request timeout.
func (n *Node) waitLeader(ctx context.Context) (string, error) {
	wait := 3 * n.cfg.ElectionTimeout
	if !n.sawLeader.Load() {
		// A member that has not seen a leader since it started is still
		// in its first election: worth waiting for, up to the request
		// timeout.
		wait = n.cfg.RequestTimeout
	}
	deadline := time.Now().Add(wait)
	for {
		if n.raft.State() == raft.Leader {
			n.sawLeader.Store(true)
			return "", nil
		}
		if addr, _ := n.raft.LeaderWithID(); addr != "" {
			n.sawLeader.Store(true)
			return string(addr), nil
		}
		if n.ctx.Err() != nil {
			return "", apiError(ErrStopped)
		}
		if time.Now().After(deadline) {
			return "", apiError(ErrNoLeader)
		}
		if !n.pause(ctx, 10*time.Millisecond) {
			return "", apiError(ErrNoLeader)
		}
	}
}

// pause waits d unless ctx or the node ends first; it reports whether the
// full pause elapsed. (A back-off between retries, not synchronisation.)
func (n *Node) pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-n.ctx.Done():
		return false
	}
}
