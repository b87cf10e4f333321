package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"

	"github.com/etcd-classic/etcd-classic/certs"
)

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
//     generated in the data dir at first start.
func (c *config) tlsSides(m *member) (client, peer certs.Info) {
	client = certs.Info{
		CertFile: c.certFile, KeyFile: c.keyFile, CAFile: c.caFile,
		ClientCertAuth: c.clientCertAuth || (c.caFile != "" && c.set["ca-file"]),
		AutoTLS:        c.autoTLS, AutoDir: filepath.Join(m.dataDir, "fixtures", "client"),
		Hosts:   urlHosts(m.listenClient, m.advertiseClient),
		CRLFile: c.clientCRLFile, AllowedHostname: c.clientAllowedHostname,
		CipherSuites: splitList(c.cipherSuites),
	}
	peer = certs.Info{
		CertFile: c.peerCertFile, KeyFile: c.peerKeyFile, CAFile: c.peerCAFile,
		ClientCertAuth: c.peerClientCertAuth || (c.peerCAFile != "" && c.set["peer-ca-file"]),
		AutoTLS:        c.peerAutoTLS, AutoDir: filepath.Join(m.dataDir, "fixtures", "peer"),
		Hosts:   urlHosts(m.listenPeer, m.advertisePeer),
		CRLFile: c.peerCRLFile, AllowedCN: c.peerAllowedCN, AllowedHostname: c.peerAllowedHostname,
		CipherSuites: splitList(c.cipherSuites),
	}
	return client, peer
}

// tlsConfigs builds the listener and dialer configurations of one side;
// both are nil when the side has no TLS. The settings are validated even
// then, so that an unknown --cipher-suites name or a CRL file without TLS
// stops the start instead of being ignored.
func tlsConfigs(side string, info *certs.Info) (server, client *tls.Config, err error) {
	if err := info.Validate(); err != nil {
		if errors.Is(err, certs.ErrUnknownCipherSuite) {
			return nil, nil, fmt.Errorf("--cipher-suites: %w", err)
		}
		if errors.Is(err, certs.ErrClientCertAuthNeeded) {
			flag := "--client-cert-auth"
			if side == "peer" {
				flag = "--peer-client-cert-auth"
			}
			return nil, nil, fmt.Errorf("%s TLS: %w (add %s)", side, err, flag)
		}
		return nil, nil, fmt.Errorf("%s TLS: %w", side, err)
	}
	if info.Empty() {
		return nil, nil, nil
	}
	if server, err = info.ServerConfig(); err != nil {
		return nil, nil, fmt.Errorf("%s TLS: %w", side, err)
	}
	if client, err = info.ClientConfig(); err != nil {
		return nil, nil, fmt.Errorf("%s TLS: %w", side, err)
	}
	return server, client, nil
}

// urlHosts collects the hosts of URLs, for auto-TLS certificates.
func urlHosts(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, s := range l {
			if u, err := url.Parse(s); err == nil {
				if h, _, err := net.SplitHostPort(u.Host); err == nil && h != "" {
					out = append(out, h)
				}
			}
		}
	}
	return out
}

// tlsListener wraps ln in TLS when cfg is set.
func tlsListener(ln net.Listener, cfg *tls.Config) net.Listener {
	if cfg == nil {
		return ln
	}
	return tls.NewListener(ln, cfg)
}
