package raftfsm

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/store"
)

// memberOps lists the operations each RPC carries. opJoin is open to
// anonymous peers (processes that are not members yet), opMember only to
// members.
var memberOps = map[byte]map[string]bool{
	opJoin:   {"join": true, "lookup": true, "list": true},
	opMember: {"add": true, "remove": true, "update": true, "promote": true},
}

// handleMemberRPC serves opMember and opJoin for other members and, for
// opJoin, processes that are not members yet; a follower passes them on to
// the leader.
func (n *Node) handleMemberRPC(ctx context.Context, from peerIdentity, op byte, payload []byte) ([]byte, error) {
	var req memberRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return nil, err
	}
	if !memberOps[op][req.Op] {
		err := fmt.Errorf("%w: %q is not a %s operation", errPeerCall, req.Op, opName(op))
		n.refuseCall(from, op, err)
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	if req.Op == "list" {
		// Any member answers with its view of the membership (proxies
		// use it to find the members' client URLs).
		c := n.fsm.Cluster()
		return json.Marshal(memberReply{ClusterID: n.ClusterID(), Members: c.Sorted()})
	}
	if !n.IsLeader() {
		if op != opJoin {
			return nil, errNotLeader
		}
		addr, err := n.waitLeader(ctx)
		if err != nil {
			return nil, err
		}
		if addr == "" {
			return n.handleMemberRPC(ctx, from, op, payload)
		}
		return n.peers.call(ctx, addr, opJoin, payload)
	}
	rep, err := n.leaderMemberOp(ctx, &req)
	if err != nil {
		return nil, err
	}
	n.settleMembership(ctx)
	return json.Marshal(rep)
}

// errUnknownRPC answers an op this build does not serve.
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
	case opPropose:
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
	case opPropose:
		marshal := func(r proposeReply) ([]byte, error) { return encodeProposeReply(&r), nil }
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
