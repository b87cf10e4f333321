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

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
)

// raftNode is the replication core of a member: hashicorp/raft with its
// log, stable and snapshot stores (checked before raft reads them), the
// FSM, the peer port (mux and raft's transport), the connection pool for
// cluster RPCs to the other members, the free-space guard, and the loops
// that watch leadership and take snapshots. The request path
// (proposer), the membership manager (membership), the leader's probes
// (monitor) and duties (leaderDuties) are built on it; Node wires them.
type raftNode struct {
	cfg      Config
	log      *logrus.Entry
	raft     *raft.Raft
	fsm      *FSM
	bolt     *logStore // raft log, stable store, commit tracking
	snaps    raft.SnapshotStore
	logSum   logSummary // what the start-up check found in raft.db
	trans    *statsTransport
	notices  *commitNotices // commit notices to and from the other members
	mux      *peerMux
	peers    *rpcPool     // cluster RPC connections to the other members
	space    *diskGuard   // refuses writes the data dir has no room for; nil when off
	learned  learnedPeers // cluster and members learned when joining (known.go)
	recovery recovery     // a forced new cluster's pending removals (recover.go)
	ready    progress     // highest term whose leader no-op is applied here
	fence    readFence    // the last write this member acknowledged (ready.go)
	hasState bool         // raft found state in the data dir (a restart)
	raftLog  hclog.Logger // raft's own logs, bridged into logrus

	sawLeader       atomic.Bool   // a leader has been known since start
	leaderChanges   atomic.Uint64 // leader changes observed
	leaderSince     atomic.Int64  // Unix ns when the current leader was first seen
	proposalsFailed atomic.Uint64 // proposals that did not commit
	snapshotDue     chan struct{} // the FSM applied SnapshotCount writes
	observer        *raft.Observer

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // every loop of the member
}

// openRaftNode checks and opens the member's data dir, prepares the peer
// transport (it accepts nothing yet) and the FSM. raft itself starts in
// startRaft, once the FSM's owner has set its callbacks.
func openRaftNode(cfg Config) (*raftNode, error) {
	log := cfg.Log.WithField("component", "raftfsm")
	dir := filepath.Join(cfg.DataDir, "member")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("raftfsm: create data dir: %w", err)
	}
	raftLog := newRaftLogger(cfg.Log.WithField("component", "raft"))
	bolt, logSum, snaps, err := openStores(dir, cfg, raftLog)
	if err != nil {
		return nil, err
	}
	advertise, err := net.ResolveTCPAddr("tcp", machines.HostPort(cfg.PeerURLs[0]))
	if err != nil {
		_ = bolt.Close()
		return nil, fmt.Errorf("raftfsm: peer URL %s: %w", cfg.PeerURLs[0], err)
	}
	n := &raftNode{cfg: cfg, log: log, bolt: bolt, snaps: snaps, logSum: logSum, ready: newProgress(),
		raftLog: raftLog, snapshotDue: make(chan struct{}, 1)}
	// The mux accepts nothing before raft and the RPC server are up
	// (Node.start): the hello check needs raft's configuration.
	n.mux = newPeerMux(cfg.PeerListener, log)
	sl := &streamLayer{subListener: n.mux.raft, d: dialer{tls: cfg.PeerTLS, proto: protoRaft, base: cfg.PeerDial, hello: n.localHello}, advertise: advertise}
	n.trans = newStatsTransport(raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: sl, MaxPool: 4, Timeout: 10 * time.Second, Logger: raftLog,
	}))
	n.peers = newRPCPool(dialer{tls: cfg.PeerTLS, proto: protoCluster, base: cfg.PeerDial, hello: n.localHello})
	if err := n.learned.load(filepath.Join(dir, peersFileName)); err != nil {
		n.closeStores()
		return nil, err
	}
	if err := n.recovery.load(filepath.Join(dir, recoveryFileName)); err != nil {
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
	n.notices = newCommitNotices(n)
	bolt.stored = n.notices.stored
	n.space = newDiskGuard(dir, cfg.SpaceReserve, cfg.Clock, log)
	n.fsm.snapshotEvery = cfg.SnapshotCount
	n.fsm.snapshotDue = func() {
		select {
		case n.snapshotDue <- struct{}{}:
		default: // one is already asked for
		}
	}
	return n, nil
}

// openStores opens raft.db and the snapshot store of the member directory
// dir.
func openStores(dir string, cfg Config, raftLog hclog.Logger) (*logStore, logSummary, raft.SnapshotStore, error) {
	// Everything raft will read at start is checked before raft sees it:
	// raft.db's records and pages, the snapshots, and that the two cover
	// the whole history.
	dbPath := filepath.Join(dir, "raft.db")
	bolt, logSum, err := openLogStore(dbPath, cfg.Existing, cfg.ID)
	if err != nil {
		return nil, logSum, nil, err
	}
	snapIndex, err := checkSnapshots(dir, cfg.ID)
	if err == nil {
		err = checkCoverage(dbPath, logSum, snapIndex, cfg.ID)
	}
	if err != nil {
		_ = bolt.Close()
		return nil, logSum, nil, err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, raftLog)
	if err != nil {
		_ = bolt.Close()
		return nil, logSum, nil, fmt.Errorf("raftfsm: open snapshot store: %w", err)
	}
	return bolt, logSum, snaps, nil
}

// raftConfig is hashicorp/raft's configuration for cfg.
func raftConfig(cfg Config, raftLog hclog.Logger) *raft.Config {
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
	// How long an idle leader waits before it sends followers an
	// AppendEntries without entries, to tell them about new commits. The
	// commit notices (commit.go) tell them at once; this is their
	// backstop. Each time it passes the leader wakes and sends one
	// message to every follower, so it sets most of an idle cluster's
	// CPU (5 ms cost an idle leader 8-12 % of a core).
	rc.CommitTimeout = 5 * cfg.HeartbeatInterval
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
	return rc
}

// startRaft restores the FSM from the data dir, starts raft and, for a
// new cluster, bootstraps it with the initial members. On error the
// stores are closed.
func (n *raftNode) startRaft() error {
	rc := raftConfig(n.cfg, n.raftLog)
	hasState, err := raft.HasExistingState(n.bolt, n.bolt, n.snaps)
	if err != nil {
		n.closeStores()
		return fmt.Errorf("raftfsm: read raft state: %w", err)
	}
	n.hasState = hasState
	if n.cfg.ForceNewCluster && hasState {
		if err := n.forceNewCluster(rc); err != nil {
			n.closeStores()
			return err
		}
	} else if n.cfg.ForceNewCluster {
		n.log.Warn("--force-new-cluster: the data dir holds no raft state; starting as configured")
	}
	if _, err := n.restoreLocal(n.snaps, n.logSum.last); err != nil {
		n.closeStores()
		return err
	}
	// A member that is the only voter wins its election as soon as it
	// stands, so let it stand sooner: start with the shortest follower
	// timeout raft accepts (the leader lease) and restore the configured
	// one once leader (leaderLoop). A restarted single member then serves
	// writes within about half an election timeout.
	if n.soleVoter(rc, hasState, n.snaps) {
		rc.HeartbeatTimeout, rc.ElectionTimeout = rc.LeaderLeaseTimeout, rc.LeaderLeaseTimeout
	}
	// Keep the newest entries in memory: replication to followers reads
	// them back right after they are written.
	cache, err := raft.NewLogCache(4096, n.space.logStore(n.bolt))
	if err != nil {
		n.closeStores()
		return err
	}
	r, err := raft.NewRaft(rc, n.fsm, cachedLog{LogCache: cache, store: n.bolt}, n.space.stableStore(n.bolt), n.snaps, n.trans)
	if err != nil {
		n.closeStores()
		return fmt.Errorf("raftfsm: start raft: %w", err)
	}
	n.raft = r
	n.space.setRole(r)
	if hasState || len(n.cfg.InitialMembers) == 0 {
		return nil
	}
	var servers []raft.Server
	for _, m := range n.cfg.InitialMembers {
		servers = append(servers, raft.Server{Suffrage: raft.Voter,
			ID: raft.ServerID(machines.IDString(m.ID)), Address: raft.ServerAddress(m.PeerAddr())})
	}
	if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		n.close()
		return fmt.Errorf("raftfsm: bootstrap cluster: %w", err)
	}
	n.log.WithField("members", len(servers)).Info("bootstrapped a new cluster")
	return nil
}

// watchLeaders registers the observer whose leader changes
// observeLeaders counts.
func (n *raftNode) watchLeaders() <-chan raft.Observation {
	obs := make(chan raft.Observation, 16)
	n.observer = raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	n.raft.RegisterObserver(n.observer)
	return obs
}

// soleVoter reports whether this member is, or is about to bootstrap as,
// the only voter of its cluster.
func (n *raftNode) soleVoter(rc *raft.Config, hasState bool, snaps raft.SnapshotStore) bool {
	if !hasState {
		return len(n.cfg.InitialMembers) == 1 && n.cfg.InitialMembers[0].ID == n.cfg.ID
	}
	conf := n.latestConfiguration(snaps)
	if conf == nil {
		return false
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

// latestConfiguration is raft's configuration as the data dir holds it:
// the latest configuration entry of the log after the newest snapshot,
// or else the snapshot's (nil when there is neither).
func (n *raftNode) latestConfiguration(snaps raft.SnapshotStore) *raft.Configuration {
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
				return &c
			}
		}
	}
	if len(metas) == 0 {
		return nil
	}
	return &metas[0].Configuration
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
func (n *raftNode) restoreTimeouts() {
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

func (n *raftNode) closeStores() {
	n.peers.Close()
	_ = n.trans.Close()
	_ = n.mux.Close()
	_ = n.bolt.Close()
}

// close stops raft, then the connection pool, the transport and the
// stores; the loops (wg) must have ended. It returns raft's shutdown
// error.
func (n *raftNode) close() error {
	var err error
	if n.raft != nil {
		err = n.raft.Shutdown().Error()
	}
	n.closeStores()
	return err
}

// observeLeaders counts leader changes (for metrics). As in etcd, a
// leader found again after a spell without one counts as a change: a
// member re-elected term after term is a flapping leader, not a stable
// one.
func (n *raftNode) observeLeaders(ch <-chan raft.Observation) {
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

// snapshotLoop takes a snapshot whenever the FSM has applied SnapshotCount
// writes since the last one, but not more often than every
// SnapshotInterval. raft's own threshold counts log entries; with writes
// batched into entries it would let the log grow to many times
// SnapshotCount writes, and a restart replay all of them. The interval
// keeps a fast write load (25 000 writes/s would reach 10 000 writes
// every 0.4 s) from spending its time serialising the store.
func (n *raftNode) snapshotLoop() {
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

// ensureServer makes raft's configuration match the member: voter or
// non-voter at its peer address.
func (n *raftNode) ensureServer(m *machines.Member) error {
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

func (n *raftNode) removeServer(id uint64) error {
	if err := n.raft.RemoveServer(raft.ServerID(machines.IDString(id)), 0, n.cfg.RequestTimeout).Error(); err != nil {
		return translate(err)
	}
	return nil
}

func (n *raftNode) inRaftConfig(id uint64) bool {
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
func (n *raftNode) voters() []uint64 {
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

// clusterID is the cluster's ID: the replicated one once known, else the
// one this member was configured with, else the one it learned joining.
func (n *raftNode) clusterID() uint64 {
	if id := n.fsm.ClusterID(); id != 0 {
		return id
	}
	if n.cfg.ClusterID != 0 {
		return n.cfg.ClusterID
	}
	return n.learned.cluster()
}

// spawn runs f as one of the member's loops: Close cancels n.ctx and waits
// for it.
func (n *raftNode) spawn(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}
