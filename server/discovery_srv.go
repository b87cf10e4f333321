package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
)

// DNS discovery (etcd 2.x --discovery-srv): the initial cluster is the
// targets of the SRV records _etcd-server-ssl._tcp.<domain> (https peer
// URLs) and _etcd-server._tcp.<domain> (http), "-<name>" added to both
// services with --discovery-srv-name. A record whose target resolves to
// one of this member's advertised peer addresses is this member; the
// others get placeholder names ("0", "1", ...), which only need to differ:
// member IDs derive from the peer URLs and --initial-cluster-token, as
// with --initial-cluster. Peer URLs keep the records' host names, so every
// member derives the same IDs.

// srvLookupTimeout bounds the whole DNS discovery.
const srvLookupTimeout = 30 * time.Second

// ResolverAt is a resolver that sends every DNS query to addr (host:port)
// instead of the system's name servers; /etc/hosts is still read first.
// main builds one from the ETCDCLASSIC_DNS_SERVER environment variable
// for --discovery-srv (etcd has no flag for this; tests point members at
// a DNS server of their own).
func ResolverAt(addr string) *net.Resolver {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
}

// srvService is one of the two SRV services and the scheme of its peers.
type srvService struct{ service, scheme string }

// srvCluster builds the initial cluster from cfg.DiscoverySRV's records.
// selfName names the records that point at this member's advertised peer
// URLs; a proxy passes "" (every record is another member).
func srvCluster(ctx context.Context, cfg *Config, selfName string) ([]InitialMember, error) {
	ctx, cancel := context.WithTimeout(ctx, srvLookupTimeout)
	defer cancel()
	b := &srvBuilder{cfg: cfg, res: cfg.Resolver, selfName: selfName, byName: map[string]int{}}
	if b.res == nil {
		b.res = net.DefaultResolver
	}
	if selfName != "" {
		var err error
		if b.self, err = resolveURLs(ctx, b.res, cfg.AdvertisePeerURLs); err != nil {
			return nil, fmt.Errorf("--discovery-srv: resolving this member's peer URLs: %w", err)
		}
	}
	suffix := ""
	if cfg.DiscoverySRVName != "" {
		suffix = "-" + cfg.DiscoverySRVName
	}
	var errs []error
	for _, s := range []srvService{{"etcd-server-ssl" + suffix, "https"}, {"etcd-server" + suffix, "http"}} {
		_, recs, err := b.res.LookupSRV(ctx, s.service, "tcp", cfg.DiscoverySRV)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, rec := range recs {
			b.add(ctx, s, rec)
		}
	}
	if len(b.out) == 0 {
		err := errors.Join(errs...)
		if err == nil {
			err = errors.New("the lookups returned none")
		}
		return nil, fmt.Errorf("--discovery-srv %s: no _etcd-server-ssl%s._tcp or _etcd-server%s._tcp records: %w", cfg.DiscoverySRV, suffix, suffix, err)
	}
	if _, ok := b.byName[selfName]; selfName != "" && !ok {
		// etcd's words, and which records were read.
		return nil, fmt.Errorf("couldn't find local name %q in the initial cluster configuration: no SRV record of %s points at --initial-advertise-peer-urls %v", selfName, cfg.DiscoverySRV, cfg.AdvertisePeerURLs)
	}
	return b.out, nil
}

// srvBuilder collects the members of the SRV records.
type srvBuilder struct {
	cfg      *Config
	res      *net.Resolver
	selfName string
	self     map[netip.AddrPort]bool // this member's peer addresses
	out      []InitialMember
	byName   map[string]int // index in out
	temp     int            // the next placeholder name
}

// add makes rec a member: this one when its target resolves to one of
// this member's peer addresses, else one with a placeholder name.
func (b *srvBuilder) add(ctx context.Context, s srvService, rec *net.SRV) {
	target := strings.TrimSuffix(rec.Target, ".")
	u := s.scheme + "://" + net.JoinHostPort(target, strconv.Itoa(int(rec.Port)))
	name := ""
	if b.selfName != "" {
		addrs, err := resolveHost(ctx, b.res, target, rec.Port)
		if err != nil {
			b.cfg.Log.WithFields(logrus.Fields{"target": target, "err": err}).Warn("discovery-srv: cannot resolve a record's target; skipping it")
			return
		}
		if intersects(b.self, addrs) {
			name = b.selfName
		}
	}
	for name == "" {
		if cand := strconv.Itoa(b.temp); cand != b.selfName {
			name = cand
		}
		b.temp++
	}
	if i, ok := b.byName[name]; ok {
		b.out[i].PeerURLs = append(b.out[i].PeerURLs, u)
		return
	}
	b.byName[name] = len(b.out)
	b.out = append(b.out, InitialMember{Name: name, PeerURLs: []string{u}})
	b.cfg.Log.WithFields(logrus.Fields{"service": "_" + s.service + "._tcp." + b.cfg.DiscoverySRV, "url": u, "member": name}).Info("discovery-srv: found a member")
}

// resolveURLs is the set of addresses (IP and port) that urls' hosts
// resolve to.
func resolveURLs(ctx context.Context, res *net.Resolver, urls []string) (map[netip.AddrPort]bool, error) {
	set := map[netip.AddrPort]bool{}
	for _, u := range urls {
		host, port, err := net.SplitHostPort(machines.HostPort(u))
		if err != nil {
			return nil, fmt.Errorf("%q: %w", u, err)
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("%q: bad port", u)
		}
		addrs, err := resolveHost(ctx, res, host, uint16(p))
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			set[a] = true
		}
	}
	return set, nil
}

// resolveHost is host's addresses (host itself when it is an IP) with
// port.
func resolveHost(ctx context.Context, res *net.Resolver, host string, port uint16) ([]netip.AddrPort, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(ip.Unmap(), port)}, nil
	}
	ips, err := res.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	out := make([]netip.AddrPort, 0, len(ips))
	for _, ip := range ips {
		out = append(out, netip.AddrPortFrom(ip.Unmap(), port))
	}
	return out, nil
}

// intersects reports whether one of addrs is in set.
func intersects(set map[netip.AddrPort]bool, addrs []netip.AddrPort) bool {
	for _, a := range addrs {
		if set[a] {
			return true
		}
	}
	return false
}
