package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/httpapi"
	"github.com/etcd-classic/etcd-classic/server"
)

// inprocCluster is a cluster of members started in this process with
// server.Start — real raft over loopback TCP, real data dirs, the real
// client API on loopback HTTP ports — whose peer connections all go
// through one faultNet (server.Config.PeerDial), so that links between
// members can be cut. A partition cannot be made between processes
// without root (or a proxy the members would have to advertise as their
// peer address), and only the links fail here: the clients reach every
// member on both sides, as they do in a real partition.
type inprocCluster struct {
	members []*server.Member
	urls    []string
	logs    []string
	files   []*os.File
	net     *faultNet
	stop    sync.Once
}

// startInProcess bootstraps n members under dir with etcd's default
// timings (1 s election timeout, 100 ms heartbeat).
func startInProcess(dir string, n int) (*inprocCluster, error) {
	c := &inprocCluster{net: newFaultNet()}
	var lns []net.Listener
	var initial []server.InitialMember
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			c.closeAll(lns)
			return nil, err
		}
		lns = append(lns, ln)
		name := fmt.Sprintf("m%d", i)
		c.net.names[ln.Addr().String()] = name
		initial = append(initial, server.InitialMember{Name: name, PeerURLs: []string{"http://" + ln.Addr().String()}})
	}
	for i, ln := range lns {
		name := initial[i].Name
		logPath := filepath.Join(dir, name+".log")
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			c.closeAll(lns[i:])
			c.Stop()
			return nil, err
		}
		c.files = append(c.files, f)
		l := logrus.New()
		l.SetOutput(f)
		m, err := server.Start(server.Config{
			Name: name, DataDir: filepath.Join(dir, name+".data"),
			ListenClientURLs: []string{"http://127.0.0.1:0"}, AdvertisePeerURLs: initial[i].PeerURLs, PeerListener: ln,
			InitialCluster: initial, InitialClusterToken: "chaos",
			PeerDial: c.net.dialer(name),
			API:      httpapi.Config{ServerVersion: "2.3.8", ClusterVersion: "2.3.0"},
			Log:      logrus.NewEntry(l).WithField("member", name),
		})
		if err != nil {
			c.closeAll(lns[i+1:])
			c.Stop()
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		c.members = append(c.members, m)
		c.urls = append(c.urls, m.ClientURLs()[0])
		c.logs = append(c.logs, logPath)
	}
	return c, nil
}

func (c *inprocCluster) closeAll(lns []net.Listener) {
	for _, ln := range lns {
		_ = ln.Close()
	}
}

func (c *inprocCluster) ClientURLs() []string { return c.urls }

// Stop stops every member at once (each drains its client connections
// and takes a snapshot).
func (c *inprocCluster) Stop() {
	c.stop.Do(func() {
		c.Heal()
		var wg sync.WaitGroup
		for _, m := range c.members {
			wg.Add(1)
			go func(m *server.Member) { defer wg.Done(); m.Stop() }(m)
		}
		wg.Wait()
		for _, f := range c.files {
			_ = f.Close()
		}
	})
}

func (c *inprocCluster) Logs() string {
	var b strings.Builder
	for i, p := range c.logs {
		data, _ := os.ReadFile(p)
		const max = 8000
		if len(data) > max {
			data = data[len(data)-max:]
		}
		fmt.Fprintf(&b, "--- log of m%d (%s), last %d bytes:\n%s\n", i, c.urls[i], len(data), data)
	}
	return b.String()
}

func (c *inprocCluster) Split(groups ...[]int) {
	var named [][]string
	for _, g := range groups {
		var ns []string
		for _, i := range g {
			ns = append(ns, fmt.Sprintf("m%d", i))
		}
		named = append(named, ns)
	}
	c.net.split(named...)
}

func (c *inprocCluster) Heal() { c.net.heal() }

// faultNet stands between the members' peer connections: every
// connection member A opens to member B's peer address is made through
// it, and cutting A|B closes the open ones and refuses new ones, whichever
// side dialled.
type faultNet struct {
	mu    sync.Mutex
	names map[string]string // peer host:port → member name; written before the start only
	cut   map[[2]string]bool
	conns map[*faultConn]bool
}

type faultConn struct {
	net.Conn
	f        *faultNet
	from, to string
}

func (c *faultConn) Close() error {
	c.f.mu.Lock()
	delete(c.f.conns, c)
	c.f.mu.Unlock()
	return c.Conn.Close()
}

func newFaultNet() *faultNet {
	return &faultNet{names: map[string]string{}, cut: map[[2]string]bool{}, conns: map[*faultConn]bool{}}
}

func link(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// dialer is member from's PeerDial.
func (f *faultNet) dialer(from string) func(string, time.Duration) (net.Conn, error) {
	return func(addr string, timeout time.Duration) (net.Conn, error) {
		to := f.names[addr]
		refused := fmt.Errorf("faultnet: %s cannot reach %s (%s)", from, to, addr)
		f.mu.Lock()
		isCut := f.cut[link(from, to)]
		f.mu.Unlock()
		if isCut {
			return nil, refused
		}
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err != nil {
			return nil, err
		}
		fc := &faultConn{Conn: c, f: f, from: from, to: to}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.cut[link(from, to)] { // cut while dialling
			_ = c.Close()
			return nil, refused
		}
		f.conns[fc] = true
		return fc, nil
	}
}

// split cuts every link between members of different groups.
func (f *faultNet) split(groups ...[]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, g := range groups {
		for _, h := range groups[i+1:] {
			for _, a := range g {
				for _, b := range h {
					f.cut[link(a, b)] = true
				}
			}
		}
	}
	for c := range f.conns {
		if f.cut[link(c.from, c.to)] {
			_ = c.Conn.Close()
			delete(f.conns, c)
		}
	}
}

// heal restores every link.
func (f *faultNet) heal() {
	f.mu.Lock()
	f.cut = map[[2]string]bool{}
	f.mu.Unlock()
}
