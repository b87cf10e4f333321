package certs

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/certs/certstest"
)

// logSink collects the test server's error log lines without blocking.
type logSink chan string

func (s logSink) Write(p []byte) (int, error) {
	select {
	case s <- string(p):
	default:
	}
	return len(p), nil
}

// startHTTPS serves, over TLS configured by info.ServerConfig, a handler
// that answers with the common name of the client certificate ("-" when
// none). Server error log lines go to the returned sink.
func startHTTPS(t *testing.T, info Info) (*httptest.Server, logSink) {
	t.Helper()
	cfg, err := info.ServerConfig()
	if err != nil {
		t.Fatalf("ServerConfig() error = %v, want nil", err)
	}
	logs := make(logSink, 64)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := "-"
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		fmt.Fprintf(w, "client=%s", cn)
	}))
	srv.TLS = cfg
	srv.Config.ErrorLog = log.New(logs, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, logs
}

// get fetches url with a fresh transport using cfg and returns the body.
func get(url string, cfg *tls.Config) (string, error) {
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// waitHandshakeError waits for the server to log a failed TLS handshake.
func waitHandshakeError(t *testing.T, logs logSink) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case line := <-logs:
			if strings.Contains(line, "TLS handshake error") {
				return line
			}
		case <-timeout:
			t.Fatalf("server logged no TLS handshake error, want one")
			return ""
		}
	}
}

// clientInfoConfig builds a client configuration through Info.ClientConfig.
func clientInfoConfig(t *testing.T, info Info) *tls.Config {
	t.Helper()
	cfg, err := info.ClientConfig()
	if err != nil {
		t.Fatalf("ClientConfig() error = %v, want nil", err)
	}
	return cfg
}

func TestHTTPSWithClientCertAuth(t *testing.T) {
	s := certstest.NewSet(t)
	serverInfo := Info{CertFile: s.ServerCert, KeyFile: s.ServerKey, CAFile: s.CA.CertFile, ClientCertAuth: true}
	tests := []struct {
		name     string
		client   func(t *testing.T) *tls.Config
		wantBody string // empty means the handshake must fail
		// wantServerLog is part of the server's handshake error.
		wantServerLog string
	}{
		{
			name:          "no client certificate",
			client:        func(t *testing.T) *tls.Config { return &tls.Config{RootCAs: s.CA.Pool()} },
			wantServerLog: "didn't provide a certificate",
		},
		{
			name: "certificate from another CA",
			client: func(t *testing.T) *tls.Config {
				return clientInfoConfig(t, Info{CertFile: s.OtherCert, KeyFile: s.OtherKey, CAFile: s.CA.CertFile})
			},
			wantServerLog: "unknown authority",
		},
		{
			name: "expired certificate",
			client: func(t *testing.T) *tls.Config {
				return clientInfoConfig(t, Info{CertFile: s.ExpiredCert, KeyFile: s.ExpiredKey, CAFile: s.CA.CertFile})
			},
			wantServerLog: "expired",
		},
		{
			name: "TLS 1.1 client",
			client: func(t *testing.T) *tls.Config {
				cfg := clientInfoConfig(t, Info{CertFile: s.ClientCert, KeyFile: s.ClientKey, CAFile: s.CA.CertFile})
				cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
				return cfg
			},
			wantServerLog: "unsupported versions",
		},
		{
			name: "valid client certificate",
			client: func(t *testing.T) *tls.Config {
				return clientInfoConfig(t, Info{CertFile: s.ClientCert, KeyFile: s.ClientKey, CAFile: s.CA.CertFile})
			},
			wantBody: "client=client",
		},
		{
			name: "valid peer certificate",
			client: func(t *testing.T) *tls.Config {
				return clientInfoConfig(t, Info{CertFile: s.PeerCert, KeyFile: s.PeerKey, CAFile: s.CA.CertFile, ClientCertAuth: true})
			},
			wantBody: "client=peer",
		},
		{
			name: "valid client certificate over TLS 1.2",
			client: func(t *testing.T) *tls.Config {
				cfg := clientInfoConfig(t, Info{CertFile: s.ClientCert, KeyFile: s.ClientKey, CAFile: s.CA.CertFile})
				cfg.MaxVersion = tls.VersionTLS12
				return cfg
			},
			wantBody: "client=client",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, logs := startHTTPS(t, serverInfo)
			body, err := get(srv.URL, tt.client(t))
			if tt.wantBody == "" {
				if err == nil {
					t.Fatalf("GET = %q, nil; want a handshake error", body)
				}
				line := waitHandshakeError(t, logs)
				if !strings.Contains(line, tt.wantServerLog) {
					t.Errorf("server log = %q, want it to contain %q", line, tt.wantServerLog)
				}
				return
			}
			if err != nil {
				t.Fatalf("GET error = %v, want nil", err)
			}
			if body != tt.wantBody {
				t.Errorf("GET body = %q, want %q", body, tt.wantBody)
			}
		})
	}
}

func TestHTTPSWithoutClientCertAuth(t *testing.T) {
	s := certstest.NewSet(t)
	serverInfo := Info{CertFile: s.ServerCert, KeyFile: s.ServerKey, CAFile: s.CA.CertFile}
	tests := []struct {
		name     string
		client   *tls.Config
		wantBody string // empty means the request must fail
	}{
		{"client without certificate", &tls.Config{RootCAs: s.CA.Pool()}, "client=-"},
		{
			// Client certificates are not requested, so none is seen.
			name:     "client with certificate",
			client:   clientInfoConfig(t, Info{CertFile: s.ClientCert, KeyFile: s.ClientKey, CAFile: s.CA.CertFile}),
			wantBody: "client=-",
		},
		{"client trusting another CA", &tls.Config{RootCAs: s.OtherCA.Pool()}, ""},
		{"client using system roots", &tls.Config{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := startHTTPS(t, serverInfo)
			body, err := get(srv.URL, tt.client)
			if tt.wantBody == "" {
				var verr *tls.CertificateVerificationError
				if !errors.As(err, &verr) {
					t.Fatalf("GET = %q, %v; want a certificate verification error", body, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("GET error = %v, want nil", err)
			}
			if body != tt.wantBody {
				t.Errorf("GET body = %q, want %q", body, tt.wantBody)
			}
		})
	}
}

func TestClientConfigDialsServerConfigWithMutualAuth(t *testing.T) {
	s := certstest.NewSet(t)
	tests := []struct {
		name       string
		server     Info
		client     Info
		wantPeerCN string // common name the server sees; empty means failure
	}{
		{
			name:       "peer to server",
			server:     Info{CertFile: s.ServerCert, KeyFile: s.ServerKey, CAFile: s.CA.CertFile, ClientCertAuth: true},
			client:     Info{CertFile: s.PeerCert, KeyFile: s.PeerKey, CAFile: s.CA.CertFile, ClientCertAuth: true},
			wantPeerCN: "peer",
		},
		{
			name:       "server to peer",
			server:     Info{CertFile: s.PeerCert, KeyFile: s.PeerKey, CAFile: s.CA.CertFile, ClientCertAuth: true},
			client:     Info{CertFile: s.ServerCert, KeyFile: s.ServerKey, CAFile: s.CA.CertFile, ClientCertAuth: true},
			wantPeerCN: "server",
		},
		{
			name:   "peer from another CA",
			server: Info{CertFile: s.ServerCert, KeyFile: s.ServerKey, CAFile: s.CA.CertFile, ClientCertAuth: true},
			client: Info{CertFile: s.OtherCert, KeyFile: s.OtherKey, CAFile: s.CA.CertFile, ClientCertAuth: true},
		},
		{
			name:   "server with expired certificate",
			server: Info{CertFile: s.ExpiredCert, KeyFile: s.ExpiredKey, CAFile: s.CA.CertFile, ClientCertAuth: true},
			client: Info{CertFile: s.PeerCert, KeyFile: s.PeerKey, CAFile: s.CA.CertFile, ClientCertAuth: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkMutualTLS(t, tt.server, tt.client, tt.wantPeerCN)
		})
	}
}

// roundTrip listens on 127.0.0.1 with serverCfg, dials it with clientCfg,
// and returns the client certificate common name the server reports back
// after both sides completed the handshake.
func roundTrip(t *testing.T, serverCfg, clientCfg *tls.Config) (string, error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverCfg)
	if err != nil {
		t.Fatalf("tls.Listen error = %v", err)
	}
	done := make(chan struct{})
	defer func() {
		ln.Close()
		<-done
	}()
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			return
		}
		cn := "-"
		if pc := tc.ConnectionState().PeerCertificates; len(pc) > 0 {
			cn = pc[0].Subject.CommonName
		}
		io.WriteString(tc, cn+"\n")
	}()
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(dialer, "tcp", ln.Addr().String(), clientCfg)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if chains := conn.ConnectionState().VerifiedChains; len(chains) == 0 && !clientCfg.InsecureSkipVerify {
		t.Errorf("client VerifiedChains is empty, want the server verified")
	}
	line, err := io.ReadAll(conn)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(line), "\n"), nil
}

// checkMutualTLS builds both configurations, makes one TLS round trip and
// checks that the server saw the client certificate's CN (wantCN), or
// that the handshake failed (wantCN == "").
func checkMutualTLS(t *testing.T, server, client Info, wantCN string) {
	t.Helper()
	serverCfg, err := server.ServerConfig()
	if err != nil {
		t.Fatalf("ServerConfig() error = %v, want nil", err)
	}
	clientCfg, err := client.ClientConfig()
	if err != nil {
		t.Fatalf("ClientConfig() error = %v, want nil", err)
	}
	got, err := roundTrip(t, serverCfg, clientCfg)
	if wantCN == "" {
		if err == nil {
			t.Fatalf("round trip = %q, nil; want an error", got)
		}
		return
	}
	if err != nil {
		t.Fatalf("round trip error = %v, want nil", err)
	}
	if got != wantCN {
		t.Errorf("server saw client CN %q, want %q", got, wantCN)
	}
}
