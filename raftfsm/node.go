package raftfsm

import (
	"context"
	"crypto/tls"
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

// Config describes one member. Zero values of the tuning fields take the
// documented defaults.
type Config struct {
	// ID is this member's ID; it is also its raft server ID (in hex).
	ID uint64
	// Name is the member's human name (registry key).
	Name string
	// DataDir holds the member's state under DataDir/member.
	DataDir string
	// PeerListener accepts peer connections (already wrapped in TLS when
	// peer TLS is on). The node owns it from New on.
	PeerListener net.Listener
	// PeerTLS, when not nil, is used to dial other members.
	PeerTLS *tls.Config
	// PeerDial, when set, opens every connection to another member's
	// peer address instead of a TCP dial (TLS still runs over it). Tests
	// use it to cut the links between members.
	PeerDial func(addr string, timeout time.Duration) (net.Conn, error)
	// PeerURLs and ClientURLs are the URLs this member advertises.
	PeerURLs   []string
	ClientURLs []string
	// InitialMembers, when the data dir holds no raft state, bootstraps a
	// new cluster with these voters (this member among them). Empty means
	// "do not bootstrap": the member waits to be added by a cluster.
	InitialMembers []*machines.Member
	// ClusterID is the ID of the cluster being bootstrapped, or the one
	// this member belongs to (from its data dir, or from a lookup).
	ClusterID uint64
	// Existing says this member has started before (its owner found the
	// member's identity on disk): a missing or empty raft log is then
	// damage (ErrDamaged), not a first start.
	Existing bool
	// KnownMembers are members a member that has no log yet learned from
	// the cluster (LookupMember's JoinResult.Members): it accepts their
	// connections before its log names them. Empty for a bootstrap (the
	// initial members are known) and a restart (raft's configuration is).
	KnownMembers []*machines.Member
	// Store is the state the FSM applies commands to.
	Store *store.Store
	// Log receives the node's logs (component=raftfsm is added).
	Log *logrus.Entry
	// Clock stamps commands and drives the expiry loop (SystemClock).
	Clock Clock

	// SnapshotCount is the number of applied writes between snapshots
	// (10000, etcd 0.4's and 2.x's default). Writes batched into one log
	// entry count one each.
	SnapshotCount uint64
	// SnapshotInterval is how often raft checks whether a snapshot is due
	// (5s).
	SnapshotInterval time.Duration
	// ElectionTimeout is etcd's --election-timeout (1s). hashicorp/raft
	// uses it as both its heartbeat (follower) timeout and its election
	// timeout, and sends heartbeats every tenth of it.
	ElectionTimeout time.Duration
	// HeartbeatInterval is etcd's --heartbeat-interval (100ms). It must be
	// below ElectionTimeout; it sets how often an idle leader pushes its
	// commit index to followers.
	HeartbeatInterval time.Duration
	// RequestTimeout bounds a write or a linearizable read (5s + 2 ×
	// ElectionTimeout, as etcd 2.x).
	RequestTimeout time.Duration
	// ExpiryInterval is how often the leader looks for due TTLs (500ms).
	ExpiryInterval time.Duration
	// ExpiryGrace is how long a new leader that inherits TTL keys waits
	// before its first expiry sweep, so clients that lost their refresh
	// window to the election can refresh first (2 × ElectionTimeout).
	ExpiryGrace time.Duration
	// StrictReconfigCheck refuses membership changes that could leave
	// the cluster without a quorum of running members.
	StrictReconfigCheck bool
	// SpaceReserve is the size of the file kept in DataDir/member for
	// raft's own records when the disk fills (DefaultSpaceReserve);
	// writes are refused (ErrNoSpace) while the data dir lacks room for
	// them. Negative turns the free-space guard off (diskspace.go).
	SpaceReserve int64
}

func (c *Config) setDefaults() {
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.Log == nil {
		c.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	if c.SnapshotCount == 0 {
		c.SnapshotCount = 10000
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = 5 * time.Second
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = time.Second
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 100 * time.Millisecond
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 5*time.Second + 2*c.ElectionTimeout
	}
	if c.ExpiryInterval == 0 {
		c.ExpiryInterval = 500 * time.Millisecond
	}
	if c.ExpiryGrace == 0 {
		c.ExpiryGrace = 2 * c.ElectionTimeout
	}
}

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

// soleVoter reports whether this member is, or is about to bootstrap as,
// the only voter of its cluster. For existing state it reads the latest
// configuration entry of the log, or else of the newest snapshot.
func (n *Node) soleVoter(rc *raft.Config, hasState bool, snaps raft.SnapshotStore) bool {
	if !hasState {
		return len(n.cfg.InitialMembers) == 1 && n.cfg.InitialMembers[0].ID == n.cfg.ID
	}
	var conf *raft.Configuration
	first, err1 := n.bolt.FirstIndex()
	last, err2 := n.bolt.LastIndex()
	// Entries up to the newest snapshot are superseded by its
	// configuration: scanning them would read (and map into memory) the
	// whole trailing log, thousands of entries, on every restart.
	metas, _ := snaps.List()
	if len(metas) > 0 && metas[0].Index >= first {
		first = metas[0].Index + 1
	}
	if err1 == nil && err2 == nil {
		for i := last; i >= first && i > 0; i-- {
			var l raft.Log
			if err := n.bolt.GetLog(i, &l); err != nil {
				break
			}
			if l.Type == raft.LogConfiguration {
				c := raft.DecodeConfiguration(l.Data)
				conf = &c
				break
			}
		}
	}
	if conf == nil {
		if len(metas) == 0 {
			return false
		}
		conf = &metas[0].Configuration
	}
	voters, self := 0, false
	for _, s := range conf.Servers {
		if s.Suffrage == raft.Voter {
			voters++
			self = self || s.ID == rc.LocalID
		}
	}
	return voters == 1 && self
}

// followerTimeout is raft's follower (and candidate) timeout for an etcd
// election timeout (see New).
func followerTimeout(election time.Duration) time.Duration {
	t := election * 2 / 3
	if t < election/2 {
		t = election / 2 // never below the leader lease
	}
	return t
}

// restoreTimeouts puts back the configured follower timeouts (see New).
func (n *Node) restoreTimeouts() {
	rc := n.raft.ReloadableConfig()
	want := followerTimeout(n.cfg.ElectionTimeout)
	if rc.HeartbeatTimeout == want {
		return
	}
	rc.HeartbeatTimeout, rc.ElectionTimeout = want, want
	if err := n.raft.ReloadConfig(rc); err != nil {
		n.log.WithField("err", err).Warn("could not restore raft timeouts")
	}
}

func (n *Node) closeStores() {
	_ = n.trans.Close()
	_ = n.mux.Close()
	_ = n.bolt.Close()
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

// observeLeaders counts leader changes (for metrics). As in etcd, a
// leader found again after a spell without one counts as a change: a
// member re-elected term after term is a flapping leader, not a stable
// one.
func (n *Node) observeLeaders(ch <-chan raft.Observation) {
	defer n.wg.Done()
	var last raft.ServerID
	for {
		select {
		case o := <-ch:
			lo, ok := o.Data.(raft.LeaderObservation)
			if ok && lo.LeaderID == "" {
				last = ""
			}
			if ok && lo.LeaderID != "" && lo.LeaderID != last {
				last = lo.LeaderID
				n.leaderChanges.Add(1)
				n.leaderSince.Store(n.cfg.Clock.Now().UnixNano())
			}
		case <-n.ctx.Done():
			n.raft.DeregisterObserver(n.observer)
			return
		}
	}
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

// errNotLeader: this member is not the leader (nothing was enqueued, so
// the proposal may be sent elsewhere).
var errNotLeader = errors.New("raftfsm: not the leader")

func init() { sentinelsByName["notleader"] = errNotLeader }

func (n *Node) propose(ctx context.Context, c *command) (*Result, error) {
	for {
		if n.raft.State() == raft.Leader {
			res, err := n.proposeLocal(ctx, c)
			if !errors.Is(err, errNotLeader) {
				return res, err
			}
		}
		addr, err := n.waitLeader(ctx)
		if err != nil {
			return nil, err
		}
		if addr == "" {
			continue // we became leader meanwhile
		}
		// This member stores the entry too, and answers only once it has
		// applied it: with no room for it here, say so now.
		if err := n.space.admit(commandSize(c)); err != nil {
			return nil, err
		}
		res, err := n.forward(ctx, addr, c)
		if errors.Is(err, errNotLeader) {
			// The remote lost leadership before enqueueing: safe to retry.
			if !n.pause(ctx, n.cfg.HeartbeatInterval) {
				return nil, apiError(ErrTimeout)
			}
			continue
		}
		return res, err
	}
}

// waitLeader returns the leader's address ("" if it is this member),
// waiting at most three election timeouts (an election, with its
// randomised timeouts, plus a margin) before failing fast with
// ErrNoLeader instead of hanging for the whole request timeout.
func (n *Node) waitLeader(ctx context.Context) (string, error) {
	wait := 3 * n.cfg.ElectionTimeout
	if !n.sawLeader.Load() {
		// A member that has not seen a leader since it started is still
		// in its first election: worth waiting for, up to the request
		// timeout.
		wait = n.cfg.RequestTimeout
	}
	deadline := time.Now().Add(wait)
	for {
		if n.raft.State() == raft.Leader {
			n.sawLeader.Store(true)
			return "", nil
		}
		if addr, _ := n.raft.LeaderWithID(); addr != "" {
			n.sawLeader.Store(true)
			return string(addr), nil
		}
		if n.ctx.Err() != nil {
			return "", apiError(ErrStopped)
		}
		if time.Now().After(deadline) {
			return "", apiError(ErrNoLeader)
		}
		if !n.pause(ctx, 10*time.Millisecond) {
			return "", apiError(ErrNoLeader)
		}
	}
}

// pause waits d unless ctx or the node ends first; it reports whether the
// full pause elapsed. (A back-off between retries, not synchronisation.)
func (n *Node) pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-n.ctx.Done():
		return false
	}
}

// proposeLocal appends c on this member, which must be the leader, and
// waits for it to be applied here.
func (n *Node) proposeLocal(ctx context.Context, c *command) (*Result, error) {
	if c.Type == cmdRequest {
		return n.writes.submit(ctx, c.Req)
	}
	c.Time = n.cfg.Clock.Now().UnixNano()
	data, err := encodeCommand(c)
	if err != nil {
		return nil, err
	}
	// The term's no-op is exempt: it is tiny, and read-index waits for it.
	if c.Type != cmdNoop {
		if err := n.space.admit(len(data)); err != nil {
			return nil, err
		}
	}
	f := n.raft.Apply(data, n.cfg.RequestTimeout)
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		return nil, apiError(ErrTimeout)
	}
	if err != nil {
		n.proposalsFailed.Add(1)
		return nil, translate(err)
	}
	res := &Result{RaftIndex: f.Index(), RaftTerm: n.raft.CurrentTerm()}
	if ar, ok := f.Response().(*applyResult); ok && ar != nil {
		if ar.Err != nil {
			return nil, ar.Err
		}
		res.Event = ar.Event
	}
	return res, nil
}

// translate maps raft's errors to this package's.
func translate(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		return errNotLeader
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return apiError(ErrLeadershipLost)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return apiError(ErrTimeout)
	case errors.Is(err, raft.ErrRaftShutdown):
		return apiError(ErrStopped)
	}
	return fmt.Errorf("raftfsm: %w", err)
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

// readIndexRound is one read-index round: on the leader a leadership
// confirmation, elsewhere one request to the leader. It retries across
// leader changes until ctx ends.
func (n *Node) readIndexRound(ctx context.Context) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	for {
		var idx uint64
		var err error
		if n.raft.State() == raft.Leader {
			idx, err = n.leaderReadIndex(ctx)
		} else {
			var addr string
			addr, err = n.waitLeader(ctx)
			if err == nil && addr == "" {
				continue
			}
			if err == nil {
				idx, err = n.remoteReadIndex(ctx, addr)
			}
		}
		if errors.Is(err, errNotLeader) {
			if !n.pause(ctx, n.cfg.HeartbeatInterval) {
				return 0, apiError(ErrTimeout)
			}
			continue
		}
		return idx, err
	}
}

// leaderReadIndex is the read-index step on the leader.
func (n *Node) leaderReadIndex(ctx context.Context) (uint64, error) {
	term := n.raft.CurrentTerm()
	// Until this term's no-op is applied, the commit index may not cover
	// everything earlier leaders committed.
	if err := n.ready.wait(ctx, term); err != nil {
		return 0, apiError(ErrTimeout)
	}
	idx := n.raft.CommitIndex()
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return 0, translate(err)
	}
	return idx, nil
}

// snapshotLoop takes a snapshot whenever the FSM has applied SnapshotCount
// writes since the last one, but not more often than every
// SnapshotInterval. raft's own threshold counts log entries; with writes
// batched into entries it would let the log grow to many times
// SnapshotCount writes, and a restart replay all of them. The interval
// keeps a fast write load (25 000 writes/s would reach 10 000 writes
// every 0.4 s) from spending its time serialising the store.
func (n *Node) snapshotLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.snapshotDue:
		}
		err := n.raft.Snapshot().Error()
		if err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) && n.ctx.Err() == nil {
			n.log.WithError(err).Warn("snapshot failed")
		}
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(n.cfg.SnapshotInterval):
		}
	}
}
