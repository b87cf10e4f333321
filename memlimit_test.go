package main

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
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
