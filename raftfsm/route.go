package raftfsm

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
)

// Every request that must run on the leader — a proposal, a read-index
// round, a membership change, and the join or lookup of a process that
// is not a member (which cannot find the leader itself) — reaches it
// through viaLeader: run here when this member leads, else call the
// leader, and try again while the member tried turns out not to lead.

// viaLeader runs a request on the leader: here when this member leads,
// there (given the leader's peer address) when another member does. While
// the member it ran on answers errNotLeader (it did nothing: leadership
// moved), it waits a heartbeat interval and asks again; it waits for a
// leader as waitLeader does. Every other outcome is the caller's.
func viaLeader[T any](ctx context.Context, n *raftNode, here func(context.Context) (T, error), there func(context.Context, string) (T, error)) (T, error) {
	for {
		var res T
		addr, err := n.waitLeader(ctx)
		switch {
		case err != nil:
		case addr == "":
			res, err = here(ctx)
		default:
			res, err = there(ctx, addr)
		}
		if !errors.Is(err, errNotLeader) {
			return res, err
		}
		if !n.pause(ctx, n.cfg.HeartbeatInterval) {
			var none T
			return none, apiError(ErrTimeout)
		}
	}
}

// waitLeader returns the leader's address ("" if it is this member),
// waiting at most three election timeouts (an election, with its
// randomised timeouts, plus a margin) before failing fast with
// ErrNoLeader instead of hanging for the whole request timeout.
func (n *raftNode) waitLeader(ctx context.Context) (string, error) {
	var deadline time.Time // set once there is something to wait for
	for {
		leader, addr := n.raft.State() == raft.Leader, ""
		if !leader {
			a, _ := n.raft.LeaderWithID()
			addr = string(a)
		}
		if leader || addr != "" {
			if !n.sawLeader.Load() { // written once: every proposal passes here
				n.sawLeader.Store(true)
			}
			return addr, nil
		}
		if n.ctx.Err() != nil {
			return "", apiError(ErrStopped)
		}
		if deadline.IsZero() {
			wait := 3 * n.cfg.ElectionTimeout
			if !n.sawLeader.Load() {
				// A member that has not seen a leader since it started is
				// still in its first election: worth waiting for, up to
				// the request timeout.
				wait = n.cfg.RequestTimeout
			}
			deadline = time.Now().Add(wait)
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
func (n *raftNode) pause(ctx context.Context, d time.Duration) bool {
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

// tracked runs goroutines that end with the member (they are bounded by
// its context) and lets Close wait for them; none starts once closed.
type tracked struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// start runs f in a goroutine unless close was called; it reports
// whether it did.
func (t *tracked) start(f func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f()
	}()
	return true
}

// close stops new starts and waits for the running ones.
func (t *tracked) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.wg.Wait()
}

// callFailure maps a failed cluster RPC to the leader to the error its
// caller should see.
func callFailure(ctx context.Context, log *logrus.Entry, err error) error {
	switch {
	case errors.Is(err, errRemote):
		return err // the leader answered: its error stands
	case ctx.Err() != nil:
		return apiError(ErrTimeout)
	case errors.Is(err, errNotSent):
		// Nothing reached the leader (it is probably gone): the caller
		// may wait for the next leader and try again.
		return errNotLeader
	}
	// The connection failed: the leader may or may not have the entry.
	log.WithField("err", err).Warn("cluster RPC to the leader failed")
	return apiError(ErrLeadershipLost)
}
