package raftfsm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// proposeReply is the leader's answer to a forwarded proposal (encoded by
// reply.go).
type proposeReply struct {
	Event     *store.Event
	EtcdIndex uint64
	Refresh   bool
	Err       *store.Error
	Index     uint64
	Term      uint64
}

// A follower's side of the request path: the calls it makes to the
// leader (route.go finds it) and what it does with the answers. The
// leader's side is rpcops.go.

// forward sends a proposal to the leader at addr and returns the
// leader's outcome once the leader has committed and applied it. A keys
// write is answered at once, with the read fence raised to its entry;
// anything else once this member has applied it too.
func (p *proposer) forward(ctx context.Context, addr string, c *command) (*Result, error) {
	data, err := encodeCommand(c)
	if err != nil {
		return nil, err
	}
	var rep *proposeReply
	if answersAtOnce(c) {
		rep, err = p.fwd.submit(ctx, addr, data) // perhaps with others (fwdbatch.go)
	} else {
		rep, err = p.forwardOne(ctx, addr, data)
	}
	if err != nil {
		return nil, err
	}
	// The entry is committed (index 0: nothing was). Tell raft here, so
	// that it applies the entry without waiting for the leader's next
	// message (commit.go).
	p.notices.offer(commitHint{index: rep.Index, term: rep.Term, addr: addr})
	if answersAtOnce(c) {
		// Local reads wait for it from now on (the read fence).
		p.fence.raise(rep.Index)
	} else {
		// Anything else is answered once applied here: an auth change is
		// checked against this member's store by the next request, and a
		// member's attributes are its own. If the wait times out the
		// entry still committed, so report it anyway.
		_ = p.fsm.applied.wait(ctx, rep.Index)
	}
	if rep.Err != nil {
		return nil, rep.Err
	}
	if rep.Event != nil {
		rep.Event.EtcdIndex = rep.EtcdIndex
		rep.Event.Refresh = rep.Refresh
	}
	return &Result{Event: rep.Event, RaftIndex: rep.Index, RaftTerm: rep.Term}, nil
}

// forwardOne sends one encoded proposal to the leader at addr
// (opPropose) and returns its answer.
func (p *proposer) forwardOne(ctx context.Context, addr string, data []byte) (*proposeReply, error) {
	b, err := p.peers.call(ctx, addr, opPropose, data)
	if err != nil {
		return nil, callFailure(ctx, p.log, err)
	}
	rep, err := decodeProposeReply(b)
	if err != nil {
		return nil, fmt.Errorf("raftfsm: bad reply from leader: %w", err)
	}
	return rep, nil
}

// answersAtOnce reports whether a forwarded c is answered before this
// member applies it: keys-API writes, not auth changes.
func answersAtOnce(c *command) bool {
	return c.Type == cmdRequest && c.Req != nil && c.Req.Method != store.MethodAuth
}

// remoteReadIndex asks the leader for a verified commit index. A leader
// that stops answering without closing its connection (paused, or cut
// off by a network that drops packets) would hold the round until the
// request timeout although the others elect a new leader within an
// election or two: the call is given up as soon as this member knows
// another leader, or none, and viaLeader asks again. A read changes
// nothing, so asking a second leader is safe, and its index is read
// after the round began.
func (p *proposer) remoteReadIndex(ctx context.Context, addr string) (uint64, error) {
	callCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Watched only once the call has lasted half a heartbeat interval: a
	// round answered at once (almost all of them) costs a timer, not a
	// goroutine.
	var moved atomic.Bool
	every := p.cfg.HeartbeatInterval / 2
	slow := time.AfterFunc(every, func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			if a, _ := p.raft.LeaderWithID(); string(a) != addr {
				moved.Store(true)
				cancel()
				return
			}
			select {
			case <-callCtx.Done():
				return
			case <-tick.C:
			}
		}
	})
	defer slow.Stop()
	b, err := p.peers.call(callCtx, addr, opReadIndex, nil)
	if err != nil {
		if errors.Is(err, errRemote) {
			return 0, err
		}
		if ctx.Err() == nil && moved.Load() {
			p.log.WithField("leader", addr).Info("leader changed during a read-index round: asking again")
			return 0, errNotLeader
		}
		if ctx.Err() != nil {
			return 0, apiError(ErrTimeout)
		}
		// Nothing was changed by a read: report it as a missing leader.
		return 0, apiError(ErrNoLeader)
	}
	idx, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, fmt.Errorf("raftfsm: bad read index reply")
	}
	return idx, nil
}
