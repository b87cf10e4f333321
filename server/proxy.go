package server

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/httpapi"
	"github.com/etcd-classic/etcd-classic/raftfsm"
)

// startProxy runs etcd 2.x proxy mode: no data, no raft; client requests
// go to the members found through the InitialCluster (or JoinPeers) peer
// URLs, refreshed every few seconds. The client port opens once the
// first member list is in, or after proxyReadyTimeout.
func (m *Member) startProxy() error {
	cfg := &m.cfg
	if err := discoverProxyCluster(cfg); err != nil {
		return err
	}
	peers := clusterPeers(cfg)
	if len(peers) == 0 {
		return errors.New("proxy mode needs the cluster's peer URLs in --initial-cluster (or -peers)")
	}
	tc, err := cfg.tlsConfigs()
	if err != nil {
		return err
	}
	fetch := func(ctx context.Context) ([]string, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, members, err := raftfsm.ListMembers(ctx, peers, tc.peerDial)
		if err != nil {
			return nil, err
		}
		var urls []string
		for _, mb := range members {
			urls = append(urls, mb.ClientURLs...)
		}
		return urls, nil
	}
	// The refresher fetches at once and then retries quickly until it
	// finds the cluster; the client port opens once it has (proxyReady).
	refresher := httpapi.NewEndpointsRefresher(nil, 5*time.Second, fetch, m.log)
	m.closers = append(m.closers, refresher.Close)
	// Members with client TLS are reached with this side's certificate.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc.clientDial
	proxy := httpapi.NewProxy(httpapi.ProxyConfig{Endpoints: refresher.Endpoints, ReadOnly: cfg.Proxy == ProxyReadOnly, Log: m.log, Transport: tr})
	lns, err := m.listenClients(cfg.ListenClientURLs, func(string) *tls.Config { return tc.clientServer })
	if err != nil {
		return err
	}
	m.clientURLs = boundURLs(cfg.ListenClientURLs, lns)
	m.openWhenReady(lns, proxy, m.proxyReady(refresher.Endpoints))
	m.log.WithFields(logrus.Fields{"mode": cfg.Proxy, "peers": peers}).Info("proxy started")
	return nil
}
