package main

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// The memory policy (docs/benchmarks.md, "Memory"). Go's collector lets
// the heap grow to (1 + GOGC/100) times what the last collection found
// live, and its scavenger keeps that much mapped: with GOGC=200, chosen
// for write throughput, a member holding 45 MB of keys sits at about
// 135 MB of heap. memoryTuner keeps GOGC=200 for small stores, where the
// extra is a few megabytes, and caps the heap of large ones with a soft
// memory limit a fixed share above the live heap: the collector then runs
// a little more often (only for stores above about 20 MB), and the
// scavenger returns what a burst (a large listing, a snapshot) took
// instead of keeping it.
const (
	gcPercent       = 200
	limitHeadroom   = 0.5      // the limit is live × (1 + limitHeadroom) + limitBase
	limitBase       = 32 << 20 // runtime overhead and room for bursts
	limitMinChange  = 0.05     // smaller changes of the limit are not applied
	liveHeapMetric  = "/gc/heap/live:bytes"
	memLimitEnvName = "GOMEMLIMIT"

	// The idle release: every releaseEvery, a member that allocated less
	// than releaseIdleAlloc since the last look, and whose heap keeps more
	// than releaseSlack (plus a quarter of the live heap) beyond what is
	// live, collects and returns the rest to the system at once. The
	// scavenger alone returns it only slowly, so RSS stayed at the peak of
	// a load, a restore or a listing for minutes after it.
	releaseEvery     = 5 * time.Second
	releaseIdleAlloc = 8 << 20
	releaseSlack     = 16 << 20
)

// memoryLimitFor is the soft memory limit for a live heap of live bytes.
func memoryLimitFor(live uint64) int64 {
	l := float64(live)*(1+limitHeadroom) + limitBase
	if l > math.MaxInt64/2 {
		return math.MaxInt64
	}
	return int64(l)
}

// memoryTuner re-derives the soft memory limit from the live heap after
// every garbage collection (a finalizer on a sentinel runs once per
// cycle, on the finalizer goroutine).
type memoryTuner struct {
	stopped atomic.Bool
	limit   atomic.Int64 // last limit set
	sample  []metrics.Sample
}

// startMemoryPolicy applies the process-wide memory policy unless the
// environment sets GOGC or GOMEMLIMIT, which then win. It returns the
// function that stops the tuner (nil when none runs).
func startMemoryPolicy() (stop func()) {
	if os.Getenv("GOGC") != "" || os.Getenv(memLimitEnvName) != "" {
		return nil
	}
	debug.SetGCPercent(gcPercent)
	t := &memoryTuner{sample: []metrics.Sample{{Name: liveHeapMetric}}}
	t.tune()
	t.arm()
	done := make(chan struct{})
	go idleRelease(done, releaseEvery)
	return func() {
		if t.stopped.CompareAndSwap(false, true) {
			close(done)
		}
	}
}

// sentinel is garbage the moment it is armed; its finalizer marks the end
// of a collection.
type sentinel struct{ t *memoryTuner }

func (t *memoryTuner) arm() {
	runtime.SetFinalizer(&sentinel{t: t}, func(s *sentinel) {
		if s.t.stopped.Load() {
			return
		}
		s.t.tune()
		s.t.arm()
	})
}

// tune sets the limit for the live heap the last collection measured.
func (t *memoryTuner) tune() {
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	want := memoryLimitFor(t.sample[0].Value.Uint64())
	if last := t.limit.Load(); last != 0 && math.Abs(float64(want-last)) < float64(last)*limitMinChange {
		return
	}
	t.limit.Store(want)
	debug.SetMemoryLimit(want)
}

// heapFigures are the runtime's figures the idle release looks at.
type heapFigures struct {
	allocs   uint64 // bytes allocated since the process started
	live     uint64 // live heap at the last collection
	retained uint64 // heap memory held from the system (objects, free, unused)
}

var heapMetrics = []string{
	"/gc/heap/allocs:bytes", liveHeapMetric,
	"/memory/classes/heap/objects:bytes", "/memory/classes/heap/free:bytes", "/memory/classes/heap/unused:bytes",
}

func readHeapFigures(s []metrics.Sample) heapFigures {
	metrics.Read(s)
	v := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[i].Value.Uint64()
	}
	return heapFigures{allocs: v(0), live: v(1), retained: v(2) + v(3) + v(4)}
}

// shouldRelease decides, from the figures of the last look (prev) and of
// now, whether the idle release runs.
func shouldRelease(prev, now heapFigures) bool {
	if now.allocs-prev.allocs >= releaseIdleAlloc {
		return false // busy: the collector and scavenger pace themselves
	}
	return now.retained > now.live+now.live/4+releaseSlack
}

// idleRelease runs the idle release every period until done closes.
func idleRelease(done <-chan struct{}, period time.Duration) {
	s := make([]metrics.Sample, len(heapMetrics))
	for i, name := range heapMetrics {
		s[i].Name = name
	}
	prev := readHeapFigures(s)
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		now := readHeapFigures(s)
		if shouldRelease(prev, now) {
			debug.FreeOSMemory()
			now = readHeapFigures(s)
		}
		prev = now
	}
}
