package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/httpapi"
	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/raftfsm"
	"github.com/etcd-classic/etcd-classic/store"
)

// Member is a running member (or proxy): its raft node, its client API
// and the HTTP servers on its client and metrics URLs.
type Member struct {
	cfg        Config
	log        *logrus.Entry
	node       *raftfsm.Node // nil for a proxy
	api        *httpapi.API  // nil for a proxy
	clientURLs []string      // where the client API listens, ports bound
	servers    []*http.Server
	failed     chan error
	wg         sync.WaitGroup
	closers    []func() // more to stop (a proxy's refresher)
	stopOnce   sync.Once

	// The client listeners' gate (ready.go): openWhenReady's goroutine
	// (gate) serves them once the member is ready and closes ready;
	// gateCancel ends its wait.
	ready      chan struct{}
	gate       sync.WaitGroup
	gateCtx    context.Context
	gateCancel context.CancelFunc
	newCluster bool // the first start of a new cluster's member (awaitPeersPublished)
}

// Start starts a member as cfg describes: it opens the listeners, reads
// (or, at a first start, decides) the member's identity, starts raft and
// serves the metrics URLs. It returns once every listener is open. The
// client URLs accept connections only once the member is ready
// (WaitReady; DESIGN.md "Ready when it answers"): until then a client's
// connection waits. On error nothing is left running.
func Start(cfg Config) (*Member, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	m := &Member{cfg: cfg, log: cfg.Log, failed: make(chan error, 1), ready: make(chan struct{})}
	m.gateCtx, m.gateCancel = context.WithCancel(context.Background())
	var err error
	if cfg.Proxy != ProxyOff {
		err = m.startProxy()
	} else if err = m.startMember(); errors.Is(err, ErrDiscoveryFull) && cfg.DiscoveryFallback == FallbackProxy {
		// etcd 2.x --discovery-fallback=proxy; startMember closed what it
		// had opened.
		m.log.WithField("err", err).Warn("discovery cluster full, falling back to proxy")
		m.cfg.Proxy = ProxyOn
		err = m.startProxy()
	}
	if err != nil {
		m.Stop()
		return nil, err
	}
	return m, nil
}

// startMember starts raft and the client API on the member's data dir.
func (m *Member) startMember() error {
	cfg := &m.cfg
	if err := cfg.applyForce(); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir %s: %w", cfg.DataDir, err)
	}
	tc, err := cfg.tlsConfigs()
	if err != nil {
		return err
	}
	peerLn, err := m.peerListener(tc.peerServer)
	if err != nil {
		return err
	}
	clientLns, err := m.listenClients(cfg.ListenClientURLs, func(string) *tls.Config { return tc.clientServer })
	if err != nil {
		_ = peerLn.Close()
		return err
	}
	m.clientURLs = boundURLs(cfg.ListenClientURLs, clientLns)
	if len(cfg.AdvertiseClientURLs) == 0 {
		cfg.AdvertiseClientURLs = m.clientURLs
	}
	if err := m.startNode(peerLn, tc.peerDial); err != nil {
		closeAll(clientLns)
		return err
	}
	// The metrics URLs use the client side's certificate where they are
	// https. They answer at once, as etcd 3.4's do: /health there says
	// false (503) until the member has a leader and a quorum.
	metricsLns, err := m.listenClients(cfg.ListenMetricsURLs, func(u string) *tls.Config {
		if isHTTPS(u) {
			return tc.clientServer
		}
		return nil
	})
	if err != nil {
		closeAll(clientLns)
		return fmt.Errorf("--listen-metrics-urls: %w", err)
	}
	m.serve(metricsLns, m.api.MetricsHandler())
	m.openWhenReady(clientLns, m.api, m.memberReady)
	m.log.WithFields(logrus.Fields{"node": cfg.Name, "peer_urls": cfg.AdvertisePeerURLs, "client_urls": cfg.AdvertiseClientURLs}).Info("member started")
	return nil
}

// startNode decides the bootstrap, starts the raft node on peerLn (which
// it then owns) and builds the client API.
func (m *Member) startNode(peerLn net.Listener, peerTLS *tls.Config) error {
	cfg := &m.cfg
	b, err := decide(cfg, peerTLS)
	if err != nil {
		_ = peerLn.Close()
		return err
	}
	st := store.NewWithConfig(store.Config{HistorySize: cfg.HistorySize})
	node, err := raftfsm.New(raftfsm.Config{
		ID: b.memberID, Name: cfg.Name, DataDir: cfg.DataDir, PeerListener: peerLn,
		PeerURLs: cfg.AdvertisePeerURLs, ClientURLs: cfg.AdvertiseClientURLs,
		InitialMembers: b.initial, ClusterID: b.clusterID, Existing: b.existing, KnownMembers: b.known, Store: st, Log: m.log,
		SnapshotCount: cfg.SnapshotCount, ElectionTimeout: cfg.ElectionTimeout, HeartbeatInterval: cfg.HeartbeatInterval,
		StrictReconfigCheck: cfg.StrictReconfigCheck, PeerTLS: peerTLS, PeerDial: cfg.PeerDial,
		ForceNewCluster: cfg.ForceNewCluster && b.existing, NoEarlyElection: cfg.NoEarlyElection,
	})
	if err != nil {
		_ = peerLn.Close()
		return err
	}
	if err := b.finish(cfg, node); err != nil {
		return err
	}
	if b.registration != nil {
		m.closers = append(m.closers, b.registration.keepAlive(m.log, b.existing))
	}
	m.node = node
	m.newCluster = len(b.initial) > 0
	api := cfg.API
	api.Store, api.Node, api.Log, api.RaftStats = st, node, m.log, node.Metrics
	api.ClientCertAuth = cfg.ClientTLS.ClientCertAuth
	api.Snapshots = snapshots{raftfsm.NewSnapshotSource(node)}
	m.api = httpapi.New(api)
	return nil
}

// peerListener is the peer port: Config.PeerListener, or every listen
// URL merged into one listener; TLS-wrapped when peer TLS is on. Without
// advertised peer URLs the member advertises the bound listen URLs.
func (m *Member) peerListener(serverTLS *tls.Config) (net.Listener, error) {
	cfg := &m.cfg
	ln, urls := cfg.PeerListener, cfg.ListenPeerURLs
	if ln == nil {
		var err error
		if ln, err = listenAll(urls); err != nil {
			return nil, err
		}
	} else if len(urls) == 0 {
		urls = []string{"http://" + ln.Addr().String()}
		if serverTLS != nil {
			urls = []string{"https://" + ln.Addr().String()}
		}
	}
	if len(cfg.AdvertisePeerURLs) == 0 {
		cfg.AdvertisePeerURLs = boundURLs(urls, []net.Listener{ln})
	}
	return tlsListener(ln, serverTLS), nil
}

// listenClients opens a client listener on every URL: capped at
// MaxClientConns connections each, TLS-wrapped with tlsFor's answer for
// the URL.
func (m *Member) listenClients(urls []string, tlsFor func(u string) *tls.Config) ([]net.Listener, error) {
	lns, err := listenEach(urls)
	if err != nil {
		return nil, err
	}
	for i, ln := range lns {
		lns[i] = tlsListener(newLimitListener(ln, m.cfg.MaxClientConns), tlsFor(urls[i]))
	}
	return lns, nil
}

// serve starts an HTTP server for h on every listener. What a client can
// hold is bounded (httpapi/DESIGN.md "Limits"): at most MaxClientConns
// connections per URL, headers within 30s and 64 KiB, idle connections
// closed after 2 minutes. There is deliberately no ReadTimeout or
// WriteTimeout: they would end long-poll watches (httpapi bounds each
// watch write itself).
func (m *Member) serve(lns []net.Listener, h http.Handler) {
	for _, ln := range lns {
		hs := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second,
			IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
		m.servers = append(m.servers, hs)
		m.wg.Add(1)
		go func(ln net.Listener) {
			defer m.wg.Done()
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				select {
				case m.failed <- err:
				default:
				}
			}
		}(ln)
		m.log.WithField("url", ln.Addr().String()).Info("listening for client requests")
	}
}

// ClientURLs are the URLs the client API listens on, with the ports the
// listeners bound.
func (m *Member) ClientURLs() []string { return m.clientURLs }

// ID is the member's ID (0 for a proxy).
func (m *Member) ID() uint64 {
	if m.node == nil {
		return 0
	}
	return m.node.ID()
}

// Failed delivers the first error of a client or metrics listener.
func (m *Member) Failed() <-chan error { return m.failed }

// Removed is closed when the member is removed from the cluster (never for
// a proxy); the owner should then Stop it, as etcd stops.
func (m *Member) Removed() <-chan struct{} {
	if m.node == nil {
		return nil
	}
	return m.node.Removed()
}

// Stop shuts the member down: a wait for readiness ends (client
// listeners not yet served are closed), long polls end, the HTTP servers
// drain (for at most 5s), the member takes a snapshot when its log has grown
// since the last one (so that the next start replays little), then raft
// stops. It is idempotent.
func (m *Member) Stop() {
	m.stopOnce.Do(func() {
		m.stopGate()
		if m.api != nil {
			m.api.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, hs := range m.servers {
			_ = hs.Shutdown(ctx)
		}
		m.wg.Wait()
		for _, c := range m.closers {
			c()
		}
		if m.node != nil {
			if err := m.node.SnapshotBeforeStop(); err != nil {
				m.log.WithField("err", err).Warn("snapshot before stopping")
			}
			if err := m.node.Close(); err != nil {
				m.log.WithField("err", err).Warn("raft shutdown")
			}
		}
	})
}

// boundURLs are urls with the port each listener bound (a URL asking for
// port 0 gets the one picked).
func boundURLs(urls []string, lns []net.Listener) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = u
		if i < len(lns) {
			scheme := "http://"
			if isHTTPS(u) {
				scheme = "https://"
			}
			host, _, _ := net.SplitHostPort(machines.HostPort(u))
			_, port, _ := net.SplitHostPort(lns[i].Addr().String())
			out[i] = scheme + net.JoinHostPort(host, port)
		}
	}
	return out
}
