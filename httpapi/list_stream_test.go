package httpapi

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// randomTree fills a store with n writes of every kind a listing meets:
// nested and empty directories, hidden files and directories, TTLs on
// files and directories, in-order keys (POST), values with escapes,
// deletes. It returns the directories and files it wrote.
func randomTree(t *testing.T, rng *rand.Rand, n int) (*store.Store, []string) {
	t.Helper()
	st := store.New()
	names := []string{"a", "b", "_h", "c1", "c10", "c2", "dir", "_hd", "x\u00e9", "q<&>"}
	values := []string{"", "v", "<&>\"\\\u2028\u00e9", strings.Repeat("z", 300)}
	paths := []string{"/"}
	for i := 0; i < n; i++ {
		var p strings.Builder
		for d := rng.Intn(4); d >= 0; d-- {
			p.WriteString("/" + names[rng.Intn(len(names))])
		}
		req := &store.Request{Method: store.MethodPut, Path: p.String(), Value: values[rng.Intn(len(values))]}
		switch k := rng.Intn(10); {
		case k == 0:
			req.Dir, req.Value = true, ""
		case k == 1:
			req.Method = store.MethodPost // an in-order key under p
		case k == 2:
			req.Method, req.Recursive = store.MethodDelete, true
		}
		if rng.Intn(4) == 0 && req.Method != store.MethodDelete {
			req.HasTTL, req.TTL = true, time.Duration(1+rng.Intn(200))*time.Second
		}
		if _, err := st.Apply(req, stubTime.Add(time.Duration(i)*time.Millisecond)); err == nil {
			paths = append(paths, req.Path)
		}
	}
	return st, append(paths, "/missing", "/a/b/c/d/e")
}

// listBytes renders a listing of p through store.ListOrFreeze with the
// given inline budget: 0 freezes every directory listing, a huge one
// renders every listing under the lock (the way before streaming).
func listBytes(t *testing.T, st *store.Store, p string, recursive, sorted bool, inline int, now time.Time) string {
	t.Helper()
	buf := newChunkBuffer()
	buf.cur = append(buf.cur, `{"action":"get","node":`...)
	lister := &jsonLister{buf: buf}
	frozen, _, err := st.ListOrFreeze(p, recursive, sorted, inline, now, lister)
	if err != nil {
		return string(err.(*store.Error).JSON()) + "\n"
	}
	rec := httptest.NewRecorder()
	if frozen != nil {
		buf.stream(&pieceWriter{ww: (&API{}).newWatchWriter(rec)})
		frozen.Walk(now, lister)
	}
	buf.cur = append(buf.cur, '}', '\n')
	buf.WriteTo(rec)
	return rec.Body.String()
}

// A listing rendered from a frozen copy, streamed, has exactly the bytes
// of the same listing rendered under the lock and of the event Get
// builds (what the golden tests compare), for every node of random trees,
// recursive or not, sorted or not, with TTLs rendered against the same
// now; the handler, which picks between the two ways, gives them too.
func TestListFrozenMatchesInline(t *testing.T) {
	t.Parallel()
	for seed := int64(1); seed <= 6; seed++ {
		rng := rand.New(rand.NewSource(seed))
		st, paths := randomTree(t, rng, 150+int(seed)*400)
		now := stubTime.Add(time.Duration(rng.Intn(100)) * time.Second)
		api := New(Config{Store: st, Node: newStubNode(st, stubTime), Now: func() time.Time { return now }})
		t.Cleanup(api.Close)
		for _, p := range paths {
			for _, q := range []string{"", "?recursive=true", "?sorted=true", "?recursive=true&sorted=true"} {
				recursive, sorted := strings.Contains(q, "recursive"), strings.Contains(q, "sorted")
				want := ""
				if ev, err := st.Get(p, recursive, sorted, now); err != nil {
					want = string(err.(*store.Error).JSON()) + "\n"
				} else {
					want = string(appendEvent(nil, ev))
				}
				frozen := listBytes(t, st, p, recursive, sorted, 0, now)
				inline := listBytes(t, st, p, recursive, sorted, 1<<40, now)
				r := httptest.NewRecorder()
				api.ServeHTTP(r, httptest.NewRequest("GET", "/v2/keys"+escapeKey(p)+q, nil))
				for _, got := range []struct{ how, body string }{{"frozen", frozen}, {"inline", inline}, {"handler", r.Body.String()}} {
					if got.body != want {
						t.Fatalf("seed %d %s%s %s:\n got %s\nwant %s", seed, p, q, got.how, got.body, want)
					}
				}
			}
		}
	}
}

// escapeKey escapes a key's segments for a request path.
func escapeKey(p string) string {
	var b strings.Builder
	for _, seg := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		b.WriteString("/" + strings.NewReplacer("<", "%3C", ">", "%3E", "&", "%26", "\u00e9", "%C3%A9").Replace(seg))
	}
	return b.String()
}

// pieceRecorder is a ResponseWriter that keeps a hash of the body and
// the size of each write (allocating nothing as it does), and may run
// something at its first write.
type pieceRecorder struct {
	h       http.Header
	body    hash.Hash
	n       int
	writes  []int
	onFirst func()
}

func newPieceRecorder() *pieceRecorder {
	return &pieceRecorder{h: http.Header{}, body: sha256.New(), writes: make([]int, 0, 1024)}
}

func (p *pieceRecorder) Header() http.Header { return p.h }
func (p *pieceRecorder) WriteHeader(int)     {}
func (p *pieceRecorder) Write(b []byte) (int, error) {
	if len(p.writes) == 0 && p.onFirst != nil {
		p.onFirst()
	}
	p.writes = append(p.writes, len(b))
	p.n += len(b)
	p.body.Write(b)
	return len(b), nil
}

// A listing of 20,000 keys is streamed in pieces of about 64 KiB from a
// frozen copy: it allocates far less than its answer (the copy, its sort
// keys and one piece), and the store takes writes while the client reads
// (the first write of the answer makes a store write and waits for it),
// which the answer does not show.
func TestListStreamsLargeListing(t *testing.T) {
	st := store.New()
	value := strings.Repeat("v", 256)
	for i := 0; i < 20000; i++ {
		if _, err := st.Set("/bench/k"+strconv.Itoa(i), false, value, time.Time{}, false, stubTime); err != nil {
			t.Fatal(err)
		}
	}
	api := New(Config{Store: st, Node: newStubNode(st, stubTime), Now: func() time.Time { return stubTime }})
	t.Cleanup(api.Close)
	req := httptest.NewRequest("GET", "/v2/keys/?recursive=true", nil)
	ev, err := st.Get("/", true, true, stubTime)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(appendEvent(nil, ev))
	api.ServeHTTP(&discardWriter{h: http.Header{}}, req) // warm up

	w := newPieceRecorder()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	api.ServeHTTP(w, req)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("answer %d bytes in %d writes, allocated %d (%.2fx)", w.n, len(w.writes), alloc, float64(alloc)/float64(w.n))
	if [32]byte(w.body.Sum(nil)) != want {
		t.Fatalf("answer of %d bytes differs from Get's event", w.n)
	}
	// The race detector inflates memory: the rest runs under it too.
	if limit := uint64(w.n) / 4; alloc > limit && !raceEnabled {
		t.Errorf("a listing of %d bytes allocated %d bytes, want at most %d", w.n, alloc, limit)
	}
	for i, n := range w.writes {
		if n > chunkSize+4096 {
			t.Errorf("write %d of %d bytes: want pieces of about %d", i, n, chunkSize)
		}
	}

	// A client reading the answer does not hold the store's lock.
	w = newPieceRecorder()
	w.onFirst = func() {
		done := make(chan error, 1)
		go func() {
			_, err := st.Set("/bench/during", false, "x", time.Time{}, false, stubTime)
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a store write waited for a client reading a listing")
		}
	}
	api.ServeHTTP(w, req)
	if [32]byte(w.body.Sum(nil)) != want {
		t.Errorf("the answer changed with a write made while it was sent")
	}
	if _, err := st.Get("/bench/during", false, false, stubTime); err != nil {
		t.Errorf("the write made while the answer was sent: %v", err)
	}
}

// Small listings and single keys keep the way of rendering under the
// lock; a listing past one piece is frozen.
func TestListInlineThreshold(t *testing.T) {
	t.Parallel()
	st := store.New()
	for i := 0; i < 2000; i++ {
		p := fmt.Sprintf("/big/k%d", i)
		if i < 3 {
			p = fmt.Sprintf("/small/k%d", i)
		}
		if _, err := st.Set(p, false, "value", time.Time{}, false, stubTime); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		path       string
		recursive  bool
		wantFrozen bool
	}{
		{"/small/k1", false, false},
		{"/small", false, false},
		{"/small", true, false},
		{"/big/k10", true, false},
		{"/big", false, true},
		{"/", false, false}, // two directories, their children not listed
		{"/", true, true},
	} {
		frozen, _, err := st.ListOrFreeze(tc.path, tc.recursive, false, listInline, stubTime, &jsonLister{buf: newChunkBuffer()})
		if err != nil {
			t.Fatal(err)
		}
		if got := frozen != nil; got != tc.wantFrozen {
			t.Errorf("%s recursive=%v: frozen %v, want %v", tc.path, tc.recursive, got, tc.wantFrozen)
		}
	}
}

// A client that asks for a large listing and stops reading is cut off
// once a piece has waited WatchWriteTimeout (plus its second per 64 KiB),
// so it holds neither the handler nor the frozen listing for long.
//
//	curl 'http://127.0.0.1:2379/v2/keys/?recursive=true' | (sleep 3600)
func TestStalledListingEnds(t *testing.T) {
	t.Parallel()
	st := store.New()
	value := strings.Repeat("v", 16<<10) // one string: the store holds it once
	// The answer, 19 MiB, is more than both sockets buffer.
	for i := 0; i < 1200; i++ {
		if _, err := st.Set("/big/k"+strconv.Itoa(i), false, value, time.Time{}, false, stubTime); err != nil {
			t.Fatal(err)
		}
	}
	api := New(Config{Store: st, Node: newStubNode(st, stubTime), Now: func() time.Time { return stubTime },
		WatchWriteTimeout: 200 * time.Millisecond})
	var active atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		active.Add(1)
		defer active.Add(-1)
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { api.Close(); srv.Close() })

	c, err := net.DialTimeout("tcp", strings.TrimPrefix(srv.URL, "http://"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /v2/keys/?recursive=true HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for active.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for active.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("a listing to a client that stopped reading still served after 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The client, reading at last, finds the answer cut short.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, c)
	if err != nil {
		t.Fatalf("the server did not close the stalled connection: %v", err)
	}
	if n >= 1200*16<<10 {
		t.Fatalf("the client got %d bytes: the whole answer, not a cut one", n)
	}
}
