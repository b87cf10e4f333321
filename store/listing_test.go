package store

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// traceWriter records what a ListWriter is handed, one line per call.
type traceWriter struct{ b strings.Builder }

func (tw *traceWriter) line(op string, n *NodeExtern) {
	v, exp := "-", "-"
	if n.Value != nil {
		v = *n.Value
	}
	if n.Expiration != nil {
		exp = n.Expiration.Format(time.RFC3339Nano)
	}
	fmt.Fprintf(&tw.b, "%s %q %q dir=%v exp=%s ttl=%d mod=%d created=%d nodes=%d\n",
		op, n.Key, v, n.Dir, exp, n.TTL, n.ModifiedIndex, n.CreatedIndex, len(n.Nodes))
}

func (tw *traceWriter) Leaf(n *NodeExtern)  { tw.line("leaf", n) }
func (tw *traceWriter) Open(n *NodeExtern)  { tw.line("open", n) }
func (tw *traceWriter) Close(n *NodeExtern) { tw.line("close", n) }

// listTrace is what List hands a ListWriter for p.
func listTrace(t *testing.T, s *Store, p string, recursive bool, now time.Time) string {
	t.Helper()
	tw := &traceWriter{}
	if _, err := s.List(p, recursive, true, now, tw); err != nil {
		t.Fatal(err)
	}
	return tw.b.String()
}

// A Listing hands its ListWriter what List did when it was taken, even
// after the store changed every kind of thing a listing shows: values,
// TTLs (on files and directories), new and deleted keys and directories,
// hidden keys. Walks run while writes go on (the race detector checks
// that they share nothing unguarded).
func TestListingIsFrozen(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0.Add(42 * time.Second)
	for _, tc := range []struct {
		path      string
		recursive bool
	}{{"/", true}, {"/", false}, {"/d1", false}, {"/d1", true}, {"/ttldir", true}} {
		s := New()
		for i := 0; i < 300; i++ {
			r := Request{Method: MethodPut, Path: fmt.Sprintf("/d%d/k%03d", i%7, i), Value: fmt.Sprint("v", i)}
			r.HasTTL, r.TTL = i%3 == 0, time.Duration(i)*time.Second
			mustApply(t, s, r, t0)
		}
		mustApply(t, s, Request{Method: MethodPut, Path: "/d1/_hidden", Value: "h"}, t0)
		mustApply(t, s, Request{Method: MethodPut, Path: "/ttldir", Dir: true, HasTTL: true, TTL: time.Minute}, t0)
		mustApply(t, s, Request{Method: MethodPut, Path: "/ttldir/in", Value: "x"}, t0)

		want := listTrace(t, s, tc.path, tc.recursive, now)
		frozen, _, err := s.ListOrFreeze(tc.path, tc.recursive, true, 0, now, nil)
		if err != nil || frozen == nil {
			t.Fatalf("%s: frozen %v, err %v", tc.path, frozen, err)
		}
		var wg sync.WaitGroup
		traces := make([]string, 4)
		for g := range traces {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tw := &traceWriter{}
				frozen.Walk(now, tw)
				traces[g] = tw.b.String()
			}()
		}
		yes := true
		for i := 0; i < 300; i += 5 {
			mustApply(t, s, Request{Method: MethodPut, Path: fmt.Sprintf("/d%d/k%03d", i%7, i), Value: "changed", HasTTL: true, TTL: time.Hour}, t0)
			mustApply(t, s, Request{Method: MethodPut, Path: fmt.Sprintf("/d%d/new%03d", i%7, i), Value: "new"}, t0)
		}
		mustApply(t, s, Request{Method: MethodDelete, Path: "/d3", Recursive: true}, t0)
		mustApply(t, s, Request{Method: MethodPut, Path: "/ttldir", Dir: true, PrevExist: &yes, HasTTL: true, TTL: time.Hour}, t0)
		wg.Wait()
		tw := &traceWriter{}
		frozen.Walk(now, tw)
		for g, got := range append(traces, tw.b.String()) {
			if got != want {
				t.Fatalf("%s recursive=%v walk %d:\n got %s\nwant %s", tc.path, tc.recursive, g, got, want)
			}
		}
		if again := listTrace(t, s, tc.path, tc.recursive, now); again == want {
			t.Fatalf("%s: the writes changed nothing the listing shows", tc.path)
		}
	}
}

// indexTrace is a traceWriter that also records the index it is handed.
type indexTrace struct{ traceWriter }

func (it *indexTrace) ListIndex(index uint64) { fmt.Fprintf(&it.b, "index %d\n", index) }

// eventTrace is what a ListWriter must be handed, after the index, for
// the one-level read whose event is ev.
func eventTrace(ev *Event) string {
	tw := &traceWriter{}
	fmt.Fprintf(&tw.b, "index %d\n", ev.EtcdIndex)
	n := *ev.Node
	kids := n.Nodes
	n.Nodes = nil
	if len(kids) == 0 {
		tw.line("leaf", &n)
		return tw.b.String()
	}
	tw.line("open", &n)
	for _, c := range kids {
		tw.line("leaf", c)
	}
	tw.line("close", &n)
	return tw.b.String()
}

// ListOrFreezeV01, at once or frozen, hands what GetV01 returns: hidden
// children too, the root under "/", TTLs against now, GetV01's index
// (the last write v0.1.0 counted, not the store index) first, and
// GetV01's errors and stats. ListOrFreeze hands the store index along
// the same way.
func TestListOrFreezeV01MatchesGetV01(t *testing.T) {
	t.Parallel()
	s := New()
	mustApply(t, s, set01("/d/b", "2"), t0)
	mustApply(t, s, set01("/d/_h", "h"), t0)
	mustApply(t, s, Request{Method: MethodPut, Path: "/d/e", Value: ""}, t0)
	mustApply(t, s, withTTL01(set01("/d/a", "1"), 10), t0)
	mustApply(t, s, set01("/d/sub/x", "3"), t0)
	mustApply(t, s, set01("/onlyhidden/_x", "h"), t0)
	mustApply(t, s, set01("/one/k", "1"), t0)
	mustApply(t, s, Request{Method: MethodPut, Path: "/empty", Dir: true}, t0)
	mustApply(t, s, withTTL(Request{Method: MethodPut, Path: "/ttldir", Dir: true}, 30), t0)
	mustApply(t, s, Request{Method: MethodPut, Path: "/ttldir/in", Value: "x"}, t0)
	// A failed TestAndSet takes an index the GET does not show.
	_, _ = s.Apply(&Request{Method: MethodPut, Path: "/d/b", Value: "9", PrevValue: "nope", V01: true}, t0)
	now := t0.Add(1500 * time.Millisecond)
	for _, p := range []string{"/", "d", "/d/", "/d/a", "/d/_h", "/onlyhidden", "/one", "/empty", "/ttldir", "/nope", "/d/a/b"} {
		ev, werr := s.GetV01(p, now)
		for _, inline := range []int{0, 1 << 30} {
			tw := &indexTrace{}
			frozen, index, err := s.ListOrFreezeV01(p, inline, now, tw)
			if werr != nil {
				if err == nil || err.Error() != werr.Error() || err.(*Error).Index != werr.(*Error).Index {
					t.Errorf("%s inline=%d: err %v, want %v", p, inline, err, werr)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if frozen != nil {
				frozen.Walk(now, tw)
			}
			if want := eventTrace(ev); tw.b.String() != want || index != ev.EtcdIndex {
				t.Errorf("%s inline=%d: index %d, handed\n%s\nwant index %d,\n%s", p, inline, index, tw.b.String(), ev.EtcdIndex, want)
			}
		}
	}
	before := s.stats.GetsSuccess.Load() + s.stats.GetsFail.Load()<<32
	_, _, _ = s.ListOrFreezeV01("/d", 0, now, nil)
	_, _, _ = s.ListOrFreezeV01("/nope", 0, now, nil)
	if got := s.stats.GetsSuccess.Load() + s.stats.GetsFail.Load()<<32; got != before+1+1<<32 {
		t.Errorf("stats moved by %#x, want one success and one failure", got-before)
	}

	ev, err := s.Get("/d", false, true, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, inline := range []int{0, 1 << 30} {
		tw := &indexTrace{}
		frozen, index, err := s.ListOrFreeze("/d", false, true, inline, now, tw)
		if err != nil {
			t.Fatal(err)
		}
		if frozen != nil {
			frozen.Walk(now, tw)
		}
		if want := eventTrace(ev); tw.b.String() != want || index != s.Index() {
			t.Errorf("ListOrFreeze inline=%d: index %d (store %d), handed\n%s\nwant\n%s", inline, index, s.Index(), tw.b.String(), want)
		}
	}
}
