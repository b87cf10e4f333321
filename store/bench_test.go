package store

import (
	"bytes"
	"io"
	"strconv"
	"testing"
)

// filled is a store of n keys with a TTL spread over 100 directories.
func filled(b *testing.B, n int) *Store { return filledDirs(b, n, 100) }

// filledDirs is a store of n keys with a TTL spread over dirs
// directories (one: the flat layout of scripts/bench -seq).
func filledDirs(b *testing.B, n, dirs int) *Store {
	b.Helper()
	s := New()
	for i := 0; i < n; i++ {
		if _, err := s.Set("/bench/d"+strconv.Itoa(i%dirs)+"/k"+strconv.Itoa(i), false, "value", t0.Add(0), false, t0); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func BenchmarkSet(b *testing.B) {
	s := New()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Apply(&Request{Method: MethodPut, Path: "/k" + strconv.Itoa(i%10000), Value: "value"}, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	s := filled(b, 10000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Get("/bench/d"+strconv.Itoa(i%100)+"/k"+strconv.Itoa(i%10000), false, false, t0); err != nil && i%10000 >= 100 {
			_ = err
		}
	}
}

func BenchmarkGetRecursive(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			s := filled(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.Get("/bench", true, true, t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkWatchNotify(b *testing.B) {
	s := New()
	for i := 0; i < 100; i++ {
		w, _ := s.Watch("/w/other"+strconv.Itoa(i), false, true, 0)
		defer w.Remove()
	}
	w, _ := s.Watch("/w", true, true, 0)
	defer w.Remove()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Apply(&Request{Method: MethodPut, Path: "/w/k", Value: "v"}, t0); err != nil {
			b.Fatal(err)
		}
		<-w.EventChan()
	}
}

// BenchmarkSnapshotSave is a whole snapshot: Capture then WriteTo
// (impl=new), next to the reference encoder that wrote straight from the
// tree under the read lock (impl=old, snapshot_ref_test.go). Compare
// them with benchstat -col /impl.
func BenchmarkSnapshotSave(b *testing.B) {
	impls := []struct {
		name string
		save func(*Store, io.Writer) error
	}{
		{"old", refSave},
		{"new", (*Store).Save},
	}
	for _, size := range []struct{ keys, dirs int }{{10000, 100}, {100000, 100}, {100000, 1}} {
		s := filledDirs(b, size.keys, size.dirs)
		for _, impl := range impls {
			b.Run("keys="+strconv.Itoa(size.keys)+"/dirs="+strconv.Itoa(size.dirs)+"/impl="+impl.name, func(b *testing.B) {
				// A first save sizes the buffer (what a sink's growth
				// costs is not the encoder's) and the capture hint.
				var buf bytes.Buffer
				if err := impl.save(s, &buf); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				cpu := processCPU()
				for i := 0; i < b.N; i++ {
					buf.Reset()
					if err := impl.save(s, &buf); err != nil {
						b.Fatal(err)
					}
				}
				reportCPU(b, cpu)
				b.ReportMetric(float64(buf.Len()), "bytes")
			})
		}
	}
}

// BenchmarkSnapshotCapture is the part of a snapshot that runs on raft's
// FSM goroutine: part=all is Capture, part=locked only what it does
// under the read lock (writes wait that long), into a capture's slices
// allocated beforehand as Capture allocates them.
func BenchmarkSnapshotCapture(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		s := filled(b, n)
		c := s.Capture() // the first capture sizes the next ones
		b.Run("keys="+strconv.Itoa(n)+"/part=all", func(b *testing.B) {
			b.ReportAllocs()
			cpu := processCPU()
			for i := 0; i < b.N; i++ {
				s.Capture()
			}
			reportCPU(b, cpu)
		})
		b.Run("keys="+strconv.Itoa(n)+"/part=locked", func(b *testing.B) {
			b.ReportAllocs()
			cpu := processCPU()
			for i := 0; i < b.N; i++ {
				c.nodes, c.ttls = c.nodes[:0], c.ttls[:0]
				s.mu.RLock()
				c.walk(s)
				s.mu.RUnlock()
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkSnapshotWriteTo is the part of a snapshot that runs without a
// lock: sorting and encoding a capture (which WriteTo leaves as it was).
func BenchmarkSnapshotWriteTo(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run("keys="+strconv.Itoa(n), func(b *testing.B) {
			c := filled(b, n).Capture()
			var buf bytes.Buffer
			if _, err := c.WriteTo(&buf); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU()
			for i := 0; i < b.N; i++ {
				buf.Reset()
				if _, err := c.WriteTo(&buf); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
		})
	}
}

func BenchmarkSnapshotRestore(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			s := filled(b, n)
			var buf bytes.Buffer
			if err := s.Save(&buf); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := New().Restore(bytes.NewReader(buf.Bytes())); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
