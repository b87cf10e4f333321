package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/etcd-classic/etcd-classic/certs"
	"github.com/etcd-classic/etcd-classic/httpapi"
	"github.com/etcd-classic/etcd-classic/server"
)

// resolve turns the flags into the member's configuration: concrete URLs,
// paths, the initial cluster, TLS and the client API's settings.
func (c *config) resolve() (server.Config, error) {
	sc := server.Config{Name: c.name, DataDir: c.dataDir,
		HeartbeatInterval: time.Duration(c.heartbeatMS) * time.Millisecond,
		ElectionTimeout:   time.Duration(c.electionMS) * time.Millisecond,
		SnapshotCount:     c.snapshotCount, StrictReconfigCheck: c.strictReconfig,
		InitialClusterToken: c.initialClusterToken, Force: c.force, ForceNewCluster: c.forceNewCluster, NoEarlyElection: c.electionKickOff, MaxClientConns: c.maxClientConns,
		HistorySize: c.historySize,
		API: httpapi.Config{ServerVersion: ServerVersion, ClusterVersion: ClusterVersion, BcryptCost: int(c.bcryptCost),
			CORS: splitList(c.cors), Redirect: c.redirect, V1Dialect: c.v1Dialect,
			EnablePprof: c.enablePprof, HostWhitelist: splitList(c.hostWhitelist), DisableDashboard: c.dashboardOff}}
	switch c.v1Dialect {
	case httpapi.Dialect04, httpapi.Dialect01:
	default:
		return sc, fmt.Errorf("--v1-dialect must be 0.4 or 0.1, not %q", c.v1Dialect)
	}
	switch c.initialClusterState {
	case "new", "existing":
		sc.JoinExisting = c.initialClusterState == "existing"
	default:
		return sc, fmt.Errorf("--initial-cluster-state must be new or existing, not %q", c.initialClusterState)
	}
	if c.proxy != "off" {
		sc.Proxy = c.proxy
	}
	c.resolveName(&sc)
	if err := c.resolveURLs(&sc); err != nil {
		return sc, err
	}
	if err := c.resolveCluster(&sc); err != nil {
		return sc, err
	}
	if err := c.resolveDiscovery(&sc); err != nil {
		return sc, err
	}
	if sc.HeartbeatInterval <= 0 || sc.ElectionTimeout <= sc.HeartbeatInterval {
		return sc, fmt.Errorf("the election timeout (%v) must be larger than the heartbeat interval (%v)", sc.ElectionTimeout, sc.HeartbeatInterval)
	}
	sc.ClientTLS, sc.PeerTLS = c.tlsSides()
	return sc, nil
}

// resolveName sets the member's name and data dir: etcd 2.x names a member
// "default" and keeps its data in <name>.etcd.
func (c *config) resolveName(sc *server.Config) {
	if sc.Name == "" {
		switch {
		case c.legacy && c.dataDir != "":
			// etcd 0.1 scripts start members with only -d: name them after
			// their data dir so that their registry keys differ.
			sc.Name = filepath.Base(filepath.Clean(c.dataDir))
		case c.legacy:
			h, err := os.Hostname()
			if err != nil || h == "" {
				h = "default"
			}
			sc.Name = h
		default:
			sc.Name = "default"
		}
	}
	if sc.DataDir == "" {
		sc.DataDir = sc.Name + ".etcd"
	}
}

// resolveURLs sets the client, peer and metrics URLs, from the 0.x
// address flags or the 2.x URL flags.
func (c *config) resolveURLs(sc *server.Config) error {
	clientScheme, peerScheme := "http", "http"
	if c.clientTLSOn() {
		clientScheme = "https"
	}
	if c.peerTLSOn() {
		peerScheme = "https"
	}
	var err error
	if sc.ListenClientURLs, sc.AdvertiseClientURLs, err = c.side(clientScheme, c.addr, c.bindAddr, "127.0.0.1:4001",
		c.listenClientURLs, c.advertiseClientURLs, "listen-client-urls", "--advertise-client-urls", "http://localhost:2379,http://localhost:4001"); err != nil {
		return err
	}
	if sc.ListenPeerURLs, sc.AdvertisePeerURLs, err = c.side(peerScheme, c.peerAddr, c.peerBindAddr, "127.0.0.1:7001",
		c.listenPeerURLs, c.advertisePeerURLs, "listen-peer-urls", "--initial-advertise-peer-urls", "http://localhost:2380"); err != nil {
		return err
	}
	if c.listenMetricsURLs != "" {
		if sc.ListenMetricsURLs, err = urlList(c.listenMetricsURLs, "", "http"); err != nil {
			return fmt.Errorf("--listen-metrics-urls: %w", err)
		}
	}
	return nil
}

// side resolves one side's listen and advertised URLs: in 0.x mode (or
// with its 0.x address flag) from host:port addresses, else from the 2.x
// URL lists (the advertised ones default to the listen ones when those are
// given, else to def).
func (c *config) side(scheme, addr, bindAddr, legacyDef, listenURLs, advURLs, listenFlag, advFlag, def string) (listen, adv []string, err error) {
	if c.legacy || addr != "" {
		a := legacyHostPort(addr, legacyDef)
		bind := a
		if bindAddr != "" {
			bind = bindHostPort(bindAddr, a)
		}
		return []string{scheme + "://" + bind}, []string{scheme + "://" + a}, nil
	}
	if listen, err = urlList(listenURLs, def, scheme); err != nil {
		return nil, nil, fmt.Errorf("--%s: %w", listenFlag, err)
	}
	if advURLs == "" && c.set[listenFlag] {
		advURLs = listenURLs
	}
	if adv, err = urlList(advURLs, def, scheme); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", advFlag, err)
	}
	return listen, adv, nil
}

// resolveCluster sets the initial cluster (--initial-cluster; a member
// alone when not given, and in 0.x mode) and the 0.x join peers.
func (c *config) resolveCluster(sc *server.Config) error {
	if c.initialCluster != "" && !c.legacy {
		seen := map[string]int{}
		for _, part := range strings.Split(c.initialCluster, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			name, u, ok := strings.Cut(part, "=")
			if !ok || name == "" {
				return fmt.Errorf("--initial-cluster: %q is not name=URL", part)
			}
			if _, err := checkURL(u); err != nil {
				return fmt.Errorf("--initial-cluster: %w", err)
			}
			if i, ok := seen[name]; ok {
				sc.InitialCluster[i].PeerURLs = append(sc.InitialCluster[i].PeerURLs, u)
				continue
			}
			seen[name] = len(sc.InitialCluster)
			sc.InitialCluster = append(sc.InitialCluster, server.InitialMember{Name: name, PeerURLs: []string{u}})
		}
		if _, ok := seen[sc.Name]; !ok && c.proxy == "off" {
			return fmt.Errorf("--initial-cluster has no member named %q (this member's --name)", sc.Name)
		}
	}
	if c.peersFile != "" {
		b, err := os.ReadFile(c.peersFile)
		if err != nil {
			return fmt.Errorf("-peers-file: %w", err)
		}
		c.peers = strings.TrimSpace(string(b))
	}
	for _, p := range strings.Split(c.peers, ",") {
		if p = strings.TrimSpace(p); p != "" {
			sc.JoinPeers = append(sc.JoinPeers, legacyHostPort(p, p))
		}
	}
	if c.maxRetryAttempts < 0 || c.retryInterval < 0 {
		return errors.New("-max-retry-attempts and -retry-interval cannot be negative")
	}
	sc.JoinRounds = c.maxRetryAttempts
	sc.JoinRetryInterval = time.Duration(c.retryInterval * float64(time.Second))
	return nil
}

// tlsSides turns the TLS flags of every generation into the client-side
// and peer-side settings.
//
//   - etcd 0.1 (-clientCert -clientKey -clientCAFile, -serverCert ...) and
//     0.4 (-cert-file -key-file -ca-file, -peer-cert-file ...): a CA file
//     makes a verified client certificate mandatory.
//   - etcd 2.x (--cert-file --key-file --trusted-ca-file
//     --client-cert-auth, --peer-...): the CA alone only sets the trust
//     root; --client-cert-auth demands client certificates.
//   - etcd 3.x --auto-tls / --peer-auto-tls: a self-signed certificate
//     generated in the data dir at first start (the server package
//     places it and names the hosts).
func (c *config) tlsSides() (client, peer certs.Info) {
	client = certs.Info{
		CertFile: c.certFile, KeyFile: c.keyFile, CAFile: c.caFile,
		ClientCertAuth: c.clientCertAuth || (c.caFile != "" && c.set["ca-file"]),
		AutoTLS:        c.autoTLS,
		CRLFile:        c.clientCRLFile, AllowedHostname: c.clientAllowedHostname,
		CipherSuites: splitList(c.cipherSuites),
	}
	peer = certs.Info{
		CertFile: c.peerCertFile, KeyFile: c.peerKeyFile, CAFile: c.peerCAFile,
		ClientCertAuth: c.peerClientCertAuth || (c.peerCAFile != "" && c.set["peer-ca-file"]),
		AutoTLS:        c.peerAutoTLS,
		CRLFile:        c.peerCRLFile, AllowedCN: c.peerAllowedCN, AllowedHostname: c.peerAllowedHostname,
		CipherSuites: splitList(c.cipherSuites),
	}
	return client, peer
}

func (c *config) clientTLSOn() bool {
	return (c.certFile != "" && c.keyFile != "") || c.autoTLS
}

func (c *config) peerTLSOn() bool {
	return (c.peerCertFile != "" && c.peerKeyFile != "") || c.peerAutoTLS
}

// legacyHostPort reads an etcd 0.x address: a bare port means that port
// on 127.0.0.1 (as etcd 0.1.0 scripts use it), host:port is kept, and a
// URL gives its host:port.
func legacyHostPort(s, def string) string {
	if s == "" {
		return def
	}
	if strings.Contains(s, "://") {
		if u, err := url.Parse(s); err == nil && u.Host != "" {
			return u.Host
		}
	}
	if _, err := strconv.Atoi(s); err == nil {
		return "127.0.0.1:" + s
	}
	return s
}

// bindHostPort reads -bind-addr: a host alone takes the advertised port,
// a bare port the advertised host (etcd 0.1 listened on the advertised
// host by default).
func bindHostPort(s, adv string) string {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s
	}
	host, port, _ := net.SplitHostPort(adv)
	if _, err := strconv.Atoi(s); err == nil {
		return net.JoinHostPort(host, s)
	}
	return net.JoinHostPort(s, port)
}

// urlList parses a comma-separated URL list (def when empty).
func urlList(s, def, scheme string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		s = def
		if scheme == "https" {
			s = strings.ReplaceAll(s, "http://", "https://")
		}
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		u, err := checkURL(p)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, errors.New("no URL given")
	}
	return out, nil
}

func checkURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("bad URL %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("URL %q: scheme must be http or https", s)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		return "", fmt.Errorf("URL %q: address must be host:port", s)
	}
	return strings.TrimRight(s, "/"), nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
