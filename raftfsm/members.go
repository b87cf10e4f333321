package raftfsm

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
)

// memberRequest is the payload of the membership RPCs (opJoin, opLookup,
// opMemberAdd, opMemberRemove, opMemberUpdate, opMemberPromote); each op
// reads the fields it needs.
type memberRequest struct {
	Member   *machines.Member `json:"member,omitempty"`
	ID       uint64           `json:"id,omitempty"`
	PeerURLs []string         `json:"peerURLs,omitempty"`
	Learner  bool             `json:"learner,omitempty"`
	// Nonce (join) is what the joining member answers when the leader
	// calls it back (join.go).
	Nonce string `json:"nonce,omitempty"`
}

// memberReply answers the membership RPCs and opList.
type memberReply struct {
	Member    *machines.Member   `json:"member,omitempty"`
	ClusterID uint64             `json:"clusterID,omitempty"`
	Members   []*machines.Member `json:"members,omitempty"`
}

// memberChange is one membership operation, run on the leader while it
// holds membership.mu. The op table (rpcops.go) names one per op.
type memberChange func(ms *membership, ctx context.Context, req *memberRequest) (*memberReply, error)

// membership is the membership manager: it changes the members (one small
// function per operation below, run on the leader one at a time), checks
// that a change keeps a quorum of running members (strict reconfiguration,
// with the monitor's view), lets processes that are not members join
// (join.go), and publishes this member's own attributes.
type membership struct {
	*raftNode
	p   *proposer
	mon *monitor

	mu         sync.Mutex    // serialises membership changes on the leader
	changed    chan struct{} // the membership table changed (wakes publish)
	removed    chan struct{} // closed when this member is removed
	removeOnce sync.Once
	joinNonce  atomic.Value // string: the join this member waits for (join.go)
}

func newMembership(n *raftNode, mon *monitor) *membership {
	ms := &membership{raftNode: n, mon: mon, changed: make(chan struct{}, 1), removed: make(chan struct{})}
	n.fsm.onMembership = ms.applied
	return ms
}

// applied runs (on the apply goroutine) after a membership command
// changed the table.
func (ms *membership) applied() {
	select {
	case ms.changed <- struct{}{}:
	default:
	}
	if ms.fsm.wasRemoved(ms.cfg.ID) {
		ms.removeOnce.Do(func() { close(ms.removed) })
	}
}

// change runs the membership operation op on the leader — this member or,
// over the cluster RPC, another — and waits until this member has applied
// it.
func (ms *membership) change(ctx context.Context, op byte, req *memberRequest) (*machines.Member, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ms.cfg.RequestTimeout)
	defer cancel()
	rep, err := viaLeader(ctx, ms.raftNode,
		func(ctx context.Context) (*memberReply, error) { return ms.local(ctx, rpcOps[op].change, req) },
		func(ctx context.Context, addr string) (*memberReply, error) { return ms.call(ctx, addr, op, req) })
	if err != nil {
		return nil, err
	}
	if rep.Member != nil {
		// The change is committed; let this member apply it too.
		_ = ms.fsm.applied.wait(ctx, ms.raft.CommitIndex())
	}
	return rep.Member, nil
}

// call asks the leader at addr to run op.
func (ms *membership) call(ctx context.Context, addr string, op byte, req *memberRequest) (*memberReply, error) {
	payload, _ := json.Marshal(req)
	b, err := ms.peers.call(ctx, addr, op, payload)
	if err != nil {
		return nil, callFailure(ctx, ms.log, err)
	}
	rep := &memberReply{}
	if err := json.Unmarshal(b, rep); err != nil {
		return nil, fmt.Errorf("raftfsm: bad member reply: %w", err)
	}
	return rep, nil
}

// local runs a membership operation on this member, which must lead, then
// waits (briefly) for the running members to apply it (settle).
func (ms *membership) local(ctx context.Context, op memberChange, req *memberRequest) (*memberReply, error) {
	if ms.raft.State() != raft.Leader {
		return nil, errNotLeader
	}
	ms.mu.Lock()
	rep, err := op(ms, ctx, req)
	ms.mu.Unlock()
	if err == nil {
		ms.settle(ctx, time.Second)
	}
	return rep, err
}

// table returns the membership table a change starts from. A brand-new
// cluster records its members in its first entries; changes wait for
// that.
func (ms *membership) table(ctx context.Context) (*machines.Cluster, error) {
	// A forced new cluster first removes the lost members (recover.go):
	// until then the table still counts them.
	for ms.recovery.pending() {
		if !ms.pause(ctx, 10*time.Millisecond) {
			return nil, apiError(ErrTimeout)
		}
	}
	c := ms.fsm.Cluster()
	for c.ID == 0 && len(ms.cfg.InitialMembers) > 0 {
		if !ms.pause(ctx, 10*time.Millisecond) {
			return nil, apiError(ErrTimeout)
		}
		c = ms.fsm.Cluster()
	}
	return c, nil
}

// commit proposes a membership command and returns the table it left.
func (ms *membership) commit(ctx context.Context, cc *clusterCmd, t cmdType) (*machines.Cluster, error) {
	if _, err := ms.p.proposeLocal(ctx, &command{Type: t, Cluster: cc}); err != nil {
		return nil, err
	}
	return ms.fsm.Cluster(), nil
}

// add adds a member at the request's peer URLs (POST /v2/members), a
// learner if asked. It enters raft's configuration when it starts and
// looks itself up (lookup), not now: until then it cannot take the quorum
// away, so adding members that never start (wrong peer URLs) cannot
// deadlock the cluster.
func (ms *membership) add(ctx context.Context, req *memberRequest) (*memberReply, error) {
	c, err := ms.table(ctx)
	if err != nil {
		return nil, err
	}
	if err := machines.ValidateURLs(req.PeerURLs); err != nil {
		return nil, err
	}
	now := ms.cfg.Clock.Now()
	m := &machines.Member{ID: machines.NewMemberID(req.PeerURLs, "", &now), PeerURLs: req.PeerURLs, IsLearner: req.Learner}
	return ms.addMember(ctx, c, m, false)
}

// addMember adds m to the table c. running says that m is running (a
// join: it is the one asking), so it counts for the strict check and
// enters raft's configuration at once.
func (ms *membership) addMember(ctx context.Context, c *machines.Cluster, m *machines.Member, running bool) (*memberReply, error) {
	if err := c.CheckAdd(m); err != nil {
		return nil, err
	}
	if !m.IsLearner {
		if err := ms.strictAddCheck(c, running, 0); err != nil {
			return nil, err
		}
	}
	c, err := ms.commit(ctx, &clusterCmd{Member: m}, cmdMemberAdd)
	if err != nil {
		return nil, err
	}
	if running {
		if err := ms.ensureServer(m); err != nil {
			return nil, err
		}
	}
	ms.log.WithFields(logrus.Fields{"id": machines.IDString(m.ID), "peer_urls": m.PeerURLs, "learner": m.IsLearner}).Info("member added")
	return &memberReply{Member: c.Members[m.ID], ClusterID: c.ID, Members: c.Sorted()}, nil
}

// join adds a running process that asks for itself (etcd 0.x -peers),
// once calling it back proved that it runs at its peer URL — the one in
// the table, if it is already there — and is the one asking (join.go). It
// enters raft's configuration at once. A join is idempotent: the same
// member retrying finds itself; its name is its identity.
func (ms *membership) join(ctx context.Context, req *memberRequest) (*memberReply, error) {
	m := req.Member
	if m == nil {
		return nil, fmt.Errorf("%w: a join must name the joining member", errPeerCall)
	}
	c, err := ms.table(ctx)
	if err != nil {
		return nil, err
	}
	m.IsLearner = req.Learner
	target, known := c.Members[m.ID]
	if !known {
		target = m
	}
	if err := ms.verifyJoiner(ctx, target, req.Nonce); err != nil {
		return nil, err
	}
	if known {
		return &memberReply{Member: target, ClusterID: c.ID, Members: c.Sorted()}, ms.ensureServer(target)
	}
	if old := c.ByName(m.Name); old != nil && m.Name != "" {
		return nil, fmt.Errorf("%w: a member named %q is already in the cluster (%s)", machines.ErrIDExists, m.Name, machines.IDString(old.ID))
	}
	return ms.addMember(ctx, c, m, true)
}

// lookup finds the member added at the request's peer URLs (etcd 2.x
// --initial-cluster-state=existing): it is starting, so now it enters
// raft's configuration (and counts as running for the strict check).
func (ms *membership) lookup(ctx context.Context, req *memberRequest) (*memberReply, error) {
	c, err := ms.table(ctx)
	if err != nil {
		return nil, err
	}
	for _, u := range req.PeerURLs {
		m := c.ByPeerURL(u)
		if m == nil {
			continue
		}
		if !ms.inRaftConfig(m.ID) {
			if !m.IsLearner {
				if err := ms.strictAddCheck(c, true, m.ID); err != nil {
					return nil, err
				}
			}
			if err := ms.ensureServer(m); err != nil {
				return nil, err
			}
			ms.log.WithField("id", machines.IDString(m.ID)).Info("added member started")
		}
		return &memberReply{Member: m, ClusterID: c.ID, Members: c.Sorted()}, nil
	}
	return nil, fmt.Errorf("%w: no member has peer URLs %v; add it first (POST /v2/members)", machines.ErrIDNotFound, req.PeerURLs)
}

// remove removes a member for good, from the table and then from raft's
// configuration; a remove that stopped half way is finished.
func (ms *membership) remove(ctx context.Context, req *memberRequest) (*memberReply, error) {
	c, err := ms.table(ctx)
	if err != nil {
		return nil, err
	}
	m, ok := c.Members[req.ID]
	switch {
	case !ok && c.Removed[req.ID] && ms.inRaftConfig(req.ID):
		return &memberReply{Member: &machines.Member{ID: req.ID}}, ms.removeServer(req.ID)
	case !ok && c.Removed[req.ID]:
		return nil, machines.ErrIDRemoved
	case !ok:
		return nil, machines.ErrIDNotFound
	}
	if !m.IsLearner {
		if err := ms.strictRemoveCheck(c, req.ID); err != nil {
			return nil, err
		}
	}
	if _, err := ms.commit(ctx, &clusterCmd{ID: req.ID}, cmdMemberRemove); err != nil {
		return nil, err
	}
	ms.log.WithField("id", machines.IDString(req.ID)).Info("member removed")
	if !ms.inRaftConfig(req.ID) {
		return &memberReply{Member: m}, nil // it never started
	}
	return &memberReply{Member: m}, ms.removeServer(req.ID)
}

// update replaces a member's peer URLs, in raft's configuration too once
// the member has started.
func (ms *membership) update(ctx context.Context, req *memberRequest) (*memberReply, error) {
	c, err := ms.table(ctx)
	if err != nil {
		return nil, err
	}
	if _, ok := c.Members[req.ID]; !ok {
		if c.Removed[req.ID] {
			return nil, machines.ErrIDRemoved
		}
		return nil, machines.ErrIDNotFound
	}
	if err := machines.ValidateURLs(req.PeerURLs); err != nil {
		return nil, err
	}
	for _, u := range req.PeerURLs {
		if o := c.ByPeerURL(u); o != nil && o.ID != req.ID {
			return nil, machines.ErrPeerURLExists
		}
	}
	if c, err = ms.commit(ctx, &clusterCmd{ID: req.ID, PeerURLs: req.PeerURLs}, cmdMemberUpdate); err != nil {
		return nil, err
	}
	m := c.Members[req.ID]
	if !ms.inRaftConfig(req.ID) {
		return &memberReply{Member: m}, nil // it has not started yet
	}
	return &memberReply{Member: m}, ms.ensureServer(m)
}

// promote makes a caught-up learner a voter.
func (ms *membership) promote(ctx context.Context, req *memberRequest) (*memberReply, error) {
	c, err := ms.table(ctx)
	if err != nil {
		return nil, err
	}
	m, ok := c.Members[req.ID]
	switch {
	case !ok:
		return nil, machines.ErrIDNotFound
	case !m.IsLearner:
		return nil, machines.ErrNotLearner
	case !ms.mon.caughtUp(m):
		return nil, machines.ErrNotCaughtUp
	}
	if err := ms.strictAddCheck(c, true, 0); err != nil {
		return nil, err
	}
	if c, err = ms.commit(ctx, &clusterCmd{ID: req.ID}, cmdMemberPromote); err != nil {
		return nil, err
	}
	m = c.Members[req.ID]
	ms.log.WithField("id", machines.IDString(req.ID)).Info("learner promoted")
	return &memberReply{Member: m}, ms.ensureServer(m)
}

// settle waits until every other started member has applied everything
// this member had applied when it was called, or until within has passed
// (or ctx ends). A member that cannot be reached is not waited for; one
// that answers but lags is polled until it catches up or the time is up.
// It is how a change is made visible everywhere before it is answered:
// after a membership change (so that a client that changes the membership
// through one member and then lists it through another — as etcdctl member
// add does — sees the change) and, through Node.Settle, after an auth
// change (so that a revoked permission is refused by the next request on
// every running member).
func (ms *membership) settle(ctx context.Context, within time.Duration) {
	target := ms.fsm.AppliedIndex()
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var wg sync.WaitGroup
	for id, m := range ms.fsm.Cluster().Members {
		if id == ms.cfg.ID || !m.Started() || m.PeerAddr() == "" {
			continue
		}
		wg.Add(1)
		go func(addr string) {
			defer wg.Done()
			for ctx.Err() == nil {
				b, err := ms.peers.call(ctx, addr, opStatus, nil)
				if err != nil {
					return
				}
				if applied, k := binary.Uvarint(b); k > 0 && applied >= target {
					return
				}
				if !ms.pause(ctx, 2*time.Millisecond) {
					return
				}
			}
		}(m.PeerAddr())
	}
	wg.Wait()
}

// publish announces this member's name and client URLs to the cluster
// whenever the replicated table does not hold them (first start, changed
// URLs), retrying until it does.
func (ms *membership) publish() {
	retry := time.NewTicker(500 * time.Millisecond)
	defer retry.Stop()
	for {
		if ms.needsPublish() {
			ctx, cancel := context.WithTimeout(ms.ctx, ms.cfg.RequestTimeout)
			self := &machines.Member{ID: ms.cfg.ID, Name: ms.cfg.Name, ClientURLs: ms.cfg.ClientURLs}
			_, err := ms.p.propose(ctx, &command{Type: cmdPublish, Cluster: &clusterCmd{Member: self}})
			cancel()
			if err != nil && ms.ctx.Err() == nil {
				ms.log.WithField("err", err).Debug("publish failed, will retry")
			} else if err == nil {
				ms.log.WithFields(logrus.Fields{"node": ms.cfg.Name}).Info("published member attributes")
			}
		}
		select {
		case <-ms.ctx.Done():
			return
		case <-ms.changed:
		case <-retry.C:
		}
	}
}

// needsPublish reports whether the table lists this member with other
// attributes than its configuration.
func (ms *membership) needsPublish() bool {
	m, ok := ms.fsm.member(ms.cfg.ID)
	if !ok {
		return false
	}
	if m.Name != ms.cfg.Name || len(m.ClientURLs) != len(ms.cfg.ClientURLs) {
		return true
	}
	for i := range m.ClientURLs {
		if m.ClientURLs[i] != ms.cfg.ClientURLs[i] {
			return true
		}
	}
	return false
}
