package raftfsm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

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

// forward sends a proposal to the leader at addr and, once the leader has
// applied it, waits for this member to apply it too, so that the answer
// and any later local read agree.
func (n *Node) forward(ctx context.Context, addr string, c *command) (*Result, error) {
	data, err := encodeCommand(c)
	if err != nil {
		return nil, err
	}
	b, err := n.peers.call(ctx, addr, opPropose, data)
	if err != nil {
		return nil, n.rpcFailure(ctx, err)
	}
	rep, err := decodeProposeReply(b)
	if err != nil {
		return nil, fmt.Errorf("raftfsm: bad reply from leader: %w", err)
	}
	// The entry is committed; wait (bounded by ctx) for the local apply.
	// If that times out the write still happened, so report it anyway.
	_ = n.fsm.applied.wait(ctx, rep.Index)
	if rep.Err != nil {
		return nil, rep.Err
	}
	if rep.Event != nil {
		rep.Event.EtcdIndex = rep.EtcdIndex
		rep.Event.Refresh = rep.Refresh
	}
	return &Result{Event: rep.Event, RaftIndex: rep.Index, RaftTerm: rep.Term}, nil
}

// rpcFailure maps a failed cluster RPC to the error a caller should see.
func (n *Node) rpcFailure(ctx context.Context, err error) error {
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
	n.log.WithField("err", err).Warn("cluster RPC to the leader failed")
	return apiError(ErrLeadershipLost)
}

// remoteReadIndex asks the leader for a verified commit index.
func (n *Node) remoteReadIndex(ctx context.Context, addr string) (uint64, error) {
	b, err := n.peers.call(ctx, addr, opReadIndex, nil)
	if err != nil {
		if errors.Is(err, errRemote) {
			return 0, err
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
