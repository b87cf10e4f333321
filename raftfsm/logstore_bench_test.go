package raftfsm

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// BenchmarkLogStore compares the checksummed store with bare raft-boltdb:
// StoreLogs of 16 entries of 256 bytes (a typical batch of small writes)
// and GetLog of one. Both run with NoSync, so the figures are the CPU
// cost of encoding, checksums and bbolt, not the disk's fsync (which is
// the same for both and dominates a real append).
//
//	go test ./raftfsm -run XXX -bench BenchmarkLogStore -benchtime 2000x
func BenchmarkLogStore(b *testing.B) {
	type store interface {
		raft.LogStore
		Close() error
	}
	stores := []struct {
		name string
		open func(b *testing.B, path string) store
	}{
		{"bare-raft-boltdb", func(b *testing.B, path string) store {
			bs, err := raftboltdb.New(raftboltdb.Options{Path: path, NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			return bs
		}},
		{"checksummed", func(b *testing.B, path string) store {
			bs, err := raftboltdb.New(raftboltdb.Options{Path: path, NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			return &logStore{bs: bs, path: path}
		}},
	}
	const batch = 16
	data := []byte(strings.Repeat("v", 256))
	entries := func(from uint64) []*raft.Log {
		logs := make([]*raft.Log, batch)
		for i := range logs {
			logs[i] = &raft.Log{Index: from + uint64(i), Term: 1, Type: raft.LogCommand, Data: data, AppendedAt: time.Now()}
		}
		return logs
	}
	for _, st := range stores {
		b.Run(st.name+"/StoreLogs16", func(b *testing.B) {
			s := st.open(b, filepath.Join(b.TempDir(), "raft.db"))
			defer s.Close()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.StoreLogs(entries(uint64(i)*batch + 1)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(st.name+"/GetLog", func(b *testing.B) {
			s := st.open(b, filepath.Join(b.TempDir(), "raft.db"))
			defer s.Close()
			const n = 1024
			for i := uint64(0); i < n; i += batch {
				if err := s.StoreLogs(entries(i + 1)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			var l raft.Log
			for i := 0; i < b.N; i++ {
				if err := s.GetLog(uint64(i%n)+1, &l); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
