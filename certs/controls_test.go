package certs

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/certs/certstest"
)

// handshakeResult is what each side of one TLS connection saw.
type handshakeResult struct {
	serverErr, clientErr error
	state                tls.ConnectionState // the client's view, on success
}

// handshake connects clientCfg to serverCfg over loopback and exchanges
// one byte each way, so that errors raised after the client's last flight
// (TLS 1.3 client certificates) reach the client too.
func handshake(t *testing.T, serverCfg, clientCfg *tls.Config) handshakeResult {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverCfg)
	if err != nil {
		t.Fatalf("tls.Listen error = %v", err)
	}
	defer ln.Close()
	serverErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			serverErr <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if err := c.(*tls.Conn).Handshake(); err != nil {
			serverErr <- err
			return
		}
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			serverErr <- err
			return
		}
		_, err = c.Write(b[:])
		serverErr <- err
	}()
	var res handshakeResult
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(), clientCfg)
	if err == nil {
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err = conn.Write([]byte{'x'}); err == nil {
			var b [1]byte
			_, err = io.ReadFull(conn, b[:])
		}
		res.state = conn.ConnectionState()
		conn.Close()
	}
	res.clientErr = err
	res.serverErr = <-serverErr
	return res
}

// mustConfigs builds the server and client configurations or fails.
func mustConfigs(t *testing.T, server, client Info) (*tls.Config, *tls.Config) {
	t.Helper()
	s, err := server.ServerConfig()
	if err != nil {
		t.Fatalf("ServerConfig() error = %v, want nil", err)
	}
	c, err := client.ClientConfig()
	if err != nil {
		t.Fatalf("ClientConfig() error = %v, want nil", err)
	}
	return s, c
}

// handshakeInfos builds both configurations and makes one connection.
func handshakeInfos(t *testing.T, server, client Info) handshakeResult {
	t.Helper()
	serverCfg, clientCfg := mustConfigs(t, server, client)
	return handshake(t, serverCfg, clientCfg)
}

// writeDER rewrites a PEM CRL file as DER under a new name.
func writeDER(t *testing.T, pemFile string) string {
	t.Helper()
	data, err := os.ReadFile(pemFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM block", pemFile)
	}
	der := filepath.Join(t.TempDir(), "list.der")
	if err := os.WriteFile(der, block.Bytes, 0o644); err != nil {
		t.Fatal(err)
	}
	return der
}

// serialOf returns the serial number of the first certificate in a file.
func serialOf(t *testing.T, certFile string) *big.Int {
	t.Helper()
	data, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := parseCertificates(data)
	if err != nil || len(certs) == 0 {
		t.Fatalf("%s: %v", certFile, err)
	}
	return certs[0].SerialNumber
}

// otherIssuerCRL writes a CRL signed by ca that lists serial, which belongs
// to a certificate of another issuer.
func otherIssuerCRL(t *testing.T, ca *certstest.CA, serial *big.Int) string {
	t.Helper()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(7), ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: serial, RevocationTime: time.Now()}},
	}, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "other.crl")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCRLRefusesRevokedClientCertificates(t *testing.T) {
	s := certstest.NewSet(t)
	revokesClient := s.CA.CRL(t, s.Dir, "revokes-client", s.ClientCert)
	tests := []struct {
		name       string
		crl        string
		clientCert string
		clientKey  string
		wantErr    string // in the server's handshake error; empty: accepted
	}{
		{"revoked client certificate", revokesClient, s.ClientCert, s.ClientKey, "is revoked by CRL file"},
		{"good certificate, same list", revokesClient, s.PeerCert, s.PeerKey, ""},
		{"revoked, list in DER", writeDER(t, revokesClient), s.ClientCert, s.ClientKey, "is revoked by CRL file"},
		{"empty list", s.CA.CRL(t, s.Dir, "empty"), s.ClientCert, s.ClientKey, ""},
		// The same serial number revoked by another issuer is not this
		// certificate.
		{"serial revoked by another CA", otherIssuerCRL(t, s.OtherCA, serialOf(t, s.ClientCert)), s.ClientCert, s.ClientKey, ""},
	}
	for _, tt := range tests {
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			t.Run(tt.name+"/"+tls.VersionName(version), func(t *testing.T) {
				server := Info{CertFile: s.ServerCert, KeyFile: s.ServerKey, CAFile: s.CA.CertFile, ClientCertAuth: true, CRLFile: tt.crl}
				client := Info{CertFile: tt.clientCert, KeyFile: tt.clientKey, CAFile: s.CA.CertFile}
				serverCfg, clientCfg := mustConfigs(t, server, client)
				clientCfg.MaxVersion = version
				res := handshake(t, serverCfg, clientCfg)
				if tt.wantErr == "" {
					if res.serverErr != nil || res.clientErr != nil {
						t.Fatalf("server error %v, client error %v; want the connection accepted", res.serverErr, res.clientErr)
					}
					return
				}
				if res.serverErr == nil || !strings.Contains(res.serverErr.Error(), tt.wantErr) {
					t.Errorf("server error = %v, want one containing %q", res.serverErr, tt.wantErr)
				}
				if res.clientErr == nil {
					t.Errorf("client error = nil, want the handshake refused")
				}
			})
		}
	}
}

func TestCRLRefusesRevokedServerWhenDialing(t *testing.T) {
	s := certstest.NewSet(t)
	crl := s.CA.CRL(t, s.Dir, "revokes-server", s.ServerCert)
	server := Info{CertFile: s.ServerCert, KeyFile: s.ServerKey, CAFile: s.CA.CertFile, ClientCertAuth: true}
	client := Info{CertFile: s.PeerCert, KeyFile: s.PeerKey, CAFile: s.CA.CertFile, ClientCertAuth: true, CRLFile: crl}
	res := handshakeInfos(t, server, client)
	if res.clientErr == nil || !strings.Contains(res.clientErr.Error(), "is revoked by CRL file") {
		t.Errorf("client error = %v, want the server's certificate refused as revoked", res.clientErr)
	}
	// The peer certificate is not revoked: peer to peer works.
	server.CertFile, server.KeyFile = s.PeerCert, s.PeerKey
	if res := handshakeInfos(t, server, client); res.clientErr != nil || res.serverErr != nil {
		t.Errorf("unrevoked server: client error %v, server error %v; want success", res.clientErr, res.serverErr)
	}
}

// A new CRL takes effect for the next connection without a restart, as in
// etcd 3.4 (which reads the file for every connection); a file that stops
// parsing refuses every connection.
func TestCRLReloadedWhenTheFileChanges(t *testing.T) {
	s := certstest.NewSet(t)
	dir := t.TempDir()
	crl := s.CA.CRL(t, dir, "list")
	server := Info{CertFile: s.ServerCert, KeyFile: s.ServerKey, CAFile: s.CA.CertFile, ClientCertAuth: true, CRLFile: crl}
	serverCfg, clientCfg := mustConfigs(t, server, Info{CertFile: s.ClientCert, KeyFile: s.ClientKey, CAFile: s.CA.CertFile})
	if res := handshake(t, serverCfg, clientCfg); res.serverErr != nil {
		t.Fatalf("before revocation: server error %v, want success", res.serverErr)
	}
	replace := func(src string) {
		t.Helper()
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(crl, data, 0o644); err != nil {
			t.Fatal(err)
		}
		// Make the change visible even on a coarse-grained file clock.
		future := time.Now().Add(time.Duration(len(data)) * time.Second)
		if err := os.Chtimes(crl, future, future); err != nil {
			t.Fatal(err)
		}
	}
	replace(s.CA.CRL(t, t.TempDir(), "list", s.ClientCert))
	if res := handshake(t, serverCfg, clientCfg); res.serverErr == nil || !strings.Contains(res.serverErr.Error(), "revoked") {
		t.Errorf("after revocation: server error = %v, want the client refused as revoked", res.serverErr)
	}
	garbage := filepath.Join(t.TempDir(), "garbage")
	if err := os.WriteFile(garbage, []byte("not a CRL at all, longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	replace(garbage)
	if res := handshake(t, serverCfg, clientCfg); res.serverErr == nil || !strings.Contains(res.serverErr.Error(), crl) {
		t.Errorf("with an unparsable CRL: server error = %v, want a refusal naming %s", res.serverErr, crl)
	}
}

func TestCRLFileErrorsNameTheFile(t *testing.T) {
	s := certstest.NewSet(t)
	dir := t.TempDir()
	garbage := writeFile(t, dir, "garbage.crl", "this is no CRL")
	pemNoCRL := writeFile(t, dir, "cert-not-crl.pem", string(mustRead(t, s.ClientCert)))
	// A CA with the same name as s.CA but another key: its list claims to
	// come from s.CA and must not be believed.
	impostor := certstest.NewCA(t, t.TempDir(), "ca")
	forged := impostor.CRL(t, dir, "forged", s.ClientCert)
	tests := []struct {
		name, crl string
		want      []string
	}{
		{"missing", filepath.Join(dir, "missing.crl"), []string{"cannot read CRL file", "missing.crl"}},
		{"garbage", garbage, []string{"cannot parse CRL file", garbage}},
		{"PEM without a CRL", pemNoCRL, []string{"no X509 CRL block", pemNoCRL}},
		{"signed by another key", forged, []string{forged, "not signed by the CA"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := Info{CertFile: s.ServerCert, KeyFile: s.ServerKey, CAFile: s.CA.CertFile, ClientCertAuth: true, CRLFile: tt.crl}
			for what, build := range map[string]func() (*tls.Config, error){"ServerConfig": info.ServerConfig, "ClientConfig": info.ClientConfig} {
				_, err := build()
				if err == nil {
					t.Fatalf("%s() error = nil, want one", what)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("%s() error %q spans several lines", what, err)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s() error = %q, want it to contain %q", what, err, w)
					}
				}
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAllowedCNAndHostname(t *testing.T) {
	s := certstest.NewSet(t)
	// Certificates: client (CN client, no SANs), peer (CN peer, SANs
	// 127.0.0.1 and localhost), and one with CN peer but another SAN.
	oddCert, oddKey := s.CA.Issue(t, s.Dir, "odd", certstest.IssueOpts{CommonName: "peer", Hosts: []string{"node9.example"}})
	tests := []struct {
		name            string
		allowedCN       string
		allowedHostname string
		cert, key       string
		wantErr         string // in the server's error; empty: accepted
	}{
		{"CN allowed", "peer", "", s.PeerCert, s.PeerKey, ""},
		{"CN not allowed", "peer", "", s.ClientCert, s.ClientKey, `CN "client" is not the allowed CN "peer"`},
		{"CN is compared exactly", "Peer", "", s.PeerCert, s.PeerKey, "is not the allowed CN"},
		{"hostname in the SANs", "", "localhost", s.PeerCert, s.PeerKey, ""},
		{"IP in the SANs", "", "127.0.0.1", s.PeerCert, s.PeerKey, ""},
		{"hostname not in the SANs", "", "localhost", oddCert, oddKey, `allowed hostname "localhost"`},
		// Like etcd 3.4 (Go's VerifyHostname), the CN is not a host name.
		{"hostname only as CN", "", "peer", s.PeerCert, s.PeerKey, `allowed hostname "peer"`},
		{"no SANs at all", "", "localhost", s.ClientCert, s.ClientKey, "allowed hostname"},
		{"other SAN allowed", "", "node9.example", oddCert, oddKey, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := Info{CertFile: s.ServerCert, KeyFile: s.ServerKey, CAFile: s.CA.CertFile, ClientCertAuth: true,
				AllowedCN: tt.allowedCN, AllowedHostname: tt.allowedHostname}
			res := handshakeInfos(t, server, Info{CertFile: tt.cert, KeyFile: tt.key, CAFile: s.CA.CertFile})
			if tt.wantErr == "" {
				if res.serverErr != nil || res.clientErr != nil {
					t.Fatalf("server error %v, client error %v; want the connection accepted", res.serverErr, res.clientErr)
				}
				return
			}
			if res.serverErr == nil || !strings.Contains(res.serverErr.Error(), tt.wantErr) {
				t.Errorf("server error = %v, want one containing %q", res.serverErr, tt.wantErr)
			}
			if res.clientErr == nil {
				t.Errorf("client error = nil, want the connection refused")
			}
		})
	}
}

// As in etcd 3.4, the allowed CN also applies to the certificate of the
// server a member dials: two members with the allowed CN talk, a server
// with another CN is refused by the dialer.
func TestAllowedCNChecksTheDialedServer(t *testing.T) {
	s := certstest.NewSet(t)
	server := Info{CertFile: s.ServerCert, KeyFile: s.ServerKey, CAFile: s.CA.CertFile, ClientCertAuth: true}
	client := Info{CertFile: s.PeerCert, KeyFile: s.PeerKey, CAFile: s.CA.CertFile, ClientCertAuth: true, AllowedCN: "peer"}
	res := handshakeInfos(t, server, client)
	if res.clientErr == nil || !strings.Contains(res.clientErr.Error(), `server certificate authentication failed: CN "server"`) {
		t.Errorf("client error = %v, want the server's CN refused", res.clientErr)
	}
	server.CertFile, server.KeyFile, server.AllowedCN = s.PeerCert, s.PeerKey, "peer"
	if res := handshakeInfos(t, server, client); res.clientErr != nil || res.serverErr != nil {
		t.Errorf("both CN peer: client error %v, server error %v; want success", res.clientErr, res.serverErr)
	}
}

func TestCipherSuites(t *testing.T) {
	s := certstest.NewSet(t)
	tests := []struct {
		name          string
		serverSuites  []string
		clientSuites  []uint16 // the client offers only these, over TLS 1.2
		wantNegotiate uint16   // 0: the handshake must fail
	}{
		{"default accepts AES-128-GCM", nil, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		{"default refuses CBC", nil, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}, 0},
		{"chosen suite negotiated", []string{"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"},
			[]uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
		{"suite not chosen is refused", []string{"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"}, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, 0},
		{"etcd's old ChaCha20 spelling", []string{"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"},
			[]uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
		{"a CBC suite can be chosen, as in etcd", []string{" TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA "}, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := Info{CertFile: s.ServerCert, KeyFile: s.ServerKey, CipherSuites: tt.serverSuites}
			serverCfg, err := server.ServerConfig()
			if err != nil {
				t.Fatalf("ServerConfig() error = %v", err)
			}
			clientCfg := &tls.Config{RootCAs: s.CA.Pool(), MaxVersion: tls.VersionTLS12, CipherSuites: tt.clientSuites}
			res := handshake(t, serverCfg, clientCfg)
			if tt.wantNegotiate == 0 {
				if res.clientErr == nil {
					t.Fatalf("negotiated %s, want the handshake refused", tls.CipherSuiteName(res.state.CipherSuite))
				}
				return
			}
			if res.clientErr != nil {
				t.Fatalf("client error = %v, want success", res.clientErr)
			}
			if res.state.CipherSuite != tt.wantNegotiate {
				t.Errorf("negotiated %s, want %s", tls.CipherSuiteName(res.state.CipherSuite), tls.CipherSuiteName(tt.wantNegotiate))
			}
		})
	}
	// The dialer offers only the chosen suites over TLS 1.2.
	client := Info{CipherSuites: []string{"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"}}
	clientCfg, err := client.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	clientCfg.RootCAs, clientCfg.MaxVersion = s.CA.Pool(), tls.VersionTLS12
	onlyAES128 := &tls.Config{Certificates: []tls.Certificate{mustPair(t, s.ServerCert, s.ServerKey)},
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}
	if res := handshake(t, onlyAES128, clientCfg); res.clientErr == nil {
		t.Errorf("dialer negotiated %s with a server offering only AES-128, want a refusal", tls.CipherSuiteName(res.state.CipherSuite))
	}
	// TLS 1.3 suites are not configurable in Go: with a TLS 1.2 list,
	// TLS 1.3 still works, as with etcd 3.4.23.
	server := Info{CertFile: s.ServerCert, KeyFile: s.ServerKey, CipherSuites: []string{"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"}}
	serverCfg, err := server.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	if res := handshake(t, serverCfg, &tls.Config{RootCAs: s.CA.Pool()}); res.clientErr != nil || res.state.Version != tls.VersionTLS13 {
		t.Errorf("TLS 1.3 client: version %s, error %v; want TLS 1.3", tls.VersionName(res.state.Version), res.clientErr)
	}
}

func mustPair(t *testing.T, cert, key string) tls.Certificate {
	t.Helper()
	p, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TLS 1.2 is the minimum both ways (etcd 3.4 has no flag to change it).
func TestTLS11Refused(t *testing.T) {
	s := certstest.NewSet(t)
	server := Info{CertFile: s.ServerCert, KeyFile: s.ServerKey}
	serverCfg, err := server.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	old := &tls.Config{RootCAs: s.CA.Pool(), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	if res := handshake(t, serverCfg, old); res.clientErr == nil {
		t.Errorf("a TLS 1.1 client was served with %s", tls.VersionName(res.state.Version))
	}
	clientCfg, err := (&Info{CAFile: s.CA.CertFile, CertFile: s.ClientCert, KeyFile: s.ClientKey}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	oldServer := &tls.Config{Certificates: []tls.Certificate{mustPair(t, s.ServerCert, s.ServerKey)},
		MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	if res := handshake(t, oldServer, clientCfg); res.clientErr == nil {
		t.Errorf("the dialer accepted a TLS 1.1 server (%s)", tls.VersionName(res.state.Version))
	}
}

func TestValidateTLSControls(t *testing.T) {
	s := certstest.NewSet(t)
	base := Info{CertFile: s.ServerCert, KeyFile: s.ServerKey, CAFile: s.CA.CertFile}
	tests := []struct {
		name      string
		edit      func(i *Info)
		want      string // empty: valid
		needsAuth bool   // the error wraps ErrClientCertAuthNeeded
	}{
		{"unknown cipher suite", func(i *Info) { i.CipherSuites = []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "FOO_BAR"} }, `unknown TLS cipher suite "FOO_BAR"`, false},
		{"cipher suites without TLS are still checked", func(i *Info) { *i = Info{CipherSuites: []string{"RC5"}} }, `"RC5"`, false},
		{"TLS 1.3 suite names are accepted", func(i *Info) { i.CipherSuites = []string{"TLS_AES_128_GCM_SHA256"} }, "", false},
		{"CN and hostname", func(i *Info) { i.ClientCertAuth, i.AllowedCN, i.AllowedHostname = true, "a", "b" }, `mutually exclusive (cn="a", hostname="b")`, false},
		{"CRL without client cert auth", func(i *Info) { i.CRLFile = "x.crl" }, `CRL file "x.crl" needs client certificate authentication`, true},
		{"CN without client cert auth", func(i *Info) { i.AllowedCN = "a" }, `allowed CN "a"`, true},
		{"hostname without client cert auth", func(i *Info) { i.AllowedHostname = "h" }, `allowed hostname "h"`, true},
		{"CRL without any TLS", func(i *Info) { *i = Info{CRLFile: "x.crl"} }, "x.crl", true},
		{"all with client cert auth", func(i *Info) { i.ClientCertAuth, i.CRLFile, i.AllowedCN = true, "x.crl", "a" }, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := base
			tt.edit(&info)
			err := info.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
			if tt.name == "unknown cipher suite" && !errors.Is(err, ErrUnknownCipherSuite) {
				t.Errorf("errors.Is(err, ErrUnknownCipherSuite) = false, want true")
			}
			if got := errors.Is(err, ErrClientCertAuthNeeded); got != tt.needsAuth {
				t.Errorf("errors.Is(err, ErrClientCertAuthNeeded) = %v, want %v", got, tt.needsAuth)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("Validate() error %q spans several lines", err)
			}
		})
	}
}
