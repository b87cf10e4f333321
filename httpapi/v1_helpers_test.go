package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// v1Clock is the settable clock of the v1 handler tests: the API renders
// TTLs with it and the stub node stamps writes with it.
type v1Clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *v1Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// v1Server is a stub member serving /v1 in one dialect.
type v1Server struct {
	*stubServer
	clock *v1Clock
}

type v1Opts struct {
	dialect  string
	redirect bool
	// node, when set, wraps the stub node into the Node the API uses.
	node func(*stubNode) Node
}

func newV1Server(t *testing.T, o v1Opts) *v1Server {
	t.Helper()
	st := store.New()
	node := newStubNode(st, stubTime)
	clock := &v1Clock{now: stubTime}
	var n Node = node
	if o.node != nil {
		n = o.node(node)
	}
	api := New(Config{Store: st, Node: n, Now: clock.Now, ServerVersion: "2.3.8", ClusterVersion: "2.3.0",
		StartTime: stubTime, V1Dialect: o.dialect, Redirect: o.redirect})
	srv := httptest.NewServer(api)
	t.Cleanup(func() { api.Close(); srv.Close() })
	return &v1Server{stubServer: &stubServer{Server: srv, api: api, node: node, st: st}, clock: clock}
}

// advance moves the clock of the API and of the stub node.
func (s *v1Server) advance(d time.Duration) {
	s.clock.mu.Lock()
	s.clock.now = s.clock.now.Add(d)
	now := s.clock.now
	s.clock.mu.Unlock()
	s.node.mu.Lock()
	s.node.now = now
	s.node.mu.Unlock()
}

// expire runs the leader's expiry sweep at the current time.
func (s *v1Server) expire() { s.st.DeleteExpiredKeys(s.clock.Now()) }

// addMember puts another started member in the stub's table.
func (s *v1Server) addMember(t *testing.T, m *machines.Member) {
	t.Helper()
	s.node.mu.Lock()
	defer s.node.mu.Unlock()
	if err := s.node.cluster.Add(m); err != nil {
		t.Fatal(err)
	}
}

// v1Step is one request and its exact answer. An empty want skips the
// body check unless wantEmpty is set; a header wanted as "" must be
// absent.
type v1Step struct {
	method, path, body string
	status             int
	want               string
	headers            map[string]string
	advance            time.Duration // move the clock before the request
	expire             bool          // run an expiry sweep before the request
}

func (s *v1Server) run(t *testing.T, steps []v1Step) {
	t.Helper()
	for i, st := range steps {
		if st.advance != 0 {
			s.advance(st.advance)
		}
		if st.expire {
			s.expire()
		}
		r := s.do(t, st.method, st.path, st.body)
		if r.status != st.status {
			t.Fatalf("step %d %s %s %s: status %d, want %d (body %q)", i, st.method, st.path, st.body, r.status, st.status, r.body)
		}
		if st.want != "" && r.body != st.want {
			t.Errorf("step %d %s %s %s:\ngot  %q\nwant %q", i, st.method, st.path, st.body, r.body, st.want)
		}
		if st.method == http.MethodHead && r.body != "" {
			t.Errorf("step %d HEAD %s: body %q", i, st.path, r.body)
		}
		for k, v := range st.headers {
			if got := r.header.Get(k); got != v {
				t.Errorf("step %d %s %s: header %s = %q, want %q", i, st.method, st.path, k, got, v)
			}
		}
	}
}

// Header expectations of the two dialects.
var (
	// A 0.4.6 success: sniffed text/plain, no index headers.
	v1OK = map[string]string{"Content-Type": "text/plain; charset=utf-8", "X-Etcd-Index": "", "X-Raft-Index": "", "X-Raft-Term": ""}
	// A 0.4.6 HEAD success: nothing written, nothing sniffed.
	v1HeadOK = map[string]string{"Content-Type": "", "X-Etcd-Index": ""}
	// A v0.1.0 answer, success or error: text/plain, never an index.
	v01H = map[string]string{"Content-Type": "text/plain; charset=utf-8", "X-Etcd-Index": ""}
	// Go's plain 404 page.
	notFoundPage = "404 page not found\n"
)

// v1Err are the headers of a 0.4.6 error at index idx.
func v1Err(idx string) map[string]string {
	return map[string]string{"Content-Type": "application/json", "X-Etcd-Index": idx, "X-Raft-Index": ""}
}

// followerNode is the stub seen from a follower: another member leads.
type followerNode struct {
	*stubNode
	leader uint64 // 0: no leader known
}

func (f *followerNode) IsLeader() bool { return false }
func (f *followerNode) LeaderID() (uint64, bool) {
	return f.leader, f.leader != 0
}
func (f *followerNode) LeaderStats() (map[uint64]machines.FollowerStats, bool) { return nil, false }
func (f *followerNode) State() string                                          { return "StateFollower" }

// waitWatchers polls until the store has n registered watchers.
func waitWatchers(t *testing.T, st *store.Store, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for st.WatcherCount() != n {
		if time.Now().After(deadline) {
			t.Fatalf("watchers: %d, want %d", st.WatcherCount(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// bg runs a request in the background; the result arrives on the channel.
func (s *v1Server) bg(t *testing.T, method, path, body string) <-chan resp {
	t.Helper()
	ch := make(chan resp, 1)
	go func() { ch <- s.doNoFatal(method, path, body) }()
	return ch
}

// doNoFatal is do for goroutines: a failed request comes back as status 0
// with the error text as body.
func (s *v1Server) doNoFatal(method, path, body string) resp {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		return resp{body: err.Error()}
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r, err := testClient.Do(req)
	if err != nil {
		return resp{body: err.Error()}
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return resp{body: err.Error()}
	}
	return resp{status: r.StatusCode, header: r.Header, body: string(b)}
}

// recv waits for a background answer.
func recv(t *testing.T, ch <-chan resp) resp {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no answer within 10s")
		return resp{}
	}
}
