package raftfsm

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/store"
)

// proposeReply is the leader's answer to a forwarded proposal.
type proposeReply struct {
	Event     *store.Event `json:"event,omitempty"`
	EtcdIndex uint64       `json:"etcdIndex,omitempty"`
	Refresh   bool         `json:"refresh,omitempty"`
	Err       *store.Error `json:"err,omitempty"`
	Index     uint64       `json:"index"`
	Term      uint64       `json:"term"`
}

// forward sends a proposal to the leader at addr and, once the leader has
// applied it, waits for this member to apply it too, so that the answer
// and any later local read agree.
func (n *Node) forward(ctx context.Context, addr string, c *command) (*Result, error) {
	data, err := encodeCommand(c)
	if err != nil {
		return nil, err
	}
	b, err := n.peers.call(ctx, addr, opProposeBin, data)
	inJSON := false
	if err != nil && errors.Is(err, errRemote) && strings.Contains(err.Error(), errUnknownRPC.Error()) {
		// A leader of an earlier build answers only in JSON. It refused
		// the call before proposing anything, so asking again is safe.
		inJSON = true
		b, err = n.peers.call(ctx, addr, opPropose, data)
	}
	if err != nil {
		return nil, n.rpcFailure(ctx, err)
	}
	var rep *proposeReply
	if inJSON {
		rep = &proposeReply{}
		err = json.Unmarshal(b, rep)
	} else {
		rep, err = decodeProposeReply(b)
	}
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
	case errors.Is(err, errNotLeader), errors.Is(err, ErrNoLeader), errors.Is(err, ErrTimeout),
		errors.Is(err, ErrLeadershipLost), errors.Is(err, ErrStopped):
		return err
	case ctx.Err() != nil:
		return apiError(ErrTimeout)
	case errors.Is(err, errRemote):
		return err
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
		if errors.Is(err, errNotLeader) {
			return 0, err
		}
		if ctx.Err() != nil {
			return 0, apiError(ErrTimeout)
		}
		if errors.Is(err, errRemote) {
			return 0, err
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

// errUnknownRPC answers an op this build does not serve. Its text crosses
// the wire (encodeRPCError), and forward recognises it in the answers of
// earlier builds, which spelled it the same way.
var errUnknownRPC = errors.New("raftfsm: unknown cluster RPC")

// errPeerCall answers a cluster RPC the caller may not make.
var errPeerCall = errors.New("raftfsm: cluster call refused")

// refuseCall logs a refused cluster RPC at Warn.
func (n *Node) refuseCall(from peerIdentity, op byte, err error) {
	n.mux.refusals.warn(logrus.Fields{"remote": from.Remote, "cluster_id": idField(from.Cluster),
		"member_id": idField(from.Member), "op": opName(op), "err": err.Error()}, "peer call refused")
}

// opName names a cluster RPC for logs and errors.
func opName(op byte) string {
	switch op {
	case opPropose, opProposeBin:
		return "propose"
	case opReadIndex:
		return "read-index"
	case opJoin:
		return "join"
	case opMember:
		return "member"
	case opStatus:
		return "status"
	case opIdentify:
		return "identify"
	}
	return fmt.Sprintf("op-%d", op)
}

// checkForwarded decides whether a member may have c proposed for it: a
// keys-API write whose value the client API would accept, or the member's
// own attributes. Everything else (membership changes, cluster creation,
// expiry) only the leader itself proposes, after its own checks.
func checkForwarded(from peerIdentity, c *command) error {
	switch c.Type {
	case cmdRequest:
		if c.Req == nil {
			return fmt.Errorf("%w: a write without a request", errPeerCall)
		}
		return nil
	case cmdPublish:
		if c.Cluster == nil || c.Cluster.Member == nil || c.Cluster.Member.ID != from.Member {
			return fmt.Errorf("%w: a member may publish only its own attributes", errPeerCall)
		}
		return nil
	}
	return fmt.Errorf("%w: commands of type %d are not forwarded", errPeerCall, c.Type)
}

// handleRPC serves the cluster RPCs of other members, and the join,
// lookup and list calls of processes that are not members yet.
func (n *Node) handleRPC(ctx context.Context, from peerIdentity, op byte, payload []byte) ([]byte, error) {
	if from.anonymous() && op != opJoin {
		err := fmt.Errorf("%w: %s needs a member identity (a process that is not a member may only join, look up and list)", errPeerCall, opName(op))
		n.refuseCall(from, op, err)
		return nil, err
	}
	switch op {
	case opPropose, opProposeBin:
		marshal := func(r proposeReply) ([]byte, error) {
			if op == opProposeBin {
				return encodeProposeReply(&r), nil
			}
			return json.Marshal(r)
		}
		c, err := decodeCommand(payload)
		if err != nil {
			return nil, err
		}
		if err := checkForwarded(from, c); err != nil {
			n.refuseCall(from, op, err)
			return nil, err
		}
		if !n.IsLeader() {
			return nil, errNotLeader
		}
		if c.Type == cmdRequest && len(c.Req.Value) > maxValueBytes {
			// The client API refuses such a body (etcd 2.x: 400, error
			// 210); nothing is proposed, so there is no index to wait for.
			return marshal(proposeReply{Err: store.NewError(store.EcodeInvalidForm, "http: POST too large", 0)})
		}
		ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
		defer cancel()
		res, err := n.proposeLocal(ctx, c)
		var se *store.Error
		if errors.As(err, &se) && se.Code != store.EcodeRaftInternal {
			// An application error: committed and applied, report it with
			// the index so the follower can catch up before answering.
			return marshal(proposeReply{Err: se, Index: n.fsm.AppliedIndex(), Term: n.raft.CurrentTerm()})
		}
		if err != nil {
			return nil, err
		}
		rep := proposeReply{Index: res.RaftIndex, Term: res.RaftTerm, Event: res.Event}
		if res.Event != nil {
			rep.EtcdIndex, rep.Refresh = res.Event.EtcdIndex, res.Event.Refresh
		}
		return marshal(rep)
	case opReadIndex:
		if !n.IsLeader() {
			return nil, errNotLeader
		}
		ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
		defer cancel()
		// Requests from followers share rounds with local ones.
		idx, err := n.reads.get(ctx)
		if err != nil {
			return nil, err
		}
		return binary.AppendUvarint(nil, idx), nil
	case opJoin, opMember:
		return n.handleMemberRPC(ctx, from, op, payload)
	case opStatus:
		return binary.AppendUvarint(nil, n.fsm.AppliedIndex()), nil
	case opIdentify:
		return n.identify()
	}
	return nil, fmt.Errorf("%w %d", errUnknownRPC, op)
}
