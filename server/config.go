package server

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/certs"
	"github.com/etcd-classic/etcd-classic/httpapi"
	"github.com/etcd-classic/etcd-classic/raftfsm"
	"github.com/etcd-classic/etcd-classic/store"
)

// The defaults of the settings a zero Config leaves to the packages that
// own them, for the command line to show (they are set there and only
// there).
const (
	DefaultSnapshotCount     = raftfsm.DefaultSnapshotCount
	DefaultHeartbeatInterval = raftfsm.DefaultHeartbeatInterval
	DefaultElectionTimeout   = raftfsm.DefaultElectionTimeout
	DefaultV1Dialect         = httpapi.DefaultV1Dialect
	DefaultHistorySize       = store.HistoryCapacity
)

// What a member does when discovery finds the cluster full
// (Config.DiscoveryFallback).
const (
	FallbackExit  = "exit"
	FallbackProxy = "proxy"
)

// Proxy modes (Config.Proxy).
const (
	ProxyOff      = ""         // a member
	ProxyOn       = "on"       // etcd 2.x --proxy=on: forwards every request to the members
	ProxyReadOnly = "readonly" // --proxy=readonly: forwards reads, refuses writes
)

// Config describes one member (or proxy). Name, DataDir and the listen
// URLs are required; every other zero value takes the default its comment
// names.
type Config struct {
	// Name is the member's human name: its registry key and its entry in
	// InitialCluster.
	Name string
	// DataDir holds what the member keeps (see DESIGN.md, "Data dir"):
	// DataDir/member for its identity and raft state, DataDir/fixtures
	// for auto-TLS certificates.
	DataDir string

	// ListenClientURLs are the URLs the client API listens on (port 0
	// picks a free port); AdvertiseClientURLs are the ones the member
	// announces (default: the listen URLs with the ports bound).
	ListenClientURLs, AdvertiseClientURLs []string
	// ListenPeerURLs and AdvertisePeerURLs are the same for the peer
	// port.
	ListenPeerURLs, AdvertisePeerURLs []string
	// PeerListener, when set, is an open listener the member takes over
	// for its peer port instead of listening on ListenPeerURLs (a caller
	// that must know the port before the start, as tests do).
	PeerListener net.Listener
	// ListenMetricsURLs serve only /metrics and /health (none by default).
	ListenMetricsURLs []string
	// MaxClientConns caps the connections open at once on each client URL
	// (0: no cap).
	MaxClientConns int

	// InitialCluster lists the members of a new cluster, this one among
	// them by Name (default: this member alone at its advertised peer
	// URLs). Only a first start reads it.
	InitialCluster []InitialMember
	// InitialClusterToken makes the member and cluster IDs of a new
	// cluster unique.
	InitialClusterToken string
	// JoinExisting (etcd 2.x --initial-cluster-state=existing) starts a
	// member that was added to a running cluster (POST /v2/members): it
	// looks itself up through the other members of InitialCluster.
	JoinExisting bool
	// JoinPeers (etcd 0.x -peers, host:port) makes a first start ask the
	// cluster at these peer addresses to add this member.
	JoinPeers []string
	// JoinRounds (etcd 0.4 -max-retry-attempts) is how many times a join
	// goes through JoinPeers before the start fails; 0 tries for a minute.
	// JoinRetryInterval (-retry-interval) is the pause between rounds
	// (default 500 ms). A refusal by the cluster fails the start at once.
	JoinRounds        int
	JoinRetryInterval time.Duration
	// Force is etcd 0.x -f/-force, "force a new configuration to be
	// used": on a member that has started before, the configuration the
	// flags give replaces the one in its data dir (recover.go). Without
	// JoinPeers that is ForceNewCluster; with JoinPeers the member joins
	// that cluster anew, its old state moved to DataDir/member.discarded.
	// A first start ignores it.
	Force bool
	// ForceNewCluster (etcd 2.x --force-new-cluster) starts a member that
	// has started before as a new cluster of itself alone, keeping its
	// data; the other members are removed from the membership table, and
	// new ones are added with POST /v2/members or -peers. A first start
	// ignores it (as etcd does).
	ForceNewCluster bool
	// NoEarlyElection (etcd --initial-election-tick-advance=false) makes a
	// restarted member wait raft's whole follower timeout before its
	// first election, instead of a short random one (raftfsm/DESIGN.md,
	// "First election after a restart").
	NoEarlyElection bool
	// Proxy is ProxyOff (a member), ProxyOn or ProxyReadOnly.
	Proxy string

	// Discovery is the URL of a directory in a v2 keys API (etcd 2.x
	// --discovery): a first start registers there and takes the initial
	// cluster from it (discovery.go). With DiscoveryLegacy it speaks etcd
	// 0.4's protocol instead (discovery_legacy.go).
	Discovery       string
	DiscoveryLegacy bool
	// DiscoveryProxy is an HTTP proxy for the discovery requests.
	DiscoveryProxy string
	// DiscoveryFallback is what a member does when the discovery cluster
	// is already full: FallbackExit (also the zero value) fails the start,
	// FallbackProxy starts a proxy instead.
	DiscoveryFallback string
	// DiscoverySRV (etcd 2.x --discovery-srv) takes the initial cluster
	// from the _etcd-server-ssl._tcp and _etcd-server._tcp SRV records of
	// this domain; DiscoverySRVName adds "-<name>" to both service names.
	DiscoverySRV, DiscoverySRVName string
	// Resolver answers the SRV and host lookups of DiscoverySRV (default:
	// the system's, net.DefaultResolver).
	Resolver *net.Resolver

	// ClientTLS and PeerTLS are the two sides' TLS settings; Start adds
	// the auto-TLS directory (under DataDir) and host names.
	ClientTLS, PeerTLS certs.Info

	// SnapshotCount, HeartbeatInterval and ElectionTimeout tune raft
	// (defaults: DefaultSnapshotCount, DefaultHeartbeatInterval,
	// DefaultElectionTimeout).
	SnapshotCount                      uint64
	HeartbeatInterval, ElectionTimeout time.Duration
	// StrictReconfigCheck refuses membership changes that could leave the
	// cluster without a quorum of running members.
	StrictReconfigCheck bool
	// HistorySize is how many events the watch history keeps for
	// waitIndex (default DefaultHistorySize, etcd's 1000). Members of one
	// cluster may differ (store/DESIGN.md "Event history").
	HistorySize int
	// PeerDial, when set, replaces the TCP dial of every peer connection
	// (tests cut links with it).
	PeerDial func(addr string, timeout time.Duration) (net.Conn, error)

	// API is the client API's configuration (CORS, redirect, v1 dialect,
	// versions, bcrypt cost...). Start sets its Store, Node, Log and
	// RaftStats, and its ClientCertAuth from ClientTLS (etcd's
	// --client-cert-auth both demands client certificates and, with v2
	// auth on, names the user by the certificate's CN).
	API httpapi.Config

	// Log receives the member's logs (default: logrus's standard logger).
	Log *logrus.Entry
}

// InitialMember is one member of a new cluster.
type InitialMember struct {
	Name     string
	PeerURLs []string
}

// check validates c and fills the defaults this package owns.
func (c *Config) check() error {
	switch {
	case c.Name == "":
		return errors.New("server: a member needs a name")
	case c.DataDir == "" && c.Proxy == ProxyOff:
		return errors.New("server: a member needs a data dir")
	case len(c.ListenClientURLs) == 0:
		return errors.New("server: no client URL to listen on")
	case len(c.ListenPeerURLs) == 0 && c.PeerListener == nil && c.Proxy == ProxyOff:
		return errors.New("server: no peer URL to listen on")
	}
	switch c.Proxy {
	case ProxyOff, ProxyOn, ProxyReadOnly:
	default:
		return fmt.Errorf("--proxy must be off, on or readonly, not %q", c.Proxy)
	}
	switch c.DiscoveryFallback {
	case "", FallbackExit, FallbackProxy:
	default:
		return fmt.Errorf("--discovery-fallback must be exit or proxy, not %q", c.DiscoveryFallback)
	}
	if c.Discovery != "" && c.DiscoverySRV != "" {
		return errors.New(`multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery" or "discovery-srv"`)
	}
	if c.Discovery != "" && c.JoinExisting {
		return errors.New("discovery URL should not be set when joining existing initial cluster") // etcd 3.4's words
	}
	if c.Log == nil {
		c.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	return nil
}

// The data dir's layout: DataDir/member is the member's (identity.json
// here, raft.db, snapshots and the rest from raftfsm), DataDir/fixtures
// holds the auto-TLS certificates.
func (c *Config) memberDir() string    { return filepath.Join(c.DataDir, "member") }
func (c *Config) identityPath() string { return filepath.Join(c.memberDir(), "identity.json") }
func (c *Config) autoTLSDir(side string) string {
	return filepath.Join(c.DataDir, "fixtures", side)
}

// tlsInfo is one side's TLS settings with the auto-TLS directory and the
// host names of its URLs.
func (c *Config) tlsInfo(side string) certs.Info {
	info, urls := c.ClientTLS, [][]string{c.ListenClientURLs, c.AdvertiseClientURLs}
	if side == "peer" {
		info, urls = c.PeerTLS, [][]string{c.ListenPeerURLs, c.AdvertisePeerURLs}
	}
	info.AutoDir = c.autoTLSDir(side)
	info.Hosts = append(info.Hosts, urlHosts(urls...)...)
	return info
}
