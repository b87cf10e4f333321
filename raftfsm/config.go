package raftfsm

import (
	"crypto/tls"
	"net"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// The defaults of the tuning settings, etcd 2.x's (every other default is
// set in setDefaults alone). The command line shows and uses these.
const (
	// DefaultSnapshotCount is etcd 0.4's and 2.x's --snapshot-count.
	DefaultSnapshotCount = 10000
	// DefaultHeartbeatInterval is etcd 2.x's --heartbeat-interval.
	DefaultHeartbeatInterval = 100 * time.Millisecond
	// DefaultElectionTimeout is etcd 2.x's --election-timeout.
	DefaultElectionTimeout = time.Second
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
	// ForceNewCluster (etcd 2.x --force-new-cluster) makes a member that
	// has raft state start as a new cluster of itself alone, with its
	// data: raft.RecoverCluster before raft starts, then the other members
	// are removed from the membership table once it leads (recover.go).
	// Without raft state it has no effect.
	ForceNewCluster bool
	// NoEarlyElection turns off the early first election of a restarted
	// member (firstelection.go; etcd's --initial-election-tick-advance).
	NoEarlyElection bool
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
		c.SnapshotCount = DefaultSnapshotCount
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = 5 * time.Second
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = DefaultElectionTimeout
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
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
