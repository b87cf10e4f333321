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
