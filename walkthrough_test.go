package main

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/internal/proctest"
)

// walkMember is a member started the way etcd 0.1's README starts one, in
// the working directory dir.
type walkMember struct {
	p   *proctest.Proc
	log *lockedBuf
}

func startWalkMember(t *testing.T, dir string, args ...string) *walkMember {
	t.Helper()
	m := &walkMember{log: &lockedBuf{}}
	cmd := exec.Command(binPath, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = m.log, m.log
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("member log:\n%s", m.log.String())
		}
	})
	p, err := proctest.Start(t, cmd)
	if err != nil {
		t.Fatal(err)
	}
	m.p = p
	return m
}

// stop ends the member as an operator would (SIGTERM), killing it if it
// does not stop within 10s.
func (m *walkMember) stop() {
	_ = m.p.Signal(syscall.SIGTERM)
	select {
	case <-m.p.Done():
	case <-time.After(10 * time.Second):
		m.p.Kill()
	}
}

// curlL is `curl -L url [-d k=v ...] [-X method]`: it follows redirects
// and returns the body.
func curlL(t *testing.T, method, u string, form ...string) (int, string) {
	t.Helper()
	var body io.Reader
	if len(form) > 0 {
		body = strings.NewReader(strings.Join(form, "&"))
		if method == "" {
			method = http.MethodPost
		}
	}
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if len(form) > 0 {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestSeedWalkthroughV01 runs the walkthrough of etcd v0.1.0's README, the
// seed this project starts from, against the real binary started as the
// README starts etcd (bare ports, a relative data dir) with
// --v1-dialect=0.1, and checks every answer byte for byte. Indexes start at
// 3: the member's registration and the cluster record come first, as in
// the README.
//
// Slow (about 6 s): the README's key lives 5 s, and the test waits for
// the leader to expire it; then it restarts the member.
func TestSeedWalkthroughV01(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary (skipped under -short)")
	}
	t.Parallel()
	dir := t.TempDir()
	cp, pp := freePort(t), freePort(t)
	ep := fmt.Sprintf("http://127.0.0.1:%d", cp)
	// ./etcd -s 7001 -c 4001 -d nodes/node1
	args := []string{"-s", strconv.Itoa(pp), "-c", strconv.Itoa(cp), "-d", "nodes/node1", "--v1-dialect=0.1"}
	m := startWalkMember(t, dir, args...)
	waitFor(t, "the member registers itself", func() bool {
		r, err := testClient.Get(ep + "/v1/keys/_etcd/machines")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})
	for _, w := range []string{"[deprecated] use -peer-addr, not -s", "[deprecated] use -addr, not -c", "[deprecated] use -data-dir, not -d"} {
		if !strings.Contains(m.log.String(), w) {
			t.Errorf("no %q on stderr", w)
		}
	}

	type step struct {
		method, path string
		form         []string
		status       int
		want         string
	}
	run := func(steps []step) {
		t.Helper()
		for i, s := range steps {
			status, body := curlL(t, s.method, ep+s.path, s.form...)
			if status != s.status || body != s.want {
				t.Errorf("step %d %s %s %v:\ngot  %d %s\nwant %d %s", i, s.method, s.path, s.form, status, body, s.status, s.want)
			}
		}
	}
	registry := fmt.Sprintf(`etcd=http%%3A%%2F%%2F127.0.0.1%%3A%d\u0026raft=http%%3A%%2F%%2F127.0.0.1%%3A%d`, cp, pp)
	run([]step{
		// curl -L http://127.0.0.1:4001/v1/keys/foo -d value=bar
		{"", "/v1/keys/foo", []string{"value=bar"}, 200, `{"action":"SET","key":"/foo","value":"bar","newKey":true,"index":3}`},
		{"", "/v1/keys/foo", nil, 200, `{"action":"GET","key":"/foo","value":"bar","index":3}`},
		// Atomic Test and Set.
		{"", "/v1/keys/testAndSet", []string{"value=one"}, 200, `{"action":"SET","key":"/testAndSet","value":"one","newKey":true,"index":4}`},
		{"", "/v1/keys/testAndSet", []string{"prevValue=two", "value=three"}, 400, `{"errorCode":101,"message":"The given PrevValue is not equal to the value of the key","cause":"TestAndSet: one!=two"}`},
		{"", "/v1/keys/testAndSet", []string{"prevValue=one", "value=two"}, 200, `{"action":"SET","key":"/testAndSet","prevValue":"one","value":"two","index":6}`},
		{"", "/v1/keys/testAndSet", nil, 200, `{"action":"GET","key":"/testAndSet","value":"two","index":6}`},
		// Clustering: the machine list, the registry, the leader.
		{"", "/machines", nil, 200, ep},
		{"", "/leader", nil, 200, fmt.Sprintf("http://127.0.0.1:%d", pp)},
		{"", "/v1/keys/_etcd/machines", nil, 200, `{"action":"GET","key":"/_etcd/machines/node1","value":"` + registry + `","index":6}`},
		{"", "/", nil, 200, "etcd v0.1.0"},
	})

	// Using key TTL: the answer shows the expiration and the seconds left,
	// rounded down; once expired, the key is the README's 404.
	status, body := curlL(t, "", ep+"/v1/keys/foo", "value=bar", "ttl=5")
	ttlRe := regexp.MustCompile(`^\{"action":"SET","key":"/foo","prevValue":"bar","value":"bar","expiration":"([^"]+)","ttl":4,"index":7\}$`)
	sub := ttlRe.FindStringSubmatch(body)
	if status != 200 || sub == nil {
		t.Fatalf("set with ttl: %d %s", status, body)
	}
	exp, err := time.Parse(time.RFC3339Nano, sub[1])
	if err != nil || time.Until(exp) > 5*time.Second || time.Until(exp) < 0 {
		t.Errorf("expiration %q (%v) is not within the next 5s", sub[1], err)
	}
	waitFor(t, "/foo expires", func() bool {
		status, body = curlL(t, "", ep+"/v1/keys/foo")
		return status == 404
	})
	if want := `{"errorCode":100,"message":"Key Not Found","cause":"/foo"}`; body != want {
		t.Errorf("expired key: %s, want %s", body, want)
	}

	// Watching a prefix: the expiry took no index, so the next write is 8.
	watch := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, ep+"/v1/watch/foo", nil)
		r, err := testClient.Do(req)
		if err != nil {
			watch <- err.Error()
			return
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		watch <- string(b)
	}()
	// The watch sends nothing before its event: wait for it to be there.
	waitFor(t, "the watch is registered", func() bool {
		_, b := curlL(t, "", ep+"/v1/stats/store")
		return strings.Contains(b, `"watchers":1`)
	})
	setFooFoo := `{"action":"SET","key":"/foo/foo","value":"barbar","newKey":true,"index":8}`
	run([]step{{"", "/v1/keys/foo/foo", []string{"value=barbar"}, 200, setFooFoo}})
	select {
	case got := <-watch:
		if got != setFooFoo {
			t.Errorf("watch: %s, want %s", got, setFooFoo)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not fire")
	}
	run([]step{
		// Watching from an index answers at once.
		{"", "/v1/watch/foo", []string{"index=8"}, 200, setFooFoo},
		// Listing a directory.
		{"", "/v1/keys/foo/foo_dir/bar", []string{"value=barbarbar"}, 200, `{"action":"SET","key":"/foo/foo_dir/bar","value":"barbarbar","newKey":true,"index":9}`},
		{"", "/v1/keys/foo/", nil, 200, `[{"action":"GET","key":"/foo/foo","value":"barbar","index":9},{"action":"GET","key":"/foo/foo_dir","dir":true,"index":9}]`},
		// Delete a key.
		{"DELETE", "/v1/keys/foo/foo", nil, 200, `{"action":"DELETE","key":"/foo/foo","prevValue":"barbar","index":10}`},
	})

	// Testing persistence: restart with the same command; the keys and
	// the index are there.
	m.stop()
	startWalkMember(t, dir, args...)
	waitFor(t, "the restarted member answers", func() bool {
		r, err := testClient.Get(ep + "/v1/leader")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})
	run([]step{
		{"", "/v1/keys/testAndSet", nil, 200, `{"action":"GET","key":"/testAndSet","value":"two","index":10}`},
		{"", "/v1/keys/foo/foo_dir/bar", nil, 200, `{"action":"GET","key":"/foo/foo_dir/bar","value":"barbarbar","index":10}`},
	})
}
