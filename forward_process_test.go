package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	netURL "net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Kill -9 the leader while writes the followers forward to it are in
// flight (a follower answers a forwarded write as soon as the leader has
// committed it). Then kill every member and restart them all. Every
// acknowledged write is on every member, under the key it was
// acknowledged with, and no write is there twice: each is a POST (an
// in-order key) of a value no other request carries, so a write applied
// twice would show as two keys with one value.
//
// Slow (about 10 s): two elections among real processes and a write load.
func TestForwardedWritesSurviveLeaderKill(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	c := startProcCluster(t, 3)
	ld := c.leader()
	followers := c.others(ld)
	var mu sync.Mutex
	acked := map[string]string{} // value → the key it was created at
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := followers[(w+i)%len(followers)]
				val := fmt.Sprintf("w%d-%d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				st, r, err := v2do(ctx, http.MethodPost, p.client+"/v2/keys/fwd", netURL.Values{"value": {val}})
				cancel()
				if err == nil && st == http.StatusCreated && r.Node.Value == val {
					mu.Lock()
					acked[val] = r.Node.Key
					mu.Unlock()
				}
			}
		}(w)
	}
	waitFor(t, "forwarded writes before the kill", func() bool { return count() > 150 })
	ld.kill()
	n0 := count()
	waitFor(t, "writes after the kill", func() bool { return count() > n0+150 })
	close(stop)
	wg.Wait()
	for _, p := range followers {
		p.kill()
	}
	for _, p := range c.members {
		p.restart()
	}
	for _, p := range c.members {
		p.waitUp()
	}
	c.waitHealthy()
	var first map[string]string
	for _, p := range c.members {
		got := listFwd(t, p.client)
		for val, key := range acked {
			if got[val] != key {
				t.Errorf("%s: acknowledged %s at %s, found at %q", p.client, val, key, got[val])
			}
		}
		if first == nil {
			first = got
		} else if fmt.Sprint(got) != fmt.Sprint(first) {
			t.Errorf("%s holds %d writes, another member %d, or other keys", p.client, len(got), len(first))
		}
	}
	t.Logf("%d acknowledged writes, %d stored", len(acked), len(first))
}

// listFwd reads /fwd on the member at u (a quorum read, then the same
// listing locally) and returns value → key; a value found under two keys
// (a write applied twice) fails the test.
func listFwd(t *testing.T, u string) map[string]string {
	t.Helper()
	var listings []string
	out := map[string]string{}
	for _, q := range []string{"?recursive=true&sorted=true&quorum=true", "?recursive=true&sorted=true"} {
		resp, err := testClient.Get(u + "/v2/keys/fwd" + q)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Node struct {
				Nodes []struct{ Key, Value string }
			}
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s/v2/keys/fwd%s: %d %v", u, q, resp.StatusCode, err)
		}
		listings = append(listings, fmt.Sprint(body.Node.Nodes))
		clear(out)
		for _, n := range body.Node.Nodes {
			if k, dup := out[n.Value]; dup {
				t.Fatalf("%s: %s stored twice, at %s and %s", u, n.Value, k, n.Key)
			}
			out[n.Value] = n.Key
		}
	}
	if listings[0] != listings[1] {
		t.Errorf("%s: the local listing differs from the quorum listing", u)
	}
	return out
}

// A leader that stops answering without closing its connections (here
// SIGSTOP; a network that drops packets looks the same) must not hold a
// follower's quorum reads for the whole request timeout: once the others
// have elected a new leader, the follower asks it instead. The read is
// sent at once after the pause, while the follower still believes in the
// paused leader; held until the request timeout (7 s: 5 s plus two
// election timeouts, as etcd) it would fail with error 300.
func TestQuorumReadOnFollowerMovesToNewLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	c := startProcCluster(t, 3)
	ld := c.leader()
	f := c.others(ld)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	st, _, err := v2do(ctx, http.MethodPut, f.client+"/v2/keys/moved", netURL.Values{"value": {"before"}})
	cancel()
	if err != nil || st != http.StatusCreated {
		t.Fatalf("write through the follower: %d %v", st, err)
	}
	if err := ld.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	st, r, err := v2do(ctx, http.MethodGet, f.client+"/v2/keys/moved?quorum=true", nil)
	if err != nil || st != http.StatusOK || r.Node.Value != "before" {
		t.Fatalf("quorum read on a follower while the leader is paused: %d %+v %v", st, r, err)
	}
	if !strings.Contains(f.Output(), "leader changed during a read-index round") {
		t.Log("the follower knew the new leader before the read reached it (the read did not wait for the paused one)")
	}
}
