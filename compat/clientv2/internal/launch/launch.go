// Package launch starts clusters of etcd-compatible server processes on
// loopback for the compatibility tests: etcd-classic, or etcd 3.4 itself
// (with --enable-v2) when golden outputs are recorded.
//
// Every member gets its client and peer ports from 127.0.0.1:0, its data
// in a fresh directory, and the etcd 2.x bootstrap flags that both
// servers understand. Nothing here sleeps to synchronise: readiness is
// polled with a deadline.
package launch

import (
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
	"time"
)

// Config says what to start.
type Config struct {
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
}

// Member is one started server process.
type Member struct {
	Name      string
	ClientURL string
	PeerURL   string
	DataDir   string
	LogPath   string

	cmd  *exec.Cmd
	done chan struct{}
}

// Cluster is a set of members bootstrapped together.
type Cluster struct {
	Members []*Member

	stopOnce sync.Once
}

// Start bootstraps cfg.Members members with names m0, m1, ... and waits
// until every member answers, agrees on a leader and lists every member
// with its name and client URL. On error every started process is
// killed. A port taken between FreePort and the server's bind costs a
// retry with new ports.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Members < 1 {
		return nil, errors.New("launch: at least one member")
	}
	for attempt := 1; ; attempt++ {
		dir, err := os.MkdirTemp(cfg.Dir, "cluster-")
		if err != nil {
			return nil, err
		}
		c, err := start(ctx, cfg, dir)
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return c, err
		}
	}
}

func start(ctx context.Context, cfg Config, dir string) (*Cluster, error) {
	c := &Cluster{}
	var initial []string
	for i := 0; i < cfg.Members; i++ {
		cp, err := FreePort()
		if err != nil {
			return nil, err
		}
		pp, err := FreePort()
		if err != nil {
			return nil, err
		}
		m := &Member{
			Name:      fmt.Sprintf("m%d", i),
			ClientURL: fmt.Sprintf("http://127.0.0.1:%d", cp),
			PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", pp),
		}
		m.DataDir = filepath.Join(dir, m.Name+".data")
		m.LogPath = filepath.Join(dir, m.Name+".log")
		initial = append(initial, m.Name+"="+m.PeerURL)
		c.Members = append(c.Members, m)
	}
	for _, m := range c.Members {
		args := append(append([]string{}, cfg.Args...),
			"--name", m.Name, "--data-dir", m.DataDir,
			"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", m.PeerURL, "--initial-advertise-peer-urls", m.PeerURL,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new")
		if err := m.start(cfg.Binary, args); err != nil {
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

func (m *Member) start(bin string, args []string) error {
	f, err := os.Create(m.LogPath)
	if err != nil {
		return err
	}
	m.cmd = exec.Command(bin, args...)
	m.cmd.Stdout, m.cmd.Stderr = f, f
	m.cmd.SysProcAttr = sysProcAttr()
	// etcd 3.4 reads ETCD_* variables as flags; keep ours out of its way.
	m.cmd.Env = cleanEnv()
	if err := m.cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("launch %s: %w", m.Name, err)
	}
	m.done = make(chan struct{})
	go func() {
		_ = m.cmd.Wait()
		f.Close()
		close(m.done)
	}()
	return nil
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ETCD_") || strings.HasPrefix(kv, "ETCDCTL_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// Alive reports whether the member's process is still running.
func (m *Member) Alive() bool {
	if m.done == nil {
		return false
	}
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// Kill stops the member with SIGKILL and waits for it to exit.
func (m *Member) Kill() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.done
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

// Logs returns every member's log, for a failure report.
func (c *Cluster) Logs() string {
	var b strings.Builder
	for _, m := range c.Members {
		data, _ := os.ReadFile(m.LogPath)
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
			if m.done != nil && !m.Alive() {
				return fmt.Errorf("launch: %s exited during startup", m.Name)
			}
		}
		if err := Pause(ctx); err != nil {
			return fmt.Errorf("launch: cluster not ready: %v", last)
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

var httpClient = &http.Client{Timeout: 5 * time.Second}

// GetJSON fetches u and decodes a 200 answer into v; it returns the
// answer's headers.
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
	body, err := io.ReadAll(resp.Body)
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
