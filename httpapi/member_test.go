package httpapi

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/raftfsm"
	"github.com/etcd-classic/etcd-classic/store"
)

// Real members for the auth tests: raft over loopback TCP, the log on
// disk in t.TempDir(), this package's API on a loopback HTTP server.
// (Only tests import raftfsm here; the server wires the two in main.)

type realMember struct {
	t         testing.TB
	m         *machines.Member
	dir       string
	clientURL string
	mod       func(*raftfsm.Config)
	apiMod    func(*Config)
	initial   []*machines.Member
	cid       uint64

	st   *store.Store
	node *raftfsm.Node
	api  *API
	srv  *http.Server
	done chan struct{}
}

// startMembers boots an n-member cluster; mod adjusts each member's raft
// configuration and apiMod its API's (both may be nil).
func startMembers(t testing.TB, n int, mod func(*raftfsm.Config), apiMod func(*Config)) []*realMember {
	t.Helper()
	var ms []*realMember
	var peers []net.Listener
	for i := 0; i < n; i++ {
		pl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, pl)
		m := &machines.Member{Name: "m" + string(rune('0'+i)), PeerURLs: []string{"http://" + pl.Addr().String()}}
		m.ID = machines.NewMemberID(m.PeerURLs, "auth-test", nil)
		ms = append(ms, &realMember{t: t, m: m, dir: t.TempDir(), mod: mod, apiMod: apiMod})
	}
	var initial []*machines.Member
	var ids []uint64
	for _, rm := range ms {
		initial = append(initial, rm.m)
		ids = append(ids, rm.m.ID)
	}
	cid := machines.NewClusterID(ids)
	for i, rm := range ms {
		rm.initial, rm.cid = initial, cid
		rm.start(peers[i], nil)
	}
	for _, rm := range ms {
		rm.waitServing()
	}
	return ms
}

// start opens the member's raft node (on peerLn, or its peer address
// again) and serves its API (on clientLn, or its client address again).
func (rm *realMember) start(peerLn, clientLn net.Listener) {
	t := rm.t
	t.Helper()
	var err error
	if peerLn == nil {
		peerLn = relisten(t, machines.HostPort(rm.m.PeerURLs[0]))
	}
	if clientLn == nil {
		addr := "127.0.0.1:0"
		if rm.clientURL != "" {
			addr = strings.TrimPrefix(rm.clientURL, "http://")
		}
		clientLn = relisten(t, addr)
	}
	rm.clientURL = "http://" + clientLn.Addr().String()
	log := logrus.New()
	log.SetOutput(testWriter{t})
	entry := logrus.NewEntry(log).WithField("node", rm.m.Name)
	rm.st = store.New()
	cfg := raftfsm.Config{ID: rm.m.ID, Name: rm.m.Name, DataDir: rm.dir, PeerListener: peerLn,
		PeerURLs: rm.m.PeerURLs, ClientURLs: []string{rm.clientURL}, InitialMembers: rm.initial, ClusterID: rm.cid,
		Store: rm.st, Log: entry, ElectionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond}
	if rm.mod != nil {
		rm.mod(&cfg)
	}
	rm.node, err = raftfsm.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	acfg := Config{Store: rm.st, Node: rm.node, Log: entry, ServerVersion: "2.3.8", ClusterVersion: "2.3.0", BcryptCost: 4}
	if rm.apiMod != nil {
		rm.apiMod(&acfg)
	}
	rm.api = New(acfg)
	rm.srv = &http.Server{Handler: rm.api, ReadHeaderTimeout: 10 * time.Second}
	rm.done = make(chan struct{})
	go func(srv *http.Server, ln net.Listener, done chan struct{}) {
		defer close(done)
		_ = srv.Serve(ln)
	}(rm.srv, clientLn, rm.done)
	t.Cleanup(rm.stop)
}

// relisten listens on addr, retrying briefly while a just-closed socket
// of ours still holds it.
func relisten(t testing.TB, addr string) net.Listener {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln
		}
		if time.Now().After(deadline) {
			t.Fatalf("listen %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

// stop shuts the member down (idempotent).
func (rm *realMember) stop() {
	if rm.node == nil {
		return
	}
	rm.api.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = rm.srv.Shutdown(ctx)
	<-rm.done
	_ = rm.node.Close()
	rm.node = nil
}

// restart stops the member and starts it again from its data dir.
func (rm *realMember) restart() {
	rm.t.Helper()
	rm.stop()
	rm.start(nil, nil)
	rm.waitServing()
}

// waitServing waits until the member knows a leader and has applied the
// cluster's first entries.
func (rm *realMember) waitServing() {
	rm.t.Helper()
	waitUntil(rm.t, rm.m.Name+" serving", func() bool {
		_, ok := rm.node.LeaderID()
		return ok && rm.st.Index() >= 2
	})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitUntil polls cond until it holds or a generous deadline passes.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// leader returns the member that leads, waiting for one.
func leader(t testing.TB, ms []*realMember) *realMember {
	t.Helper()
	var l *realMember
	waitUntil(t, "a leader", func() bool {
		for _, rm := range ms {
			if rm.node != nil && rm.node.IsLeader() {
				l = rm
				return true
			}
		}
		return false
	})
	return l
}

// call sends one request; user is "name:password" ("" for none), ct the
// content type ("" for none).
func call(t testing.TB, base, method, path, user, ct, body string) resp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if user != "" {
		name, pw, _ := strings.Cut(user, ":")
		req.SetBasicAuth(name, pw)
	}
	r, err := noRedirectClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return resp{status: r.StatusCode, header: r.Header, body: string(b)}
}

// must sends a request and fails the test unless the status is want.
func must(t testing.TB, base, method, path, user, ct, body string, want int) resp {
	t.Helper()
	r := call(t, base, method, path, user, ct, body)
	if r.status != want {
		t.Fatalf("%s %s%s as %q: %d %s, want %d", method, base, path, user, r.status, r.body, want)
	}
	return r
}

const (
	ctJSON = "application/json"
	ctForm = "application/x-www-form-urlencoded"
)
