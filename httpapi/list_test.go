package httpapi

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// listTree is a store with every shape a listing can meet: nested
// directories, hidden keys and directories, empty directories, a
// directory whose children are all hidden, TTLs on files and
// directories, escapes in keys and values.
func listTree(t *testing.T) *store.Store {
	t.Helper()
	st := store.New()
	reqs := []*store.Request{
		{Method: store.MethodPut, Path: "/a/b/c", Value: "1"},
		{Method: store.MethodPut, Path: "/a/b/d", Value: ""},
		{Method: store.MethodPut, Path: "/a/_hidden", Value: "h"},
		{Method: store.MethodPut, Path: "/a/e", Dir: true},
		{Method: store.MethodPut, Path: "/onlyhidden/_x", Value: "x"},
		{Method: store.MethodPut, Path: "/_top/k", Value: "k"},
		{Method: store.MethodPut, Path: "/ttl/f", Value: "<&>\"\u00e9", HasTTL: true, TTL: 90 * time.Second},
		{Method: store.MethodPut, Path: "/ttl/dir", Dir: true, HasTTL: true, TTL: 90 * time.Second},
		{Method: store.MethodPut, Path: "/ttl/dir/in", Value: "v"},
		{Method: store.MethodPut, Path: "/z", Value: "last"},
	}
	for _, r := range reqs {
		if _, err := st.Apply(r, stubTime); err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
	}
	return st
}

// The streamed listing has exactly the bytes of the event Get builds,
// rendered by appendEvent (what every golden test compares).
func TestListMatchesGet(t *testing.T) {
	t.Parallel()
	st := listTree(t)
	api := New(Config{Store: st, Node: newStubNode(st, stubTime), Now: func() time.Time { return stubTime.Add(10 * time.Second) }})
	t.Cleanup(api.Close)
	for _, p := range []string{"/", "/a", "/a/b", "/a/b/c", "/a/e", "/onlyhidden", "/_top", "/ttl", "/ttl/f", "/ttl/dir", "/z", "/missing", "/a/b/c/x"} {
		for _, q := range []string{"", "?recursive=true", "?sorted=true", "?recursive=true&sorted=true"} {
			t.Run(p+q, func(t *testing.T) {
				r := httptest.NewRecorder()
				api.ServeHTTP(r, httptest.NewRequest("GET", "/v2/keys"+p+q, nil))
				ev, err := st.Get(p, strings.Contains(q, "recursive"), true, stubTime.Add(10*time.Second))
				var want string
				if err != nil {
					want = string(err.(*store.Error).JSON()) + "\n"
				} else {
					want = string(appendEvent(nil, ev))
				}
				if got := r.Body.String(); got != want {
					t.Errorf("body\n got %s\nwant %s", got, want)
				}
			})
		}
	}
}

// discardWriter is a ResponseWriter that keeps nothing but the size.
type discardWriter struct {
	h http.Header
	n int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

// Listing 20,000 keys allocates little more than the answer itself: no
// tree of NodeExtern, no byte slice grown by doubling (which together
// took over three times the answer).
func TestListAllocatesAboutItsAnswer(t *testing.T) {
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
	w := &discardWriter{h: http.Header{}}
	api.ServeHTTP(w, req) // warm up
	w.n = 0
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	api.ServeHTTP(w, req)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("answer %d bytes, allocated %d (%.2fx)", w.n, alloc, float64(alloc)/float64(w.n))
	if w.n < 20000*256 {
		t.Fatalf("answer of %d bytes is too short", w.n)
	}
	if limit := uint64(w.n) * 3 / 2; alloc > limit {
		t.Errorf("a listing of %d bytes allocated %d bytes, want at most %d", w.n, alloc, limit)
	}
}
