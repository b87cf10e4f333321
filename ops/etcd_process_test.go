package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/internal/proctest"
	"github.com/etcd-classic/etcd-classic/store"
)

// realEtcd is Debian's etcd 3.4 (package etcd-server); the process tests
// skip without it.
const realEtcd = "/usr/bin/etcd"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// classicBinary builds the etcd-classic binary once per test run, as
// the root package's process tests do.
func classicBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := proctest.TempDir("etcd-classic-ops")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "etcd-classic")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/etcd-classic/etcd-classic").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// TestMain removes the binary built by classicBinary (a proctest.TempDir)
// and kills what the tests started, however the run ends.
func TestMain(m *testing.M) {
	os.Exit(proctest.Main(m, nil))
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// syncBuf is a log buffer written by a process and read by the test.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startMember starts a one-member cluster of bin (etcd or etcd-classic)
// with data in a temporary directory and returns its client URL once it
// answers /v2/keys. The process is killed when the test ends; its log
// is shown if the test failed.
func startMember(t *testing.T, bin string, extra ...string) string {
	t.Helper()
	client := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	args := append([]string{"--name", "m1", "--data-dir", filepath.Join(t.TempDir(), "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "m1=" + peer}, extra...)
	cmd := exec.Command(bin, args...)
	log := &syncBuf{}
	cmd.Stdout, cmd.Stderr = log, log
	// proctest kills the process group when the test ends, even if it
	// fails or the run times out; this cleanup runs first and only logs.
	if _, err := proctest.Start(t, cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log:\n%s", filepath.Base(bin), log.String())
		}
	})
	hc := &http.Client{Timeout: 2 * time.Second}
	waitUntil(t, filepath.Base(bin)+" serves /v2/keys", func() bool {
		r, err := hc.Get(client + "/v2/keys/")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	})
	return client
}

// waitUntil polls cond for up to a minute.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// write is one request of the fill.
type write struct {
	method, key string
	form        url.Values
}

var testHTTP = &http.Client{Timeout: 30 * time.Second}

// mustWrite sends w and fails the test unless etcd accepted it.
func mustWrite(t *testing.T, base string, w write) {
	req, err := http.NewRequest(w.method, base+"/v2/keys"+w.key, strings.NewReader(w.form.Encode()))
	if err != nil {
		t.Error(err)
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r, err := testHTTP.Do(req)
	if err != nil {
		t.Error(err)
		return
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode >= 300 {
		t.Errorf("%s %s: %d %s", w.method, w.key, r.StatusCode, b)
	}
}

// fill sends writes with 32 in flight, then queued one at a time (the
// in-order keys, whose names must follow the order of their values).
func fill(t *testing.T, base string, writes, queued []write) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, w := range queued {
			mustWrite(t, base, w)
		}
	}()
	next := make(chan write)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for w := range next {
				mustWrite(t, base, w)
			}
		}()
	}
	for _, w := range writes {
		next <- w
	}
	close(next)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// migrationTree returns the writes of a tree of about 10,000 nodes:
// directories (nested, empty, with a TTL), keys with TTLs, hidden keys
// and directories, and in-order keys; and the hidden prefixes a copy must
// name to reach every hidden node.
func migrationTree() (writes, queued []write, hidden []string) {
	val := func(v string) url.Values { return url.Values{"value": {v}} }
	for d := 0; d < 70; d++ {
		for k := 0; k < 100; k++ {
			f := val(fmt.Sprintf("value %d/%d", d, k))
			if k%10 == 0 {
				f.Set("ttl", "600")
			}
			writes = append(writes, write{"PUT", fmt.Sprintf("/app/d%02d/k%03d", d, k), f})
		}
		if d < 20 {
			for k := 0; k < 50; k++ {
				writes = append(writes, write{"PUT", fmt.Sprintf("/app/d%02d/sub/k%02d", d, k), val("nested")})
			}
		}
	}
	for e := 0; e < 25; e++ {
		writes = append(writes, write{"PUT", fmt.Sprintf("/empty/e%02d", e), url.Values{"dir": {"true"}}})
	}
	for d := 0; d < 10; d++ {
		writes = append(writes, write{"PUT", fmt.Sprintf("/ttldir/t%d", d), url.Values{"dir": {"true"}, "ttl": {"900"}}})
	}
	for h := 0; h < 10; h++ {
		key := fmt.Sprintf("/app/d00/_h%d", h)
		writes = append(writes, write{"PUT", key, val("hidden in a visible directory")})
		hidden = append(hidden, key)
	}
	lock := val("a hidden key with a TTL")
	lock.Set("ttl", "600")
	writes = append(writes, write{"PUT", "/app/d01/_lock", lock}, write{"PUT", "/app/_emptyhidden", url.Values{"dir": {"true"}}})
	for k := 0; k < 100; k++ {
		writes = append(writes, write{"PUT", fmt.Sprintf("/_hidden/k%02d", k), val("in a hidden directory")})
	}
	writes = append(writes, write{"PUT", "/_hidden/_inner/x", val("hidden twice")})
	hidden = append(hidden, "/app/d01/_lock", "/app/_emptyhidden", "/_hidden", "/_hidden/_inner")
	for i := 0; i < 1500; i++ {
		queued = append(queued, write{"POST", "/queue", val(fmt.Sprintf("item %04d", i))})
	}
	for i := 0; i < 200; i++ {
		queued = append(queued, write{"POST", "/queue2", val(fmt.Sprintf("job %04d", i))})
	}
	return writes, queued, hidden
}

// ttlDirWrites fills the TTL directories; they must exist first so that
// they keep their TTL.
func ttlDirWrites() []write {
	var w []write
	for d := 0; d < 10; d++ {
		for k := 0; k < 20; k++ {
			w = append(w, write{"PUT", fmt.Sprintf("/ttldir/t%d/k%02d", d, k), url.Values{"value": {"under a TTL directory"}}})
		}
	}
	return w
}

// flatNode is one node of a recursive, sorted listing.
type flatNode struct {
	key, value string
	dir        bool
	ttl        int64 // 0: permanent
}

// readTree reads /v2/keys/?recursive=true&sorted=true and each hidden
// prefix the same way, and flattens them in listing order.
func readTree(t *testing.T, base string, hidden []string) []flatNode {
	t.Helper()
	var out []flatNode
	var walk func(n *store.NodeExtern)
	walk = func(n *store.NodeExtern) {
		if n.Key != "" {
			f := flatNode{key: n.Key, dir: n.Dir}
			if n.Value != nil {
				f.value = *n.Value
			}
			if n.Expiration != nil {
				f.ttl = n.TTL
				if f.ttl <= 0 {
					f.ttl = -1 // due: still a TTL node
				}
			}
			out = append(out, f)
		}
		for _, c := range n.Nodes {
			walk(c)
		}
	}
	for _, p := range append([]string{"/"}, hidden...) {
		r, err := testHTTP.Get(base + "/v2/keys" + p + "?recursive=true&sorted=true")
		if err != nil {
			t.Fatal(err)
		}
		var ev store.Event
		err = json.NewDecoder(r.Body).Decode(&ev)
		r.Body.Close()
		if err != nil || ev.Node == nil {
			t.Fatalf("GET %s on %s: %v", p, base, err)
		}
		walk(ev.Node)
	}
	return out
}

// compareTrees fails the test unless b holds a's nodes in a's order with
// the same values and directory flags, and remaining TTLs that are not
// shorter (one second of rounding aside) and at most maxLonger seconds
// longer.
func compareTrees(t *testing.T, what string, a, b []flatNode, maxLonger int64) {
	t.Helper()
	if len(a) != len(b) {
		t.Errorf("%s: %d nodes against %d", what, len(a), len(b))
	}
	bad := 0
	for i := 0; i < len(a) && i < len(b) && bad < 10; i++ {
		x, y := a[i], b[i]
		ok := x.key == y.key && x.dir == y.dir && x.value == y.value && (x.ttl == 0) == (y.ttl == 0)
		if ok && x.ttl != 0 {
			d := y.ttl - x.ttl
			ok = d >= -1 && d <= maxLonger
		}
		if !ok {
			t.Errorf("%s: node %d: %+v against %+v", what, i, x, y)
			bad++
		}
	}
}

// runCopy runs `etcd-classic copy` and returns its exit status, stdout and
// stderr.
func runCopy(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, classicBinary(t), append([]string{"copy"}, args...)...)
	var out, errb syncBuf
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("copy: %v", err)
		}
		code = ee.ExitCode()
	}
	return code, out.String(), errb.String()
}

// TestMigrationWithRealEtcd34 copies 10,000 nodes from etcd 3.4 into
// etcd-classic and from there into a second etcd 3.4, and compares the
// trees through /v2/keys?recursive=true&sorted=true (plus the hidden
// prefixes) after each copy.
func TestMigrationWithRealEtcd34(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	if _, err := os.Stat(realEtcd); err != nil {
		t.Skipf("%s not installed (Debian package etcd-server): %v", realEtcd, err)
	}
	etcdArgs := []string{"--enable-v2", "--unsafe-no-fsync", "--log-level", "warn"}
	etcd1 := startMember(t, realEtcd, etcdArgs...)
	classic := startMember(t, classicBinary(t))
	etcd2 := startMember(t, realEtcd, etcdArgs...)

	writes, queued, hidden := migrationTree()
	start := time.Now()
	fill(t, etcd1, writes, queued)
	fill(t, etcd1, ttlDirWrites(), nil)
	// Written last, so that it is in etcd's history, and not named: the
	// copy must say it missed it.
	mustWrite(t, etcd1, write{"PUT", "/app/d02/_late", url.Values{"value": {"unnamed"}}})
	src := readTree(t, etcd1, hidden)
	if len(src) < 10000 {
		t.Fatalf("the source holds %d nodes, want at least 10,000", len(src))
	}
	t.Logf("filled etcd 3.4 with %d nodes in %v", len(src), time.Since(start))

	prefixes := []string{"--prefix", "/"}
	for _, h := range hidden {
		prefixes = append(prefixes, "--prefix", h)
	}
	start = time.Now()
	code, out, errs := runCopy(t, append([]string{"--from", etcd1, "--to", classic, "--verify"}, prefixes...)...)
	t.Logf("etcd 3.4 → etcd-classic: %v\n%s", time.Since(start), out)
	if code != 0 || !strings.Contains(out, "0 failed, 0 differences on verify") {
		t.Fatalf("copy exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "copy: wrote "+fmt.Sprint(len(src))+"/"+fmt.Sprint(len(src))+" nodes") {
		t.Errorf("no final progress line for %d nodes:\n%s", len(src), errs)
	}
	if !strings.Contains(errs, "add --prefix /app/d02/_late") {
		t.Errorf("the unnamed hidden key was not reported:\n%s", errs)
	}
	if r, err := testHTTP.Get(classic + "/v2/keys/app/d02/_late"); err != nil || r.StatusCode != http.StatusNotFound {
		t.Errorf("unnamed hidden key at the target: %v %v", r, err)
	} else {
		r.Body.Close()
	}
	compareTrees(t, "etcd 3.4 → etcd-classic", readTree(t, etcd1, hidden), readTree(t, classic, hidden), 6)

	start = time.Now()
	code, out, errs = runCopy(t, append([]string{"--from", classic, "--to", etcd2, "--verify"}, prefixes...)...)
	t.Logf("etcd-classic → etcd 3.4: %v\n%s", time.Since(start), out)
	if code != 0 || !strings.Contains(out, "0 failed, 0 differences on verify") {
		t.Fatalf("copy back exit %d\n%s\n%s", code, out, errs)
	}
	back := readTree(t, etcd2, hidden)
	compareTrees(t, "etcd-classic → etcd 3.4", readTree(t, classic, hidden), back, 6)
	compareTrees(t, "etcd 3.4 → etcd-classic → etcd 3.4", readTree(t, etcd1, hidden), back, 12)
}
