package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/certs/certstest"
	"github.com/etcd-classic/etcd-classic/proctest"
)

// httpsClient trusts ca and presents cert/key when given.
func httpsClient(t *testing.T, ca *x509.CertPool, cert, key string) *http.Client {
	t.Helper()
	cfg := &tls.Config{RootCAs: ca, MinVersion: tls.VersionTLS12}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

func waitHTTPS(t *testing.T, c *http.Client, u string) {
	t.Helper()
	waitFor(t, u+" answers", func() bool {
		r, err := c.Get(u + "/version")
		if err != nil {
			return false
		}
		r.Body.Close()
		return true
	})
}

func putWith(c *http.Client, u, key, val string) (int, error) {
	r, err := c.PostForm(u+"/v2/keys"+key+"?prevExist=false", url.Values{"value": {val}})
	if err != nil {
		return 0, err
	}
	r.Body.Close()
	return r.StatusCode, nil
}

// Client TLS in each generation of flags: etcd 0.1's -clientCert
// -clientKey -clientCAFile and 0.4's -cert-file -key-file -ca-file demand a
// verified client certificate; etcd 2.x's --cert-file --key-file alone
// serve HTTPS to anyone, and --client-cert-auth with --trusted-ca-file
// demands one. A client without a certificate, with one from another CA,
// or with an expired one fails in the handshake.
func TestClientTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	set := certstest.NewSet(t)
	cases := []struct {
		name       string
		flags      []string
		clientAuth bool
	}{
		{"0.1 flags", []string{"-clientCert", set.ServerCert, "-clientKey", set.ServerKey, "-clientCAFile", set.CA.CertFile}, true},
		{"0.4 flags", []string{"-cert-file=" + set.ServerCert, "-key-file=" + set.ServerKey, "-ca-file=" + set.CA.CertFile}, true},
		{"2.x flags without client auth", []string{"--cert-file", set.ServerCert, "--key-file", set.ServerKey, "--trusted-ca-file", set.CA.CertFile}, false},
		{"2.x flags with client auth", []string{"--cert-file", set.ServerCert, "--key-file", set.ServerKey, "--trusted-ca-file", set.CA.CertFile, "--client-cert-auth"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cp, pp := freePort(t), freePort(t)
			client := fmt.Sprintf("https://127.0.0.1:%d", cp)
			args := append([]string{"--name", "tls", "--data-dir", t.TempDir(),
				"--listen-client-urls", client, "--advertise-client-urls", client,
				"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", pp),
				"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", pp),
				"--initial-cluster", fmt.Sprintf("tls=http://127.0.0.1:%d", pp)}, tc.flags...)
			startProcAsync(t, client, "", args...)
			good := httpsClient(t, set.CA.Pool(), set.ClientCert, set.ClientKey)
			waitHTTPS(t, good, client)
			waitFor(t, "a write with a good certificate", func() bool {
				st, err := putWith(good, client, "/k", "v")
				return err == nil && (st == 201 || st == 412)
			})
			r, err := good.Get(client + "/v2/machines")
			if err != nil {
				t.Fatal(err)
			}
			// One Read may return part of the body: read it all.
			b, err := io.ReadAll(r.Body)
			r.Body.Close()
			if err != nil || string(b) != client {
				t.Errorf("advertised client URL %q (%v), want %q", b, err, client)
			}
			for _, bad := range []struct {
				what      string
				cert, key string
			}{
				{"no certificate", "", ""},
				{"another CA's certificate", set.OtherCert, set.OtherKey},
				{"an expired certificate", set.ExpiredCert, set.ExpiredKey},
			} {
				_, err := putWith(httpsClient(t, set.CA.Pool(), bad.cert, bad.key), client, "/bad", "v")
				if tc.clientAuth && err == nil {
					t.Errorf("a client with %s got in", bad.what)
				}
				if !tc.clientAuth && bad.cert == "" && err != nil {
					t.Errorf("without client auth, a client with no certificate failed: %v", err)
				}
			}
			// Plain HTTP to the TLS port is no use either.
			if r, err := testClient.Get(strings.Replace(client, "https", "http", 1) + "/v2/keys/k"); err == nil {
				if r.StatusCode == 200 {
					t.Error("plain HTTP was served on the TLS port")
				}
				r.Body.Close()
			}
		})
	}
}

// Start-up fails with a message naming the file, not a stack trace.
func TestTLSStartupErrors(t *testing.T) {
	set := certstest.NewSet(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--cert-file", "/nonexistent/server.crt", "--key-file", set.ServerKey}, "/nonexistent/server.crt"},
		{[]string{"--cert-file", set.ServerCert, "--key-file", set.ClientKey}, "do not match"},
		{[]string{"--cert-file", set.ServerCert}, "key"},
		{[]string{"--peer-cert-file", set.ServerCert, "--peer-key-file", set.ServerKey, "--peer-trusted-ca-file", "/nonexistent/ca.pem", "--peer-client-cert-auth"}, "/nonexistent/ca.pem"},
	}
	for _, tc := range cases {
		// A member that starts after all would run until the deadline.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, binPath, append([]string{"--data-dir", t.TempDir(), "--listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
			"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", freePort(t))}, tc.args...)...)
		out, err := cmd.CombinedOutput()
		cancel()
		if err == nil {
			t.Errorf("%v: started", tc.args)
			continue
		}
		if !strings.Contains(string(out), tc.want) || strings.Contains(string(out), "goroutine ") {
			t.Errorf("%v: output does not name %q cleanly:\n%s", tc.args, tc.want, out)
		}
	}
}

// A three-member cluster over mutually authenticated peer TLS elects,
// replicates and survives a leader kill. Joiners the cluster must refuse
// (a certificate from another CA, no TLS at all, a valid certificate but
// a member's name) each give up on their own (etcd 0.4: a refused join
// exits, -max-retry-attempts bounds the rest) with a line naming why, and
// the cluster never lists them. That the refusal is the reason is shown
// by the control: the same command line with a valid certificate joins.
func TestPeerTLSCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	set := certstest.NewSet(t)
	peerFlags := []string{"--peer-cert-file", set.PeerCert, "--peer-key-file", set.PeerKey,
		"--peer-trusted-ca-file", set.CA.CertFile, "--peer-client-cert-auth"}
	c := startTLSCluster(t, 3, peerFlags)
	if st, _, err := v2do(context.Background(), "PUT", c.members[1].client+"/v2/keys/tls", url.Values{"value": {"1"}}); err != nil || st != 201 {
		t.Fatalf("write: %d %v", st, err)
	}
	ld := c.leader()
	ld.kill()
	nl := c.leader()
	if st, r, err := v2do(context.Background(), "GET", nl.client+"/v2/keys/tls?quorum=true", nil); err != nil || st != 200 || r.Node.Value != "1" {
		t.Fatalf("after the leader kill: %d %+v %v", st, r, err)
	}
	target := strings.TrimPrefix(nl.Args[peerArg(nl.Args)], "https://")
	for _, intruder := range []struct {
		name, as string
		flags    []string
		want     string // in its output
	}{
		{"another CA", "intruder", []string{"--peer-cert-file", set.OtherCert, "--peer-key-file", set.OtherKey, "--peer-trusted-ca-file", set.OtherCA.CertFile}, "TLS rejected"},
		{"plaintext", "intruder", nil, "cannot join the cluster via the peers"},
		{"name taken", c.names[0], peerFlags, "already in the cluster"},
	} {
		p, out := startJoiner(t, intruder.as, target, intruder.flags)
		select {
		case <-p.Done():
		case <-time.After(45 * time.Second):
			t.Fatalf("%s: still trying to join after 45 s (a refused join must fail): %s", intruder.name, out)
		}
		if p.Err() == nil || !strings.Contains(out.String(), intruder.want) {
			t.Errorf("%s: exit %v, want a failure saying %q: %s", intruder.name, p.Err(), intruder.want, out)
		}
		if ids, names := peerTLSMembers(t, nl.client); ids != 3 || strings.Contains(names, `"intruder"`) {
			t.Errorf("%s: the cluster let it in: %s", intruder.name, names)
		}
	}
	// The control: a valid certificate under a new name joins.
	p, out := startJoiner(t, "intruder", target, peerFlags)
	waitFor(t, "the control joiner to be listed", func() bool {
		ids, _ := peerTLSMembers(t, nl.client)
		return ids == 4
	})
	select {
	case <-p.Done():
		t.Fatalf("the control joiner exited: %v: %s", p.Err(), out)
	default:
	}
}

// startJoiner starts a process joining the member at peer (host:port)
// with etcd 0.4's -peers, two rounds 0.2 s apart unless flags (added last)
// say otherwise. A -peers join is etcd 0.x mode, which takes its own
// addresses from -addr and -peer-addr (default 4001 and 7001): free ports
// are given. Its peer side speaks TLS when flags give a certificate.
func startJoiner(t *testing.T, name, peer string, flags []string) (*proctest.Proc, *lockedBuf) {
	t.Helper()
	args := append([]string{"-name", name, "-data-dir", t.TempDir(),
		"-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "-peer-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"-peers", peer, "-max-retry-attempts", "2", "-retry-interval", "0.2"}, flags...)
	cmd := exec.Command(binPath, args...)
	out := &lockedBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	p, err := proctest.Start(t, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return p, out
}

// peerTLSMembers returns how many members /v2/members lists, and the body.
func peerTLSMembers(t *testing.T, client string) (int, string) {
	t.Helper()
	r, err := testClient.Get(client + "/v2/members")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), `"id"`), string(b)
}

// peerArg finds the index of the advertised peer URL in a member's args.
func peerArg(args []string) int {
	for i, a := range args {
		if a == "--initial-advertise-peer-urls" {
			return i + 1
		}
	}
	return 0
}

func startTLSCluster(t *testing.T, n int, peerFlags []string) *procCluster {
	t.Helper()
	c := &procCluster{t: t}
	var ic, clients, peers []string
	for i := 0; i < n; i++ {
		clients = append(clients, fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
		peers = append(peers, fmt.Sprintf("https://127.0.0.1:%d", freePort(t)))
		c.names = append(c.names, fmt.Sprintf("t%d", i))
		ic = append(ic, c.names[i]+"="+peers[i])
	}
	for i := 0; i < n; i++ {
		args := append([]string{"--name", c.names[i], "--data-dir", t.TempDir(),
			"--listen-client-urls", clients[i], "--advertise-client-urls", clients[i],
			"--listen-peer-urls", peers[i], "--initial-advertise-peer-urls", peers[i],
			"--initial-cluster", strings.Join(ic, ",")}, peerFlags...)
		c.members = append(c.members, startProcAsync(t, clients[i], "", args...))
	}
	for _, p := range c.members {
		p.waitUp()
	}
	c.waitHealthy()
	return c
}

// Automatic TLS on both sides: certificates are generated in the data
// dir; clients use HTTPS, peers talk TLS.
func TestAutoTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	c := &procCluster{t: t}
	var ic, clients, peers []string
	for i := 0; i < 3; i++ {
		clients = append(clients, fmt.Sprintf("https://127.0.0.1:%d", freePort(t)))
		peers = append(peers, fmt.Sprintf("https://127.0.0.1:%d", freePort(t)))
		ic = append(ic, fmt.Sprintf("a%d=%s", i, peers[i]))
	}
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	for i := 0; i < 3; i++ {
		c.members = append(c.members, startProcAsync(t, clients[i], dirs[i], "--name", fmt.Sprintf("a%d", i), "--data-dir", dirs[i],
			"--listen-client-urls", clients[i], "--advertise-client-urls", clients[i],
			"--listen-peer-urls", peers[i], "--initial-advertise-peer-urls", peers[i],
			"--initial-cluster", strings.Join(ic, ","), "--auto-tls", "--peer-auto-tls"))
	}
	insecure := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for _, u := range clients {
		waitHTTPS(t, insecure, u)
	}
	waitFor(t, "a write over auto TLS", func() bool {
		st, err := putWith(insecure, clients[2], "/auto", "v")
		return err == nil && (st == 201 || st == 412)
	})
	waitFor(t, "replicated", func() bool {
		r, err := insecure.Get(clients[0] + "/v2/keys/auto?quorum=true")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})
	for _, d := range dirs {
		for _, f := range []string{"fixtures/client/cert.pem", "fixtures/peer/cert.pem"} {
			if _, err := os.Stat(d + "/" + f); err != nil {
				t.Errorf("auto TLS material: %v", err)
			}
		}
	}
}
