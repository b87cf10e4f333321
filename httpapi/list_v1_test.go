package httpapi

import (
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"path"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// getV01Event is the read of a /v1 GET in v0.1.0's dialect before it
// streamed: GetV01's event, less /_etcd/config (which etcd 0.2 added).
func getV01Event(a *API, raw string) (*store.Event, error) {
	p := path.Clean("/" + raw)
	if notIn01(p) {
		return nil, store.NewError(store.EcodeKeyNotFound, p, 0)
	}
	ev, err := a.cfg.Store.GetV01(raw, a.cfg.Now())
	if err != nil || !ev.Node.Dir {
		return ev, err
	}
	kept := make([]*store.NodeExtern, 0, len(ev.Node.Nodes))
	for _, n := range ev.Node.Nodes {
		if !notIn01(n.Key) {
			kept = append(kept, n)
		}
	}
	node := *ev.Node
	node.Nodes = kept
	out := ev.Clone()
	out.Node = &node
	return out, nil
}

// oldGetV1 is the /v1 GET before it streamed: the whole event of
// Store.Get (or GetV01), rendered at once by writeV1Event, which watches
// and writes still use. getV1 must answer exactly as it did.
func oldGetV1(a *API, w http.ResponseWriter, r *http.Request, key string) {
	var (
		ev  *store.Event
		err error
	)
	if a.v01() {
		ev, err = getV01Event(a, key)
	} else {
		ev, err = a.cfg.Store.Get(key, false, true, a.cfg.Now())
	}
	if err != nil {
		a.writeV1Error(w, r, err)
		return
	}
	a.writeV1Event(w, r, ev, ev.EtcdIndex)
}

// answer is what a ResponseRecorder got, for comparing.
func answer(rec *httptest.ResponseRecorder) string {
	return fmt.Sprintf("%d %v\n%s", rec.Code, rec.Header(), rec.Body.String())
}

// v1Tree is randomTree plus what a /v1 read meets besides: directories
// with one child, with only hidden children, with only /_etcd/config
// (which v0.1.0's dialect leaves out), empty values (a directory to
// v0.1.0) with and without a TTL. It returns the paths to read.
func v1Tree(t *testing.T, rng *rand.Rand, n int) (*store.Store, []string) {
	t.Helper()
	st, paths := randomTree(t, rng, n)
	extra := []*store.Request{
		{Method: store.MethodPut, Path: "/one/only", Value: "<1>"},
		{Method: store.MethodPut, Path: "/hid/_x", Value: "h"},
		{Method: store.MethodPut, Path: "/_etcd/config", Value: `{"activeSize":3}`},
		{Method: store.MethodPut, Path: "/ev/e", Value: ""},
		{Method: store.MethodPut, Path: "/ev/t", Value: "", HasTTL: true, TTL: 30 * time.Second},
		{Method: store.MethodPut, Path: "/ev/f", Value: "\"q\"", HasTTL: true, TTL: 90 * time.Second},
		{Method: store.MethodPut, Path: "/empty", Dir: true},
		{Method: store.MethodPut, Path: "/ttld", Dir: true, HasTTL: true, TTL: 50 * time.Second},
	}
	if rng.Intn(2) == 0 {
		extra = append(extra, &store.Request{Method: store.MethodPut, Path: "/_etcd/machines/m1", Value: "raft=x"})
	}
	for _, req := range extra {
		if _, err := st.Apply(req, stubTime); err != nil {
			t.Fatal(err)
		}
	}
	return st, append(paths, "/", "/one", "/hid", "/_etcd", "/_etcd/config", "/_etcd/config/x", "/_etcd/machines",
		"/ev", "/ev/t", "/ev/e", "/empty", "/ttld", "/one/only/below")
}

// A /v1 GET (and a 0.4 HEAD) of every node of random trees, in both
// dialects, rendered at once under the lock or from a frozen copy and
// streamed, has exactly the status, headers and bytes of the event of
// Store.Get (GetV01) rendered by writeV1Event, as before it streamed;
// through the handler too; and counts in the store stats as it did.
// Expirations are shown in the zone of the clock, here not UTC.
func TestV1ListMatchesEvent(t *testing.T) {
	t.Parallel()
	zone := time.FixedZone("X", 5*3600+1800)
	for seed := int64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewSource(seed))
		st, paths := v1Tree(t, rng, 150+int(seed)*300)
		now := stubTime.Add(time.Duration(rng.Intn(100)) * time.Second).In(zone)
		for _, dialect := range []string{Dialect04, Dialect01} {
			api := New(Config{Store: st, Node: newStubNode(st, stubTime), Now: func() time.Time { return now }, V1Dialect: dialect})
			t.Cleanup(api.Close)
			methods := []string{"GET", "HEAD"}
			if dialect == Dialect01 {
				methods = methods[:1] // v0.1.0 routed GET only
			}
			for _, p := range paths {
				key := p
				if dialect == Dialect01 {
					key = strings.TrimPrefix(p, "/")
				}
				for _, m := range methods {
					req := httptest.NewRequest(m, "/v1/keys"+escapeKey(p), nil)
					g0 := gets(st)
					old := httptest.NewRecorder()
					oldGetV1(api, old, req, key)
					g1 := gets(st)
					want := answer(old)
					for _, inline := range []int{0, 1 << 40, -1} {
						rec := httptest.NewRecorder()
						if inline < 0 {
							api.ServeHTTP(rec, req)
						} else {
							api.getV1(rec, req, key, inline)
						}
						if got := answer(rec); got != want {
							t.Fatalf("seed %d %s %s %s inline=%d:\n got %s\nwant %s", seed, dialect, m, p, inline, got, want)
						}
					}
					// Three reads the new way count thrice what one did.
					if g2 := gets(st); g2 != [2]uint64{g1[0] + 3*(g1[0]-g0[0]), g1[1] + 3*(g1[1]-g0[1])} {
						t.Fatalf("seed %d %s %s %s: gets (success, fail) %v, then %v the old way, %v three times the new", seed, dialect, m, p, g0, g1, g2)
					}
				}
			}
		}
	}
}

// gets reads the store's get counters (the first two of
// /v2/stats/store).
func gets(st *store.Store) [2]uint64 {
	return [2]uint64{st.Stats().GetsSuccess.Load(), st.Stats().GetsFail.Load()}
}

// A /v1 GET of a directory past one piece answers, in both dialects,
// the exact listing etcd rendered (below, built by hand), streamed in
// pieces of about 64 KiB from a frozen copy, allocating far less than
// its answer; a 0.4 HEAD has no body and no Content-Type.
//
//	curl http://127.0.0.1:4001/v1/keys/big
//	curl -I http://127.0.0.1:4001/v1/keys/big
func TestV1LargeDirectory(t *testing.T) {
	const keys = 2000
	// Every 100th value needs escapes (which appendString renders
	// through encoding/json, allocating); the others are plain.
	values := func(i int) (value, js string) {
		if i%100 == 7 {
			return "<&>\"\u00e9\\", `\u003c\u0026\u003e\"` + "\u00e9" + `\\`
		}
		v := strings.Repeat("v", 400)
		return v, v
	}
	for _, dialect := range []string{Dialect04, Dialect01} {
		t.Run(dialect, func(t *testing.T) {
			s := newV1Server(t, v1Opts{dialect: dialect})
			set := func(p, v string, expire time.Time) {
				t.Helper()
				if _, err := s.st.Set(p, false, v, expire, false, stubTime); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < keys; i++ {
				v, _ := values(i)
				set(fmt.Sprintf("/big/k%04d", i), v, time.Time{})
			}
			set("/big/_h", "h", time.Time{})
			set("/big/sub/x", "x", time.Time{})
			set("/big/t", "", stubTime.Add(time.Minute))
			frozen, _, err := s.st.ListOrFreeze("/big", false, true, listInline, stubTime, discardLister{})
			if err != nil || frozen == nil {
				t.Fatalf("the listing is not frozen (err %v): the test misses the streamed way", err)
			}
			idx := s.st.Index()
			var want strings.Builder
			obj := func(key, fields string) {
				if want.Len() > 1 {
					want.WriteByte(',')
				}
				action := "get"
				if dialect == Dialect01 {
					action = "GET"
				}
				fmt.Fprintf(&want, `{"action":%q,"key":%q%s,"index":%d}`, action, key, fields, idx)
			}
			want.WriteByte('[')
			if dialect == Dialect01 {
				obj("/big/_h", `,"value":"h"`)
			}
			for i := 0; i < keys; i++ {
				_, js := values(i)
				obj(fmt.Sprintf("/big/k%04d", i), `,"value":"`+js+`"`)
			}
			obj("/big/sub", `,"dir":true`)
			if dialect == Dialect01 {
				obj("/big/t", `,"dir":true,"expiration":"2026-11-21T08:01:00Z","ttl":59`)
			} else {
				obj("/big/t", `,"value":""`)
			}
			want.WriteByte(']')

			got := s.do(t, "GET", "/v1/keys/big", "")
			body := got.body
			if got.status != 200 || got.header.Get("Content-Type") != "text/plain; charset=utf-8" || body != want.String() {
				t.Fatalf("GET: %d %v, body of %d bytes:\n%.600s\nwant 200 text/plain, %d bytes:\n%.600s", got.status, got.header, len(body), body, want.Len(), want.String())
			}
			if len(body) < 4*chunkSize {
				t.Fatalf("the answer is %d bytes: too small to be streamed in pieces", len(body))
			}

			w := newPieceRecorder()
			req := httptest.NewRequest("GET", "/v1/keys/big", nil)
			s.api.ServeHTTP(&discardWriter{h: http.Header{}}, req) // warm up
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			s.api.ServeHTTP(w, req)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("answer %d bytes in %d writes, allocated %d (%.2fx)", w.n, len(w.writes), alloc, float64(alloc)/float64(w.n))
			if len(w.writes) < 4 {
				t.Errorf("answer of %d bytes in %d writes: not streamed in pieces", w.n, len(w.writes))
			}
			for i, n := range w.writes {
				if n > chunkSize+4096 {
					t.Errorf("write %d of %d bytes: want pieces of about %d", i, n, chunkSize)
				}
			}
			if limit := uint64(w.n) / 2; alloc > limit && !raceEnabled {
				t.Errorf("a listing of %d bytes allocated %d bytes, want at most %d", w.n, alloc, limit)
			}

			if dialect == Dialect04 {
				rec := httptest.NewRecorder()
				s.api.ServeHTTP(rec, httptest.NewRequest("HEAD", "/v1/keys/big", nil))
				if rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "" {
					t.Errorf("HEAD: %d %v, %d bytes of body; want 200, no Content-Type, no body", rec.Code, rec.Header(), rec.Body.Len())
				}
			}
		})
	}
}
