package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/proctest"
	"github.com/etcd-classic/etcd-classic/store"
)

// Helpers of the backup and restore process tests.

// answer is one HTTP answer.
type answer struct {
	status int
	header http.Header
	body   string
}

// call sends a request as user ("name:password", "" for none).
func call(t *testing.T, method, u, user, ct, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if name, pw, ok := strings.Cut(user, ":"); ok {
		req.SetBasicAuth(name, pw)
	}
	r, err := testHTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return answer{status: r.StatusCode, header: r.Header, body: string(b)}
}

// mustCall is call that fails the test unless the status is want.
func mustCall(t *testing.T, want int, method, u, user, ct, body string) answer {
	t.Helper()
	a := call(t, method, u, user, ct, body)
	if a.status != want {
		t.Fatalf("%s %s as %q: %d %s, want %d", method, u, user, a.status, a.body, want)
	}
	return a
}

const formCT = "application/x-www-form-urlencoded"

// visible reads /v2/keys/?recursive=true&sorted=true&quorum=true as user
// and returns every node it lists (hidden ones are not listed) as key →
// "dir" or "=value", and the answer's X-Etcd-Index.
func visible(t *testing.T, base, user string) (map[string]string, string) {
	t.Helper()
	a := mustCall(t, 200, "GET", base+"/v2/keys/?recursive=true&sorted=true&quorum=true", user, "", "")
	var ev store.Event
	if err := json.Unmarshal([]byte(a.body), &ev); err != nil || ev.Node == nil {
		t.Fatalf("listing of %s: %v", base, err)
	}
	out := map[string]string{}
	var walk func(n *store.NodeExtern)
	walk = func(n *store.NodeExtern) {
		for _, c := range n.Nodes {
			if c.Dir {
				out[c.Key] = "dir"
				walk(c)
			} else {
				out[c.Key] = "=" + *c.Value
			}
		}
	}
	walk(ev.Node)
	return out, a.header.Get("X-Etcd-Index")
}

// diffVisible reports the differences of two visible trees, at most ten.
func diffVisible(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	bad := 0
	for _, k := range keys {
		if want[k] != got[k] && bad < 10 {
			t.Errorf("%s: %s is %q, want %q", what, k, got[k], want[k])
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d nodes against %d", what, len(got), len(want))
	}
}

// ttlOf returns the remaining TTL of key as user.
func ttlOf(t *testing.T, base, key, user string) int64 {
	t.Helper()
	a := mustCall(t, 200, "GET", base+"/v2/keys"+key, user, "", "")
	var ev store.Event
	if err := json.Unmarshal([]byte(a.body), &ev); err != nil || ev.Node == nil || ev.Node.Expiration == nil {
		t.Fatalf("%s has no TTL: %s", key, a.body)
	}
	return ev.Node.TTL
}

// runTool runs the etcd-classic binary with args and returns its exit
// status and output (stdout and stderr together).
func runTool(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, classicBinary(t), args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return 0, string(out)
}

// newMembers describes n members on fresh ports, named prefix0...,
// with data dirs under dir, and their --initial-cluster.
func newMembers(t *testing.T, prefix, dir string, n int) ([]*proctest.Member, string) {
	t.Helper()
	var ms []*proctest.Member
	var initial []string
	for i := 0; i < n; i++ {
		m := &proctest.Member{Name: fmt.Sprintf("%s%d", prefix, i), Binary: classicBinary(t), T: t}
		for _, u := range []*string{&m.ClientURL, &m.PeerURL} {
			p, err := proctest.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			*u = fmt.Sprintf("http://127.0.0.1:%d", p)
		}
		m.DataDir = filepath.Join(dir, m.Name+".data")
		ms = append(ms, m)
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	return ms, strings.Join(initial, ",")
}

// memberArgs are m's 2.x flags, then extra.
func memberArgs(m *proctest.Member, extra ...string) []string {
	return append([]string{"--name", m.Name, "--data-dir", m.DataDir,
		"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
		"--listen-peer-urls", m.PeerURL, "--initial-advertise-peer-urls", m.PeerURL}, extra...)
}

// waitCluster waits until every member answers, agrees on a leader and
// lists all of them published.
func waitCluster(t *testing.T, ms []*proctest.Member) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := &proctest.Cluster{Members: ms}
	if err := c.WaitReady(ctx); err != nil {
		t.Fatalf("%v\n%s", err, c.Logs())
	}
}
