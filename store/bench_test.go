package store

import (
	"bytes"
	"strconv"
	"testing"
)

func filled(b *testing.B, n int) *Store {
	b.Helper()
	s := New()
	for i := 0; i < n; i++ {
		if _, err := s.Set("/bench/d"+strconv.Itoa(i%100)+"/k"+strconv.Itoa(i), false, "value", t0.Add(0), false, t0); err != nil {
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

func BenchmarkSnapshotSave(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			s := filled(b, n)
			var buf bytes.Buffer
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				buf.Reset()
				if err := s.Save(&buf); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "bytes")
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
