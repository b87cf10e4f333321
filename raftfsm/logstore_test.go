package raftfsm

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"
)

// newTestLogStore opens a fresh store in a temp dir.
func newTestLogStore(t *testing.T) (*logStore, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "raft.db")
	s, _, err := openLogStore(path, false, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func testEntries(from, to uint64) []*raft.Log {
	var out []*raft.Log
	for i := from; i <= to; i++ {
		l := &raft.Log{Index: i, Term: 1 + i/10, Type: raft.LogCommand, Data: []byte{byte(i), 'x', 'y'}}
		if i%3 == 0 {
			l.Extensions = []byte("ext")
			l.AppendedAt = time.Unix(1700000000, int64(i)).UTC()
		}
		if i%5 == 0 {
			l.Type, l.Data = raft.LogNoop, nil
		}
		out = append(out, l)
	}
	return out
}

// Entries come back exactly as stored, and the caller's values are not
// touched by storing them.
func TestLogStoreRoundTrip(t *testing.T) {
	t.Parallel()
	s, _ := newTestLogStore(t)
	in := testEntries(1, 40)
	copies := make([]raft.Log, len(in))
	for i, l := range in {
		copies[i] = *l
	}
	if err := s.StoreLogs(in[:30]); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLog(in[30]); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLogs(in[31:]); err != nil {
		t.Fatal(err)
	}
	for i, l := range in {
		if !reflect.DeepEqual(*l, copies[i]) {
			t.Fatalf("StoreLogs changed entry %d: %+v", l.Index, l)
		}
		var got raft.Log
		if err := s.GetLog(l.Index, &got); err != nil {
			t.Fatal(err)
		}
		want := copies[i]
		if !got.AppendedAt.Equal(want.AppendedAt) {
			t.Errorf("entry %d appended at %v, want %v", l.Index, got.AppendedAt, want.AppendedAt)
		}
		got.AppendedAt, want.AppendedAt = time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("entry %d: got %+v, want %+v", l.Index, got, want)
		}
	}
	if first, _ := s.FirstIndex(); first != 1 {
		t.Errorf("first index %d", first)
	}
	if err := s.DeleteRange(1, 10); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(35, 40); err != nil {
		t.Fatal(err)
	}
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if first != 11 || last != 34 {
		t.Errorf("after deletes: %d..%d, want 11..34", first, last)
	}
	var l raft.Log
	if err := s.GetLog(5, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Errorf("deleted entry: %v", err)
	}
	if st := s.LogStatsForTest(); st.Batches != 3 || st.Entries != 40 {
		t.Errorf("counters %+v, want 3 appends of 40 entries", st)
	}
}

// LogStatsForTest reads the counters without a Node.
func (s *logStore) LogStatsForTest() LogStats {
	return LogStats{Batches: s.batches.Load(), Entries: s.entries.Load()}
}

// A record damaged on disk, or found under another index, fails its
// checksum on read.
func TestLogStoreDetectsDamagedRecords(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		damage func(tx *bbolt.Tx) error
	}{
		{"flipped data byte", func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketLog)
			v := append([]byte(nil), b.Get(indexKey(7))...)
			v[len(v)-5] ^= 1
			return b.Put(indexKey(7), v)
		}},
		{"record moved to another index", func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketLog)
			return b.Put(indexKey(7), append([]byte(nil), b.Get(indexKey(8))...))
		}},
		{"truncated record", func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketLog)
			return b.Put(indexKey(7), append([]byte(nil), b.Get(indexKey(7))[:6]...))
		}},
		{"record without checksum", func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketLog).Put(indexKey(7), []byte{1, 2})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newTestLogStore(t)
			if err := s.StoreLogs(testEntries(1, 10)); err != nil {
				t.Fatal(err)
			}
			if err := s.db.Update(tc.damage); err != nil {
				t.Fatal(err)
			}
			var l raft.Log
			if err := s.GetLog(7, &l); !errors.Is(err, errChecksum) {
				t.Errorf("GetLog of the damaged entry: %v, want a checksum error", err)
			}
			if err := s.GetLog(6, &l); err != nil {
				t.Errorf("GetLog of an intact entry: %v", err)
			}
		})
	}
}

// Term and vote round-trip with checksums; a missing key reads "not
// found" (the text raft checks); a damaged value is an error.
func TestStableStore(t *testing.T) {
	t.Parallel()
	s, _ := newTestLogStore(t)
	if _, err := s.GetUint64([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
		t.Errorf("missing key: %v", err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 42); err != nil {
		t.Fatal(err)
	}
	if err := s.Set([]byte("LastVoteCand"), []byte("abc")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 42 {
		t.Errorf("term: %d %v", v, err)
	}
	if v, err := s.Get([]byte("LastVoteCand")); err != nil || string(v) != "abc" {
		t.Errorf("vote: %q %v", v, err)
	}
	_ = s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketStable)
		v := append([]byte(nil), b.Get([]byte("CurrentTerm"))...)
		v[len(v)-1] ^= 2
		return b.Put([]byte("CurrentTerm"), v)
	})
	if _, err := s.GetUint64([]byte("CurrentTerm")); !errors.Is(err, errChecksum) {
		t.Errorf("damaged term: %v", err)
	}
}

// The staged commit index reaches the disk only with the next StoreLogs,
// never runs backwards, and is read back (capped at the last index) after
// a reopen.
func TestCommitIndexPersistedWithAppends(t *testing.T) {
	t.Parallel()
	s, path := newTestLogStore(t)
	if err := s.StoreLogs(testEntries(1, 5)); err != nil {
		t.Fatal(err)
	}
	_ = s.StageCommitIndex(4)
	if c, _ := s.GetCommitIndex(); c != 0 {
		t.Errorf("commit index %d visible before an append carried it", c)
	}
	if err := s.StoreLogs(testEntries(6, 8)); err != nil {
		t.Fatal(err)
	}
	_ = s.StageCommitIndex(2) // lower: ignored
	if err := s.StoreLogs(testEntries(9, 9)); err != nil {
		t.Fatal(err)
	}
	_ = s.StageCommitIndex(9) // staged, never appended with
	if err := s.SetUint64([]byte("CurrentTerm"), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, _, err := openLogStore(path, true, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if c, _ := s2.GetCommitIndex(); c != 4 {
		t.Errorf("commit index after reopen: %d, want 4", c)
	}
	if err := s2.DeleteRange(3, 9); err != nil {
		t.Fatal(err)
	}
	if c, _ := s2.GetCommitIndex(); c != 2 {
		t.Errorf("commit index above the last entry: %d, want it capped at 2", c)
	}
	var raw []byte
	_ = s2.db.View(func(tx *bbolt.Tx) error {
		raw, _ = parseStable(keyCommit, tx.Bucket(bucketMeta).Get(keyCommit))
		return nil
	})
	if binary.BigEndian.Uint64(raw) != 4 {
		t.Errorf("stored commit %x", raw)
	}
	// raft is told there is nothing to restore (restore.go).
	if c, _ := (cachedLog{store: s2}).GetCommitIndex(); c != 0 {
		t.Errorf("cachedLog commit index %d, want 0", c)
	}
}
