package raftfsm

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/etcd-classic/etcd-classic/store"
)

// proposer is the request path: how a write or a linearizable read
// reaches the log. On the leader, keys-API writes go through the write
// batcher and other commands straight to raft; a follower forwards them
// (forward.go); read-index rounds are coalesced (readindex.go). Both
// reach the leader through viaLeader (route.go).
type proposer struct {
	*raftNode
	writes *writeBatcher   // keys-API writes gathered into entries
	fwd    *forwardBatcher // a follower's keys writes gathered into calls
	reads  readBatcher     // coalesced read-index rounds
}

// newProposer builds the request path on a started core.
func newProposer(n *raftNode) *proposer {
	p := &proposer{raftNode: n,
		writes: newWriteBatcher(n.raft, n.space, n.cfg, &n.proposalsFailed, n.ctx.Done())}
	p.fwd = newForwardBatcher(p)
	p.reads.fetch = p.readIndexRound
	return p
}

// proposeRequest replicates a keys-API write (Node.Propose).
func (p *proposer) proposeRequest(ctx context.Context, req *store.Request) (*store.Event, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.RequestTimeout)
	defer cancel()
	res, err := p.propose(ctx, &command{Type: cmdRequest, Req: req})
	if err != nil {
		return nil, err
	}
	return res.Event, nil
}

// propose appends c through the leader and waits until this member has
// applied it.
func (p *proposer) propose(ctx context.Context, c *command) (*Result, error) {
	return viaLeader(ctx, p.raftNode,
		func(ctx context.Context) (*Result, error) { return p.proposeLocal(ctx, c) },
		func(ctx context.Context, addr string) (*Result, error) {
			// This member stores the entry too, and its next reads wait
			// until it has applied it: with no room for it here, say so
			// now.
			if err := p.space.admit(commandSize(c)); err != nil {
				return nil, err
			}
			return p.forward(ctx, addr, c)
		})
}

// proposeLocal appends c on this member, which must be the leader, and
// waits for it to be applied here. An application error (a store error
// the entry produced when applied) comes with the entry's Result.
func (p *proposer) proposeLocal(ctx context.Context, c *command) (*Result, error) {
	if c.Type == cmdRequest {
		return p.writes.submit(ctx, c.Req)
	}
	c.Time = p.cfg.Clock.Now().UnixNano()
	data, err := encodeCommand(c)
	if err != nil {
		return nil, err
	}
	// The term's no-op is exempt: it is tiny, and read-index waits for it.
	if c.Type != cmdNoop {
		if err := p.space.admit(len(data)); err != nil {
			return nil, err
		}
	}
	termBefore := p.raft.CurrentTerm()
	f := p.raft.Apply(data, p.cfg.RequestTimeout)
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		return nil, apiError(ErrTimeout)
	}
	if err != nil {
		p.proposalsFailed.Add(1)
		return nil, translate(err)
	}
	res := &Result{RaftIndex: f.Index(), RaftTerm: entryTerm(p.raft, termBefore)}
	if ar, ok := f.Response().(*applyResult); ok && ar != nil {
		if ar.Err != nil {
			return res, ar.Err
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

// readBarrier makes the next local read linearizable: it learns the
// leader's commit index (the leader confirms its leadership with a quorum
// of heartbeats; nothing is appended to the log) and waits until this
// member has applied up to it. Concurrent callers share rounds.
func (p *proposer) readBarrier(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.RequestTimeout)
	defer cancel()
	idx, err := p.reads.get(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return apiError(ErrTimeout)
		}
		return err
	}
	if err := p.fsm.applied.wait(ctx, idx); err != nil {
		return apiError(ErrTimeout)
	}
	return nil
}

// readIndexRound is one read-index round: on the leader a leadership
// confirmation, elsewhere one request to the leader. It retries across
// leader changes until ctx ends.
func (p *proposer) readIndexRound(ctx context.Context) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.RequestTimeout)
	defer cancel()
	return viaLeader(ctx, p.raftNode, p.leaderReadIndex, p.remoteReadIndex)
}

// leaderReadIndex is the read-index step on the leader.
func (p *proposer) leaderReadIndex(ctx context.Context) (uint64, error) {
	term := p.raft.CurrentTerm()
	// Until this term's no-op is applied, the commit index may not cover
	// everything earlier leaders committed.
	if err := p.ready.wait(ctx, term); err != nil {
		return 0, apiError(ErrTimeout)
	}
	idx := p.raft.CommitIndex()
	if err := p.raft.VerifyLeader().Error(); err != nil {
		return 0, translate(err)
	}
	return idx, nil
}
