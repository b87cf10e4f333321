package store

import (
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The memory figures of docs/benchmarks.md ("Memory"), checked against
// bounds with a margin: the heap after a collection, per key, per
// retained event and per idle watcher. Not parallel: they read the
// process's heap.

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// value256 is a distinct 256-byte value for i, as values decoded from
// the raft log are (each write brings its own).
func value256(i int) string {
	s := strconv.Itoa(i)
	return strings.Repeat("v", 256-len(s)) + s
}

// A key with a 256-byte value costs its value, its key, a 96-byte node
// and its slot in the parent's map: about 410 bytes (441 with the
// 128-byte nodes before).
func TestMemoryPerKey(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector inflates memory")
	}
	const n = 50000
	before := liveHeap()
	s := New()
	for i := 0; i < n; i++ {
		if _, err := s.Set("/bench/"+strconv.Itoa(100000+i), false, value256(i), time.Time{}, false, t0); err != nil {
			t.Fatal(err)
		}
	}
	// The history holds the last 1000 events: make it hold events of one
	// key so that it does not count here.
	for i := 0; i < HistoryCapacity; i++ {
		if _, err := s.Set("/bench/100000", false, "v", time.Time{}, false, t0); err != nil {
			t.Fatal(err)
		}
	}
	per := float64(liveHeap()-before) / n
	runtime.KeepAlive(s)
	t.Logf("%.0f bytes per key (256-byte value, 13-byte key)", per)
	if per > 430 {
		t.Errorf("%.0f bytes per key, want at most 430", per)
	}
}

// A retained event of a write that replaced a value with another costs
// the event and its two rendered nodes, about 265 bytes, plus the new
// value (the old one is shared with the event before, and both with the
// tree while the key lives): 520 bytes for 256-byte values. The
// history's size times this is what --max-history costs.
func TestMemoryPerRetainedEvent(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector inflates memory")
	}
	const n = 10000
	values := make([]string, n)
	for i := range values {
		values[i] = value256(i)
	}
	fill := func(size int) uint64 {
		before := liveHeap()
		s := NewWithConfig(Config{HistorySize: size})
		for i := range values {
			if _, err := s.Set("/k", false, values[i], time.Time{}, false, t0); err != nil {
				t.Fatal(err)
			}
		}
		used := liveHeap() - before
		runtime.KeepAlive(s)
		return used
	}
	// The values themselves stay alive in the test; the difference is
	// what retaining them as events costs, plus the ring's slots.
	small, large := fill(1), fill(n)
	per := float64(large-small) / (n - 1)
	t.Logf("%.0f bytes per retained event (values alive elsewhere)", per)
	if per > 400 {
		t.Errorf("%.0f bytes per retained event, want at most 400", per)
	}
}

// An idle long-poll (non-stream) watcher on its own key costs the
// watcher, its one-slot channel, its done channel, its list element and
// its node in the watcher index: about 490 bytes in the store (1,380
// with the 100-slot buffer every watcher had before).
func TestMemoryPerIdleWatcher(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector inflates memory")
	}
	const n = 10000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "/w/" + strconv.Itoa(100000+i)
	}
	s := New()
	before := liveHeap()
	ws := make([]*Watcher, n)
	for i := range ws {
		w, err := s.Watch(keys[i], false, false, 0)
		if err != nil {
			t.Fatal(err)
		}
		ws[i] = w
	}
	per := float64(liveHeap()-before) / n
	runtime.KeepAlive(ws)
	t.Logf("%.0f bytes per idle watcher", per)
	if per > 640 {
		t.Errorf("%.0f bytes per idle watcher, want at most 640", per)
	}
}
