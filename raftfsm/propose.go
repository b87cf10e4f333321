package raftfsm

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
)

func (n *Node) propose(ctx context.Context, c *command) (*Result, error) {
	for {
		if n.raft.State() == raft.Leader {
			res, err := n.proposeLocal(ctx, c)
			if !errors.Is(err, errNotLeader) {
				return res, err
			}
		}
		addr, err := n.waitLeader(ctx)
		if err != nil {
			return nil, err
		}
		if addr == "" {
			continue // we became leader meanwhile
		}
		// This member stores the entry too, and answers only once it has
		// applied it: with no room for it here, say so now.
		if err := n.space.admit(commandSize(c)); err != nil {
			return nil, err
		}
		res, err := n.forward(ctx, addr, c)
		if errors.Is(err, errNotLeader) {
			// The remote lost leadership before enqueueing: safe to retry.
			if !n.pause(ctx, n.cfg.HeartbeatInterval) {
				return nil, apiError(ErrTimeout)
			}
			continue
		}
		return res, err
	}
}

// proposeLocal appends c on this member, which must be the leader, and
// waits for it to be applied here.
func (n *Node) proposeLocal(ctx context.Context, c *command) (*Result, error) {
	if c.Type == cmdRequest {
		return n.writes.submit(ctx, c.Req)
	}
	c.Time = n.cfg.Clock.Now().UnixNano()
	data, err := encodeCommand(c)
	if err != nil {
		return nil, err
	}
	// The term's no-op is exempt: it is tiny, and read-index waits for it.
	if c.Type != cmdNoop {
		if err := n.space.admit(len(data)); err != nil {
			return nil, err
		}
	}
	f := n.raft.Apply(data, n.cfg.RequestTimeout)
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		return nil, apiError(ErrTimeout)
	}
	if err != nil {
		n.proposalsFailed.Add(1)
		return nil, translate(err)
	}
	res := &Result{RaftIndex: f.Index(), RaftTerm: n.raft.CurrentTerm()}
	if ar, ok := f.Response().(*applyResult); ok && ar != nil {
		if ar.Err != nil {
			return nil, ar.Err
		}
		res.Event = ar.Event
	}
	return res, nil
}

// translate maps raft's errors to this package's.
func translate(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		return errNotLeader
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return apiError(ErrLeadershipLost)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return apiError(ErrTimeout)
	case errors.Is(err, raft.ErrRaftShutdown):
		return apiError(ErrStopped)
	}
	return fmt.Errorf("raftfsm: %w", err)
}

// readIndexRound is one read-index round: on the leader a leadership
// confirmation, elsewhere one request to the leader. It retries across
// leader changes until ctx ends.
func (n *Node) readIndexRound(ctx context.Context) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	for {
		var idx uint64
		var err error
		if n.raft.State() == raft.Leader {
			idx, err = n.leaderReadIndex(ctx)
		} else {
			var addr string
			addr, err = n.waitLeader(ctx)
			if err == nil && addr == "" {
				continue
			}
			if err == nil {
				idx, err = n.remoteReadIndex(ctx, addr)
			}
		}
		if errors.Is(err, errNotLeader) {
			if !n.pause(ctx, n.cfg.HeartbeatInterval) {
				return 0, apiError(ErrTimeout)
			}
			continue
		}
		return idx, err
	}
}

// leaderReadIndex is the read-index step on the leader.
func (n *Node) leaderReadIndex(ctx context.Context) (uint64, error) {
	term := n.raft.CurrentTerm()
	// Until this term's no-op is applied, the commit index may not cover
	// everything earlier leaders committed.
	if err := n.ready.wait(ctx, term); err != nil {
		return 0, apiError(ErrTimeout)
	}
	idx := n.raft.CommitIndex()
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return 0, translate(err)
	}
	return idx, nil
}
