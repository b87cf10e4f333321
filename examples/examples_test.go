// Package examples holds runnable client samples; this test file runs
// each of them, the Go programs and the shell scripts, against a real
// etcd-classic member started on loopback ports.
package examples

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/proctest"
)

// bin holds the binaries built once by TestMain.
var bin = map[string]string{}

// client is the HTTP client of these tests: every request has a deadline.
var client = &http.Client{Timeout: 30 * time.Second}

func TestMain(m *testing.M) {
	if os.Getenv("EXAMPLES_HELPER") == "incr" {
		os.Exit(incr(os.Getenv("EXAMPLES_ENDPOINT")))
	}
	os.Exit(proctest.Main(m, func() error {
		if testing.Short() {
			return nil // every test skips itself
		}
		// proctest removes the directory even when the run times out.
		dir, err := proctest.TempDir("etcd-classic-examples")
		if err != nil {
			return err
		}
		for name, pkg := range map[string]string{"etcd-classic": "..", "lock": "./lock", "election": "./election", "watch": "./watch"} {
			bin[name] = filepath.Join(dir, name)
			if out, err := exec.Command("go", "build", "-o", bin[name], pkg).CombinedOutput(); err != nil {
				return fmt.Errorf("build %s: %v\n%s", pkg, err, out)
			}
		}
		return nil
	}))
}

// incr is the critical section of the lock tests, run by the test binary
// itself under the lock: a read-modify-write of /counter with a gap in
// the middle, which loses updates unless the lock excludes the others.
func incr(endpoint string) int {
	n := 0
	resp, err := client.Get(endpoint + "/v1/keys/counter")
	if err != nil {
		return 1
	}
	var cur struct {
		Value string `json:"value"`
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		_ = json.Unmarshal(b, &cur)
		n, _ = strconv.Atoi(cur.Value)
	}
	time.Sleep(20 * time.Millisecond) // the gap the lock must protect
	resp, err = client.PostForm(endpoint+"/v1/keys/counter", url.Values{"value": {strconv.Itoa(n + 1)}})
	if err != nil {
		return 1
	}
	resp.Body.Close()
	return 0
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real members (skipped under -short)")
	}
}

func needShell(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found", tool)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// syncBuf is an output buffer that can be read while a process writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
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

// proc is a started process in its own process group, killed with
// everything it started when the test ends (proctest).
type proc struct {
	cmd *exec.Cmd
	p   *proctest.Proc
	out *syncBuf
}

func start(t *testing.T, env []string, name string, args ...string) *proc {
	t.Helper()
	p, err := startE(t, env, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startE is start for goroutines other than the test's: it does not stop
// the test.
func startE(t *testing.T, env []string, name string, args ...string) (*proc, error) {
	p := &proc{cmd: exec.Command(name, args...), out: &syncBuf{}}
	// The shell examples' mktemp files go to the test's own directory,
	// also when a test ends them with SIGKILL (no EXIT trap runs).
	p.cmd.Env = append(append(os.Environ(), "TMPDIR="+t.TempDir()), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s %v:\n%s", filepath.Base(name), args, p.out.String())
		}
	})
	pp, err := proctest.Start(t, p.cmd)
	if err != nil {
		return nil, err
	}
	p.p = pp
	return p, nil
}

// signal sends sig to the process's whole group (shell scripts fork).
func (p *proc) signal(sig syscall.Signal) { _ = p.p.Signal(sig) }

// wait waits for the process to exit.
func (p *proc) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	err := p.waitE(within)
	if errors.Is(err, errStillRunning) {
		t.Fatalf("%v: %v; output:\n%s", p.cmd.Args, err, p.out.String())
	}
	return err
}

var errStillRunning = errors.New("still running")

// waitE is wait for goroutines other than the test's.
func (p *proc) waitE(within time.Duration) error {
	select {
	case <-p.p.Done():
		return p.p.Err()
	case <-time.After(within):
		return fmt.Errorf("%w after %v", errStillRunning, within)
	}
}

// waitOutput polls until the output contains s.
func (p *proc) waitOutput(t *testing.T, s string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(p.out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("%v: no %q within %v; output:\n%s", p.cmd.Args, s, within, p.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// memberArgs returns the flags README.md starts the member of example
// with (the "go run .. ..." line of its section), on free ports and with
// a fresh data directory: the tests run each example against the member
// its README section tells a user to start.
func memberArgs(t *testing.T, example string) (endpoint string, args []string) {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## `"+example+"/`")
	if !ok {
		t.Fatalf("README.md has no section for %s/", example)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var line string
	for _, l := range strings.Split(section, "\n") {
		if strings.HasPrefix(l, "    go run .. ") {
			if line != "" {
				t.Fatalf("README.md: the %s/ section starts two members", example)
			}
			line = strings.TrimPrefix(l, "    go run .. ")
		}
	}
	if line == "" {
		t.Fatalf("README.md: the %s/ section does not say how to start its member", example)
	}
	cp, pp := freePort(t), freePort(t)
	endpoint = fmt.Sprintf("http://127.0.0.1:%d", cp)
	fields := strings.Fields(strings.ReplaceAll(line, `"$(mktemp -d)"`, "<datadir>"))
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		switch {
		case (f == "-c" || f == "-s" || f == "-d") && i+1 < len(fields):
			args = append(args, f)
			i++
			switch f {
			case "-c":
				args = append(args, strconv.Itoa(cp))
			case "-s":
				args = append(args, strconv.Itoa(pp))
			default:
				if fields[i] != "<datadir>" {
					t.Fatalf("README.md: %s/'s member keeps its data in %s, not a fresh directory", example, fields[i])
				}
				args = append(args, filepath.Join(t.TempDir(), "node1"))
			}
		case strings.ContainsAny(f, "$`\"'|&;<>()"):
			t.Fatalf("README.md: %s/'s member command %q needs a shell", example, line)
		default:
			args = append(args, f)
		}
	}
	if !contains(args, "-c") || !contains(args, "-s") || !contains(args, "-d") {
		t.Fatalf("README.md: %s/'s member command %q must name its client port, peer port and data directory", example, line)
	}
	return endpoint, args
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// startMember starts the member README.md gives example (proctest's
// member launcher, as the root and compat tests) and waits until it has
// registered itself.
func startMember(t *testing.T, example string) string {
	t.Helper()
	endpoint, args := memberArgs(t, example)
	m := &proctest.Member{Name: example, ClientURL: endpoint, Binary: bin["etcd-classic"], Args: args, T: t}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.WaitPath(ctx, "/v1/keys/_etcd/machines"); err != nil {
		t.Fatalf("member %s not ready: %v", endpoint, err)
	}
	return endpoint
}

// post sets a key through /v1 and returns the answer's index.
func post(t *testing.T, endpoint, key string, form url.Values) uint64 {
	t.Helper()
	resp, err := client.PostForm(endpoint+"/v1/keys"+key, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var a struct {
		Index uint64 `json:"index"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &a) != nil {
		t.Fatalf("POST %s %v: %d %s", key, form, resp.StatusCode, b)
	}
	return a.Index
}

func get(t *testing.T, endpoint, key string) string {
	t.Helper()
	resp, err := client.Get(endpoint + "/v1/keys" + key)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// Mutual exclusion: several lock holders increment a counter with a
// read-modify-write; no increment may be lost.
func TestLock(t *testing.T) {
	skipShort(t)
	t.Parallel()
	runners := map[string]func(endpoint, name string) []string{
		"go": func(endpoint, name string) []string {
			return []string{bin["lock"], "-endpoint", endpoint, "-key", "/locks/counter", "-name", name, "-ttl", "3", "--", os.Args[0]}
		},
		"shell": func(endpoint, name string) []string {
			return []string{"bash", "lock/lock.sh", "-e", endpoint, "-k", "/locks/counter", "-n", name, "-t", "3", "--", os.Args[0]}
		},
	}
	for kind, argv := range runners {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			if kind == "shell" {
				needShell(t)
			}
			endpoint := startMember(t, "lock")
			const holders, rounds = 4, 3
			var wg sync.WaitGroup
			for h := range holders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for r := range rounds {
						a := argv(endpoint, fmt.Sprintf("%s-h%d-r%d", kind, h, r))
						p, err := startE(t, []string{"EXAMPLES_HELPER=incr", "EXAMPLES_ENDPOINT=" + endpoint}, a[0], a[1:]...)
						if err == nil {
							err = p.waitE(60 * time.Second)
						}
						if err != nil {
							t.Errorf("%v: %v", a, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			want := fmt.Sprintf(`"value":"%d"`, holders*rounds)
			if got := get(t, endpoint, "/counter"); !strings.Contains(got, want) {
				t.Errorf("counter: %s, want %s", got, want)
			}
			if got := get(t, endpoint, "/locks/counter"); !strings.Contains(got, `"value":"unlocked"`) {
				t.Errorf("lock left as %s", got)
			}
		})
	}
}

// A holder that died without releasing: its TTL runs out and the next
// client gets the lock.
func TestLockAfterCrashedHolder(t *testing.T) {
	skipShort(t)
	t.Parallel()
	endpoint := startMember(t, "lock")
	post(t, endpoint, "/locks/crash", url.Values{"value": {"dead-holder"}, "ttl": {"2"}})
	p := start(t, nil, bin["lock"], "-endpoint", endpoint, "-key", "/locks/crash", "-name", "next", "-ttl", "3", "--", "true")
	if err := p.wait(t, 20*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, p.out.String())
	}
	if !strings.Contains(p.out.String(), "lock: /locks/crash held by next") {
		t.Errorf("output: %s", p.out.String())
	}
}

// Leader election with TTL: A leads, goes silent (as if it crashed); B,
// which followed A, takes over once A's key expires; B resigns on SIGTERM.
func TestElection(t *testing.T) {
	skipShort(t)
	t.Parallel()
	runners := map[string]func(endpoint, name string, term bool) []string{
		"go": func(endpoint, name string, term bool) []string {
			a := []string{bin["election"], "-endpoint", endpoint, "-key", "/election/leader", "-name", name, "-ttl", "3"}
			if term {
				a = append(a, "-for", "2s")
			}
			return a
		},
		"shell": func(endpoint, name string, term bool) []string {
			a := []string{"bash", "election/election.sh", "-e", endpoint, "-k", "/election/leader", "-n", name, "-t", "3"}
			if term {
				a = append(a, "-f", "2")
			}
			return a
		},
	}
	for kind, argv := range runners {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			if kind == "shell" {
				needShell(t)
			}
			endpoint := startMember(t, "election")
			a := argv(endpoint, "A", true)
			pa := start(t, nil, a[0], a[1:]...)
			pa.waitOutput(t, "elected A", 20*time.Second)
			b := argv(endpoint, "B", false)
			pb := start(t, nil, b[0], b[1:]...)
			pb.waitOutput(t, "following A", 20*time.Second)
			if err := pa.wait(t, 20*time.Second); err != nil {
				t.Errorf("A: %v", err)
			}
			pb.waitOutput(t, "elected B", 20*time.Second)
			if got := get(t, endpoint, "/election/leader"); !strings.Contains(got, `"value":"B"`) {
				t.Errorf("leader key: %s", got)
			}
			if kind == "go" {
				pb.signal(syscall.SIGTERM)
				if err := pb.wait(t, 20*time.Second); err != nil {
					t.Errorf("B: %v", err)
				}
				if !strings.Contains(pb.out.String(), "resigned B") {
					t.Errorf("B did not resign:\n%s", pb.out.String())
				}
			}
		})
	}
}

// The prefix watcher prints every change below its prefix, in order, and
// nothing else; v1 runs on the member of its README section (0.1
// dialect), v2 on the lock's member (default dialect), as the README says.
func TestPrefixWatch(t *testing.T) {
	skipShort(t)
	t.Parallel()
	cases := []struct {
		name, member string
		argv         func(endpoint string, index uint64) []string
		want         []string // substrings of the three lines
	}{
		{"go v1", "watch", func(e string, i uint64) []string {
			return []string{bin["watch"], "-endpoint", e, "-prefix", "/foo", "-index", strconv.FormatUint(i, 10), "-n", "3"}
		}, []string{`{"action":"SET","key":"/foo/a","value":"1","newKey":true,"index":`, `{"action":"SET","key":"/foo/b/c","value":"2","newKey":true,"index":`, `{"action":"DELETE","key":"/foo/a","prevValue":"1","index":`}},
		{"go v2", "lock", func(e string, i uint64) []string {
			return []string{bin["watch"], "-api", "v2", "-endpoint", e, "-prefix", "/foo", "-index", strconv.FormatUint(i, 10), "-n", "3"}
		}, []string{`{"action":"set","node":{"key":"/foo/a","value":"1"`, `{"action":"set","node":{"key":"/foo/b/c","value":"2"`, `{"action":"delete","node":{"key":"/foo/a"`}},
		{"shell", "watch", func(e string, i uint64) []string {
			return []string{"bash", "watch/watch.sh", "-e", e, "-p", "/foo", "-i", strconv.FormatUint(i, 10), "-n", "3"}
		}, []string{`{"action":"SET","key":"/foo/a"`, `{"action":"SET","key":"/foo/b/c"`, `{"action":"DELETE","key":"/foo/a"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if strings.HasPrefix(tc.name, "shell") {
				needShell(t)
			}
			endpoint := startMember(t, tc.member)
			base := post(t, endpoint, "/bar", url.Values{"value": {"0"}})
			a := tc.argv(endpoint, base+1)
			p := start(t, nil, a[0], a[1:]...)
			post(t, endpoint, "/foo/a", url.Values{"value": {"1"}})
			post(t, endpoint, "/bar", url.Values{"value": {"x"}})
			post(t, endpoint, "/foox", url.Values{"value": {"x"}})
			post(t, endpoint, "/foo/b/c", url.Values{"value": {"2"}})
			req, _ := http.NewRequest(http.MethodDelete, endpoint+"/v1/keys/foo/a", nil)
			if resp, err := client.Do(req); err != nil || resp.StatusCode != 200 {
				t.Fatalf("delete: %v %v", resp, err)
			} else {
				resp.Body.Close()
			}
			if err := p.wait(t, 20*time.Second); err != nil {
				t.Fatalf("%v\n%s", err, p.out.String())
			}
			var lines []string
			sc := bufio.NewScanner(strings.NewReader(p.out.String()))
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(tc.want), p.out.String())
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("line %d: %s\nwant prefix %s", i, lines[i], w)
				}
			}
		})
	}
}
