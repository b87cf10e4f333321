package store

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

// deepKey is a key depth levels deep: "/a/a/.../a".
func deepKey(depth int) string { return strings.Repeat("/a", depth) }

// heapGrowth returns how much the live heap grew while f ran, keeping
// what f returns alive until it is measured.
func heapGrowth(f func() any) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	keep := f()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	if after.HeapAlloc < before.HeapAlloc {
		return 0
	}
	return after.HeapAlloc - before.HeapAlloc
}

// TestDeepKeyMemoryIsLinear: a key d levels deep costs memory linear in
// d, when written and when restored from a snapshot. (Each level used to
// hold its own copy of its full path: a 10,000-level key took ~100 MB, a
// 40,000-level one 1.6 GB.) Not parallel: it measures the heap.
func TestDeepKeyMemoryIsLinear(t *testing.T) {
	set := func(depth int) any {
		s := New()
		if _, err := s.Set(deepKey(depth), false, "v", time.Time{}, false, t0); err != nil {
			t.Fatal(err)
		}
		return s
	}
	restore := func(depth int) func() any {
		var buf bytes.Buffer
		if err := set(depth).(*Store).Save(&buf); err != nil {
			t.Fatal(err)
		}
		return func() any {
			s := New()
			if err := s.Restore(bytes.NewReader(buf.Bytes())); err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	for _, tc := range []struct {
		name string
		grow func(depth int) func() any
	}{
		{"set", func(d int) func() any { return func() any { return set(d) } }},
		{"restore", restore},
	} {
		small := heapGrowth(tc.grow(1000))
		large := heapGrowth(tc.grow(10000))
		t.Logf("%s: heap growth %d bytes at depth 1,000, %d at depth 10,000", tc.name, small, large)
		// Linear growth gives a ratio near 10, quadratic near 100; a
		// level costs a node and a map, well under 2 KB.
		if small == 0 || large > 30*small || large > 10000*2048 {
			t.Errorf("%s: heap growth %d bytes at depth 1,000, %d at depth 10,000: not linear", tc.name, small, large)
		}
	}
}

// TestDeepTreeOperations: every operation on a very deep tree works
// without deep recursion and keeps paths right (set, get, watch, delete,
// expiry, snapshot), at a depth where quadratic work would take minutes.
func TestDeepTreeOperations(t *testing.T) {
	t.Parallel()
	const depth = 100000
	key := deepKey(depth)
	s := New()
	root, err := s.Watch("/", true, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	exact, err := s.Watch(key, false, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Set(key, false, "v", t0.Add(time.Second), false, t0); err != nil {
		t.Fatal(err)
	}
	if ev := <-root.EventChan(); ev.Node.Key != key {
		t.Fatalf("recursive watcher got key of %d bytes", len(ev.Node.Key))
	}
	if ev := <-exact.EventChan(); ev.Node.Key != key || *ev.Node.Value != "v" {
		t.Fatalf("exact watcher got %+v", ev.Node)
	}
	mid := deepKey(depth / 2)
	if ev, err := s.Get(mid, false, false, t0); err != nil || ev.Node.Key != mid || len(ev.Node.Nodes) != 1 || ev.Node.Nodes[0].Key != deepKey(depth/2+1) {
		t.Fatalf("get of a middle directory: %v", err)
	}
	var buf bytes.Buffer
	if err := s.Save(&buf); err != nil {
		t.Fatal(err)
	}
	r := New()
	if err := r.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := r.Save(&again); err != nil || !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Fatalf("snapshot of the restored deep tree differs (err %v)", err)
	}
	if ev, err := r.Get(key, false, false, t0); err != nil || ev.Node.Key != key {
		t.Fatalf("restored deep key: %v", err)
	}
	evs := r.DeleteExpiredKeys(t0.Add(2 * time.Second))
	if len(evs) != 1 || evs[0].Node.Key != key {
		t.Fatalf("expiry of the restored deep key: %d events", len(evs))
	}
	deepWatch, err := s.Watch(deepKey(depth-1), false, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete("/a", true, true, t0); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-deepWatch.EventChan():
		if ev.Action != ActionDelete || ev.Node.Key != "/a" {
			t.Fatalf("watcher below a deleted directory got %s %q", ev.Action, ev.Node.Key)
		}
	default:
		t.Fatal("watcher below a deleted directory was not told")
	}
	if _, ok := s.HasTTLKeys(); ok {
		t.Fatal("deleted deep key still in the TTL heap")
	}
}

// TestValidateKeyLength: writes whose key is longer than MaxKeyLength
// (a POST counting its 21-byte unique name) are refused with 209 before
// anything changes, when applied as when validated.
func TestValidateKeyLength(t *testing.T) {
	t.Parallel()
	long := "/" + strings.Repeat("k", MaxKeyLength-1) // exactly the limit
	cases := []struct {
		name string
		req  Request
		ok   bool
	}{
		{"put at the limit", Request{Method: MethodPut, Path: long, Value: "v"}, true},
		{"put one byte over", Request{Method: MethodPut, Path: long + "k", Value: "v"}, false},
		{"delete one byte over", Request{Method: MethodDelete, Path: long + "k"}, false},
		{"post whose unique key fits", Request{Method: MethodPost, Path: long[:MaxKeyLength-uniqueSuffix]}, true},
		{"post whose unique key does not fit", Request{Method: MethodPost, Path: long[:MaxKeyLength-uniqueSuffix+1]}, false},
		{"v0.1 set one byte over", Request{Method: MethodPut, Path: long + "k", Value: "v", V01: true}, false},
		{"deep key over the limit", Request{Method: MethodPut, Path: deepKey(40000), Value: "v"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			_, err := s.Apply(&tc.req, t0)
			verr := tc.req.Validate()
			if tc.ok {
				if err != nil || verr != nil {
					t.Fatalf("Apply: %v, Validate: %v; want success", err, verr)
				}
				return
			}
			var se *Error
			if !errors.As(err, &se) || se.Code != EcodeInvalidField || se.StatusCode() != 400 {
				t.Fatalf("Apply: %v, want error 209", err)
			}
			if verr == nil || verr.Code != EcodeInvalidField {
				t.Fatalf("Validate: %v, want error 209", verr)
			}
			if s.Index() != 0 {
				t.Fatalf("a refused write took index %d", s.Index())
			}
		})
	}
}
