package raftfsm

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

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

// memberReply answers opMember and opJoin.
type memberReply struct {
	Member    *machines.Member   `json:"member,omitempty"`
	ClusterID uint64             `json:"clusterID,omitempty"`
	Members   []*machines.Member `json:"members,omitempty"`
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
		if rep.Member != nil {
			// The change is committed; let this member apply it too.
			_ = n.fsm.applied.wait(ctx, n.raft.CommitIndex())
		}
		return rep.Member, nil
	}
}

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
func (n *Node) settleMembership(ctx context.Context) {
	target := n.fsm.AppliedIndex()
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for id, m := range n.fsm.Cluster().Members {
		if id == n.cfg.ID || !m.Started() || m.PeerAddr() == "" {
			continue
		}
		wg.Add(1)
		go func(addr string) {
			defer wg.Done()
			for ctx.Err() == nil {
				b, err := n.peers.call(ctx, addr, opStatus, nil)
				if err != nil {
					return
				}
				if applied, k := binary.Uvarint(b); k > 0 && applied >= target {
					return
				}
				if !n.pause(ctx, 2*time.Millisecond) {
					return
				}
			}
		}(m.PeerAddr())
	}
	wg.Wait()
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
