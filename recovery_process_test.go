package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// memberList is GET /v2/members.
type memberList struct {
	Members []struct {
		ID         string   `json:"id"`
		Name       string   `json:"name"`
		PeerURLs   []string `json:"peerURLs"`
		ClientURLs []string `json:"clientURLs"`
	} `json:"members"`
}

func listMembers(t *testing.T, client string) memberList {
	t.Helper()
	var ml memberList
	r, err := testClient.Get(client + "/v2/members")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if err := json.NewDecoder(r.Body).Decode(&ml); err != nil {
		t.Fatal(err)
	}
	return ml
}

// addMember is POST /v2/members on client for peerURL.
func addMember(t *testing.T, client, peerURL string) {
	t.Helper()
	body := `{"peerURLs":["` + peerURL + `"]}`
	var r *http.Response
	waitFor(t, "member add of "+peerURL, func() bool {
		var err error
		r, err = testClient.Post(client+"/v2/members", "application/json", strings.NewReader(body))
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusCreated
	})
}

// hostPort is a URL's host:port.
func hostPort(u string) string {
	return strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
}

// A three-member cluster under a write load loses both followers for
// good (kill -9, data dirs gone); the survivor, killed too, restarts with
// --force-new-cluster and serves alone with every acknowledged write (its
// log held them all, the tail past its persisted commit index included);
// two new members join it, one by POST /v2/members and
// --initial-cluster-state=existing, one the etcd 0.x way with -peers;
// every acknowledged write is on all three. A lost member that comes back
// with its old data is refused by the survivor and changes nothing.
// Without --force-new-cluster the survivor never takes a write.
//
// Slow (about 15 s): elections among real processes, a write load, two
// joins.
func TestForceNewClusterProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	c := startProcCluster(t, 3)
	acks := &ackLog{acks: map[string]uint64{}, vals: map[string]string{}}
	stop := make(chan struct{})
	var gap time.Duration
	wg := writeLoad(c, stop, acks, &gap)
	waitFor(t, "writes before the loss", func() bool { acks.mu.Lock(); defer acks.mu.Unlock(); return len(acks.acks) > 300 })
	survivor := c.leader()
	var lost []*proc
	for _, p := range c.members {
		if p != survivor {
			lost = append(lost, p)
		}
	}
	for _, p := range lost {
		p.kill()
	}
	close(stop)
	wg.Wait()
	survivor.kill()
	_ = os.RemoveAll(lost[0].dataDir)
	t.Logf("%d acknowledged writes; survivor %s", len(acks.acks), survivor.client)

	survivor.Member.Args = append(survivor.Member.Args, "--force-new-cluster")
	survivor.restart()
	survivor.waitUp()
	c.members = []*proc{survivor}
	waitFor(t, "the survivor takes a write", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, _, err := v2do(ctx, "PUT", survivor.client+"/v2/keys/recovered", map[string][]string{"value": {"yes"}})
		return err == nil && st == http.StatusCreated
	})
	c.verify(acks)
	if ml := listMembers(t, survivor.client); len(ml.Members) != 1 {
		t.Fatalf("members after the forced new cluster: %+v", ml)
	}

	// A new member by POST /v2/members (etcd 2.x).
	n1 := newJoiner(t, "n1")
	addMember(t, survivor.client, n1.peer)
	survivorPeer := survivor.peerURL()
	n1.Member.Args = append(n1.Member.Args, "--initial-cluster", "survivor="+survivorPeer+",n1="+n1.peer, "--initial-cluster-state", "existing")
	n1.start()
	// A new member with -peers (etcd 0.x), with 2.x timings like the rest.
	n2 := newJoiner(t, "n2")
	n2.Member.Args = []string{"-name", "n2", "-data-dir", n2.dataDir, "-addr", hostPort(n2.client), "-peer-addr", hostPort(n2.peer),
		"-peers", hostPort(survivorPeer), "--heartbeat-interval", "100", "--election-timeout", "1000"}
	n2.start()
	c.members = []*proc{survivor, n1.proc, n2.proc}
	waitFor(t, "three published members", func() bool {
		ml := listMembers(t, survivor.client)
		named := 0
		for _, m := range ml.Members {
			if m.Name != "" {
				named++
			}
		}
		return named == 3
	})
	c.waitHealthy()
	c.verify(acks)

	// A lost member back with its old data is refused.
	back := lost[1]
	back.restart()
	waitFor(t, "the survivor refuses the lost member", func() bool {
		return strings.Contains(survivor.Output(), "was removed from the cluster")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if st, _, err := v2do(ctx, "PUT", n2.client+"/v2/keys/after-joins", map[string][]string{"value": {"1"}}); err != nil || st != http.StatusCreated {
		t.Fatalf("write through n2: %d %v", st, err)
	}
	if ml := listMembers(t, n1.client); len(ml.Members) != 3 {
		t.Errorf("members: %+v, want the survivor and n1, n2", ml)
	}
}

// joiner is a new member's process, not started yet.
type joiner struct {
	*proc
	peer string
}

// newJoiner describes a new member on fresh ports with the 2.x flags
// (the caller adds the cluster's).
func newJoiner(t *testing.T, name string) *joiner {
	client := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	dir := t.TempDir()
	p := newProc(t, client, dir, []string{"--name", name, "--data-dir", dir,
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer})
	return &joiner{proc: p, peer: peer}
}

// peerURL is the member's advertised peer URL, from its command line.
func (p *proc) peerURL() string {
	args := p.Member.Args
	for i, a := range args {
		if (a == "--initial-advertise-peer-urls" || a == "-peer-addr") && i+1 < len(args) {
			if a == "-peer-addr" {
				return "http://" + args[i+1]
			}
			return args[i+1]
		}
	}
	return ""
}

// etcd 0.4's -f, "force a new configuration to be used": a member whose
// peers are gone for good restarts with -f and serves alone with its
// keys (etcd 0.4 would have deleted them); a new member then joins it
// with -peers and has them too. Without -f it never takes a write.
//
// Slow (about 8 s).
func TestForceLegacyProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	legacy := func(name, dir string, peers ...string) *proc {
		cp, pp := freePort(t), freePort(t)
		client := fmt.Sprintf("http://127.0.0.1:%d", cp)
		args := []string{"-name", name, "-data-dir", dir, "-addr", fmt.Sprintf("127.0.0.1:%d", cp), "-peer-addr", fmt.Sprintf("127.0.0.1:%d", pp),
			"-peer-heartbeat-interval", "100", "-peer-election-timeout", "1000"}
		if len(peers) > 0 {
			args = append(args, "-peers", strings.Join(peers, ","))
		}
		return startProc(t, client, dir, args...)
	}
	a := legacy("a", t.TempDir())
	aPeer := hostPort(a.peerURL())
	b := legacy("b", t.TempDir(), aPeer)
	cc := legacy("c", t.TempDir(), aPeer)
	c := &procCluster{t: t, members: []*proc{a, b, cc}}
	c.waitHealthy()
	acks := &ackLog{acks: map[string]uint64{}, vals: map[string]string{}}
	for i := 0; i < 30; i++ {
		p := c.members[i%3]
		key, val := fmt.Sprintf("/legacy/k%d", i), fmt.Sprint(i)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, r, err := v2do(ctx, "PUT", p.client+"/v2/keys"+key, map[string][]string{"value": {val}})
		cancel()
		if err != nil || st != http.StatusCreated {
			t.Fatalf("PUT %s: %d %v", key, st, err)
		}
		acks.acks[key], acks.vals[key] = r.Node.ModifiedIndex, val
	}
	c.verify(acks) // every member has applied every write
	b.kill()
	cc.kill()
	a.kill()
	a.Member.Args = append(a.Member.Args, "-f")
	a.restart()
	a.waitUp()
	c.members = []*proc{a}
	waitFor(t, "a takes a write alone", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, _, err := v2do(ctx, "PUT", a.client+"/v2/keys/alone", map[string][]string{"value": {"1"}})
		return err == nil && st == http.StatusCreated
	})
	c.verify(acks)
	d := legacy("d", t.TempDir(), aPeer)
	c.members = []*proc{a, d}
	c.waitHealthy()
	c.verify(acks)
	if ml := listMembers(t, d.client); len(ml.Members) != 2 {
		t.Errorf("members: %+v, want a and d", ml)
	}
}
