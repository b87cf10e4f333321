package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"

	"github.com/etcd-classic/etcd-classic/certs"
)

// tlsSet is the TLS configurations of a member's two sides (nil where a
// side has no TLS).
type tlsSet struct {
	clientServer, clientDial *tls.Config // the client API's listener; a proxy's dialer
	peerServer, peerDial     *tls.Config // the peer port; the dialer of other members
}

// tlsConfigs builds both sides' configurations.
func (c *Config) tlsConfigs() (tlsSet, error) {
	var s tlsSet
	var err error
	if s.clientServer, s.clientDial, err = tlsConfigs("client", c.tlsInfo("client")); err != nil {
		return s, err
	}
	s.peerServer, s.peerDial, err = tlsConfigs("peer", c.tlsInfo("peer"))
	return s, err
}

// tlsConfigs builds the listener and dialer configurations of one side;
// both are nil when the side has no TLS. The settings are validated even
// then, so that an unknown --cipher-suites name or a CRL file without TLS
// stops the start instead of being ignored.
func tlsConfigs(side string, info certs.Info) (server, client *tls.Config, err error) {
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
