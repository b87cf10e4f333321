package proctest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Member is one server process on loopback: etcd-classic, or etcd itself.
// Fill in the fields, then Start it; Start again after Kill restarts it
// with the same command line.
type Member struct {
	Name      string
	ClientURL string
	PeerURL   string
	DataDir   string

	// Binary and Args are the command line. Env is added to the
	// environment, from which CleanEnv first removes every ETCD_* and
	// ETCDCTL_* variable (etcd reads them as flags).
	Binary   string
	Args     []string
	Env      []string
	CleanEnv bool
	// Dir is the working directory ("": this process's).
	Dir string
	// LogPath, when set, receives the process's output; otherwise it is
	// kept in memory. Output returns it either way.
	LogPath string
	// T, when set, ties the process to a test: it is killed when the test
	// ends, and its output is logged if the test failed.
	T testing.TB

	// Proc is the running (or last) process; nil before Start.
	Proc *Proc

	out       syncBuffer
	logOnFail sync.Once
}

// Start launches the member. Its log is appended to.
func (m *Member) Start() error {
	cmd := exec.Command(m.Binary, m.Args...)
	cmd.Dir = m.Dir
	cmd.Env = os.Environ()
	if m.CleanEnv {
		cmd.Env = cmd.Env[:0]
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "ETCD_") && !strings.HasPrefix(kv, "ETCDCTL_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
	}
	cmd.Env = append(cmd.Env, m.Env...)
	var out io.Writer = &m.out
	var f *os.File
	if m.LogPath != "" {
		var err error
		if f, err = os.OpenFile(m.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
			return err
		}
		out = f
	}
	cmd.Stdout, cmd.Stderr = out, out
	if m.T != nil {
		m.logOnFail.Do(func() {
			m.T.Cleanup(func() {
				if m.T.Failed() {
					m.T.Logf("log of %s (%s):\n%s", m.Name, m.ClientURL, m.Output())
				}
			})
		})
	}
	var err error
	if m.T != nil {
		m.Proc, err = Start(m.T, cmd)
	} else {
		m.Proc, err = Spawn(cmd)
	}
	if f != nil {
		go func(p *Proc) {
			if p != nil {
				<-p.Done()
			}
			f.Close()
		}(m.Proc)
	}
	if err != nil {
		return fmt.Errorf("launch %s: %w", m.Name, err)
	}
	return nil
}

// Kill stops the member with SIGKILL (its whole process group) and waits
// for it to exit.
func (m *Member) Kill() {
	if m.Proc != nil {
		m.Proc.Kill()
	}
}

// Signal sends sig to the member's process group.
func (m *Member) Signal(sig syscall.Signal) error {
	if m.Proc == nil {
		return errors.New("proctest: member not started")
	}
	return m.Proc.Signal(sig)
}

// Done is closed when the member's process has exited (nil before
// Start).
func (m *Member) Done() <-chan struct{} {
	if m.Proc == nil {
		return nil
	}
	return m.Proc.Done()
}

// Alive reports whether the member's process is running.
func (m *Member) Alive() bool {
	if m.Proc == nil {
		return false
	}
	select {
	case <-m.Proc.Done():
		return false
	default:
		return true
	}
}

// Output is what the member has written so far.
func (m *Member) Output() string {
	if m.LogPath != "" {
		b, _ := os.ReadFile(m.LogPath)
		return string(b)
	}
	return m.out.String()
}

// WaitUp waits until the member answers GET /version with 200.
func (m *Member) WaitUp(ctx context.Context) error { return m.WaitPath(ctx, "/version") }

// WaitPath waits until the member answers GET path with 200, or fails
// when ctx ends or the process exits.
func (m *Member) WaitPath(ctx context.Context, path string) error {
	for {
		if err := get(ctx, m.ClientURL+path); err == nil {
			return nil
		}
		if m.Proc != nil && !m.Alive() {
			return fmt.Errorf("proctest: %s exited: %v", m.Name, m.Proc.Err())
		}
		if err := Pause(ctx); err != nil {
			return fmt.Errorf("proctest: %s does not answer %s: %w", m.Name, path, err)
		}
	}
}

// ClusterConfig says what StartCluster starts.
type ClusterConfig struct {
	// Binary is the server executable.
	Binary string
	// Args go before the member flags of every member (for etcd 3.4:
	// --enable-v2).
	Args []string
	// Members is the cluster size (at least 1).
	Members int
	// Dir holds the members' data directories and logs; it must exist.
	Dir string
	// Ready bounds the wait for a healthy cluster; zero means 60s.
	Ready time.Duration
	// CleanEnv keeps the ETCD_* variables of the environment from the
	// members (Member.CleanEnv).
	CleanEnv bool
	// T ties every member to a test (Member.T).
	T testing.TB
}

// Cluster is a set of members bootstrapped together.
type Cluster struct {
	Members []*Member

	stopOnce sync.Once
}

// StartCluster bootstraps cfg.Members members named m0, m1, ... with the
// etcd 2.x flags that etcd-classic and etcd understand, on ports from
// 127.0.0.1:0, and waits until every member answers, agrees on a leader
// and lists every member with its name and client URL. On error every
// started process is killed. A port taken between FreePort and the
// server's bind costs a retry with new ports.
func StartCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	if cfg.Members < 1 {
		return nil, errors.New("proctest: at least one member")
	}
	for attempt := 1; ; attempt++ {
		dir, err := os.MkdirTemp(cfg.Dir, "cluster-")
		if err != nil {
			return nil, err
		}
		c, err := startCluster(ctx, cfg, dir)
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return c, err
		}
	}
}

func startCluster(ctx context.Context, cfg ClusterConfig, dir string) (*Cluster, error) {
	c := &Cluster{}
	var initial []string
	for i := 0; i < cfg.Members; i++ {
		m := &Member{Name: fmt.Sprintf("m%d", i), Binary: cfg.Binary, CleanEnv: cfg.CleanEnv, T: cfg.T}
		for _, u := range []*string{&m.ClientURL, &m.PeerURL} {
			p, err := FreePort()
			if err != nil {
				return nil, err
			}
			*u = fmt.Sprintf("http://127.0.0.1:%d", p)
		}
		m.DataDir = filepath.Join(dir, m.Name+".data")
		m.LogPath = filepath.Join(dir, m.Name+".log")
		initial = append(initial, m.Name+"="+m.PeerURL)
		c.Members = append(c.Members, m)
	}
	for _, m := range c.Members {
		m.Args = append(append([]string{}, cfg.Args...),
			"--name", m.Name, "--data-dir", m.DataDir,
			"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", m.PeerURL, "--initial-advertise-peer-urls", m.PeerURL,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new")
		if err := m.Start(); err != nil {
			c.Stop()
			return nil, err
		}
	}
	ready := cfg.Ready
	if ready == 0 {
		ready = 60 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, ready)
	defer cancel()
	if err := c.WaitReady(wctx); err != nil {
		c.Stop()
		return nil, fmt.Errorf("%w\n%s", err, c.Logs())
	}
	return c, nil
}

// Stop kills every member and waits for them. It is idempotent.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		for _, m := range c.Members {
			m.Kill()
		}
	})
}

// ClientURLs lists the members' client URLs in member order.
func (c *Cluster) ClientURLs() []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, m.ClientURL)
	}
	return out
}

// Logs returns the end of every member's log, for a failure report.
func (c *Cluster) Logs() string {
	var b strings.Builder
	for _, m := range c.Members {
		data := m.Output()
		const max = 8000
		if len(data) > max {
			data = data[len(data)-max:]
		}
		fmt.Fprintf(&b, "--- log of %s (%s), last %d bytes:\n%s\n", m.Name, m.ClientURL, len(data), data)
	}
	return b.String()
}

// WaitReady polls until every live member is healthy, names the same
// leader and lists all bootstrap members with names and client URLs.
func (c *Cluster) WaitReady(ctx context.Context) error {
	var last error
	for {
		if last = c.ready(ctx); last == nil {
			return nil
		}
		for _, m := range c.Members {
			if m.Proc != nil && !m.Alive() {
				return fmt.Errorf("proctest: %s exited during startup", m.Name)
			}
		}
		if err := Pause(ctx); err != nil {
			return fmt.Errorf("proctest: cluster not ready: %v", last)
		}
	}
}

func (c *Cluster) ready(ctx context.Context) error {
	leader := ""
	for _, m := range c.Members {
		var h struct{ Health string }
		if _, err := GetJSON(ctx, m.ClientURL+"/health", &h); err != nil {
			return err
		}
		if h.Health != "true" {
			return fmt.Errorf("%s: health %q", m.Name, h.Health)
		}
		var l struct{ ID string }
		if _, err := GetJSON(ctx, m.ClientURL+"/v2/members/leader", &l); err != nil {
			return err
		}
		if leader != "" && l.ID != leader {
			return fmt.Errorf("members disagree on the leader (%s, %s)", leader, l.ID)
		}
		leader = l.ID
		var ms struct {
			Members []struct {
				Name       string
				ClientURLs []string
			}
		}
		if _, err := GetJSON(ctx, m.ClientURL+"/v2/members", &ms); err != nil {
			return err
		}
		named := 0
		for _, x := range ms.Members {
			if x.Name != "" && len(x.ClientURLs) > 0 {
				named++
			}
		}
		if named != len(c.Members) {
			return fmt.Errorf("%s lists %d published members, want %d", m.Name, named, len(c.Members))
		}
	}
	return nil
}

// Pause waits one polling interval, or returns the context's error.
func Pause(ctx context.Context) error {
	t := time.NewTimer(50 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// FreePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// httpClient bounds every request of the launcher.
var httpClient = &http.Client{Timeout: 5 * time.Second}

// get fetches u and reports an error unless the answer is 200.
func get(ctx context.Context, u string) error {
	_, err := GetJSON(ctx, u, nil)
	return err
}

// GetJSON fetches u and decodes a 200 answer into v (if not nil); it
// returns the answer's headers.
func GetJSON(ctx context.Context, u string, v any) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.Header, fmt.Errorf("GET %s: %s %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			return resp.Header, fmt.Errorf("GET %s: %w", u, err)
		}
	}
	return resp.Header, nil
}

// EtcdIndex returns the X-Etcd-Index a member reports for its root
// (quorum=true makes it linearizable).
func EtcdIndex(ctx context.Context, clientURL string, quorum bool) (uint64, error) {
	u := clientURL + "/v2/keys/"
	if quorum {
		u += "?quorum=true"
	}
	h, err := GetJSON(ctx, u, nil)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(h.Get("X-Etcd-Index"), 10, 64)
}

// syncBuffer is an output buffer a process writes while a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
