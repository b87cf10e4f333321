package raftfsm

import (
	"context"
	"sync/atomic"
)

// A restarted member must not answer from a state older than one it has
// already shown: before it was stopped it may have acknowledged writes
// and served reads up to its commit index, and the commit index it
// persisted with its log (commit tracking, restored inside NewRaft) lags
// that by up to one append. So local reads wait until the member is
// ready: either its FSM has applied every entry its log held at start
// (startIndex), or a leader has confirmed a commit index (a read-index
// round, which covers everything any earlier leader committed) and the
// FSM has applied up to it. The second way matters when the tail of the
// log was never committed and a new leader replaced it: startIndex might
// then never be reached. Without a leader and without the whole log
// applied, the member is not ready, and WaitReady fails after its
// context, as etcd serves nothing until it has joined its cluster.

// readiness tells when a started member may serve local reads (see
// above).
type readiness struct {
	*raftNode
	reads      *readBatcher  // read-index rounds (the proposer's)
	startIndex uint64        // last command or configuration entry in the log at start
	ch         chan struct{} // closed once local reads may be served
}

func newReadiness(n *raftNode, reads *readBatcher) *readiness {
	return &readiness{raftNode: n, reads: reads, startIndex: n.logSum.lastVisible, ch: make(chan struct{})}
}

// run closes rd.ch once the member is ready (see above).
func (rd *readiness) run() {
	for rd.ctx.Err() == nil {
		if rd.fsm.applied.get() >= rd.startIndex || rd.caughtUpWithLeader() {
			close(rd.ch)
			rd.log.WithField("raft_index", rd.fsm.applied.get()).Info("caught up: serving reads")
			return
		}
		rd.pause(rd.ctx, rd.cfg.HeartbeatInterval)
	}
}

// caughtUpWithLeader makes one attempt, bounded by the request timeout,
// to learn the leader's commit index and apply up to it (or up to
// startIndex if that is lower). It also returns true as soon as the FSM
// reaches startIndex by itself.
func (rd *readiness) caughtUpWithLeader() bool {
	ctx, cancel := context.WithTimeout(rd.ctx, rd.cfg.RequestTimeout)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if rd.fsm.applied.wait(ctx, rd.startIndex) == nil {
			cancel() // no need for the leader any more
		}
	}()
	idx, err := rd.reads.get(ctx)
	if err == nil {
		err = rd.fsm.applied.wait(ctx, min(idx, rd.startIndex))
	}
	cancel()
	<-done
	return err == nil || rd.fsm.applied.get() >= rd.startIndex
}

// wait is Node.WaitReady: the member is ready (above) and has applied
// the read fence (below). It returns nil at once, whatever ctx, when
// both hold already.
func (rd *readiness) wait(ctx context.Context) error {
	fence := rd.fence.get()
	select {
	case <-rd.ch:
		if rd.fsm.applied.get() >= fence {
			return nil
		}
	default:
	}
	if ctx.Err() == nil {
		select {
		case <-rd.ch:
			if rd.fsm.applied.wait(ctx, fence) == nil {
				return nil
			}
		case <-rd.ctx.Done():
			return apiError(ErrStopped)
		case <-ctx.Done():
		}
	}
	if rd.ctx.Err() != nil {
		return apiError(ErrStopped)
	}
	if _, id := rd.raft.LeaderWithID(); id == "" {
		return apiError(ErrNoLeader)
	}
	return apiError(ErrTimeout)
}

// readFence is the read fence: the raft index of the last write this
// member acknowledged before applying it. A follower answers a forwarded
// keys write as soon as the leader has committed and applied it, without
// waiting for its own FSM (which learns the commit a little later, commit.go);
// every local read and watch then waits until the FSM has applied the
// fence (wait above), so a read sent after the answer sees the write or a
// later state. Reads that follow no write pay nothing; quorum reads wait
// for a read index, which is never below the fence.
type readFence struct{ index atomic.Uint64 }

// raise moves the fence up to i (never down).
func (f *readFence) raise(i uint64) {
	for {
		cur := f.index.Load()
		if i <= cur || f.index.CompareAndSwap(cur, i) {
			return
		}
	}
}

func (f *readFence) get() uint64 { return f.index.Load() }
