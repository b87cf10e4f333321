package ops

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// fakeMember serves the slice of /v2/keys a copy uses (GET with
// waitIndex, PUT with value, dir, ttl and prevExist) from a real
// store.Store, so listings, hidden nodes, TTLs and error codes follow the
// store's etcd rules. Its clock is set by the test.
type fakeMember struct {
	t      *testing.T
	st     *store.Store
	srv    *httptest.Server
	writes atomic.Int64 // PUT requests answered
	// auth, when set, is the "user:password" every request must carry.
	auth string

	mu  sync.Mutex // guards now
	now time.Time
}

// fakeEpoch is every fake member's clock until a test moves it.
var fakeEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// newFakeMember starts a member on a loopback port, closed at cleanup.
func newFakeMember(t *testing.T) *fakeMember {
	t.Helper()
	f := &fakeMember{t: t, st: store.New(), now: fakeEpoch}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

// newFakeTLSMember starts a member that serves TLS with cfg.
func newFakeTLSMember(t *testing.T, cfg *tls.Config) *fakeMember {
	t.Helper()
	f := &fakeMember{t: t, st: store.New(), now: fakeEpoch}
	f.srv = httptest.NewUnstartedServer(f)
	f.srv.TLS = cfg
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

// advance moves the member's clock.
func (f *fakeMember) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// clock returns the member's current time.
func (f *fakeMember) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// mustPut writes key directly into the store (not counted as a write).
func (f *fakeMember) mustPut(key string, dir bool, value string, ttl time.Duration) {
	f.t.Helper()
	var expire time.Time
	if ttl > 0 {
		expire = f.clock().Add(ttl)
	}
	if _, err := f.st.Set(key, dir, value, expire, false, f.clock()); err != nil {
		f.t.Fatalf("set %s: %v", key, err)
	}
}

func (f *fakeMember) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.auth != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u+":"+p != f.auth {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write(store.NewError(store.EcodeUnauthorized, "Insufficient credentials", 0).JSON())
			return
		}
	}
	key := strings.TrimPrefix(r.URL.Path, "/v2/keys")
	if key == r.URL.Path {
		http.NotFound(w, r)
		return
	}
	var ev *store.Event
	var err error
	switch r.Method {
	case http.MethodGet:
		ev, err = f.get(r, key)
	case http.MethodPut:
		f.writes.Add(1)
		ev, err = f.put(r, key)
	default:
		http.Error(w, "method", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Etcd-Index", strconv.FormatUint(f.st.Index(), 10))
	var se *store.Error
	if errors.As(err, &se) {
		w.WriteHeader(se.StatusCode())
		_, _ = w.Write(se.JSON())
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if ev.IsCreated() {
		w.WriteHeader(http.StatusCreated)
	}
	_ = json.NewEncoder(w).Encode(ev)
}

func (f *fakeMember) get(r *http.Request, key string) (*store.Event, error) {
	q := r.URL.Query()
	if q.Get("wait") != "true" {
		return f.st.Get(key, q.Get("recursive") == "true", q.Get("sorted") == "true", f.clock())
	}
	since, _ := strconv.ParseUint(q.Get("waitIndex"), 10, 64)
	wt, err := f.st.Watch(key, q.Get("recursive") == "true", false, since)
	if err != nil {
		return nil, err
	}
	defer wt.Remove()
	select {
	case ev := <-wt.EventChan():
		return ev, nil
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
}

func (f *fakeMember) put(r *http.Request, key string) (*store.Event, error) {
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	req := &store.Request{Method: store.MethodPut, Path: key, Value: r.PostForm.Get("value"), Dir: r.PostForm.Get("dir") == "true"}
	if pe := r.PostForm.Get("prevExist"); pe != "" {
		b := pe == "true"
		req.PrevExist = &b
	}
	if ttl := r.PostForm.Get("ttl"); ttl != "" {
		n, err := strconv.ParseInt(ttl, 10, 64)
		if err != nil {
			return nil, store.NewError(store.EcodeTTLNaN, "Update", f.st.Index())
		}
		req.HasTTL, req.TTL = true, time.Duration(n)*time.Second
	}
	return f.st.Apply(req, f.clock())
}

// tree returns the member's visible tree plus the named hidden nodes'
// subtrees, as Nodes with deadlines on the member's clock.
func (f *fakeMember) tree(t *testing.T, hidden ...string) map[string]Node {
	t.Helper()
	out := map[string]Node{}
	var add func(n *store.NodeExtern)
	add = func(n *store.NodeExtern) {
		if n.Key != "" {
			node := Node{Key: n.Key, Dir: n.Dir}
			if n.Value != nil {
				node.Value = *n.Value
			}
			if n.Expiration != nil {
				node.Deadline = *n.Expiration
			}
			out[n.Key] = node
		}
		for _, c := range n.Nodes {
			add(c)
		}
	}
	for _, k := range append([]string{"/"}, hidden...) {
		ev, err := f.st.Get(k, true, true, f.clock())
		if err != nil {
			t.Fatalf("get %s: %v", k, err)
		}
		add(ev.Node)
	}
	return out
}
