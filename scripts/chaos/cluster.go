package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/proctest"
)

// cluster is a running cluster the scenarios inject faults into. Members
// are m0, m1, ... by index.
type cluster interface {
	ClientURLs() []string
	// Logs is the end of every member's log, for a failure report.
	Logs() string
	// Stop stops every member; it is idempotent.
	Stop()
}

// processes is a cluster whose members are OS processes, for the faults
// made with signals: kill -9, SIGSTOP and SIGCONT.
type processes interface {
	cluster
	Kill(i int)
	// Launch starts a killed member again with its command line; WaitUp
	// waits (at most settle) until it answers, failing early if it
	// exits. A member restarted alone answers once it has caught up,
	// which needs a quorum: restart every member of a cluster that lost
	// its quorum before waiting for any.
	Launch(i int) error
	WaitUp(ctx context.Context, i int) error
	Signal(i int, sig syscall.Signal) error
}

// partitionable is a cluster whose peer links can be cut.
type partitionable interface {
	cluster
	// Split cuts every link between members of different groups (and
	// the connections open on them); Heal restores every link.
	Split(groups ...[]int)
	Heal()
}

// probe is the harness's client for cluster state: short deadlines, so a
// paused member costs a second, not the workload's timeout.
var probe = &http.Client{Timeout: 2 * time.Second}

// getJSON fetches u into v; it fails unless the answer is 200.
func getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := probe.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	return json.Unmarshal(b, v)
}

// settle bounds every wait for the cluster to reach a state (a leader,
// health, a member up): a cluster that does not get there in this time is
// a finding, not something to wait for forever.
const settle = 90 * time.Second

// leaderOf is the index of the member that leads, as every member asked
// (but those in skip) agrees and the member itself confirms; it polls
// for at most settle.
func leaderOf(ctx context.Context, c cluster, skip map[int]bool) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, settle)
	defer cancel()
	urls := c.ClientURLs()
	var last error
	for {
		if i, err := agreedLeader(ctx, urls, skip); err == nil {
			return i, nil
		} else {
			last = err
		}
		if err := proctest.Pause(ctx); err != nil {
			return -1, fmt.Errorf("no leader: %v", last)
		}
	}
}

func agreedLeader(ctx context.Context, urls []string, skip map[int]bool) (int, error) {
	leader := ""
	for i, u := range urls {
		if skip[i] {
			continue
		}
		var m struct{ Name string }
		if err := getJSON(ctx, u+"/v2/members/leader", &m); err != nil {
			return -1, err
		}
		if leader != "" && m.Name != leader {
			return -1, fmt.Errorf("members disagree on the leader (%s, %s)", leader, m.Name)
		}
		leader = m.Name
	}
	var idx int
	if _, err := fmt.Sscanf(leader, "m%d", &idx); err != nil || idx < 0 || idx >= len(urls) || skip[idx] {
		return -1, fmt.Errorf("leader %q is not a running member", leader)
	}
	var self struct{ State string }
	if err := getJSON(ctx, urls[idx]+"/v2/stats/self", &self); err != nil {
		return -1, err
	}
	if self.State != "StateLeader" {
		return -1, fmt.Errorf("m%d does not say it leads (%s)", idx, self.State)
	}
	return idx, nil
}

// waitHealthy polls until every member answers /health with "true"
// (a quorum read succeeds there) and all agree on the leader, for at most
// settle.
func waitHealthy(ctx context.Context, c cluster) error {
	ctx, cancel := context.WithTimeout(ctx, settle)
	defer cancel()
	var last error
	for {
		if last = healthy(ctx, c); last == nil {
			return nil
		}
		if err := proctest.Pause(ctx); err != nil {
			return fmt.Errorf("cluster not healthy: %v", last)
		}
	}
}

func healthy(ctx context.Context, c cluster) error {
	for _, u := range c.ClientURLs() {
		var h struct{ Health string }
		if err := getJSON(ctx, u+"/health", &h); err != nil {
			return err
		}
		if h.Health != "true" {
			return fmt.Errorf("%s: health %q", u, h.Health)
		}
	}
	_, err := agreedLeader(ctx, c.ClientURLs(), nil)
	return err
}

// procCluster is a cluster of etcd-classic processes (proctest), started
// with the etcd 2.x flags and default timings.
type procCluster struct {
	pc *proctest.Cluster
}

// startProcesses bootstraps n members of bin under dir; t, when not
// nil, ties them to a test (killed when it ends, logs shown if it
// failed).
func startProcesses(ctx context.Context, bin, dir string, n int, t testing.TB) (*procCluster, error) {
	pc, err := proctest.StartCluster(ctx, proctest.ClusterConfig{Binary: bin, Members: n, Dir: dir, T: t})
	if err != nil {
		return nil, err
	}
	return &procCluster{pc: pc}, nil
}

func (c *procCluster) ClientURLs() []string { return c.pc.ClientURLs() }
func (c *procCluster) Logs() string         { return c.pc.Logs() }
func (c *procCluster) Stop()                { c.pc.Stop() }
func (c *procCluster) Kill(i int)           { c.pc.Members[i].Kill() }

func (c *procCluster) Signal(i int, sig syscall.Signal) error {
	return c.pc.Members[i].Signal(sig)
}

func (c *procCluster) Launch(i int) error {
	m := c.pc.Members[i]
	if m.Alive() {
		return errors.New(m.Name + " is still running")
	}
	return m.Start()
}

func (c *procCluster) WaitUp(ctx context.Context, i int) error {
	ctx, cancel := context.WithTimeout(ctx, settle)
	defer cancel()
	return c.pc.Members[i].WaitUp(ctx)
}
