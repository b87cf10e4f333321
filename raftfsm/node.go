package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// Result is the outcome of a committed proposal.
type Result struct {
	Event     *store.Event
	RaftIndex uint64
	// RaftTerm is the term of the entry, 0 when unknown (the term moved
	// while it committed).
	RaftTerm uint64
}

// Node is one running member: the replication core (raftNode), and on it
// the request path (proposer), the membership manager (membership), the
// leader's probes (monitor) and duties (leaderDuties), the readiness of
// local reads (readiness) and the cluster RPC service (peerService). Its
// methods are the member's API; each hands the call to its part.
type Node struct {
	*raftNode
	props     *proposer
	members   *membership
	monitor   *monitor
	readiness *readiness
	rpc       *rpcServer

	once     sync.Once
	closeErr error
}

// New opens (or creates) the member's raft state and starts it. The data
// dir is checked first (datacheck.go): damage is an error wrapping
// ErrDamaged, whose one-line message names the file and what to do.
func New(cfg Config) (*Node, error) {
	cfg.setDefaults()
	if cfg.HeartbeatInterval >= cfg.ElectionTimeout {
		return nil, fmt.Errorf("raftfsm: heartbeat interval %v must be below the election timeout %v", cfg.HeartbeatInterval, cfg.ElectionTimeout)
	}
	if len(cfg.PeerURLs) == 0 {
		return nil, errors.New("raftfsm: no peer URL to advertise")
	}
	core, err := openRaftNode(cfg)
	if err != nil {
		return nil, err
	}
	mon := &monitor{raftNode: core}
	// The membership manager sets the FSM's callback before the FSM
	// restores anything.
	members := newMembership(core, mon)
	if err := core.startRaft(); err != nil {
		return nil, err
	}
	props := newProposer(core)
	members.p = props
	n := &Node{raftNode: core, props: props, members: members, monitor: mon,
		readiness: newReadiness(core, &props.reads)}
	svc := &peerService{raftNode: core, p: props, m: members}
	n.rpc = newRPCServer(core.mux.cluster, svc.handle, core.log)
	core.mux.start(core.checkHello)
	obs := core.watchLeaders()
	duties := &leaderDuties{raftNode: core, p: props, mon: mon}
	// The member's loops; Close cancels core.ctx and waits for them.
	for _, loop := range []func(){
		n.readiness.run,
		props.writes.run,
		core.notices.run,
		core.snapshotLoop,
		func() { core.observeLeaders(obs) },
		func() { core.space.run(core.ctx.Done()) },
		duties.loop,
		members.publish,
	} {
		core.spawn(loop)
	}
	if k := newElectionKick(core); k != nil {
		core.spawn(k.run)
	}
	core.log.WithFields(logrus.Fields{"node": cfg.Name, "id": machines.IDString(cfg.ID), "restarted": core.hasState}).Info("raft node started")
	return n, nil
}

// Close stops the node: loops, RPCs, raft, transport and stores. It is
// idempotent.
func (n *Node) Close() error {
	n.once.Do(func() {
		n.cancel()
		n.wg.Wait()
		n.props.fwd.calls.close() // batch calls end with n.ctx
		n.rpc.Close()
		n.closeErr = n.close()
		n.log.Info("raft node stopped")
	})
	return n.closeErr
}

// LeaderSince is when this member first saw the current leader (zero if
// it has seen none), for /v2/stats/self's leaderInfo.
func (n *Node) LeaderSince() time.Time {
	ns := n.leaderSince.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// Metrics returns this member's replication figures.
func (n *Node) Metrics() machines.RaftStats {
	_, leader := n.raft.LeaderWithID()
	ls := n.logStats()
	return machines.RaftStats{HasLeader: leader != "", IsLeader: n.raft.State() == raft.Leader, LeaderChanges: n.leaderChanges.Load(),
		Term: n.raft.CurrentTerm(), CommitIndex: n.raft.CommitIndex(), AppliedIndex: n.fsm.AppliedIndex(),
		ProposalsFailed: n.proposalsFailed.Load(), LogAppends: ls.Batches, LogEntries: ls.Entries,
		RecvAppends: n.trans.recv.total.Load(), SentAppends: n.trans.send.total.Load(), NoSpace: n.space.full()}
}

// Removed is closed once this member has been removed from the cluster;
// the process should then stop, as etcd does.
func (n *Node) Removed() <-chan struct{} { return n.members.removed }

// ID is this member's ID.
func (n *Node) ID() uint64 { return n.cfg.ID }

// Name is this member's name.
func (n *Node) Name() string { return n.cfg.Name }

// IsLeader reports whether this member is the raft leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// LeaderID returns the current leader's member ID, if one is known.
func (n *Node) LeaderID() (uint64, bool) {
	_, id := n.raft.LeaderWithID()
	if id == "" {
		return 0, false
	}
	v, err := machines.ParseID(string(id))
	if err != nil {
		return 0, false
	}
	return v, true
}

// State is the raft role as etcd's stats name it: StateLeader,
// StateFollower or StateCandidate.
func (n *Node) State() string {
	switch n.raft.State() {
	case raft.Leader:
		return "StateLeader"
	case raft.Candidate:
		return "StateCandidate"
	default:
		return "StateFollower"
	}
}

// Cluster returns a copy of the replicated membership table.
func (n *Node) Cluster() *machines.Cluster { return n.fsm.Cluster() }

// ClusterID is the cluster's ID: the replicated one once known, else the
// one this member was configured with, else the one it learned joining.
func (n *Node) ClusterID() uint64 { return n.clusterID() }

// RaftIndex is the raft index of the last entry applied here, or of the
// last write this member acknowledged if that is later (the read fence:
// local reads wait until it is applied, so they never show less).
func (n *Node) RaftIndex() uint64 { return max(n.fsm.AppliedIndex(), n.fence.get()) }

// RaftTerm is the current raft term.
func (n *Node) RaftTerm() uint64 { return n.raft.CurrentTerm() }

// Propose replicates a keys-API write and returns its event once it is
// applied on this member. Application failures come back as *store.Error;
// raft failures as this package's sentinels wrapping a 300 error. The
// write is not cancelled when ctx is (a client hanging up does not undo
// its write); it is bounded by the request timeout.
func (n *Node) Propose(ctx context.Context, req *store.Request) (*store.Event, error) {
	return n.props.proposeRequest(ctx, req)
}

// ReadBarrier makes the next local read linearizable: it learns the
// leader's commit index (the leader confirms its leadership with a quorum
// of heartbeats; nothing is appended to the log) and waits until this
// member has applied up to it. Concurrent callers share rounds.
func (n *Node) ReadBarrier(ctx context.Context) error { return n.props.readBarrier(ctx) }

// WaitReady blocks until this member may serve local reads after its
// start: it has applied every entry its log held, or what a leader
// confirmed was committed (ready.go). When ctx ends first it returns
// ErrNoLeader if no leader is known, else ErrTimeout (both with error
// 300); ErrStopped once the node closes.
func (n *Node) WaitReady(ctx context.Context) error { return n.readiness.wait(ctx) }

// Settle waits until every other started member has applied everything
// this member has applied when it is called, or until within has passed
// (or ctx ends). A member that cannot be reached is not waited for; one
// that answers but lags is polled until it catches up or the time is up.
// httpapi calls it after an auth change, so that the next request on any
// running member sees it; membership changes settle on their own.
func (n *Node) Settle(ctx context.Context, within time.Duration) { n.members.settle(ctx, within) }

// AddMember adds a member with the given peer URLs (as a non-voting
// learner if learner is set) and returns it; the member is not started
// until a process with those peer URLs joins. Runs on the leader
// (forwarded if need be).
func (n *Node) AddMember(ctx context.Context, peerURLs []string, learner bool) (*machines.Member, error) {
	return n.members.change(ctx, opMemberAdd, &memberRequest{PeerURLs: peerURLs, Learner: learner})
}

// RemoveMember removes a member for good.
func (n *Node) RemoveMember(ctx context.Context, id uint64) error {
	_, err := n.members.change(ctx, opMemberRemove, &memberRequest{ID: id})
	return err
}

// UpdateMember replaces a member's peer URLs.
func (n *Node) UpdateMember(ctx context.Context, id uint64, peerURLs []string) error {
	_, err := n.members.change(ctx, opMemberUpdate, &memberRequest{ID: id, PeerURLs: peerURLs})
	return err
}

// PromoteMember makes a caught-up learner a voter.
func (n *Node) PromoteMember(ctx context.Context, id uint64) (*machines.Member, error) {
	return n.members.change(ctx, opMemberPromote, &memberRequest{ID: id})
}

// Join asks the cluster reachable at peers to add this (already running,
// not bootstrapped) member, and waits until it has caught up with the
// membership table. etcd 0.x scripted joins (-peers / -C) use it.
func (n *Node) Join(ctx context.Context, peers []string) (*JoinResult, error) {
	return n.members.joinCluster(ctx, peers)
}

// LeaderStats returns, on the leader, the probe statistics of every other
// member; ok is false on a follower.
func (n *Node) LeaderStats() (map[uint64]machines.FollowerStats, bool) {
	return n.monitor.leaderStats()
}
