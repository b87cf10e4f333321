package raftfsm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
)

// memberRequest is the payload of opMember and opJoin.
type memberRequest struct {
	Op       string           `json:"op"` // opMember: add, remove, update, promote; opJoin: join, lookup, list
	Member   *machines.Member `json:"member,omitempty"`
	ID       uint64           `json:"id,omitempty"`
	PeerURLs []string         `json:"peerURLs,omitempty"`
	Learner  bool             `json:"learner,omitempty"`
	// Nonce (join) is what the joining member answers when the leader
	// calls it back (join.go).
	Nonce string `json:"nonce,omitempty"`
}

// memberOps lists the operations each RPC carries. opJoin is open to
// anonymous peers (processes that are not members yet), opMember only to
// members.
var memberOps = map[byte]map[string]bool{
	opJoin:   {"join": true, "lookup": true, "list": true},
	opMember: {"add": true, "remove": true, "update": true, "promote": true},
}

// memberReply answers opMember and opJoin.
type memberReply struct {
	Member    *machines.Member   `json:"member,omitempty"`
	ClusterID uint64             `json:"clusterID,omitempty"`
	Members   []*machines.Member `json:"members,omitempty"`
	// Error kinds that must survive the wire for the HTTP layer.
	Kind string `json:"kind,omitempty"`
	Msg  string `json:"msg,omitempty"`
}

// Member errors that cross the wire by kind.
var memberErrKinds = map[string]error{
	"idexists":   machines.ErrIDExists,
	"peerexists": machines.ErrPeerURLExists,
	"notfound":   machines.ErrIDNotFound,
	"removed":    machines.ErrIDRemoved,
	"strict":     machines.ErrStrictReconfig,
	"notcaught":  machines.ErrNotCaughtUp,
	"notlearner": machines.ErrNotLearner,
	"badurl":     machines.ErrBadURL,
}

func memberErrReply(err error) ([]byte, error) {
	for k, e := range memberErrKinds {
		if errors.Is(err, e) {
			return json.Marshal(memberReply{Kind: k, Msg: err.Error()})
		}
	}
	return nil, err
}

// AddMember adds a member with the given peer URLs (as a non-voting
// learner if learner is set) and returns it; the member is not started
// until a process with those peer URLs joins. Runs on the leader
// (forwarded if need be).
func (n *Node) AddMember(ctx context.Context, peerURLs []string, learner bool) (*machines.Member, error) {
	return n.memberOp(ctx, &memberRequest{Op: "add", PeerURLs: peerURLs, Learner: learner})
}

// RemoveMember removes a member for good.
func (n *Node) RemoveMember(ctx context.Context, id uint64) error {
	_, err := n.memberOp(ctx, &memberRequest{Op: "remove", ID: id})
	return err
}

// UpdateMember replaces a member's peer URLs.
func (n *Node) UpdateMember(ctx context.Context, id uint64, peerURLs []string) error {
	_, err := n.memberOp(ctx, &memberRequest{Op: "update", ID: id, PeerURLs: peerURLs})
	return err
}

// PromoteMember makes a caught-up learner a voter.
func (n *Node) PromoteMember(ctx context.Context, id uint64) (*machines.Member, error) {
	return n.memberOp(ctx, &memberRequest{Op: "promote", ID: id})
}

// memberOp runs a membership change on the leader.
func (n *Node) memberOp(ctx context.Context, req *memberRequest) (*machines.Member, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.cfg.RequestTimeout)
	defer cancel()
	for {
		addr, err := n.waitLeader(ctx)
		if err != nil {
			return nil, err
		}
		var rep *memberReply
		if addr == "" {
			rep, err = n.leaderMemberOp(ctx, req)
			if err == nil {
				n.settleMembership(ctx)
			}
		} else {
			payload, _ := json.Marshal(req)
			var b []byte
			b, err = n.peers.call(ctx, addr, opMember, payload)
			if err == nil {
				rep = &memberReply{}
				if uerr := json.Unmarshal(b, rep); uerr != nil {
					return nil, fmt.Errorf("raftfsm: bad member reply: %w", uerr)
				}
			} else {
				err = n.rpcFailure(ctx, err)
			}
		}
		if errors.Is(err, errNotLeader) {
			if !n.pause(ctx, n.cfg.HeartbeatInterval) {
				return nil, apiError(ErrTimeout)
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if rep.Kind != "" {
			return nil, &remoteErr{kind: memberErrKinds[rep.Kind], msg: rep.Msg}
		}
		if rep.Member != nil {
			// The change is committed; let this member apply it too.
			_ = n.fsm.applied.wait(ctx, n.raft.CommitIndex())
		}
		return rep.Member, nil
	}
}

// remoteErr is a membership error reported by the leader: its text, and
// the sentinel it matches.
type remoteErr struct {
	kind error
	msg  string
}

func (e *remoteErr) Error() string { return e.msg }
func (e *remoteErr) Unwrap() error { return e.kind }

// leaderMemberOp performs a membership change; this member must lead.
func (n *Node) leaderMemberOp(ctx context.Context, req *memberRequest) (*memberReply, error) {
	if !n.IsLeader() {
		return nil, errNotLeader
	}
	n.memberMu.Lock()
	defer n.memberMu.Unlock()
	cluster := n.fsm.Cluster()
	// A brand-new cluster records its members in its first entries;
	// membership changes wait for that.
	for cluster.ID == 0 && len(n.cfg.InitialMembers) > 0 {
		if !n.pause(ctx, 10*time.Millisecond) {
			return nil, apiError(ErrTimeout)
		}
		cluster = n.fsm.Cluster()
	}
	switch req.Op {
	case "add", "join":
		m := req.Member
		if req.Op == "join" && m == nil {
			return nil, fmt.Errorf("%w: a join names the joining member", ErrJoinRefused)
		}
		if m == nil {
			if err := machines.ValidateURLs(req.PeerURLs); err != nil {
				return nil, err
			}
			now := n.cfg.Clock.Now()
			m = &machines.Member{ID: machines.NewMemberID(req.PeerURLs, "", &now), PeerURLs: req.PeerURLs}
		}
		m.IsLearner = req.Learner
		if req.Op == "join" {
			// Whoever asks, the member must be running at its peer URL
			// (the one in the table, if it is already there) and be the
			// one asking.
			target := m
			if old, ok := cluster.Members[m.ID]; ok {
				target = old
			}
			if err := n.checkJoin(ctx, target, req.Nonce); err != nil {
				return nil, err
			}
			// A join (etcd 0.x -peers) is idempotent: the same member
			// retrying finds itself; its name is its identity.
			if old, ok := cluster.Members[m.ID]; ok {
				return &memberReply{Member: old, ClusterID: cluster.ID, Members: cluster.Sorted()}, n.ensureServer(old)
			}
			if old := cluster.ByName(m.Name); old != nil && m.Name != "" {
				return nil, fmt.Errorf("%w: a member named %q is already in the cluster (%s)", machines.ErrIDExists, m.Name, machines.IDString(old.ID))
			}
		}
		if err := cluster.CheckAdd(m); err != nil {
			return nil, err
		}
		if !m.IsLearner {
			// A joining member is running: it is the one asking.
			if err := n.strictAddCheck(cluster, req.Op == "join", 0); err != nil {
				return nil, err
			}
		}
		if _, err := n.proposeLocal(ctx, &command{Type: cmdMemberAdd, Cluster: &clusterCmd{Member: m}}); err != nil {
			return nil, err
		}
		// A member added through /v2/members enters raft's configuration
		// when it starts and looks itself up ("lookup"), not now: until
		// then it cannot take the quorum away, so adding members that never
		// start (wrong peer URLs) cannot deadlock the cluster. A joining
		// member (etcd 0.x -peers) is running: it enters at once.
		if req.Op == "join" {
			if err := n.ensureServer(m); err != nil {
				return nil, err
			}
		}
		n.log.WithFields(logrus.Fields{"id": machines.IDString(m.ID), "peer_urls": m.PeerURLs, "learner": m.IsLearner}).Info("member added")
		c := n.fsm.Cluster()
		return &memberReply{Member: c.Members[m.ID], ClusterID: c.ID, Members: c.Sorted()}, nil
	case "remove":
		m, ok := cluster.Members[req.ID]
		if !ok {
			if cluster.Removed[req.ID] && n.inRaftConfig(req.ID) {
				// A remove that stopped half way: finish it.
				return &memberReply{Member: &machines.Member{ID: req.ID}}, n.removeServer(req.ID)
			}
			if cluster.Removed[req.ID] {
				return nil, machines.ErrIDRemoved
			}
			return nil, machines.ErrIDNotFound
		}
		if !m.IsLearner {
			if err := n.strictRemoveCheck(cluster, req.ID); err != nil {
				return nil, err
			}
		}
		if _, err := n.proposeLocal(ctx, &command{Type: cmdMemberRemove, Cluster: &clusterCmd{ID: req.ID}}); err != nil {
			return nil, err
		}
		n.log.WithField("id", machines.IDString(req.ID)).Info("member removed")
		if !n.inRaftConfig(req.ID) {
			return &memberReply{Member: m}, nil // it never started
		}
		return &memberReply{Member: m}, n.removeServer(req.ID)
	case "update":
		if _, ok := cluster.Members[req.ID]; !ok {
			if cluster.Removed[req.ID] {
				return nil, machines.ErrIDRemoved
			}
			return nil, machines.ErrIDNotFound
		}
		if err := machines.ValidateURLs(req.PeerURLs); err != nil {
			return nil, err
		}
		for _, u := range req.PeerURLs {
			if o := cluster.ByPeerURL(u); o != nil && o.ID != req.ID {
				return nil, machines.ErrPeerURLExists
			}
		}
		if _, err := n.proposeLocal(ctx, &command{Type: cmdMemberUpdate, Cluster: &clusterCmd{ID: req.ID, PeerURLs: req.PeerURLs}}); err != nil {
			return nil, err
		}
		m := n.fsm.Cluster().Members[req.ID]
		if !n.inRaftConfig(req.ID) {
			return &memberReply{Member: m}, nil // it has not started yet
		}
		return &memberReply{Member: m}, n.ensureServer(m)
	case "promote":
		m, ok := cluster.Members[req.ID]
		if !ok {
			return nil, machines.ErrIDNotFound
		}
		if !m.IsLearner {
			return nil, machines.ErrNotLearner
		}
		if !n.caughtUp(ctx, m) {
			return nil, machines.ErrNotCaughtUp
		}
		if err := n.strictAddCheck(cluster, true, 0); err != nil {
			return nil, err
		}
		if _, err := n.proposeLocal(ctx, &command{Type: cmdMemberPromote, Cluster: &clusterCmd{ID: req.ID}}); err != nil {
			return nil, err
		}
		m = n.fsm.Cluster().Members[req.ID]
		n.log.WithField("id", machines.IDString(req.ID)).Info("learner promoted")
		return &memberReply{Member: m}, n.ensureServer(m)
	case "lookup":
		for _, u := range req.PeerURLs {
			if m := cluster.ByPeerURL(u); m != nil {
				// The added member is starting: now it enters raft's
				// configuration (it is running, so it counts for the
				// strict check).
				if !n.inRaftConfig(m.ID) {
					if !m.IsLearner {
						if err := n.strictAddCheck(cluster, true, m.ID); err != nil {
							return nil, err
						}
					}
					if err := n.ensureServer(m); err != nil {
						return nil, err
					}
					n.log.WithField("id", machines.IDString(m.ID)).Info("added member started")
				}
				return &memberReply{Member: m, ClusterID: cluster.ID, Members: cluster.Sorted()}, nil
			}
		}
		return nil, fmt.Errorf("%w: no member has peer URLs %v; add it first (POST /v2/members)", machines.ErrIDNotFound, req.PeerURLs)
	}
	return nil, fmt.Errorf("raftfsm: unknown membership operation %q", req.Op)
}

// settleMembership waits (briefly) until every running member has applied
// the latest membership change, so that a client that changes the
// membership through one member and then lists it through another — as
// etcdctl member add does — sees the change. Members that do not answer
// within a second are not waited for.
func (n *Node) settleMembership(ctx context.Context) { n.Settle(ctx, time.Second) }

// ensureServer makes raft's configuration match the member: voter or
// non-voter at its peer address.
func (n *Node) ensureServer(m *machines.Member) error {
	id := raft.ServerID(machines.IDString(m.ID))
	addr := raft.ServerAddress(m.PeerAddr())
	var f raft.IndexFuture
	if m.IsLearner {
		f = n.raft.AddNonvoter(id, addr, 0, n.cfg.RequestTimeout)
	} else {
		f = n.raft.AddVoter(id, addr, 0, n.cfg.RequestTimeout)
	}
	if err := f.Error(); err != nil {
		return translate(err)
	}
	return nil
}

func (n *Node) removeServer(id uint64) error {
	if err := n.raft.RemoveServer(raft.ServerID(machines.IDString(id)), 0, n.cfg.RequestTimeout).Error(); err != nil {
		return translate(err)
	}
	return nil
}

func (n *Node) inRaftConfig(id uint64) bool {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if s.ID == raft.ServerID(machines.IDString(id)) {
			return true
		}
	}
	return false
}

// voters returns the voting members of raft's current configuration.
func (n *Node) voters() []uint64 {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	var out []uint64
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			if id, err := machines.ParseID(string(s.ID)); err == nil {
				out = append(out, id)
			}
		}
	}
	return out
}

// strictAddCheck refuses to grow the voters when the enlarged cluster's
// quorum would exceed the members that are running and connected now
// (etcd issue #3477: adding members that never start must not be able to
// deadlock the cluster).
//
// newRunning says whether the new voter is itself running (a join, a
// started member, or a caught-up learner's promotion) and so counts
// towards the quorum; self names it when it is already in the table.
//
// The arithmetic is over the membership table's voting members, started
// or not (an added member that has not started yet counts: it will be a
// voter). As in etcd, growing a one-member cluster is always allowed —
// otherwise it could never grow — and is safe here because an added member
// enters raft's configuration only when it starts.
func (n *Node) strictAddCheck(c *machines.Cluster, newRunning bool, self uint64) error {
	if !n.cfg.StrictReconfigCheck {
		return nil
	}
	voters := tableVoters(c, self)
	size := len(voters) + 1
	quorum := size/2 + 1
	running := n.activeCount(voters)
	if newRunning {
		running++
	}
	if size == 2 && running >= 1 {
		return nil
	}
	if quorum > running {
		return fmt.Errorf("%w: the quorum of the enlarged cluster would be %d members, but only %d of the %d voting members are running", machines.ErrStrictReconfig, quorum, running, len(voters))
	}
	return nil
}

// strictRemoveCheck refuses a removal that would leave the remaining
// voters without a quorum of running, connected members.
func (n *Node) strictRemoveCheck(c *machines.Cluster, id uint64) error {
	if !n.cfg.StrictReconfigCheck {
		return nil
	}
	rest := tableVoters(c, id)
	if len(rest) == 0 {
		return fmt.Errorf("%w: cannot remove the last voting member", machines.ErrStrictReconfig)
	}
	quorum := len(rest)/2 + 1
	running := n.activeCount(rest)
	if running < quorum {
		return fmt.Errorf("%w: after the removal the quorum would be %d members, but only %d of the remaining %d are running", machines.ErrStrictReconfig, quorum, running, len(rest))
	}
	return nil
}

// tableVoters lists the voting members of the table, except one.
func tableVoters(c *machines.Cluster, except uint64) []uint64 {
	var out []uint64
	for _, m := range c.Sorted() {
		if !m.IsLearner && m.ID != except {
			out = append(out, m.ID)
		}
	}
	return out
}

// activeCount counts the members among ids that are running and
// connected: the leader itself, and followers that answered the leader's
// health probe within the last two election timeouts.
func (n *Node) activeCount(ids []uint64) int {
	count := 0
	horizon := n.cfg.Clock.Now().Add(-2 * n.cfg.ElectionTimeout)
	for _, id := range ids {
		if id == n.cfg.ID {
			count++
			continue
		}
		if st, ok := n.monitor.get(id); ok && st.lastOK.After(horizon) {
			count++
		}
	}
	return count
}

// caughtUp reports whether a member has applied (nearly) all of the log.
func (n *Node) caughtUp(ctx context.Context, m *machines.Member) bool {
	st, ok := n.monitor.get(m.ID)
	if !ok || st.lastOK.Before(n.cfg.Clock.Now().Add(-2*n.cfg.ElectionTimeout)) {
		return false
	}
	commit := n.raft.CommitIndex()
	// etcd lets a learner within 10% of the leader's log be promoted.
	return st.applied*10 >= commit*9
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
		return memberErrReply(err)
	}
	n.settleMembership(ctx)
	return json.Marshal(rep)
}
