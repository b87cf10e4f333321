package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	netURL "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/proctest"
)

// procCluster is a cluster of real etcd-classic processes on loopback.
type procCluster struct {
	t       *testing.T
	members []*proc
	names   []string
}

// startProcCluster bootstraps n members with the etcd 2.x flags
// (proctest.StartCluster) and waits until they are healthy and agree on
// a leader.
func startProcCluster(t *testing.T, n int) *procCluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pc, err := proctest.StartCluster(ctx, proctest.ClusterConfig{Binary: binPath, Members: n, Dir: t.TempDir(), T: t})
	if err != nil {
		t.Fatal(err)
	}
	c := &procCluster{t: t}
	for _, m := range pc.Members {
		c.members = append(c.members, &proc{Member: m, t: t, client: m.ClientURL, dataDir: m.DataDir})
		c.names = append(c.names, m.Name)
	}
	return c
}

// startProcAsync starts a process without waiting for it to answer.
func startProcAsync(t *testing.T, client, dataDir string, args ...string) *proc {
	p := newProc(t, client, dataDir, args)
	if err := p.launch(); err != nil {
		t.Error(err)
	}
	return p
}

func (p *proc) waitUp() {
	waitFor(p.t, "member "+p.client+" answers", func() bool {
		r, err := testClient.Get(p.client + "/version")
		if err != nil {
			return false
		}
		r.Body.Close()
		return true
	})
}

// restart starts a killed member again with the same command line.
func (p *proc) restart() {
	if err := p.launch(); err != nil {
		p.t.Fatal(err)
	}
}

func (p *proc) alive() bool { return p.Alive() }

func (c *procCluster) waitHealthy() {
	waitFor(c.t, "a healthy cluster", func() bool {
		for _, p := range c.members {
			if !p.alive() {
				continue
			}
			r, err := testClient.Get(p.client + "/health")
			if err != nil {
				return false
			}
			r.Body.Close()
			if r.StatusCode != 200 {
				return false
			}
		}
		return true
	})
}

// others returns the members other than ld, in order.
func (c *procCluster) others(ld *proc) []*proc {
	var out []*proc
	for _, p := range c.members {
		if p != ld {
			out = append(out, p)
		}
	}
	return out
}

// leader returns the member that leads, as the members say.
func (c *procCluster) leader() *proc {
	var found *proc
	waitFor(c.t, "a leader", func() bool {
		for _, p := range c.members {
			if !p.alive() {
				continue
			}
			r, err := testClient.Get(p.client + "/v2/members/leader")
			if err != nil {
				continue
			}
			var m struct{ ClientURLs []string }
			_ = json.NewDecoder(r.Body).Decode(&m)
			r.Body.Close()
			for _, q := range c.members {
				if q.alive() && len(m.ClientURLs) > 0 && m.ClientURLs[0] == q.client {
					found = q
					return true
				}
			}
		}
		return false
	})
	return found
}

type ackLog struct {
	mu   sync.Mutex
	acks map[string]uint64 // key → index
	vals map[string]string
}

// writeLoad writes unique keys through the given members until stop is
// closed, recording every acknowledged write and the longest stretch
// without one.
func writeLoad(c *procCluster, stop chan struct{}, acks *ackLog, gap *time.Duration) *sync.WaitGroup {
	var wg sync.WaitGroup
	var lastMu sync.Mutex
	last := time.Now()
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := c.members[(w+i)%len(c.members)]
				if !p.alive() {
					continue
				}
				key := fmt.Sprintf("/load/w%d/k%d", w, i)
				val := fmt.Sprintf("%d-%d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				st, r, err := v2do(ctx, "PUT", p.client+"/v2/keys"+key, netURL.Values{"value": {val}})
				cancel()
				if err != nil || st != 201 {
					continue
				}
				acks.mu.Lock()
				acks.acks[key], acks.vals[key] = r.Node.ModifiedIndex, val
				acks.mu.Unlock()
				lastMu.Lock()
				if d := time.Since(last); d > *gap {
					*gap = d
				}
				last = time.Now()
				lastMu.Unlock()
			}
		}(w)
	}
	return &wg
}

func (c *procCluster) verify(acks *ackLog) {
	c.t.Helper()
	acks.mu.Lock()
	defer acks.mu.Unlock()
	for _, p := range c.members {
		if !p.alive() {
			continue
		}
		for k, idx := range acks.acks {
			// A quorum read on every member: linearizable, so it must see
			// every acknowledged write.
			st, r, err := v2do(context.Background(), "GET", p.client+"/v2/keys"+k+"?quorum=true", nil)
			if err != nil || st != 200 || r.Node.Value != acks.vals[k] || r.Node.ModifiedIndex != idx {
				c.t.Fatalf("%s on %s: status %d %+v %v; acknowledged %s@%d", k, p.client, st, r, err, acks.vals[k], idx)
			}
		}
	}
}

// Kill -9 the leader under a write load: writes keep succeeding through
// the other members within a few election timeouts; every acknowledged
// write is there. Then kill every member, restart them all, and check
// again.
//
// Slow (about 7 s): two elections among real processes (after the leader
// kill, after the restart of all three) and a write load between them.
func TestClusterKillLeaderAndRestartAll(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	c := startProcCluster(t, 3)
	acks := &ackLog{acks: map[string]uint64{}, vals: map[string]string{}}
	stop := make(chan struct{})
	var gap time.Duration
	wg := writeLoad(c, stop, acks, &gap)
	waitFor(t, "writes before the kill", func() bool { acks.mu.Lock(); defer acks.mu.Unlock(); return len(acks.acks) > 200 })
	ld := c.leader()
	ld.kill()
	killedAt := time.Now()
	n0 := func() int { acks.mu.Lock(); defer acks.mu.Unlock(); return len(acks.acks) }()
	waitFor(t, "writes after the kill", func() bool { acks.mu.Lock(); defer acks.mu.Unlock(); return len(acks.acks) > n0+200 })
	close(stop)
	wg.Wait()
	t.Logf("longest write gap %v (leader killed %v before the load stopped); %d acknowledged writes", gap, time.Since(killedAt).Round(time.Millisecond), len(acks.acks))
	if gap > 8*time.Second {
		t.Errorf("writes stopped for %v around the leader kill; want a few election timeouts", gap)
	}
	c.verify(acks)

	for _, p := range c.members {
		p.kill()
	}
	for _, p := range c.members {
		p.restart()
	}
	for _, p := range c.members {
		p.waitUp()
	}
	c.waitHealthy()
	c.verify(acks)
}

// A key whose TTL a client keeps refreshing survives the leader's death:
// the new leader waits out a grace period before expiring inherited keys.
//
// Slow (about 14 s on two cores): the key is watched for 8 s (more than
// two 3 s TTLs, refreshed every second) after the new leader is elected,
// then until it expires once the refreshes stop.
func TestRefreshedTTLSurvivesLeaderKill(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	c := startProcCluster(t, 3)
	ld := c.leader()
	other := c.others(ld)
	if st, _, err := v2do(context.Background(), "PUT", other[0].client+"/v2/keys/session", netURL.Values{"value": {"alive"}, "ttl": {"3"}}); err != nil || st != 201 {
		t.Fatalf("create: %d %v", st, err)
	}
	// The client refreshes every second, trying each member in turn.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for j := range c.members {
				p := c.members[(i+j)%len(c.members)]
				if !p.alive() {
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				st, _, err := v2do(ctx, "PUT", p.client+"/v2/keys/session?refresh=true&prevExist=true", netURL.Values{"ttl": {"3"}})
				cancel()
				if err == nil && st == 200 {
					break
				}
			}
		}
	}()
	time.Sleep(1500 * time.Millisecond) // a refresh or two before the kill (the gap is the test's subject)
	ld.kill()
	// Watch the key through a whole TTL period after the new election.
	nl := c.leader()
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		st, _, err := v2do(context.Background(), "GET", nl.client+"/v2/keys/session", nil)
		if err == nil && st == 404 {
			t.Fatal("the refreshed key expired across the leader change")
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	<-done
	// Once refreshing stops, it does expire.
	waitFor(t, "expiry after refreshes stop", func() bool {
		st, _, err := v2do(context.Background(), "GET", nl.client+"/v2/keys/session", nil)
		return err == nil && st == 404
	})
}

// The seed walkthrough's cluster: three members started with etcd 0.1's
// flags, the second and third joining the first with -C; kill the leader,
// the others elect a new one; kill all, restart with the same commands,
// the data is there.
func TestLegacyJoinedCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	dir := t.TempDir()
	var ps []*proc
	var cports, sports []int
	for i := 0; i < 3; i++ {
		cports, sports = append(cports, freePort(t)), append(sports, freePort(t))
	}
	for i := 0; i < 3; i++ {
		args := []string{"-c", fmt.Sprint(cports[i]), "-s", fmt.Sprint(sports[i]), "-d", filepath.Join(dir, "nodes", fmt.Sprintf("node%d", i+1))}
		if i > 0 {
			args = append(args, "-C", fmt.Sprintf("127.0.0.1:%d", sports[0]))
		}
		ps = append(ps, startProcAsync(t, fmt.Sprintf("http://127.0.0.1:%d", cports[i]), "", args...))
		ps[i].waitUp()
	}
	c := &procCluster{t: t, members: ps}
	waitFor(t, "three members", func() bool {
		r, err := testClient.Get(ps[0].client + "/v2/machines")
		if err != nil {
			return false
		}
		defer r.Body.Close()
		var b strings.Builder
		_, _ = fmt.Fprint(&b)
		buf := make([]byte, 1024)
		n, _ := r.Body.Read(buf)
		return strings.Count(string(buf[:n]), "http://") == 3
	})
	c.waitHealthy()
	if st, _, err := v2do(context.Background(), "PUT", ps[1].client+"/v2/keys/foo", netURL.Values{"value": {"bar"}}); err != nil || st != 201 {
		t.Fatalf("set: %d %v", st, err)
	}
	ld := c.leader()
	ld.kill()
	killed := time.Now()
	nl := c.leader()
	t.Logf("new leader after %v", time.Since(killed))
	if nl == ld {
		t.Fatal("no new leader")
	}
	t.Logf("leader %s killed, new leader %s", ld.client, nl.client)
	if st, r, err := v2do(context.Background(), "GET", nl.client+"/v2/keys/foo?quorum=true", nil); err != nil || st != 200 || r.Node.Value != "bar" {
		t.Fatalf("read after leader kill: %d %+v %v", st, r, err)
	}
	for _, p := range ps {
		p.kill()
	}
	for _, p := range ps {
		p.restart()
	}
	for _, p := range ps {
		p.waitUp()
	}
	c.waitHealthy()
	for _, p := range ps {
		if st, r, err := v2do(context.Background(), "GET", p.client+"/v2/keys/foo?quorum=true", nil); err != nil || st != 200 || r.Node.Value != "bar" {
			t.Fatalf("read after restart on %s: %d %+v %v", p.client, st, r, err)
		}
	}
}

// Procfile brings up a working cluster (scripts_test.go tries
// scripts/cluster.sh); the learner walkthrough of Procfile.learner works
// on the Procfile's cluster.
// The Procfiles' fixed ports are replaced by free ones in copies.
//
// Slow (about 8 s): foreman (Ruby) starts four members and then a fifth,
// the learner, which must catch up before it can be promoted.
func TestProcfileWithForeman(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	foreman, err := exec.LookPath("foreman")
	if err != nil {
		t.Skip("foreman (Debian's ruby-foreman) is not installed")
	}
	dir := t.TempDir()
	ports := map[string]int{}
	rewrite := func(name string) string {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		text := regexp.MustCompile(`127\.0\.0\.1:(\d+)`).ReplaceAllStringFunc(string(b), func(m string) string {
			p := strings.TrimPrefix(m, "127.0.0.1:")
			if _, ok := ports[p]; !ok {
				ports[p] = freePort(t)
			}
			return fmt.Sprintf("127.0.0.1:%d", ports[p])
		})
		text = strings.ReplaceAll(text, "./etcd-classic", binPath)
		out := filepath.Join(dir, name)
		if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return out
	}
	runForeman := func(procfile string) {
		cmd := exec.Command(foreman, "start", "-f", procfile, "-d", dir)
		out := &lockedBuf{}
		cmd.Stdout, cmd.Stderr = out, out
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("foreman %s output:\n%s", filepath.Base(procfile), out.String())
			}
		})
		// foreman and the members it starts share its process group,
		// which proctest kills when the test ends.
		p, err := proctest.Start(t, cmd)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			// Let foreman stop its members itself first.
			_ = p.Signal(syscall.SIGTERM)
			select {
			case <-p.Done():
			case <-time.After(10 * time.Second):
			}
		})
	}
	runForeman(rewrite("Procfile"))
	url := func(p string) string { return fmt.Sprintf("http://127.0.0.1:%d", ports[p]) }
	proxy := url("23790")
	waitFor(t, "write through the proxy", func() bool {
		st, _, err := v2do(context.Background(), "PUT", proxy+"/v2/keys/procfile", netURL.Values{"value": {"ok"}})
		return err == nil && st < 300
	})
	for _, p := range []string{"2379", "22379", "32379"} {
		if st, r, err := v2do(context.Background(), "GET", url(p)+"/v2/keys/procfile?quorum=true", nil); err != nil || st != 200 || r.Node.Value != "ok" {
			t.Errorf("read on %s: %d %+v %v", p, st, r, err)
		}
	}

	// Procfile.learner, step by step as its comments say.
	learnerFile := rewrite("Procfile.learner") // assigns the learner's ports
	learnerPeer := url("42380")
	req, _ := http.NewRequest("POST", url("2379")+"/v2/members", strings.NewReader(`{"peerURLs":["`+learnerPeer+`"],"isLearner":true}`))
	req.Header.Set("Content-Type", "application/json")
	r, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var added struct {
		ID        string `json:"id"`
		IsLearner bool   `json:"isLearner"`
	}
	_ = json.NewDecoder(r.Body).Decode(&added)
	r.Body.Close()
	if r.StatusCode != 201 || !added.IsLearner {
		t.Fatalf("adding the learner: %d %+v", r.StatusCode, added)
	}
	runForeman(learnerFile)
	waitFor(t, "the learner started and caught up", func() bool {
		st, rr, err := v2do(context.Background(), "GET", url("42379")+"/v2/keys/procfile", nil)
		return err == nil && st == 200 && rr.Node.Value == "ok"
	})
	waitFor(t, "promotion", func() bool {
		r, err := testClient.Post(url("2379")+"/v2/members/"+added.ID+"/promote", "", nil)
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})
	r, err = testClient.Get(url("2379") + "/v2/members")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if strings.Contains(string(b), "isLearner") || strings.Count(string(b), `"id"`) != 4 || !strings.Contains(string(b), `"name":"infra4"`) {
		t.Errorf("members after promotion: %s", b)
	}
}

// Every member answers with the same X-Etcd-Cluster-Id. Without a quorum
// a write fails quickly with error 300 (never hangs), plain reads still
// answer (stale), /health is 503 and /v2/members/leader is 503.
func TestNoQuorumFailsFast(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	c := startProcCluster(t, 3)
	ids := map[string]bool{}
	for _, p := range c.members {
		r, err := testClient.Get(p.client + "/v2/keys/")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		ids[r.Header.Get("X-Etcd-Cluster-Id")] = true
	}
	if len(ids) != 1 || ids[""] {
		t.Fatalf("cluster IDs across members: %v", ids)
	}
	if st, _, err := v2do(context.Background(), "PUT", c.members[0].client+"/v2/keys/before", netURL.Values{"value": {"1"}}); err != nil || st != 201 {
		t.Fatalf("put: %d %v", st, err)
	}
	survivor := c.members[0]
	waitFor(t, "the survivor has the write", func() bool {
		st, _, err := v2do(context.Background(), "GET", survivor.client+"/v2/keys/before", nil)
		return err == nil && st == 200
	})
	c.members[1].kill()
	c.members[2].kill()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "PUT", survivor.client+"/v2/keys/after", strings.NewReader("value=2"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		ErrorCode int    `json:"errorCode"`
		Cause     string `json:"cause"`
	}
	_ = json.NewDecoder(r.Body).Decode(&e)
	r.Body.Close()
	took := time.Since(start)
	t.Logf("write without quorum: %d, error %d %q after %v", r.StatusCode, e.ErrorCode, e.Cause, took.Round(time.Millisecond))
	if r.StatusCode != 500 || e.ErrorCode != 300 {
		t.Errorf("write without quorum: status %d error %d, want 500 / 300", r.StatusCode, e.ErrorCode)
	}
	if took > 9*time.Second {
		t.Errorf("write without quorum took %v; want a fast failure", took)
	}
	if st, _, err := v2do(context.Background(), "GET", survivor.client+"/v2/keys/before", nil); err != nil || st != 200 {
		t.Errorf("stale read without quorum: %d %v", st, err)
	}
	waitFor(t, "health and leader report the lost quorum", func() bool {
		h, err := testClient.Get(survivor.client + "/health")
		if err != nil {
			return false
		}
		h.Body.Close()
		l, err := testClient.Get(survivor.client + "/v2/members/leader")
		if err != nil {
			return false
		}
		l.Body.Close()
		return h.StatusCode == 503 && l.StatusCode == 503
	})
}
