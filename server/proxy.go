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
// URLs, refreshed every few seconds.
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
	fetch := func() ([]string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
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
	initial, err := fetch()
	if err != nil {
		m.log.WithField("err", err).Warn("proxy: cluster not reachable yet; will keep trying")
	}
	refresher := httpapi.NewEndpointsRefresher(initial, 5*time.Second, fetch, m.log)
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
	m.serve(lns, proxy)
	m.log.WithFields(logrus.Fields{"mode": cfg.Proxy, "peers": peers, "endpoints": initial}).Info("proxy started")
	return nil
}
