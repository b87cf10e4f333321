package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/server"
)

// newClusterConfigs describes the n members of a new cluster on loopback
// (peer ports bound now, client ports picked at start), none started.
func newClusterConfigs(t *testing.T, n int) []server.Config {
	t.Helper()
	var initial []server.InitialMember
	var cfgs []server.Config
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() }) // closed by the member once started
		name := fmt.Sprintf("m%d", i)
		initial = append(initial, server.InitialMember{Name: name, PeerURLs: []string{"http://" + ln.Addr().String()}})
		cfgs = append(cfgs, server.Config{Name: name, DataDir: t.TempDir(), PeerListener: ln,
			ListenClientURLs: []string{"http://127.0.0.1:0"}, InitialClusterToken: "ready-test",
			ElectionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond, Log: testLogger(t, name)})
	}
	for i := range cfgs {
		cfgs[i].InitialCluster = initial
	}
	return cfgs
}

// startMember starts cfg and stops it when the test ends.
func startMember(t *testing.T, cfg server.Config) *server.Member {
	t.Helper()
	m, err := server.Start(cfg)
	if err != nil {
		t.Fatalf("start %s: %v", cfg.Name, err)
	}
	t.Cleanup(m.Stop)
	return m
}

// freeURL is an http URL on a loopback port that was free a moment ago.
func freeURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "http://" + ln.Addr().String()
}

// answer is one HTTP answer (or the error instead).
type answer struct {
	status int
	body   string
	err    error
}

// getAsync sends GET u with client and delivers the answer.
func getAsync(client *http.Client, u string) <-chan answer {
	ch := make(chan answer, 1)
	go func() {
		r, err := client.Get(u)
		if err != nil {
			ch <- answer{err: err}
			return
		}
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		ch <- answer{status: r.StatusCode, body: string(b), err: err}
	}()
	return ch
}

// A member of a new three-member cluster started alone has no quorum: its
// client port accepts the connection but does not answer, while its
// metrics URL answers /health false at once (etcd 3.4 alike). Once a
// second member gives it a quorum, the request that waited is answered,
// and the answer lists the member with its client URL. The third member
// never starts: the two others wait for it to publish itself for two
// election timeouts at most.
//
//	curl http://127.0.0.1:2379/v2/members   # waits until the member is ready
func TestClientPortOpensWhenReady(t *testing.T) {
	t.Parallel()
	cfgs := newClusterConfigs(t, 3)
	cfgs[2].PeerListener.Close() // m2 never starts: its peers are refused
	metrics := freeURL(t)
	cfgs[0].ListenMetricsURLs = []string{metrics}
	m0 := startMember(t, cfgs[0])
	client := m0.ClientURLs()[0]
	quick := &http.Client{Timeout: 10 * time.Second}

	r, err := quick.Get(metrics + "/health")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusServiceUnavailable || string(b) != `{"health":"false"}`+"\n" {
		t.Errorf("/health on the metrics URL without a quorum: %d %s", r.StatusCode, b)
	}
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(client, "http://"), 5*time.Second)
	if err != nil {
		t.Fatalf("the client port refuses connections before the member is ready: %v", err)
	}
	conn.Close()

	waiting := getAsync(&http.Client{Timeout: time.Minute}, client+"/v2/members")
	select {
	case a := <-waiting:
		t.Fatalf("answered without a quorum: %d %s %v", a.status, a.body, a.err)
	case <-time.After(1500 * time.Millisecond): // the gap without an answer
	}
	start := time.Now()
	startMember(t, cfgs[1])
	a := <-waiting
	var list struct {
		Members []struct {
			Name       string   `json:"name"`
			ClientURLs []string `json:"clientURLs"`
		} `json:"members"`
	}
	if a.err != nil || a.status != http.StatusOK || json.Unmarshal([]byte(a.body), &list) != nil {
		t.Fatalf("the waiting request: %d %s %v", a.status, a.body, a.err)
	}
	listed := false
	for _, mb := range list.Members {
		listed = listed || mb.Name == "m0" && len(mb.ClientURLs) == 1 && mb.ClientURLs[0] == client
	}
	if !listed {
		t.Errorf("the first answer does not list m0 with %s: %s", client, a.body)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("answered %v after the quorum; want the wait for m2 to publish (2 election timeouts) first", took)
	}
	r, err = quick.Get(client + "/health")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusOK || string(b) != `{"health":"true"}` {
		t.Errorf("/health once ready: %d %s", r.StatusCode, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m0.WaitReady(ctx); err != nil {
		t.Errorf("WaitReady once it answers: %v", err)
	}
}

// A member stopped before it is ready closes its client port: the
// request that waited fails, Stop returns, and later connections are
// refused.
func TestStopBeforeReady(t *testing.T) {
	t.Parallel()
	cfgs := newClusterConfigs(t, 3)
	cfgs[1].PeerListener.Close() // only m0 starts
	cfgs[2].PeerListener.Close()
	m0 := startMember(t, cfgs[0])
	client := m0.ClientURLs()[0]
	waiting := getAsync(&http.Client{Timeout: time.Minute}, client+"/v2/keys/")
	select {
	case a := <-waiting:
		t.Fatalf("answered without a quorum: %d %s %v", a.status, a.body, a.err)
	case <-time.After(500 * time.Millisecond): // the gap without an answer
	}
	stopped := make(chan struct{})
	go func() { m0.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("Stop of a member that is not ready did not return")
	}
	if a := <-waiting; a.err == nil {
		t.Errorf("the waiting request was answered after Stop: %d %s", a.status, a.body)
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(client, "http://"), 5*time.Second); err == nil {
		c.Close()
		t.Error("the client port still accepts connections after Stop")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := m0.WaitReady(ctx); err == nil {
		t.Error("WaitReady of a member stopped before it was ready returned nil")
	}
}

// testLogger routes a member's logs to the test.
func testLogger(t *testing.T, name string) *logrus.Entry {
	l := logrus.New()
	l.SetOutput(logWriter{t})
	return logrus.NewEntry(l).WithField("member", name)
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
