// Command etcd-classic is a drop-in server for etcd's v1 and v2 HTTP+JSON
// keys API, replicated with Raft. main holds only flags and wiring.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/httpapi"
	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/ops"
	"github.com/etcd-classic/etcd-classic/raftfsm"
	"github.com/etcd-classic/etcd-classic/store"
)

// Version is this build's version; ServerVersion and ClusterVersion are
// what /version reports, the etcd release whose v2 API we serve.
const (
	Version        = "0.1.0"
	ServerVersion  = "2.3.8"
	ClusterVersion = "2.3.0"
)

func main() {
	// Operator subcommands (ops) come before any flag parsing.
	if len(os.Args) > 1 && os.Args[1] == "copy" {
		os.Exit(ops.CopyMain(os.Args[2:], os.Stdout, os.Stderr))
	}
	// GOGC=200 for write throughput, with the heap of a large store
	// capped a share above its live size (memlimit.go). GOGC or
	// GOMEMLIMIT in the environment still win.
	startMemoryPolicy()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout)
		return 0
	}
	if err != nil {
		usageError(stderr, err)
		return 2
	}
	if cfg.printVersion {
		printVersion(stdout)
		return 0
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		usageError(stderr, err)
		return 2
	}
	m, err := cfg.resolve()
	if err != nil {
		usageError(stderr, err)
		return 2
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "etcd-classic: -cpuprofile: %v\n", err)
			return 2
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	srv, err := start(cfg, m, log)
	if err != nil {
		log.WithField("err", err).Error("cannot start")
		fmt.Fprintf(stderr, "etcd-classic: %v\n", err)
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		log.WithField("signal", s.String()).Info("shutting down")
	case err := <-srv.failed:
		log.WithField("err", err).Error("client listener failed")
	case <-srv.removed():
		log.Warn("this member has been removed from the cluster; stopping")
	}
	srv.stop()
	return 0
}

// newLogger configures the process logger from --log-output,
// --log-format and the level flags.
func newLogger(cfg *config, stderr io.Writer) (*logrus.Entry, error) {
	l := logrus.New()
	switch cfg.logOutput {
	case "", "default", "stderr":
		l.SetOutput(stderr)
	case "stdout":
		l.SetOutput(os.Stdout)
	default:
		f, err := os.OpenFile(cfg.logOutput, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("--log-output: %w", err)
		}
		l.SetOutput(f)
	}
	switch cfg.logFormat {
	case "", "text":
	case "json":
		l.SetFormatter(&logrus.JSONFormatter{})
	default:
		return nil, fmt.Errorf("--log-format must be text or json, not %q", cfg.logFormat)
	}
	l.SetLevel(logrus.InfoLevel)
	if cfg.verbose || cfg.veryVerb {
		l.SetLevel(logrus.DebugLevel)
	}
	if cfg.logLevel != "" {
		lvl, err := logrus.ParseLevel(cfg.logLevel)
		if err != nil {
			return nil, fmt.Errorf("--log-level: %w", err)
		}
		l.SetLevel(lvl)
	}
	return logrus.NewEntry(l), nil
}

// server is a running member.
type server struct {
	node    *raftfsm.Node
	api     *httpapi.API
	servers []*http.Server
	failed  chan error
	wg      sync.WaitGroup
	log     *logrus.Entry
	closers []func() // extra things to stop (proxy refresher)
	// maxConns caps the open connections of each client listener (0: no
	// cap); see serveClients.
	maxConns int
}

// joinTimeout bounds a new member's attempts to reach its cluster.
const joinTimeout = 60 * time.Second

// identity is persisted in the data dir at first start, so that a
// restarted member keeps its member and cluster IDs whatever its flags.
type identity struct {
	Name      string `json:"name"`
	ID        string `json:"id"`
	ClusterID string `json:"clusterID"`
}

func start(cfg *config, m *member, log *logrus.Entry) (*server, error) {
	if cfg.proxy != "off" {
		return startProxy(cfg, m, log)
	}
	if cfg.force {
		for _, p := range []string{filepath.Join(m.dataDir, "member")} {
			if err := os.RemoveAll(p); err != nil {
				return nil, fmt.Errorf("-force: %w", err)
			}
		}
	}
	if err := os.MkdirAll(m.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", m.dataDir, err)
	}
	clientInfo, peerInfo := cfg.tlsSides(m)
	clientServerTLS, _, err := tlsConfigs("client", &clientInfo)
	if err != nil {
		return nil, err
	}
	peerServerTLS, peerTLS, err := tlsConfigs("peer", &peerInfo)
	if err != nil {
		return nil, err
	}
	idFile := filepath.Join(m.dataDir, "member", "identity.json")
	var id identity
	var memberID, clusterID uint64
	var initial, known []*machines.Member
	var joinMode string
	existing := false
	if b, err := os.ReadFile(idFile); err == nil {
		existing = true
		if err := json.Unmarshal(b, &id); err != nil {
			return nil, fmt.Errorf("%s: %w", idFile, err)
		}
		memberID, _ = machines.ParseID(id.ID)
		clusterID, _ = machines.ParseID(id.ClusterID)
		log.WithFields(logrus.Fields{"id": id.ID, "data_dir": m.dataDir}).Info("restarting member from its data dir")
	} else {
		var ids []uint64
		for _, name := range m.initialOrder {
			peers := m.initialCluster[name]
			mid := machines.NewMemberID(peers, cfg.initialClusterToken, nil)
			ids = append(ids, mid)
			initial = append(initial, &machines.Member{ID: mid, PeerURLs: peers})
			if name == m.name {
				memberID = mid
			}
		}
		clusterID = machines.NewClusterID(ids)
		switch {
		case len(m.joinPeers) > 0:
			// etcd 0.x -peers: ask the cluster to add us under a fresh ID.
			now := time.Now()
			memberID = machines.NewMemberID(m.advertisePeer, cfg.initialClusterToken, &now)
			clusterID, initial = 0, nil
			joinMode = "join"
		case cfg.initialClusterState == "existing":
			// etcd 2.x: we were added with POST /v2/members; find our ID.
			var peers []string
			for _, name := range m.initialOrder {
				if name != m.name {
					for _, u := range m.initialCluster[name] {
						peers = append(peers, machines.HostPort(u))
					}
				}
			}
			if len(peers) == 0 {
				return nil, errors.New("--initial-cluster-state=existing needs the other members in --initial-cluster")
			}
			ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
			res, err := raftfsm.LookupMember(ctx, peers, m.advertisePeer, peerTLS)
			cancel()
			if err != nil {
				return nil, fmt.Errorf("looking up this member in the existing cluster: %w", err)
			}
			memberID, clusterID, initial, known = res.Member.ID, res.ClusterID, nil, res.Members
		}
		id = identity{Name: m.name, ID: machines.IDString(memberID), ClusterID: machines.IDString(clusterID)}
	}

	peerLn, err := listenAll(m.listenPeer)
	if err != nil {
		return nil, err
	}
	peerLn = tlsListener(peerLn, peerServerTLS)
	st := store.NewWithConfig(store.Config{HistorySize: cfg.historySize})
	node, err := raftfsm.New(raftfsm.Config{
		ID: memberID, Name: m.name, DataDir: m.dataDir, PeerListener: peerLn,
		PeerURLs: m.advertisePeer, ClientURLs: m.advertiseClient,
		InitialMembers: initial, ClusterID: clusterID, Existing: existing, KnownMembers: known, Store: st, Log: log,
		SnapshotCount: cfg.snapshotCount, ElectionTimeout: m.election, HeartbeatInterval: m.heartbeat,
		StrictReconfigCheck: cfg.strictReconfig, PeerTLS: peerTLS,
	})
	if err != nil {
		_ = peerLn.Close()
		return nil, err
	}
	// The identity is written once raft's files exist: an identity without
	// a raft log is damage (raftfsm.ErrDamaged).
	if !existing && joinMode == "" {
		if err := writeIdentity(idFile, id); err != nil {
			_ = node.Close()
			return nil, err
		}
	}
	if joinMode == "join" {
		ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
		res, err := node.Join(ctx, m.joinPeers)
		cancel()
		if err != nil {
			_ = node.Close()
			_ = os.RemoveAll(filepath.Join(m.dataDir, "member"))
			return nil, fmt.Errorf("joining the cluster at %v: %w", m.joinPeers, err)
		}
		id.ClusterID = machines.IDString(res.ClusterID)
		if err := writeIdentity(idFile, id); err != nil {
			_ = node.Close()
			return nil, err
		}
		log.WithFields(logrus.Fields{"peers": m.joinPeers, "id": id.ID}).Info("joined the cluster")
	}
	s := &server{node: node, failed: make(chan error, 1), log: log, maxConns: cfg.maxClientConns}
	s.api = httpapi.New(httpapi.Config{
		BcryptCost: int(cfg.bcryptCost), ClientCertAuth: clientInfo.ClientCertAuth,
		Store: st, Node: node, Log: log, ServerVersion: ServerVersion, ClusterVersion: ClusterVersion,
		CORS: splitList(cfg.cors), Redirect: cfg.redirect, V1Dialect: cfg.v1Dialect,
		EnablePprof: cfg.enablePprof, HostWhitelist: splitList(cfg.hostWhitelist),
		DisableDashboard: cfg.dashboardOff,
		RaftStats: func() httpapi.RaftStats {
			m := node.Metrics()
			return httpapi.RaftStats{HasLeader: m.HasLeader, IsLeader: m.IsLeader, LeaderChanges: m.LeaderChanges,
				Term: m.Term, CommittedIndex: m.CommitIndex, Applied: m.AppliedIndex, ProposalsFailed: m.ProposalsFailed,
				LogAppends: m.LogAppends, LogEntries: m.LogEntries, RecvAppends: m.RecvAppends, SentAppends: m.SentAppends}
		},
	})
	if err := s.serveClients(m.listenClient, s.api, clientServerTLS); err != nil {
		s.stop()
		return nil, err
	}
	if cfg.listenMetricsURLs != "" {
		murls, err := urlList(cfg.listenMetricsURLs, "", "http")
		if err != nil {
			s.stop()
			return nil, fmt.Errorf("--listen-metrics-urls: %w", err)
		}
		var mtls *tls.Config
		for _, u := range murls {
			if strings.HasPrefix(u, "https://") {
				mtls = clientServerTLS
			}
		}
		if err := s.serveClients(murls, s.api.MetricsHandler(), mtls); err != nil {
			s.stop()
			return nil, err
		}
	}
	log.WithFields(logrus.Fields{"node": m.name, "peer_urls": m.advertisePeer, "client_urls": m.advertiseClient}).Info("member started")
	return s, nil
}

// removed is closed when the member is removed from the cluster (never
// for a proxy).
func (s *server) removed() <-chan struct{} {
	if s.node == nil {
		return nil
	}
	return s.node.Removed()
}

// serveClients starts an HTTP server for h on every client URL. What a
// client can hold is bounded (httpapi/DESIGN.md "Limits"): at most
// s.maxConns connections per URL, headers within 30s and 64 KiB, idle
// connections closed after 2 minutes. There is deliberately no
// ReadTimeout or WriteTimeout: they would end long-poll watches (httpapi
// bounds each watch write itself).
func (s *server) serveClients(urls []string, h http.Handler, tlsCfg *tls.Config) error {
	for _, u := range urls {
		ln, err := listen(u)
		if err != nil {
			return err
		}
		ln = tlsListener(newLimitListener(ln, s.maxConns), tlsCfg)
		hs := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second,
			IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
		s.servers = append(s.servers, hs)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				select {
				case s.failed <- err:
				default:
				}
			}
		}()
		s.log.WithField("url", u).Info("listening for client requests")
	}
	return nil
}

// startProxy runs etcd 2.x proxy mode: no data, no raft; client requests
// go to the members found through the --initial-cluster (or -peers) peer
// URLs, refreshed every few seconds.
func startProxy(cfg *config, m *member, log *logrus.Entry) (*server, error) {
	if cfg.proxy != "on" && cfg.proxy != "readonly" {
		return nil, fmt.Errorf("--proxy must be off, on or readonly, not %q", cfg.proxy)
	}
	peers := m.joinPeers
	for _, name := range m.initialOrder {
		for _, u := range m.initialCluster[name] {
			if !contains(m.advertisePeer, u) {
				peers = append(peers, machines.HostPort(u))
			}
		}
	}
	if len(peers) == 0 {
		return nil, errors.New("proxy mode needs the cluster's peer URLs in --initial-cluster (or -peers)")
	}
	clientInfo, peerInfo := cfg.tlsSides(m)
	clientServerTLS, clientTLS, err := tlsConfigs("client", &clientInfo)
	if err != nil {
		return nil, err
	}
	_, peerTLS, err := tlsConfigs("peer", &peerInfo)
	if err != nil {
		return nil, err
	}
	fetch := func() ([]string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, members, err := raftfsm.ListMembers(ctx, peers, peerTLS)
		if err != nil {
			return nil, err
		}
		var urls []string
		for _, mb := range members {
			urls = append(urls, mb.ClientURLs...)
		}
		return urls, nil
	}
	initial, err := fetch()
	if err != nil {
		log.WithField("err", err).Warn("proxy: cluster not reachable yet; will keep trying")
	}
	refresher := httpapi.NewEndpointsRefresher(initial, 5*time.Second, fetch, log)
	// Members with client TLS are reached with this side's certificate.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = clientTLS
	proxy := httpapi.NewProxy(httpapi.ProxyConfig{Endpoints: refresher.Endpoints, ReadOnly: cfg.proxy == "readonly", Log: log, Transport: tr})
	s := &server{failed: make(chan error, 1), log: log, closers: []func(){refresher.Close}, maxConns: cfg.maxClientConns}
	if err := s.serveClients(m.listenClient, proxy, clientServerTLS); err != nil {
		s.stop()
		return nil, err
	}
	log.WithFields(logrus.Fields{"mode": cfg.proxy, "peers": peers, "endpoints": initial}).Info("proxy started")
	return s, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func writeIdentity(path string, id identity) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, _ := json.Marshal(id)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// stop shuts the member down: long-polls end, HTTP servers drain, then
// raft stops.
func (s *server) stop() {
	if s.api != nil {
		s.api.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, hs := range s.servers {
		_ = hs.Shutdown(ctx)
	}
	s.wg.Wait()
	for _, c := range s.closers {
		c()
	}
	if s.node != nil {
		if err := s.node.SnapshotBeforeStop(); err != nil {
			s.log.WithField("err", err).Warn("snapshot before stopping")
		}
		if err := s.node.Close(); err != nil {
			s.log.WithField("err", err).Warn("raft shutdown")
		}
	}
}

func listen(u string) (net.Listener, error) {
	host := machines.HostPort(u)
	ln, err := net.Listen("tcp", host)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", u, err)
	}
	return ln, nil
}

// listenAll opens every URL and merges them into one listener.
func listenAll(urls []string) (net.Listener, error) {
	var lns []net.Listener
	for _, u := range urls {
		ln, err := listen(u)
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			return nil, err
		}
		lns = append(lns, ln)
	}
	if len(lns) == 1 {
		return lns[0], nil
	}
	return newMultiListener(lns), nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
