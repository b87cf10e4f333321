package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/server"
	"github.com/etcd-classic/etcd-classic/server/servertest"
)

// The guarantees of writes that reach a follower, which answers them as
// soon as the leader has them (raftfsm's read fence and commit notices):
// read-your-writes on the member that answered, linearizable quorum
// reads on every member, every event once and in order on every watch.
// Each test makes one follower lag: every peer connection to it writes
// late (slowLinks), so it learns entries well after the leader answered.

// slowLinks is every member's PeerDial: writes on connections to the
// peer address in target wait delay first. Only the link to the target
// is slow, so it lags while the other two commit.
type slowLinks struct {
	target atomic.Value // string: host:port, "" for none
	delay  time.Duration
}

func newSlowLinks(delay time.Duration) *slowLinks {
	s := &slowLinks{delay: delay}
	s.target.Store("")
	return s
}

func (s *slowLinks) dial(addr string, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return &slowConn{Conn: c, s: s, addr: addr}, nil
}

// slow makes the links to mb lag.
func (s *slowLinks) slow(mb *servertest.Member) {
	s.target.Store(strings.TrimPrefix(mb.PeerURL, "http://"))
}

type slowConn struct {
	net.Conn
	s    *slowLinks
	addr string
}

func (c *slowConn) Write(p []byte) (int, error) {
	if c.s.target.Load() == c.addr {
		time.Sleep(c.s.delay) // the lag the tests are about
	}
	return c.Conn.Write(p)
}

// slowCluster starts three members whose peer links go through s.
func slowCluster(t *testing.T, s *slowLinks) *servertest.Cluster {
	return servertest.NewCluster(t, 3, func(_ int, cfg *server.Config) { cfg.PeerDial = s.dial })
}

// keysAnswer is the part of a v1 or v2 keys answer the tests read.
type keysAnswer struct {
	status    int
	etcdIndex uint64
	Action    string `json:"action"`
	Node      struct {
		Key           string `json:"key"`
		Value         string `json:"value"`
		ModifiedIndex uint64 `json:"modifiedIndex"`
		Nodes         []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"nodes"`
	} `json:"node"`
	// The v1 shape.
	Value string `json:"value"`
	Index uint64 `json:"index"`
}

// call sends one request to a member's client URL (safe in goroutines).
func call(method, u string, form url.Values) (*keysAnswer, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := servertest.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	a := &keysAnswer{status: resp.StatusCode}
	a.etcdIndex, _ = strconv.ParseUint(resp.Header.Get("X-Etcd-Index"), 10, 64)
	if err := json.Unmarshal(b, a); err != nil {
		return nil, fmt.Errorf("%s %s: %d %s", method, u, resp.StatusCode, b)
	}
	if resp.StatusCode >= 300 {
		return a, fmt.Errorf("%s %s: %d %s", method, u, resp.StatusCode, b)
	}
	return a, nil
}

// A plain GET (v2 and v1) on the follower that answered a write, sent
// after the answer, sees that write, for many clients writing through
// that follower at once, while the follower lags behind the leader. So
// does a watch: registered after the answer, its first event is the next
// write, not the client's own.
func TestReadYourWritesOnFollower(t *testing.T) {
	s := newSlowLinks(20 * time.Millisecond)
	c := slowCluster(t, s)
	f := c.Followers(t)[0]
	s.slow(f)
	const clients, rounds = 8, 12
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for cl := 0; cl < clients; cl++ {
		wg.Add(1)
		go func(cl int) {
			defer wg.Done()
			errs <- readYourWrites(f.ClientURL(), cl, rounds)
		}(cl)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}

	// A watch registered after the answer starts after the write.
	if _, err := call(http.MethodPut, f.ClientURL()+"/v2/keys/ryw-watch", url.Values{"value": {"own"}}); err != nil {
		t.Fatal(err)
	}
	resp, err := servertest.Client.Get(f.ClientURL() + "/v2/keys/ryw-watch?wait=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// The headers came: the watch is registered. Now the next write.
	if _, err := call(http.MethodPut, c.Leader(t).ClientURL()+"/v2/keys/ryw-watch", url.Values{"value": {"next"}}); err != nil {
		t.Fatal(err)
	}
	var ev keysAnswer
	if err := json.NewDecoder(resp.Body).Decode(&ev); err != nil || ev.Node.Value != "next" {
		t.Errorf("watch after the write got %+v (%v), want the next write", ev, err)
	}
}

// readYourWrites writes /ryw/<cl> rounds times through the member at u,
// reading it back after each answer, by v2 and v1 in turn.
func readYourWrites(u string, cl, rounds int) error {
	key := fmt.Sprintf("/ryw/c%d", cl)
	for r := 0; r < rounds; r++ {
		val := strconv.Itoa(r)
		w, err := call(http.MethodPut, u+"/v2/keys"+key, url.Values{"value": {val}})
		if err != nil {
			return err
		}
		if r%2 == 0 {
			g, err := call(http.MethodGet, u+"/v2/keys"+key, nil)
			if err != nil {
				return err
			}
			if g.Node.Value != val || g.etcdIndex < w.Node.ModifiedIndex {
				return fmt.Errorf("client %d: v2 GET after writing %s at %d read %q at X-Etcd-Index %d", cl, val, w.Node.ModifiedIndex, g.Node.Value, g.etcdIndex)
			}
			continue
		}
		g, err := call(http.MethodGet, u+"/v1/keys"+key, nil)
		if err != nil {
			return err
		}
		if g.Value != val || g.Index < w.Node.ModifiedIndex {
			return fmt.Errorf("client %d: v1 GET after writing %s at %d read %q at index %d", cl, val, w.Node.ModifiedIndex, g.Value, g.Index)
		}
	}
	return nil
}

// quorum=true reads are linearizable on every member, the lagging one
// included: a read that starts after a write was acknowledged (through
// any member) sees it or a later value.
func TestQuorumReadsLinearizableWhileForwarding(t *testing.T) {
	s := newSlowLinks(10 * time.Millisecond)
	c := slowCluster(t, s)
	s.slow(c.Followers(t)[0])
	const writers = 4
	var acked [writers]atomic.Int64
	for w := range acked {
		acked[w].Store(-1)
	}
	ctx, stop := context.WithTimeout(context.Background(), 3*time.Second)
	defer stop()
	var wg sync.WaitGroup
	errs := make(chan error, writers+len(c.Members))
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				mb := c.Members[(w+i)%len(c.Members)]
				if _, err := call(http.MethodPut, fmt.Sprintf("%s/v2/keys/lin/w%d", mb.ClientURL(), w), url.Values{"value": {strconv.Itoa(i)}}); err != nil {
					errs <- err
					return
				}
				acked[w].Store(int64(i))
			}
		}(w)
	}
	for _, mb := range c.Members {
		wg.Add(1)
		go func(mb *servertest.Member) {
			defer wg.Done()
			for ctx.Err() == nil {
				var want [writers]int64
				for w := range want {
					want[w] = acked[w].Load()
				}
				g, err := call(http.MethodGet, mb.ClientURL()+"/v2/keys/lin?recursive=true&quorum=true", nil)
				if err != nil {
					if g != nil && g.status == http.StatusNotFound {
						continue // before the first write
					}
					errs <- err
					return
				}
				for _, n := range g.Node.Nodes {
					w, _ := strconv.Atoi(strings.TrimPrefix(n.Key, "/lin/w"))
					got, _ := strconv.ParseInt(n.Value, 10, 64)
					if w < writers && got < want[w] {
						errs <- fmt.Errorf("quorum read on %s: %s = %d, but %d was acknowledged before the read", mb.Name, n.Key, got, want[w])
						return
					}
				}
			}
		}(mb)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for w := range acked {
		if acked[w].Load() < 5 {
			t.Errorf("writer %d got only %d writes through", w, acked[w].Load()+1)
		}
	}
}

// A recursive streaming watch on every member sees every write made
// through the followers exactly once, in index order, and the three
// watches see the same sequence.
func TestWatchesSeeEveryEventOnceWhileForwarding(t *testing.T) {
	s := newSlowLinks(5 * time.Millisecond)
	c := slowCluster(t, s)
	followers := c.Followers(t)
	s.slow(followers[0])
	start, err := call(http.MethodPut, c.Leader(t).ClientURL()+"/v2/keys/start", url.Values{"value": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	from := start.Node.ModifiedIndex + 1
	type stream struct {
		name string
		dec  *json.Decoder
	}
	var streams []stream
	for _, mb := range c.Members {
		resp, err := servertest.Client.Get(fmt.Sprintf("%s/v2/keys/w?wait=true&recursive=true&stream=true&waitIndex=%d", mb.ClientURL(), from))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		streams = append(streams, stream{mb.Name, json.NewDecoder(resp.Body)})
	}
	const writers, each = 4, 25
	acked := map[uint64]string{} // index → key
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				key := fmt.Sprintf("/w/c%d-%d", w, i)
				a, err := call(http.MethodPut, followers[(w+i)%2].ClientURL()+"/v2/keys"+key, url.Values{"value": {key}})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[a.Node.ModifiedIndex] = key
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var first []uint64
	for _, st := range streams {
		seq, err := readEvents(st.dec, writers*each)
		if err != nil {
			t.Fatalf("watch on %s: %v", st.name, err)
		}
		for i, ev := range seq {
			if i > 0 && ev.Node.ModifiedIndex <= seq[i-1].Node.ModifiedIndex {
				t.Fatalf("watch on %s: event %d at index %d after %d", st.name, i, ev.Node.ModifiedIndex, seq[i-1].Node.ModifiedIndex)
			}
			if key, ok := acked[ev.Node.ModifiedIndex]; !ok || key != ev.Node.Key {
				t.Fatalf("watch on %s: event %s at %d, acknowledged %q there", st.name, ev.Node.Key, ev.Node.ModifiedIndex, key)
			}
		}
		var idx []uint64
		for _, ev := range seq {
			idx = append(idx, ev.Node.ModifiedIndex)
		}
		if first == nil {
			first = idx
		} else if fmt.Sprint(idx) != fmt.Sprint(first) {
			t.Errorf("watch on %s saw %v, another member %v", st.name, idx, first)
		}
	}
}

// readEvents decodes n events from a streaming watch (each in 30 s).
func readEvents(dec *json.Decoder, n int) ([]keysAnswer, error) {
	var out []keysAnswer
	for len(out) < n {
		var ev keysAnswer
		if err := dec.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) {
				return out, fmt.Errorf("stream ended after %d of %d events", len(out), n)
			}
			return out, err
		}
		out = append(out, ev)
	}
	return out, nil
}
