package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// Result is the outcome of a successful proposal.
type Result struct {
	Event     *store.Event
	RaftIndex uint64
	RaftTerm  uint64
}

// Node is one running member: raft, its FSM and the cluster RPCs.
type Node struct {
	cfg   Config
	log   *logrus.Entry
	raft  *raft.Raft
	fsm   *FSM
	bolt  *logStore // raft log, stable store, commit tracking
	trans *statsTransport
	mux   *peerMux
	rpc   *rpcServer
	peers *rpcPool

	startIndex      uint64        // last command or configuration entry in the log at start
	readyCh         chan struct{} // closed once local reads may be served (ready.go)
	learned         learnedPeers  // cluster and members learned when joining (known.go)
	joinNonce       atomic.Value  // string: the join this member waits for (join.go)
	ready           progress      // highest term whose leader no-op is applied here
	leader          atomic.Bool   // this node is leader (from LeaderCh)
	sawLeader       atomic.Bool   // a leader has been known since start
	leaderChanges   atomic.Uint64 // leader changes observed
	leaderSince     atomic.Int64  // Unix ns when the current leader was first seen
	proposalsFailed atomic.Uint64 // proposals that did not commit
	memberCh        chan struct{} // membership table changed
	memberMu        sync.Mutex    // serialises membership changes on the leader
	monitor         monitor       // leader's probes of the other members
	removed         chan struct{} // closed when this member is removed
	removeOnce      sync.Once
	reads           readBatcher   // coalesced read-index rounds
	writes          *writeBatcher // keys-API writes gathered into entries
	snapshotDue     chan struct{} // the FSM applied SnapshotCount writes
	space           *diskGuard    // refuses writes the data dir has no room for; nil when off

	observer *raft.Observer

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	closeErr error
	once     sync.Once
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
	log := cfg.Log.WithField("component", "raftfsm")
	dir := filepath.Join(cfg.DataDir, "member")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("raftfsm: create data dir: %w", err)
	}
	raftLog := newRaftLogger(cfg.Log.WithField("component", "raft"))
	// Everything raft will read at start is checked before raft sees it:
	// raft.db's records and pages, the snapshots, and that the two cover
	// the whole history.
	dbPath := filepath.Join(dir, "raft.db")
	bolt, logSum, err := openLogStore(dbPath, cfg.Existing, cfg.ID)
	if err != nil {
		return nil, err
	}
	snapIndex, err := checkSnapshots(dir, cfg.ID)
	if err == nil {
		err = checkCoverage(dbPath, logSum, snapIndex, cfg.ID)
	}
	if err != nil {
		_ = bolt.Close()
		return nil, err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, raftLog)
	if err != nil {
		_ = bolt.Close()
		return nil, fmt.Errorf("raftfsm: open snapshot store: %w", err)
	}
	advertise, err := net.ResolveTCPAddr("tcp", machines.HostPort(cfg.PeerURLs[0]))
	if err != nil {
		_ = bolt.Close()
		return nil, fmt.Errorf("raftfsm: peer URL %s: %w", cfg.PeerURLs[0], err)
	}
	n := &Node{cfg: cfg, log: log, bolt: bolt, ready: newProgress(),
		memberCh: make(chan struct{}, 1), removed: make(chan struct{}), readyCh: make(chan struct{})}
	// The mux accepts nothing before raft and the RPC server are up (see
	// start below): the hello check needs raft's configuration.
	mux := newPeerMux(cfg.PeerListener, log)
	n.mux = mux
	sl := &streamLayer{subListener: mux.raft, d: dialer{tls: cfg.PeerTLS, proto: protoRaft, base: cfg.PeerDial, hello: n.localHello}, advertise: advertise}
	n.trans = newStatsTransport(raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: sl, MaxPool: 4, Timeout: 10 * time.Second, Logger: raftLog,
	}))
	trans := n.trans
	if err := n.learned.load(filepath.Join(dir, peersFileName)); err != nil {
		n.closeStores()
		return nil, err
	}
	if len(cfg.KnownMembers) > 0 {
		if err := n.learned.learn(cfg.ClusterID, cfg.KnownMembers); err != nil {
			n.closeStores()
			return nil, err
		}
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.fsm = newFSM(cfg.Store, log)
	n.space = newDiskGuard(dir, cfg.SpaceReserve, cfg.Clock, log)
	// Before anything can propose: the cluster RPC server below may
	// receive forwarded writes as soon as it starts.
	n.writes = newWriteBatcher(n)
	n.snapshotDue = make(chan struct{}, 1)
	n.fsm.snapshotEvery = cfg.SnapshotCount
	n.fsm.snapshotDue = func() {
		select {
		case n.snapshotDue <- struct{}{}:
		default: // one is already asked for
		}
	}
	n.fsm.onMembership = func() {
		select {
		case n.memberCh <- struct{}{}:
		default:
		}
		if n.fsm.wasRemoved(cfg.ID) {
			n.removeOnce.Do(func() { close(n.removed) })
		}
	}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(machines.IDString(cfg.ID))
	rc.Logger = raftLog
	// hashicorp/raft notices a lost leader between one and (nearly) three
	// follower timeouts after its last contact, etcd between one and two
	// election timeouts; two thirds of the election timeout brings the
	// two in line.
	rc.HeartbeatTimeout = followerTimeout(cfg.ElectionTimeout)
	rc.ElectionTimeout = followerTimeout(cfg.ElectionTimeout)
	rc.LeaderLeaseTimeout = cfg.ElectionTimeout / 2
	// How long an idle leader waits before telling followers about new
	// commits: followers serve acknowledged writes within a few ms.
	rc.CommitTimeout = cfg.HeartbeatInterval / 20
	if rc.CommitTimeout < time.Millisecond {
		rc.CommitTimeout = time.Millisecond
	}
	rc.SnapshotThreshold = cfg.SnapshotCount
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.SnapshotCount
	if rc.TrailingLogs > 5000 {
		rc.TrailingLogs = 5000
	}
	rc.MaxAppendEntries = 1024
	rc.BatchApplyCh = true
	// A removed member is told through Removed() and stopped by its
	// owner; raft shutting itself down would race with Close.
	rc.ShutdownOnRemove = false
	// The FSM is restored here, before raft starts, from the newest
	// snapshot and the entries the persisted commit index covers
	// (restore.go); raft only stages the commit index with each append.
	rc.RestoreCommittedLogs = true
	rc.NoSnapshotRestoreOnStart = true

	hasState, err := raft.HasExistingState(bolt, bolt, snaps)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("raftfsm: read raft state: %w", err)
	}
	n.startIndex = logSum.lastVisible
	if _, err := n.restoreLocal(snaps, logSum.last); err != nil {
		n.closeStores()
		return nil, err
	}
	// A member that is the only voter wins its election as soon as it
	// stands, so let it stand sooner: start with the shortest follower
	// timeout raft accepts (the leader lease) and restore the configured
	// one once leader (leaderLoop). A restarted single member then serves
	// writes within about half an election timeout.
	if n.soleVoter(rc, hasState, snaps) {
		rc.HeartbeatTimeout, rc.ElectionTimeout = rc.LeaderLeaseTimeout, rc.LeaderLeaseTimeout
	}
	// Keep the newest entries in memory: replication to followers reads
	// them back right after they are written.
	cache, err := raft.NewLogCache(4096, n.space.logStore(bolt))
	if err != nil {
		n.closeStores()
		return nil, err
	}
	r, err := raft.NewRaft(rc, n.fsm, cachedLog{LogCache: cache, store: bolt}, n.space.stableStore(bolt), snaps, trans)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("raftfsm: start raft: %w", err)
	}
	n.raft = r
	n.space.setRole(r)
	if !hasState && len(cfg.InitialMembers) > 0 {
		var servers []raft.Server
		for _, m := range cfg.InitialMembers {
			servers = append(servers, raft.Server{Suffrage: raft.Voter,
				ID: raft.ServerID(machines.IDString(m.ID)), Address: raft.ServerAddress(m.PeerAddr())})
		}
		if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
			_ = n.Close()
			return nil, fmt.Errorf("raftfsm: bootstrap cluster: %w", err)
		}
		log.WithField("members", len(servers)).Info("bootstrapped a new cluster")
	}
	n.reads.fetch = n.readIndexRound
	n.peers = newRPCPool(dialer{tls: cfg.PeerTLS, proto: protoCluster, base: cfg.PeerDial, hello: n.localHello})
	n.rpc = newRPCServer(mux.cluster, n.handleRPC, log)
	mux.start(n.checkHello)
	obs := make(chan raft.Observation, 16)
	n.observer = raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(n.observer)
	n.wg.Add(7)
	go n.readyLoop()
	go n.space.run(n)
	go n.writes.run()
	go n.snapshotLoop()
	go n.leaderLoop()
	go n.publishLoop()
	go n.observeLeaders(obs)
	log.WithFields(logrus.Fields{"node": cfg.Name, "id": machines.IDString(cfg.ID), "restarted": hasState}).Info("raft node started")
	return n, nil
}

// Close stops the node: loops, RPCs, raft, transport and stores. It is
// idempotent.
func (n *Node) Close() error {
	n.once.Do(func() {
		n.cancel()
		n.wg.Wait()
		if n.rpc != nil {
			n.rpc.Close()
		}
		if n.peers != nil {
			n.peers.Close()
		}
		if n.raft != nil {
			n.closeErr = n.raft.Shutdown().Error()
		}
		n.closeStores()
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

// Metrics are the replication figures of this member.
type Metrics struct {
	HasLeader, IsLeader       bool
	LeaderChanges, Term       uint64
	CommitIndex, AppliedIndex uint64
	ProposalsFailed           uint64
	LogAppends, LogEntries    uint64
	RecvAppends, SentAppends  uint64
}

// Metrics returns this member's replication figures.
func (n *Node) Metrics() Metrics {
	_, has := n.LeaderID()
	ls := n.LogStats()
	return Metrics{HasLeader: has, IsLeader: n.IsLeader(), LeaderChanges: n.leaderChanges.Load(),
		Term: n.raft.CurrentTerm(), CommitIndex: n.raft.CommitIndex(), AppliedIndex: n.fsm.AppliedIndex(),
		ProposalsFailed: n.proposalsFailed.Load(), LogAppends: ls.Batches, LogEntries: ls.Entries,
		RecvAppends: n.trans.recv.total.Load(), SentAppends: n.trans.send.total.Load()}
}

// Removed is closed once this member has been removed from the cluster;
// the process should then stop, as etcd does.
func (n *Node) Removed() <-chan struct{} { return n.removed }

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
func (n *Node) ClusterID() uint64 {
	n.fsm.mu.RLock()
	id := n.fsm.cluster.ID
	n.fsm.mu.RUnlock()
	if id == 0 {
		id = n.cfg.ClusterID
	}
	if id == 0 {
		id = n.learned.cluster()
	}
	return id
}

// RaftIndex is the raft index of the last entry applied here.
func (n *Node) RaftIndex() uint64 { return n.fsm.AppliedIndex() }

// RaftTerm is the current raft term.
func (n *Node) RaftTerm() uint64 { return n.raft.CurrentTerm() }

// Propose replicates a keys-API write and returns its event once it is
// applied on this member. Application failures come back as *store.Error;
// raft failures as this package's sentinels wrapping a 300 error. The
// write is not cancelled when ctx is (a client hanging up does not undo
// its write); it is bounded by the request timeout.
func (n *Node) Propose(ctx context.Context, req *store.Request) (*store.Event, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.cfg.RequestTimeout)
	defer cancel()
	res, err := n.propose(ctx, &command{Type: cmdRequest, Req: req})
	if err != nil {
		return nil, err
	}
	return res.Event, nil
}

// ReadBarrier makes the next local read linearizable: it learns the
// leader's commit index (the leader confirms its leadership with a quorum
// of heartbeats; nothing is appended to the log) and waits until this
// member has applied up to it. Concurrent callers share rounds.
func (n *Node) ReadBarrier(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	idx, err := n.reads.get(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return apiError(ErrTimeout)
		}
		return err
	}
	if err := n.fsm.applied.wait(ctx, idx); err != nil {
		return apiError(ErrTimeout)
	}
	return nil
}
