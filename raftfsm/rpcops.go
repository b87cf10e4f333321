package raftfsm

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/store"
)

// The cluster RPCs. The op byte is the whole vocabulary: each op has one
// entry in rpcOps and one handler, and a membership change is the op of
// its operation.
const (
	opPropose       byte = 1  // payload: encoded command; reply: proposeReply (reply.go)
	opReadIndex     byte = 2  // reply: uvarint commit index, leadership verified
	opStatus        byte = 3  // reply: uvarint applied index (the leader's probes, settling)
	opIdentify      byte = 4  // reply: identifyReply JSON: who this is, which join it waits for (join.go)
	opList          byte = 5  // reply: memberReply JSON: the cluster ID and the members
	opJoin          byte = 6  // the membership ops: memberRequest JSON → memberReply JSON
	opLookup        byte = 7  //
	opMemberAdd     byte = 8  //
	opMemberRemove  byte = 9  //
	opMemberUpdate  byte = 10 //
	opMemberPromote byte = 11 //
	opCommitted     byte = 12 // payload: uvarint index, term: the leader's commit notice (commit.go); empty reply
	opProposeBatch  byte = 13 // a follower's keys writes, many in one call (fwdbatch.go)
)

// rpcOp is one cluster RPC.
type rpcOp struct {
	name string // for logs and errors
	// anonymous: a process that is not a member yet may make the call
	// (join, look itself up, list the members).
	anonymous bool
	// serve answers the call; a membership op has change instead, which
	// runs on the leader (peerService.member).
	serve  func(s *peerService, ctx context.Context, from peerIdentity, payload []byte) ([]byte, error)
	change memberChange
}

// rpcOps maps every op to its handler.
var rpcOps = map[byte]rpcOp{
	opPropose:       {name: "propose", serve: (*peerService).propose},
	opReadIndex:     {name: "read-index", serve: (*peerService).readIndex},
	opStatus:        {name: "status", serve: (*peerService).status},
	opIdentify:      {name: "identify", serve: (*peerService).identify},
	opList:          {name: "list", anonymous: true, serve: (*peerService).list},
	opJoin:          {name: "join", anonymous: true, change: (*membership).join},
	opLookup:        {name: "lookup", anonymous: true, change: (*membership).lookup},
	opMemberAdd:     {name: "member add", change: (*membership).add},
	opMemberRemove:  {name: "member remove", change: (*membership).remove},
	opMemberUpdate:  {name: "member update", change: (*membership).update},
	opMemberPromote: {name: "member promote", change: (*membership).promote},
	opCommitted:     {name: "committed", serve: (*peerService).committed},
	opProposeBatch:  {name: "propose batch", serve: (*peerService).proposeBatch},
}

// errUnknownRPC answers an op this build does not serve.
var errUnknownRPC = errors.New("raftfsm: unknown cluster RPC")

// errPeerCall answers a cluster RPC the caller may not make; the
// refusal is logged.
var errPeerCall = errors.New("raftfsm: cluster call refused")

// peerService serves the cluster RPCs of other members, and the join,
// lookup and list calls of processes that are not members yet.
type peerService struct {
	*raftNode
	p *proposer
	m *membership
}

// handle serves one call (the rpcServer's handler).
func (s *peerService) handle(ctx context.Context, from peerIdentity, code byte, payload []byte) ([]byte, error) {
	op, ok := rpcOps[code]
	if !ok {
		op.name = fmt.Sprintf("op-%d", code)
	}
	var reply []byte
	var err error
	switch {
	case from.anonymous() && !op.anonymous:
		err = fmt.Errorf("%w: %s needs a member identity (a process that is not a member may only join, look up and list)", errPeerCall, op.name)
	case op.change != nil:
		reply, err = s.member(ctx, from, code, op.change, payload)
	case op.serve != nil:
		reply, err = op.serve(s, ctx, from, payload)
	default:
		err = fmt.Errorf("%w %d", errUnknownRPC, code)
	}
	if errors.Is(err, errPeerCall) {
		s.mux.refusals.warn(logrus.Fields{"remote": from.Remote, "cluster_id": idField(from.Cluster),
			"member_id": idField(from.Member), "op": op.name, "err": err.Error()}, "peer call refused")
	}
	return reply, err
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

// propose proposes a follower's command (opPropose) on this member, which
// must lead, and answers with its outcome.
func (s *peerService) propose(ctx context.Context, from peerIdentity, payload []byte) ([]byte, error) {
	c, err := decodeCommand(payload)
	if err != nil {
		return nil, err
	}
	if err := checkForwarded(from, c); err != nil {
		return nil, err
	}
	if s.raft.State() != raft.Leader {
		return nil, errNotLeader
	}
	if c.Type == cmdRequest && len(c.Req.Value) > maxValueBytes {
		return answerProposal(nil, errValueTooLarge())
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	return answerProposal(s.p.proposeLocal(ctx, c))
}

// errValueTooLarge refuses a forwarded write whose value the client API
// would refuse (etcd 2.x: 400, error 210); nothing is proposed.
func errValueTooLarge() error {
	return store.NewError(store.EcodeInvalidForm, "http: POST too large", 0)
}

// answerProposal encodes the outcome of a forwarded proposal: the reply,
// or the error to send instead.
func answerProposal(res *Result, err error) ([]byte, error) {
	var se *store.Error
	if errors.As(err, &se) && se.Code != store.EcodeRaftInternal {
		// An application error. Committed and applied (res set): it comes
		// with its entry, which the follower's next reads wait for.
		// Refused before the log (a request that cannot be encoded, a
		// value too large): index 0, nothing to wait for.
		rep := proposeReply{Err: se}
		if res != nil {
			rep.Index, rep.Term = res.RaftIndex, res.RaftTerm
		}
		return encodeProposeReply(&rep), nil
	}
	if err != nil {
		return nil, err
	}
	rep := proposeReply{Index: res.RaftIndex, Term: res.RaftTerm, Event: res.Event}
	if res.Event != nil {
		rep.EtcdIndex, rep.Refresh = res.Event.EtcdIndex, res.Event.Refresh
	}
	return encodeProposeReply(&rep), nil
}

// readIndex answers a follower's read-index round (opReadIndex) on the
// leader; it shares rounds with local readers.
func (s *peerService) readIndex(ctx context.Context, _ peerIdentity, _ []byte) ([]byte, error) {
	if s.raft.State() != raft.Leader {
		return nil, errNotLeader
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	idx, err := s.p.reads.get(ctx)
	if err != nil {
		return nil, err
	}
	return binary.AppendUvarint(nil, idx), nil
}

// committed takes the leader's commit notice (opCommitted, commit.go).
func (s *peerService) committed(_ context.Context, from peerIdentity, payload []byte) ([]byte, error) {
	index, term, err := decodeCommitNotice(payload)
	if err != nil {
		return nil, err
	}
	s.notices.offer(commitHint{index: index, term: term, leader: from.Member})
	return nil, nil
}

// status answers opStatus with the index this member has applied.
func (s *peerService) status(context.Context, peerIdentity, []byte) ([]byte, error) {
	return binary.AppendUvarint(nil, s.fsm.AppliedIndex()), nil
}

// identify answers opIdentify (join.go).
func (s *peerService) identify(context.Context, peerIdentity, []byte) ([]byte, error) {
	return s.m.identify()
}

// list answers opList with this member's view of the membership (proxies
// use it to find the members' client URLs; a joining member to learn its
// cluster).
func (s *peerService) list(context.Context, peerIdentity, []byte) ([]byte, error) {
	return json.Marshal(memberReply{ClusterID: s.clusterID(), Members: s.fsm.Cluster().Sorted()})
}

// member serves a membership op on the leader. A follower answers a
// member's call with errNotLeader (the caller finds the leader itself)
// and passes on that of a process that is not a member, which cannot.
func (s *peerService) member(ctx context.Context, from peerIdentity, code byte, change memberChange, payload []byte) ([]byte, error) {
	var req memberRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	here := func(ctx context.Context) ([]byte, error) {
		rep, err := s.m.local(ctx, change, &req)
		if err != nil {
			return nil, err
		}
		return json.Marshal(rep)
	}
	if !from.anonymous() {
		return here(ctx)
	}
	return viaLeader(ctx, s.raftNode, here, func(ctx context.Context, addr string) ([]byte, error) {
		b, err := s.peers.call(ctx, addr, code, payload)
		if err != nil {
			return nil, callFailure(ctx, s.log, err)
		}
		return b, nil
	})
}
