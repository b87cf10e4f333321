package raftfsm

import "context"

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

// readyLoop closes n.readyCh once the member is ready (see above).
func (n *Node) readyLoop() {
	defer n.wg.Done()
	for n.ctx.Err() == nil {
		if n.fsm.applied.get() >= n.startIndex || n.caughtUpWithLeader() {
			close(n.readyCh)
			n.log.WithField("raft_index", n.fsm.applied.get()).Info("caught up: serving reads")
			return
		}
		n.pause(n.ctx, n.cfg.HeartbeatInterval)
	}
}

// caughtUpWithLeader makes one attempt, bounded by the request timeout,
// to learn the leader's commit index and apply up to it (or up to
// startIndex if that is lower). It also returns true as soon as the FSM
// reaches startIndex by itself.
func (n *Node) caughtUpWithLeader() bool {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.RequestTimeout)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if n.fsm.applied.wait(ctx, n.startIndex) == nil {
			cancel() // no need for the leader any more
		}
	}()
	idx, err := n.reads.get(ctx)
	if err == nil {
		err = n.fsm.applied.wait(ctx, min(idx, n.startIndex))
	}
	cancel()
	<-done
	return err == nil || n.fsm.applied.get() >= n.startIndex
}

// WaitReady blocks until this member may serve local reads after its
// start: it has applied every entry its log held, or what a leader
// confirmed was committed (see readyLoop). When ctx ends first it returns
// ErrNoLeader if no leader is known, else ErrTimeout (both with error
// 300); ErrStopped once the node closes.
func (n *Node) WaitReady(ctx context.Context) error {
	select {
	case <-n.readyCh:
		return nil
	case <-n.ctx.Done():
		return apiError(ErrStopped)
	case <-ctx.Done():
	}
	if _, ok := n.LeaderID(); !ok {
		return apiError(ErrNoLeader)
	}
	return apiError(ErrTimeout)
}
