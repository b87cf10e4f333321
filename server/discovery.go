package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
)

// The etcd 2.x discovery protocol (etcd's Documentation/
// discovery_protocol.md), on a directory of a v2 keys API — the token:
//
//   - <token>/_config/size holds the cluster's size N, set beforehand;
//   - each member registers once, creating <token>/<member ID in hex>
//     with prevExist=false and the value "name=peerURL,name=peerURL2";
//   - the first N registrations by createdIndex are the cluster; a member
//     that is not among them finds the cluster full;
//   - a member waits, watching the directory, until N have registered,
//     then starts a new cluster from them as from --initial-cluster, with
//     the discovery URL as the cluster token (etcd: member IDs derive
//     from the peer URLs and the discovery URL, so they agree everywhere).

// Errors of the etcd 2.x discovery protocol, with etcd's words.
var (
	ErrDiscoveryFull          = errors.New("discovery: cluster is full")
	ErrDiscoverySizeNotFound  = errors.New("discovery: size key not found")
	ErrDiscoveryBadSize       = errors.New("discovery: size key is bad")
	ErrDiscoveryDuplicateID   = errors.New("discovery: found duplicate id")
	ErrDiscoveryDuplicateName = errors.New("discovery: found duplicate name")
	ErrDiscoveryInvalidURL    = errors.New("discovery: invalid URL")
)

// discoveryConfigDir is the token's settings directory (_config/size).
const discoveryConfigDir = "_config"

// registry is one discovery token's directory, as the etcd 2.x protocol
// reads it.
type registry struct {
	c    *keysClient
	self string // this member's key (its ID in hex); "" for a proxy
	log  *logrus.Entry
}

// regStatus is one look at the directory.
type regStatus struct {
	size  int
	nodes []keysNode // the registrations, oldest first
	index uint64     // the listing's X-Etcd-Index
}

// full reports whether the cluster is complete without self: N members
// registered and self is not among the first N.
func (s *regStatus) full(self string) bool {
	for i := 0; i < len(s.nodes) && i < s.size; i++ {
		if s.nodes[i].name() == self {
			return false
		}
	}
	return len(s.nodes) >= s.size
}

// names lists the first N registrations' member names, for messages.
func (s *regStatus) names() string {
	var out []string
	for i := 0; i < len(s.nodes) && i < s.size; i++ {
		name, _, _ := strings.Cut(s.nodes[i].Value, "=")
		out = append(out, name)
	}
	return strings.Join(out, ", ")
}

// status reads the size and the registrations, retrying while the
// service is unreachable.
func (r *registry) status(ctx context.Context) (*regStatus, error) {
	var st *regStatus
	err := r.c.retry(ctx, "cluster status check", func() error {
		a, err := r.c.get(ctx, discoveryConfigDir+"/size")
		if keysCode(err) == codeKeyNotFound {
			return fmt.Errorf("%w (set it first: curl -X PUT %s -d value=3)", ErrDiscoverySizeNotFound, r.c.keyURL(discoveryConfigDir+"/size", nil).Redacted())
		}
		if err != nil {
			return err
		}
		size, err := strconv.Atoi(strings.TrimSpace(a.Node.Value))
		if err != nil || size < 1 {
			return fmt.Errorf("%w: %q", ErrDiscoveryBadSize, a.Node.Value)
		}
		if a, err = r.c.get(ctx, ""); err != nil {
			return err
		}
		st = &regStatus{size: size, index: a.index}
		for _, n := range a.Node.Nodes {
			if n.name() != discoveryConfigDir {
				st.nodes = append(st.nodes, n)
			}
		}
		sort.SliceStable(st.nodes, func(i, j int) bool { return st.nodes[i].CreatedIndex < st.nodes[j].CreatedIndex })
		return nil
	})
	return st, err
}

// join registers this member (value is its "name=peerURL,..." list)
// and waits for the cluster to fill; it returns the cluster.
func (r *registry) join(ctx context.Context, value string) ([]InitialMember, error) {
	// The fast path of etcd 2.x: a full cluster fails before registering.
	st, err := r.status(ctx)
	if err != nil {
		return nil, err
	}
	if st.full(r.self) {
		return nil, fullError(st)
	}
	attempts := 0
	err = r.c.retry(ctx, "registration", func() error {
		attempts++
		_, err := r.c.put(ctx, r.self, value, url.Values{"prevExist": {"false"}})
		if keysCode(err) == codeNodeExist && attempts > 1 {
			// An earlier attempt may have registered without its answer
			// coming back: the same value is that registration.
			if a, gerr := r.c.get(ctx, r.self); gerr == nil && a.Node.Value == value {
				return nil
			}
		}
		return err
	})
	if keysCode(err) == codeNodeExist {
		// etcd refuses too: a token that bootstrapped once, even halfway,
		// must not bootstrap again.
		return nil, fmt.Errorf("%w: this member (ID %s) registered with this discovery token before, but its data dir holds no cluster (an earlier start did not finish, or the data was lost); bootstrap with a new token", ErrDiscoveryDuplicateID, r.self)
	}
	if err != nil {
		return nil, err
	}
	r.log.WithField("id", r.self).Info("discovery: registered")
	return r.wait(ctx)
}

// wait watches the directory until N members have registered and returns
// the first N as the cluster. For a member, ErrDiscoveryFull when it is
// not among them.
func (r *registry) wait(ctx context.Context) ([]InitialMember, error) {
	for {
		st, err := r.status(ctx)
		if err != nil {
			return nil, err
		}
		if r.self != "" && st.full(r.self) {
			return nil, fullError(st)
		}
		if len(st.nodes) >= st.size {
			r.log.WithFields(logrus.Fields{"size": st.size, "members": st.names()}).Info("discovery: found every member")
			return registryCluster(st.nodes[:st.size], st.size)
		}
		r.log.WithFields(logrus.Fields{"found": len(st.nodes), "size": st.size}).Info("discovery: waiting for more members to register")
		if st.index == 0 {
			// No X-Etcd-Index to watch from: look again in a moment.
			if err := sleepCtx(ctx, time.Second); err != nil {
				return nil, err
			}
			continue
		}
		err = r.c.retry(ctx, "waiting for other members", func() error { return r.c.watch(ctx, st.index+1) })
		if err != nil && keysCode(err) == 0 {
			return nil, err
		}
		// A change, or an etcd error such as 401 (the index left the
		// service's history): list again.
	}
}

// fullError says that the cluster is complete without this member.
func fullError(st *regStatus) error {
	return fmt.Errorf("%w: its %d members have registered (%s); start this one with --discovery-fallback=proxy to run it as a proxy, or add it to the running cluster with /v2/members",
		ErrDiscoveryFull, st.size, st.names())
}

// registryCluster turns the first N registrations into the initial
// cluster: each value is "name=peerURL,...", each name a member.
func registryCluster(nodes []keysNode, size int) ([]InitialMember, error) {
	var out []InitialMember
	byName := map[string]int{}
	seen := map[string]bool{}
	for _, n := range nodes {
		for _, part := range strings.Split(n.Value, ",") {
			name, u, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || name == "" || !validPeerURL(u) {
				return nil, fmt.Errorf("%w: registration %s holds %q", ErrDiscoveryInvalidURL, n.Key, n.Value)
			}
			if seen[u] {
				return nil, fmt.Errorf("discovery: the registered cluster has the peer URL %s twice", u)
			}
			seen[u] = true
			if i, ok := byName[name]; ok {
				out[i].PeerURLs = append(out[i].PeerURLs, u)
				continue
			}
			byName[name] = len(out)
			out = append(out, InitialMember{Name: name, PeerURLs: []string{u}})
		}
	}
	if len(out) != size {
		return nil, fmt.Errorf("%w: %d registrations carry %d distinct member names", ErrDiscoveryDuplicateName, size, len(out))
	}
	return out, nil
}

// validPeerURL reports whether u is an http or https URL with a host and
// port.
func validPeerURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") {
		return false
	}
	_, _, err = net.SplitHostPort(p.Host)
	return err == nil
}

// registrationValue is this member's registration: "name=peerURL" for
// each advertised peer URL, sorted (etcd's URLsMap.String).
func registrationValue(cfg *Config) string {
	parts := make([]string, 0, len(cfg.AdvertisePeerURLs))
	for _, u := range cfg.AdvertisePeerURLs {
		parts = append(parts, cfg.Name+"="+u)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// discoverCluster is a first start's discovery: with --discovery-srv or
// etcd 2.x --discovery it sets the initial cluster (and, for
// --discovery, the cluster token: the discovery URL, as etcd); with the
// etcd 0.4 protocol it sets the peers to join, or nothing for the member
// that starts the cluster, and returns the registration to keep alive.
func discoverCluster(cfg *Config) (*legacyRegistration, error) {
	ctx := context.Background()
	switch {
	case cfg.DiscoverySRV != "":
		cluster, err := srvCluster(ctx, cfg, cfg.Name)
		if err != nil {
			return nil, err
		}
		cfg.InitialCluster = cluster
	case cfg.Discovery != "" && cfg.DiscoveryLegacy:
		return discoverLegacy(ctx, cfg)
	case cfg.Discovery != "":
		c, err := newKeysClient(cfg.Discovery, cfg.DiscoveryProxy, cfg.Log)
		if err != nil {
			return nil, err
		}
		defer c.close()
		id := machines.NewMemberID(cfg.AdvertisePeerURLs, cfg.Discovery, nil)
		r := &registry{c: c, self: machines.IDString(id), log: cfg.Log}
		cluster, err := r.join(ctx, registrationValue(cfg))
		if err != nil {
			return nil, fmt.Errorf("joining the discovery cluster at %s: %w", c, err)
		}
		cfg.InitialCluster, cfg.InitialClusterToken = cluster, cfg.Discovery
	}
	return nil, nil
}

// discoverProxyCluster finds a proxy's cluster through discovery: the
// SRV records, the first N registrations of an etcd 2.x token (waiting
// for them), or the peers registered with an etcd 0.4 one. The proxy
// registers nothing.
func discoverProxyCluster(cfg *Config) error {
	ctx := context.Background()
	switch {
	case cfg.DiscoverySRV != "":
		cluster, err := srvCluster(ctx, cfg, "")
		if err != nil {
			return err
		}
		cfg.InitialCluster = cluster
	case cfg.Discovery != "":
		c, err := newKeysClient(cfg.Discovery, cfg.DiscoveryProxy, cfg.Log)
		if err != nil {
			return err
		}
		defer c.close()
		if cfg.DiscoveryLegacy {
			peers, err := legacyPeers(ctx, c, "")
			if err != nil {
				return fmt.Errorf("reading the discovery directory %s: %w", c, err)
			}
			cfg.JoinPeers = peers
			return nil
		}
		cluster, err := (&registry{c: c, log: cfg.Log}).wait(ctx)
		if err != nil {
			return fmt.Errorf("reading the discovery cluster at %s: %w", c, err)
		}
		cfg.InitialCluster = cluster
	}
	return nil
}

// sleepCtx waits d, or returns the context's error.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
