package main

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
	"syscall"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/internal/proctest"
)

// binPath is the etcd-classic binary built once for the process tests.
var binPath string

// TestMain builds the binary into a directory that proctest removes at
// the end of the run, even one that times out.
func TestMain(m *testing.M) {
	os.Exit(proctest.Main(m, func() error {
		dir, err := proctest.TempDir("etcd-classic-bin")
		if err != nil {
			return err
		}
		binPath = filepath.Join(dir, "etcd-classic")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			return fmt.Errorf("build: %v\n%s", err, out)
		}
		return nil
	}))
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

// proc is one etcd-classic process.
type proc struct {
	t       *testing.T
	args    []string
	cmd     *exec.Cmd
	p       *proctest.Proc // the running instance; nil before launch
	log     *lockedBuf
	client  string
	dataDir string
	done    <-chan struct{}
}

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startProc starts the binary with args and waits until /version answers.
func startProc(t *testing.T, client, dataDir string, args ...string) *proc {
	t.Helper()
	p := newProc(t, client, dataDir, args)
	p.start()
	return p
}

// newProc describes a member process; it is killed (and its log shown if
// the test failed) when the test ends.
func newProc(t *testing.T, client, dataDir string, args []string) *proc {
	p := &proc{t: t, args: args, client: client, dataDir: dataDir, log: &lockedBuf{}}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("member log (%s):\n%s", client, p.log.String())
		}
	})
	return p
}

// launch starts the process with p's command line; proctest kills it
// when the test ends, whatever way it ends.
func (p *proc) launch() error {
	p.cmd = exec.Command(binPath, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	pr, err := proctest.Start(p.t, p.cmd)
	if err != nil {
		return err
	}
	p.p, p.done = pr, pr.Done()
	return nil
}

func (p *proc) start() {
	p.t.Helper()
	if err := p.launch(); err != nil {
		p.t.Fatal(err)
	}
	waitFor(p.t, "member "+p.client+" answers /version", func() bool {
		r, err := testClient.Get(p.client + "/version")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	if p.p != nil {
		p.p.Kill()
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func singleMemberArgs(t *testing.T, dataDir string) (string, []string) {
	cp, pp := freePort(t), freePort(t)
	client := fmt.Sprintf("http://127.0.0.1:%d", cp)
	peer := fmt.Sprintf("http://127.0.0.1:%d", pp)
	return client, []string{"--name", "solo", "--data-dir", dataDir,
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "solo=" + peer}
}

type v2Resp struct {
	Action string `json:"action"`
	Node   struct {
		Key           string `json:"key"`
		Value         string `json:"value"`
		ModifiedIndex uint64 `json:"modifiedIndex"`
	} `json:"node"`
	ErrorCode int `json:"errorCode"`
}

func v2do(ctx context.Context, method, u string, form url.Values) (int, *v2Resp, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r, err := testClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return 0, nil, err
	}
	var v v2Resp
	if err := json.Unmarshal(b, &v); err != nil {
		return r.StatusCode, nil, fmt.Errorf("%s: %w", b, err)
	}
	return r.StatusCode, &v, nil
}

// TestKill9KeepsAcknowledgedWrites: concurrent clients write while the
// member is killed with SIGKILL; after a restart on the same data dir,
// every write that was acknowledged is there with the same index.
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	dataDir := t.TempDir()
	client, args := singleMemberArgs(t, dataDir)
	p := startProc(t, client, dataDir, args...)

	type ack struct {
		key   string
		value string
		index uint64
	}
	var mu sync.Mutex
	var acked []ack
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for c := 0; c < 16; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("/load/c%d/k%d", c, i)
				val := fmt.Sprintf("v%d-%d", c, i)
				st, r, err := v2do(ctx, "PUT", client+"/v2/keys"+key, url.Values{"value": {val}})
				if err != nil {
					return // the member is gone
				}
				if st == 201 {
					mu.Lock()
					acked = append(acked, ack{key, val, r.Node.ModifiedIndex})
					mu.Unlock()
				}
			}
		}(c)
	}
	waitFor(t, "some acknowledged writes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 500
	})
	p.kill()
	cancel()
	wg.Wait()

	p.start()
	for _, a := range acked {
		st, r, err := v2do(context.Background(), "GET", client+"/v2/keys"+a.key, nil)
		if err != nil || st != 200 || r.Node.Value != a.value || r.Node.ModifiedIndex != a.index {
			t.Fatalf("acknowledged write %s=%s@%d after restart: status %d, %+v, %v", a.key, a.value, a.index, st, r, err)
		}
	}
	t.Logf("%d acknowledged writes survived kill -9", len(acked))
	// The index continues after the old ones.
	var max uint64
	for _, a := range acked {
		if a.index > max {
			max = a.index
		}
	}
	_, r, err := v2do(context.Background(), "PUT", client+"/v2/keys/after", url.Values{"value": {"x"}})
	if err != nil || r.Node.ModifiedIndex <= max {
		t.Errorf("write after restart got index %+v (err %v), want above %d", r, err, max)
	}
}

// TestGracefulShutdown: SIGTERM ends the process cleanly and a restart
// sees the data.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	dataDir := t.TempDir()
	client, args := singleMemberArgs(t, dataDir)
	p := startProc(t, client, dataDir, args...)
	if st, _, err := v2do(context.Background(), "PUT", client+"/v2/keys/k", url.Values{"value": {"v"}}); err != nil || st != 201 {
		t.Fatalf("put: %d %v", st, err)
	}
	// A watch in flight must not keep the member from stopping.
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		r, err := testClient.Get(client + "/v2/keys/never?wait=true")
		if err == nil {
			_, _ = io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
	}()
	waitFor(t, "watch registered", func() bool {
		r, err := testClient.Get(client + "/v2/stats/store")
		if err != nil {
			return false
		}
		defer r.Body.Close()
		var s struct{ Watchers int }
		_ = json.NewDecoder(r.Body).Decode(&s)
		return s.Watchers == 1
	})
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("member did not stop on SIGTERM")
	}
	if !p.cmd.ProcessState.Success() {
		t.Errorf("exit status after SIGTERM: %v", p.cmd.ProcessState)
	}
	<-watchDone
	p.start()
	if st, r, err := v2do(context.Background(), "GET", client+"/v2/keys/k", nil); err != nil || st != 200 || r.Node.Value != "v" {
		t.Errorf("after restart: %d %+v %v", st, r, err)
	}
}
