// Package servertest starts full members of etcd-classic in-process, for
// tests: server.Start with raft over loopback TCP, the data in
// t.TempDir(), the client API on a loopback HTTP port, logs routed to the
// test. Cluster bootstraps n members at once; a member can be stopped and
// restarted on the same data and ports. Every member is stopped before its
// test returns. (Process tests start the built binary instead: proctest.)
package servertest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/httpapi"
	"github.com/etcd-classic/etcd-classic/server"
)

// Client is the HTTP client of the harness: every request has a deadline.
var Client = &http.Client{Timeout: 30 * time.Second}

// Member is one member started in-process.
type Member struct {
	Name    string
	PeerURL string // the same across restarts
	DataDir string

	t   testing.TB
	cfg server.Config
	m   *server.Member // nil while stopped
}

// Cluster is a set of members bootstrapped together.
type Cluster struct {
	Members []*Member
}

// Option adjusts member i's configuration before its first start.
type Option func(i int, cfg *server.Config)

// NewCluster starts n members named m0, m1, ... as one new cluster (fast
// raft timings, strict reconfiguration checks) and waits until every one
// knows the leader and serves reads. They stop when the test ends.
func NewCluster(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	c := &Cluster{}
	var initial []server.InitialMember
	var peers []net.Listener
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, ln)
		mb := &Member{Name: fmt.Sprintf("m%d", i), PeerURL: "http://" + ln.Addr().String(), DataDir: t.TempDir(), t: t}
		initial = append(initial, server.InitialMember{Name: mb.Name, PeerURLs: []string{mb.PeerURL}})
		c.Members = append(c.Members, mb)
	}
	for i, mb := range c.Members {
		mb.cfg = server.Config{Name: mb.Name, DataDir: mb.DataDir,
			ListenClientURLs: []string{"http://127.0.0.1:0"}, AdvertisePeerURLs: []string{mb.PeerURL},
			InitialCluster: initial, InitialClusterToken: "servertest", StrictReconfigCheck: true,
			ElectionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond,
			API: serverAPI(), Log: testLog(t, mb.Name)}
		for _, o := range opts {
			o(i, &mb.cfg)
		}
		mb.start(peers[i])
	}
	c.WaitReady(t)
	return c
}

// start starts the member on peerLn (nil: its peer address again).
func (mb *Member) start(peerLn net.Listener) {
	t := mb.t
	t.Helper()
	if peerLn == nil {
		peerLn = relisten(t, strings.TrimPrefix(mb.PeerURL, "http://"))
	}
	cfg := mb.cfg
	cfg.PeerListener = peerLn
	m, err := server.Start(cfg)
	if err != nil {
		t.Fatalf("start %s: %v", mb.Name, err)
	}
	mb.m = m
	// Restarts keep the client port the first start bound.
	mb.cfg.ListenClientURLs = m.ClientURLs()
	t.Cleanup(mb.Stop)
}

// Stop stops the member (a graceful stop: its data stays). It is
// idempotent.
func (mb *Member) Stop() {
	if mb.m != nil {
		mb.m.Stop()
		mb.m = nil
	}
}

// Restart starts a stopped member again on its data dir and ports, and
// waits until it serves reads.
func (mb *Member) Restart(t testing.TB) {
	t.Helper()
	mb.Stop()
	mb.start(nil)
	waitReady(t, mb)
}

// RestartWith stops the member, lets change adjust its configuration
// (kept for later restarts) and starts it again on its data dir and
// ports, waiting until it serves reads.
func (mb *Member) RestartWith(t testing.TB, change func(cfg *server.Config)) {
	t.Helper()
	mb.Stop()
	change(&mb.cfg)
	mb.start(nil)
	waitReady(t, mb)
}

// Running reports whether the member is started.
func (mb *Member) Running() bool { return mb.m != nil }

// ClientURL is the member's client URL (port bound at its first start).
func (mb *Member) ClientURL() string { return mb.cfg.ListenClientURLs[0] }

// Server is the running server.Member (nil while stopped).
func (mb *Member) Server() *server.Member { return mb.m }

// Do sends a request with form values to the member's client API and
// returns the status and body.
func (mb *Member) Do(t testing.TB, method, path string, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, mb.ClientURL()+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, path, mb.Name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// Leader is the member whose client API says it leads (polled).
func (c *Cluster) Leader(t testing.TB) *Member {
	t.Helper()
	var found *Member
	Eventually(t, "a leader", func() bool {
		for _, mb := range c.Members {
			if mb.Running() && isLeader(mb) {
				found = mb
				return true
			}
		}
		return false
	})
	return found
}

// Followers are the running members other than the leader.
func (c *Cluster) Followers(t testing.TB) []*Member {
	t.Helper()
	ld := c.Leader(t)
	var out []*Member
	for _, mb := range c.Members {
		if mb != ld && mb.Running() {
			out = append(out, mb)
		}
	}
	return out
}

// WaitReady waits until every running member knows a leader and serves
// reads.
func (c *Cluster) WaitReady(t testing.TB) {
	t.Helper()
	for _, mb := range c.Members {
		if mb.Running() {
			waitReady(t, mb)
		}
	}
}

// waitReady waits until mb serves reads and names a leader.
func waitReady(t testing.TB, mb *Member) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := mb.m.WaitReady(ctx); err != nil {
		t.Fatalf("%s not ready: %v", mb.Name, err)
	}
	Eventually(t, mb.Name+" knows the leader", func() bool {
		resp, err := Client.Get(mb.ClientURL() + "/v2/members/leader")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// isLeader asks mb's /v2/stats/self whether it leads.
func isLeader(mb *Member) bool {
	resp, err := Client.Get(mb.ClientURL() + "/v2/stats/self")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(b), `"state":"StateLeader"`)
}

// Eventually polls cond until it holds, failing the test after 30s.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serverAPI is the client API's configuration of a test member.
func serverAPI() httpapi.Config {
	return httpapi.Config{ServerVersion: "2.3.8", ClusterVersion: "2.3.0"}
}

// relisten listens on addr again, retrying briefly while the socket of
// the member's last run is still being released.
func relisten(t testing.TB, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	Eventually(t, "the peer port "+addr+" again", func() bool {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	return ln
}

// testLog routes a member's logs to the test (shown for failing tests).
func testLog(t testing.TB, name string) *logrus.Entry {
	l := logrus.New()
	l.SetOutput(testWriter{t})
	return logrus.NewEntry(l).WithField("member", name)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
