package main

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestMemoryLimitFor(t *testing.T) {
	cases := []struct {
		name string
		live uint64
		want int64
	}{
		{"empty", 0, 32 << 20},
		{"100k keys", 48 << 20, 48<<20 + 24<<20 + 32<<20},
		{"huge", math.MaxUint64, math.MaxInt64},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := memoryLimitFor(tc.live); got != tc.want {
				t.Errorf("memoryLimitFor(%d) = %d, want %d", tc.live, got, tc.want)
			}
		})
	}
}

// The tuner follows the live heap: once 64 MiB stay live, the limit is
// raised to the one for that heap; GOGC is 200.
func TestMemoryPolicyFollowsLiveHeap(t *testing.T) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		t.Skip("GOGC or GOMEMLIMIT set: the policy stands aside")
	}
	stop := startMemoryPolicy()
	t.Cleanup(func() {
		stop()
		debug.SetMemoryLimit(math.MaxInt64)
		debug.SetGCPercent(100)
	})
	if p := debug.SetGCPercent(gcPercent); p != gcPercent {
		t.Errorf("GOGC %d, want %d", p, gcPercent)
	}
	live := make([][]byte, 64)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	want := memoryLimitFor(64 << 20)
	deadline := time.Now().Add(30 * time.Second)
	for {
		runtime.GC()
		got := debug.SetMemoryLimit(-1)
		if got >= want && got < 2*want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("memory limit %d with 64 MiB live, want about %d", got, want)
		}
		time.Sleep(10 * time.Millisecond) // let the finalizer goroutine run
	}
	runtime.KeepAlive(live)
}

func TestShouldRelease(t *testing.T) {
	idle := heapFigures{allocs: 100 << 20, live: 40 << 20}
	cases := []struct {
		name       string
		prev, now  heapFigures
		wantResult bool
	}{
		{"idle, heap well above live", idle, heapFigures{allocs: 101 << 20, live: 40 << 20, retained: 120 << 20}, true},
		{"idle, heap close to live", idle, heapFigures{allocs: 101 << 20, live: 40 << 20, retained: 60 << 20}, false},
		{"busy", idle, heapFigures{allocs: 200 << 20, live: 40 << 20, retained: 120 << 20}, false},
		{"small store", heapFigures{}, heapFigures{allocs: 1 << 20, live: 2 << 20, retained: 15 << 20}, false},
	}
	for _, tc := range cases {
		if got := shouldRelease(tc.prev, tc.now); got != tc.wantResult {
			t.Errorf("%s: shouldRelease = %v, want %v", tc.name, got, tc.wantResult)
		}
	}
}

// After a burst of garbage, an idle process gives the memory back to the
// system within a few periods, without waiting for the scavenger.
func TestIdleReleaseReturnsABurst(t *testing.T) {
	s := make([]metrics.Sample, len(heapMetrics))
	for i, name := range heapMetrics {
		s[i].Name = name
	}
	old := debug.SetGCPercent(-1) // the burst stays until the release collects it
	t.Cleanup(func() { debug.SetGCPercent(old) })
	burst := make([][]byte, 96)
	for i := range burst {
		burst[i] = make([]byte, 1<<20)
		burst[i][0] = 1
	}
	burst = nil
	if f := readHeapFigures(s); f.retained < f.live+64<<20 {
		t.Fatalf("the burst is not in the heap: %+v", f)
	}
	done := make(chan struct{})
	go idleRelease(done, 20*time.Millisecond)
	t.Cleanup(func() { close(done) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		f := readHeapFigures(s)
		if f.retained <= f.live+f.live/4+releaseSlack {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("heap retained %d MiB, live %d MiB: not released", f.retained>>20, f.live>>20)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
