package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/proctest"
)

// A start-up script runs etcdctl (v2) the moment it has started the
// members: every command works on its first answered attempt — for a
// fresh one- and three-member cluster, all three members restarted, a
// member joining with -C, a proxy and a learner. The script retries only
// while the connection is refused (the process has not bound its port
// yet). The same holds for plain HTTP: the first answer of /v2/members
// lists the member with its client URL, /health is true, /v2/machines
// lists the URL. (Before, a fresh member answered at once with an empty
// member list: "etcd cluster has no published client endpoints".)
//
//	./etcd-classic --name solo ... & ETCDCTL_API=2 etcdctl member list
//
// etcdctl gets generous --timeout and --total-timeout: a fresh cluster
// needs its first election (1–2 s with the default 1 s election timeout),
// which on a loaded machine can pass etcdctl's default 2 s per request.
//
// About 6 s: five clusters are started, one of them twice.
func TestEtcdctlAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	ctl, err := exec.LookPath("etcdctl")
	if err != nil {
		t.Skip("SKIPPED: etcdctl is not installed (apt-get install -y etcd-client; .ci/run installs it), so the etcdctl-at-start test did not run")
	}
	t.Run("fresh member", func(t *testing.T) {
		ms := launchNewCluster(t, 1)
		checkAtStart(t, ctl, "fresh1", ms[0].client, ms[0])
	})
	t.Run("fresh cluster of three, then all restarted", func(t *testing.T) {
		ms := launchNewCluster(t, 3)
		checkAtStart(t, ctl, "fresh3", ms[0].client, ms[0], ms[1], ms[2])
		for _, m := range ms {
			m.kill()
		}
		for _, m := range ms {
			m.restart()
		}
		checkAtStart(t, ctl, "restarted", ms[1].client, ms[1], ms[0], ms[2])
	})
	t.Run("join with -C", func(t *testing.T) {
		dir := t.TempDir()
		first, firstPeer := legacyMember(t, dir, "node1", "")
		first.start()
		joiner, _ := legacyMember(t, dir, "node2", firstPeer)
		if err := joiner.launch(); err != nil {
			t.Fatal(err)
		}
		checkAtStart(t, ctl, "joined", joiner.client, joiner)
	})
	t.Run("proxy", func(t *testing.T) {
		ms := launchNewCluster(t, 1)
		px := freeURL(t)
		proxy := startProcAsync(t, px, "", "--proxy", "on", "--name", "proxy", "--data-dir", filepath.Join(t.TempDir(), "proxy"),
			"--listen-client-urls", px, "--initial-cluster", ms[0].Name+"="+ms[0].PeerURL)
		checkAtStart(t, ctl, "proxied", proxy.client, ms[0])
	})
	t.Run("learner", func(t *testing.T) {
		ms := launchNewCluster(t, 1)
		ms[0].waitUp()
		learner := addLearner(t, ms[0])
		checkAtStart(t, ctl, "learner", learner.client, learner)
	})
}

// launchNewCluster launches n members of a new cluster at once (etcd 2.x
// flags) and does not wait for them.
func launchNewCluster(t *testing.T, n int) []*proc {
	t.Helper()
	dir := t.TempDir()
	var initial, clients, peers []string
	for i := 0; i < n; i++ {
		clients, peers = append(clients, freeURL(t)), append(peers, freeURL(t))
		initial = append(initial, fmt.Sprintf("m%d=%s", i, peers[i]))
	}
	var ms []*proc
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("m%d", i)
		p := startProcAsync(t, clients[i], filepath.Join(dir, name), memberArgs(name, filepath.Join(dir, name), clients[i], peers[i],
			strings.Join(initial, ","), "new")...)
		p.Name, p.PeerURL = name, peers[i]
		ms = append(ms, p)
	}
	return ms
}

// memberArgs is the etcd 2.x command line of one member.
func memberArgs(name, dataDir, client, peer, initial, state string) []string {
	return []string{"--name", name, "--data-dir", dataDir,
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", initial, "--initial-cluster-state", state}
}

// legacyMember describes a member started with etcd 0.x's flags, joining
// the member at peer address join unless it is empty; it returns the
// member and its own peer address.
func legacyMember(t *testing.T, dir, name, join string) (*proc, string) {
	cport, sport := freePort(t), freePort(t)
	args := []string{"-n", name, "-c", strconv.Itoa(cport), "-s", strconv.Itoa(sport), "-d", filepath.Join(dir, name)}
	if join != "" {
		args = append(args, "-C", join)
	}
	p := newProc(t, fmt.Sprintf("http://127.0.0.1:%d", cport), filepath.Join(dir, name), args)
	p.Name = name
	return p, fmt.Sprintf("127.0.0.1:%d", sport)
}

// addLearner adds a learner to the cluster of member (POST /v2/members)
// and launches it without waiting.
func addLearner(t *testing.T, member *proc) *proc {
	t.Helper()
	client, peer := freeURL(t), freeURL(t)
	req, _ := http.NewRequest(http.MethodPost, member.client+"/v2/members", strings.NewReader(`{"peerURLs":["`+peer+`"],"isLearner":true}`))
	req.Header.Set("Content-Type", "application/json")
	r, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("adding a learner: %d %s", r.StatusCode, b)
	}
	dataDir := filepath.Join(t.TempDir(), "learner")
	initial := member.Name + "=" + member.PeerURL + ",learner=" + peer
	p := startProcAsync(t, client, dataDir, memberArgs("learner", dataDir, client, peer, initial, "existing")...)
	p.Name, p.PeerURL = "learner", peer
	return p
}

// freeURL is an http URL on a loopback port that was free a moment ago.
func freeURL(t *testing.T) string { return fmt.Sprintf("http://127.0.0.1:%d", freePort(t)) }

// checkAtStart runs, all at once, etcdctl's commands against endpoint and
// the HTTP probes against every member's client URL, each retried only
// while its connection is refused, and checks every first answer. The
// first of members is the one the commands must find listed (for a
// proxy: the member behind it); keys live under /atstart/<tag>.
func checkAtStart(t *testing.T, ctl, tag, endpoint string, members ...*proc) {
	t.Helper()
	self := members[0]
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}
	run := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	key, dir := "/atstart/"+tag+"/k", "/atstart/"+tag+"/d"
	run(func() { // set, get, and a watch from the set's index
		if out, err := ctlAtStart(t, ctl, endpoint, "set", key, "v1"); err != nil || out != "v1\n" {
			fail("set: %v\n%s", err, out)
			return
		}
		// etcdctl syncs its endpoints and picks one at random for each
		// command: the get may go to another member than the set did.
		// Read-your-writes holds on the member that answered, not across
		// members (as in etcd), so the reads that follow a write ask
		// for a quorum read.
		out, err := ctlAtStart(t, ctl, endpoint, "-o", "extended", "get", "--quorum", key)
		idx := regexp.MustCompile(`Modified-Index: (\d+)`).FindStringSubmatch(out)
		if err != nil || idx == nil || !strings.HasSuffix(out, "\nv1\n") {
			fail("get: %v\n%s", err, out)
			return
		}
		n, _ := strconv.Atoi(idx[1])
		if out, err := ctlAtStart(t, ctl, endpoint, "watch", "--after-index", strconv.Itoa(n-1), key); err != nil || out != "v1\n" {
			fail("watch --after-index %d: %v\n%s", n-1, err, out)
		}
	})
	run(func() { // mk, then ls of its directory
		if out, err := ctlAtStart(t, ctl, endpoint, "mk", dir+"/m", "v2"); err != nil || out != "v2\n" {
			fail("mk: %v\n%s", err, out)
			return
		}
		if out, err := ctlAtStart(t, ctl, endpoint, "ls", "--quorum", dir); err != nil || out != dir+"/m\n" {
			fail("ls: %v\n%s", err, out)
		}
	})
	run(func() {
		out, err := ctlAtStart(t, ctl, endpoint, "member", "list")
		if err != nil || !strings.Contains(out, "name="+self.Name+" ") || !strings.Contains(out, "clientURLs="+self.client+" ") {
			fail("member list (want %s with %s): %v\n%s", self.Name, self.client, err, out)
		}
	})
	run(func() {
		out, err := ctlAtStart(t, ctl, endpoint, "cluster-health")
		if err != nil || !strings.Contains(out, "got healthy result from "+self.client+"\n") || !strings.HasSuffix(out, "cluster is healthy\n") {
			fail("cluster-health: %v\n%s", err, out)
		}
	})
	probes := []*proc{self}
	if endpoint == self.client {
		probes = members
	}
	for _, m := range probes {
		run(func() {
			if err := probeAtStart(m.client, m.Name); err != nil {
				fail("%s: %v", m.Name, err)
			}
		})
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
}

// ctlAtStart runs etcdctl in v2 mode against endpoint, again only while
// its connection is refused, and returns the first answered attempt's
// output and error. It gives up after a minute; an etcdctl that has not
// ended after 90 s is killed.
func ctlAtStart(t *testing.T, ctl, endpoint string, args ...string) (string, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		cmd := exec.Command(ctl, append([]string{"--endpoints", endpoint, "--timeout", "30s", "--total-timeout", "60s"}, args...)...)
		cmd.Env = append(cleanEnv(), "ETCDCTL_API=2")
		var out lockedBuf
		cmd.Stdout, cmd.Stderr = &out, &out
		p, err := proctest.Start(t, cmd)
		if err != nil {
			return "", err
		}
		select {
		case <-p.Done():
			err = p.Err()
		case <-time.After(90 * time.Second):
			p.Kill()
			err = errors.New("etcdctl did not end within 90 s")
		}
		if err != nil && strings.Contains(out.String(), "connect: connection refused") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond) // polling interval until the port is bound
			continue
		}
		return out.String(), err
	}
}

// cleanEnv is this process's environment without etcd's and etcdctl's
// variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCDCTL_") && !strings.HasPrefix(kv, "ETCD_") {
			env = append(env, kv)
		}
	}
	return env
}

// atStartClient waits long for an answer: a member answers once it is
// ready.
var atStartClient = &http.Client{Timeout: time.Minute}

// probeAtStart checks the first answers of /v2/members, /health and
// /v2/machines at client, each asked again only while its connection is
// refused: name is listed with client, the member is healthy.
func probeAtStart(client, name string) error {
	get := func(path string) (int, string, error) {
		deadline := time.Now().Add(time.Minute)
		for {
			r, err := atStartClient.Get(client + path)
			if errors.Is(err, syscall.ECONNREFUSED) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond) // polling interval until the port is bound
				continue
			}
			if err != nil {
				return 0, "", err
			}
			b, err := io.ReadAll(r.Body)
			r.Body.Close()
			return r.StatusCode, string(b), err
		}
	}
	st, body, err := get("/v2/members")
	var list struct {
		Members []struct {
			Name       string   `json:"name"`
			ClientURLs []string `json:"clientURLs"`
		} `json:"members"`
	}
	if err != nil || st != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil {
		return fmt.Errorf("/v2/members: %d %v %s", st, err, body)
	}
	listed := false
	for _, m := range list.Members {
		listed = listed || m.Name == name && len(m.ClientURLs) > 0 && m.ClientURLs[0] == client
	}
	if !listed {
		return fmt.Errorf("/v2/members does not list %s with %s: %s", name, client, body)
	}
	if st, body, err := get("/health"); err != nil || st != http.StatusOK || body != `{"health":"true"}` {
		return fmt.Errorf("/health: %d %v %s", st, err, body)
	}
	if st, body, err := get("/v2/machines"); err != nil || st != http.StatusOK || !strings.Contains(body, client) {
		return fmt.Errorf("/v2/machines: %d %v %s", st, err, body)
	}
	return nil
}
