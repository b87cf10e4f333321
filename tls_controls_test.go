package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/certs"
	"github.com/etcd-classic/etcd-classic/certs/certstest"
)

// etcd 3.4's TLS control flags, under their names and their ETCD_*
// variables, reach the client and peer TLS settings and the Host check;
// none of them is "[ignored]" any more.
func TestTLSControlFlags(t *testing.T) {
	type sides struct {
		client, peer certs.Info
		c            *config
	}
	cases := []struct {
		flag, value string
		check       func(s sides) bool
	}{
		{"client-crl-file", "/c.crl", func(s sides) bool { return s.client.CRLFile == "/c.crl" && s.peer.CRLFile == "" }},
		{"peer-crl-file", "/p.crl", func(s sides) bool { return s.peer.CRLFile == "/p.crl" && s.client.CRLFile == "" }},
		{"client-cert-allowed-hostname", "h1", func(s sides) bool { return s.client.AllowedHostname == "h1" && s.peer.AllowedHostname == "" }},
		{"peer-cert-allowed-hostname", "h2", func(s sides) bool { return s.peer.AllowedHostname == "h2" && s.client.AllowedHostname == "" }},
		{"peer-cert-allowed-cn", "member", func(s sides) bool { return s.peer.AllowedCN == "member" && s.client.AllowedCN == "" }},
		{"cipher-suites", "TLS_A, TLS_B", func(s sides) bool {
			return strings.Join(s.client.CipherSuites, "|") == "TLS_A|TLS_B" && strings.Join(s.peer.CipherSuites, "|") == "TLS_A|TLS_B"
		}},
		{"host-whitelist", "localhost,example.com", func(s sides) bool { return strings.Join(splitList(s.c.hostWhitelist), "|") == "localhost|example.com" }},
	}
	for _, tc := range cases {
		for _, how := range []string{"flag", "env"} {
			t.Run(tc.flag+"/"+how, func(t *testing.T) {
				var args []string
				if how == "flag" {
					args = []string{"--" + tc.flag, tc.value}
				} else {
					t.Setenv(envName(tc.flag), tc.value)
				}
				var warn bytes.Buffer
				c, err := parseFlags(args, &warn)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(warn.String(), "[ignored]") {
					t.Errorf("warnings: %q", warn.String())
				}
				m, err := c.resolve()
				if err != nil {
					t.Fatal(err)
				}
				client, peer := m.ClientTLS, m.PeerTLS
				if !tc.check(sides{client, peer, c}) {
					t.Errorf("--%s=%q not applied: client %+v, peer %+v", tc.flag, tc.value, client, peer)
				}
			})
		}
	}
}

// Settings that could not work stop the start with one line that says why.
func TestTLSControlStartupErrors(t *testing.T) {
	set := certstest.NewSet(t)
	peerTLS := []string{"--peer-cert-file", set.PeerCert, "--peer-key-file", set.PeerKey, "--peer-trusted-ca-file", set.CA.CertFile}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown cipher suite", []string{"--cipher-suites", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_NO_SUCH_SUITE"}, `--cipher-suites: certs: unknown TLS cipher suite "TLS_NO_SUCH_SUITE"`},
		{"unreadable CRL", append([]string{"--peer-client-cert-auth", "--peer-crl-file", "/nonexistent/peer.crl"}, peerTLS...), `cannot read CRL file "/nonexistent/peer.crl"`},
		{"CRL without client cert auth", append([]string{"--peer-crl-file", set.CA.CRL(t, "", "x")}, peerTLS...), "(add --peer-client-cert-auth)"},
		{"allowed hostname without client cert auth", []string{"--cert-file", set.ServerCert, "--key-file", set.ServerKey, "--client-cert-allowed-hostname", "h"}, "(add --client-cert-auth)"},
		{"CN and hostname", append([]string{"--peer-client-cert-auth", "--peer-cert-allowed-cn", "a", "--peer-cert-allowed-hostname", "b"}, peerTLS...), "mutually exclusive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binPath, append([]string{"--data-dir", t.TempDir(), "--listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
				"--listen-peer-urls", fmt.Sprintf("https://127.0.0.1:%d", freePort(t))}, tc.args...)...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatalf("exited 0, want a failure")
				}
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-done
				t.Fatalf("still running after 30s, want a start-up failure")
			}
			var found bool
			for _, line := range strings.Split(stderr.String(), "\n") {
				if strings.HasPrefix(line, "etcd-classic: ") && strings.Contains(line, tc.want) {
					found = true
				}
			}
			if !found || strings.Contains(stderr.String(), "goroutine ") {
				t.Errorf("no line %q in:\n%s", tc.want, stderr.String())
			}
		})
	}
}

// tlsProbe dials addr over TLS 1.2 (so that a refused client certificate
// fails the handshake itself) with the given certificate, trusting ca.
func tlsProbe(addr string, set *certstest.Set, certFile, keyFile string, suites []uint16, maxVersion uint16) error {
	cfg := &tls.Config{RootCAs: set.CA.Pool(), MaxVersion: maxVersion, CipherSuites: suites}
	if maxVersion == 0 {
		cfg.MaxVersion = tls.VersionTLS12
	}
	if maxVersion == tls.VersionTLS11 {
		cfg.MinVersion = tls.VersionTLS10
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	return conn.Close()
}

// One member with client TLS, --client-cert-auth, a CRL, an allowed
// hostname and a cipher suite list: only the good certificate gets in,
// with a listed suite; another member, plain HTTP with --host-whitelist,
// refuses unknown Host headers.
func TestClientTLSControls(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	set := certstest.NewSet(t)
	good, goodKey := set.CA.Issue(t, set.Dir, "good", certstest.IssueOpts{Client: true, Hosts: []string{"localhost"}})
	revoked, revokedKey := set.CA.Issue(t, set.Dir, "revoked", certstest.IssueOpts{Client: true, Hosts: []string{"localhost"}})
	elsewhere, elsewhereKey := set.CA.Issue(t, set.Dir, "elsewhere", certstest.IssueOpts{Client: true, Hosts: []string{"node9.example"}})
	crl := set.CA.CRL(t, set.Dir, "clients", revoked)

	dir := t.TempDir()
	client, args := singleMemberArgs(t, dir)
	client = strings.Replace(client, "http://", "https://", 1)
	for i, a := range args {
		if strings.HasPrefix(a, "http://") && (args[i-1] == "--listen-client-urls" || args[i-1] == "--advertise-client-urls") {
			args[i] = client
		}
	}
	args = append(args, "--cert-file", set.ServerCert, "--key-file", set.ServerKey, "--trusted-ca-file", set.CA.CertFile,
		"--client-cert-auth", "--client-crl-file", crl, "--client-cert-allowed-hostname", "localhost",
		"--cipher-suites", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256")
	startProcAsync(t, client, dir, args...)
	goodClient := httpsClient(t, set.CA.Pool(), good, goodKey)
	waitHTTPS(t, goodClient, client)
	addr := strings.TrimPrefix(client, "https://")
	if err := tlsProbe(addr, set, good, goodKey, nil, 0); err != nil {
		t.Errorf("good certificate: %v", err)
	}
	aes128 := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	for _, bad := range []struct {
		what      string
		cert, key string
		suites    []uint16
		version   uint16
	}{
		{"a revoked certificate", revoked, revokedKey, nil, 0},
		{"a certificate not valid for localhost", elsewhere, elsewhereKey, nil, 0},
		{"only a suite not in --cipher-suites", good, goodKey, aes128, 0},
		{"TLS 1.1", good, goodKey, nil, tls.VersionTLS11},
	} {
		if err := tlsProbe(addr, set, bad.cert, bad.key, bad.suites, bad.version); err == nil {
			t.Errorf("a client with %s got in", bad.what)
		}
	}

	// --host-whitelist on a plain-HTTP member.
	hdir := t.TempDir()
	hclient, hargs := singleMemberArgs(t, hdir)
	startProc(t, hclient, hdir, append(hargs, "--host-whitelist", "127.0.0.1,localhost")...)
	for host, want := range map[string]int{strings.TrimPrefix(hclient, "http://"): 200, "localhost": 200, "rebind.example:2379": 421} {
		req, err := http.NewRequest("GET", hclient+"/v2/keys/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %q: status %d, want %d (%q)", host, resp.StatusCode, want, body)
		}
		if want == 421 && !strings.Contains(string(body), `etcd --host-whitelist "rebind.example"`) {
			t.Errorf("Host %q: body %q, want etcd's explanation", host, body)
		}
	}
}

// A three-member peer-TLS cluster whose certificates all carry CN "member",
// started with --peer-cert-allowed-cn member and a --peer-crl-file, works;
// a member whose certificate (from the same CA) has another CN, or is
// revoked, cannot talk to it or join it, while a new member with a good
// certificate joins the same way.
func TestPeerCertAllowedCNAndCRL(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	set := certstest.NewSet(t)
	issue := func(name, cn string) (string, string) {
		return set.CA.Issue(t, set.Dir, name, certstest.IssueOpts{CommonName: cn, Hosts: []string{"127.0.0.1", "localhost"}})
	}
	memberCert, memberKey := issue("member", "member")
	strangerCert, strangerKey := issue("stranger", "stranger")
	revokedCert, revokedKey := issue("revoked", "member")
	newCert, newKey := issue("newcomer", "member")
	crl := set.CA.CRL(t, set.Dir, "peers", revokedCert)
	controls := []string{"--peer-trusted-ca-file", set.CA.CertFile, "--peer-client-cert-auth",
		"--peer-cert-allowed-cn", "member", "--peer-crl-file", crl}

	c := startTLSCluster(t, 3, append([]string{"--peer-cert-file", memberCert, "--peer-key-file", memberKey}, controls...))
	if st, _, err := v2do(t.Context(), "PUT", c.members[0].client+"/v2/keys/cn", url.Values{"value": {"ok"}}); err != nil || st != 201 {
		t.Fatalf("write: %d %v", st, err)
	}
	waitFor(t, "the write replicated", func() bool {
		st, r, err := v2do(t.Context(), "GET", c.members[2].client+"/v2/keys/cn?quorum=true", nil)
		return err == nil && st == 200 && r.Node.Value == "ok"
	})

	// Straight to the peer ports: the handshake itself decides.
	for _, m := range c.members {
		addr := strings.TrimPrefix(m.Args[peerArg(m.Args)], "https://")
		if err := tlsProbe(addr, set, memberCert, memberKey, nil, 0); err != nil {
			t.Errorf("%s: a member certificate was refused: %v", addr, err)
		}
		if err := tlsProbe(addr, set, strangerCert, strangerKey, nil, 0); err == nil {
			t.Errorf("%s: a certificate with CN stranger was accepted", addr)
		}
		if err := tlsProbe(addr, set, revokedCert, revokedKey, nil, 0); err == nil {
			t.Errorf("%s: a revoked certificate was accepted", addr)
		}
	}

	// Real members asking to join through -peers.
	seed := strings.TrimPrefix(c.members[0].Args[peerArg(c.members[0].Args)], "https://")
	joiner := func(name, cert, key string, extra ...string) *proc {
		// etcd 0.x joins take etcd 0.x addresses (-addr, -peer-addr).
		cp, pp := freePort(t), freePort(t)
		client := fmt.Sprintf("http://127.0.0.1:%d", cp)
		dir := t.TempDir()
		args := append([]string{"-name", name, "-data-dir", dir, "-addr", fmt.Sprintf("127.0.0.1:%d", cp),
			"-peer-addr", fmt.Sprintf("127.0.0.1:%d", pp), "-peers", seed,
			"--peer-cert-file", cert, "--peer-key-file", key, "--peer-trusted-ca-file", set.CA.CertFile}, extra...)
		return startProcAsync(t, client, dir, args...)
	}
	stranger := joiner("stranger", strangerCert, strangerKey)
	revokedMember := joiner("revoked", revokedCert, revokedKey)
	newcomer := joiner("newcomer", newCert, newKey, controls[2:]...)
	newcomer.waitUp()
	waitFor(t, "the newcomer listed as a member", func() bool {
		return strings.Contains(membersOf(t, c.members[0].client), `"name":"newcomer"`)
	})
	// The intruders are refused at the TLS handshake, which ends their
	// join at once (it used to be retried for a minute); until they have
	// exited they must never be listed.
	deadline := time.Now().Add(45 * time.Second)
	for stranger.alive() || revokedMember.alive() {
		if m := membersOf(t, c.members[0].client); strings.Contains(m, "stranger") || strings.Contains(m, `"name":"revoked"`) {
			t.Fatalf("an intruder joined: %s", m)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the intruders still try to join after 45 s (a TLS rejection must end a join)")
		}
		time.Sleep(200 * time.Millisecond) // polling interval
	}
	for _, p := range []*proc{stranger, revokedMember} {
		if p.Proc.Cmd.ProcessState.Success() || !strings.Contains(p.Output(), "TLS rejected") {
			t.Errorf("%s: exit %v, want a join failed for a TLS rejection", p.client, p.Proc.Cmd.ProcessState)
		}
	}
	members := membersOf(t, c.members[0].client)
	if strings.Count(members, `"id"`) != 4 || strings.Contains(members, "stranger") || strings.Contains(members, `"name":"revoked"`) {
		t.Errorf("members = %s, want the three and the newcomer only", members)
	}
	if t.Failed() {
		for _, p := range []*proc{stranger, revokedMember} {
			t.Logf("%s log:\n%s", p.client, p.Output())
		}
	}
}

// membersOf returns the body of GET /v2/members.
func membersOf(t *testing.T, client string) string {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(client + "/v2/members")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(b)
}
