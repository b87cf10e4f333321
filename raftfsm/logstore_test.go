package raftfsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
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

// rawChange closes s's file, changes it with bbolt directly (as a
// damaged disk would), and opens it again under s through raft-boltdb,
// without the start-up checks.
func rawChange(t *testing.T, s *logStore, change func(tx *bbolt.Tx) error) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(s.path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(change); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if s.bs, err = raftboltdb.New(raftboltdb.Options{Path: s.path}); err != nil {
		t.Fatal(err)
	}
}

// flipAfter returns a change that flips bits of the byte at offset off
// after the first occurrence of marker in the log record at index.
func flipAfter(index uint64, marker string, off int, bits byte) func(tx *bbolt.Tx) error {
	return func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketLogs)
		v := append([]byte(nil), b.Get(indexKey(index))...)
		i := bytes.Index(v, []byte(marker))
		if i < 0 {
			return fmt.Errorf("%q not in record %d: %q", marker, index, v)
		}
		v[i+off] ^= bits
		return b.Put(indexKey(index), v)
	}
}

func indexKey(i uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], i)
	return k[:]
}

// plainRecord is entry index as raft-boltdb alone stores it: no trailer.
func plainRecord(t *testing.T, index uint64) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plain.db")
	bs, err := raftboltdb.New(raftboltdb.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	err = bs.StoreLog(&raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: []byte("a value long enough for a trailer")})
	_ = bs.Close()
	if err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rec []byte
	_ = db.View(func(tx *bbolt.Tx) error {
		rec = append(rec, tx.Bucket(bucketLogs).Get(indexKey(index))...)
		return nil
	})
	return rec
}

// A record damaged on disk, or found under another index, fails its
// checksum on read, with an error naming raft.db and the index. (raft-
// boltdb stores an entry as a msgpack map; byte slices and the append
// time are msgpack strings, so the markers below find the fields.)
func TestLogStoreDetectsDamagedRecords(t *testing.T) {
	t.Parallel()
	// testEntries: entry 7 is a command with data {7 'x' 'y'}; entry 6
	// also has extensions and an append time.
	cases := []struct {
		name    string
		index   uint64
		decodes bool // raft-boltdb still decodes it: only the CRC can tell
		damage  func(t *testing.T) func(tx *bbolt.Tx) error
	}{
		{"flipped data byte", 7, true, func(*testing.T) func(tx *bbolt.Tx) error { return flipAfter(7, "\x07xy", 1, 1) }},
		{"flipped term", 7, true, func(*testing.T) func(tx *bbolt.Tx) error { return flipAfter(7, "Term", 4, 3) }},
		{"flipped type", 7, true, func(*testing.T) func(tx *bbolt.Tx) error { return flipAfter(7, "Type", 4, 2) }},
		{"flipped commit index in the trailer", 7, true, func(*testing.T) func(tx *bbolt.Tx) error { return flipAfter(7, "\x07xy", 3+7, 4) }},
		{"flipped extension byte", 6, true, func(*testing.T) func(tx *bbolt.Tx) error { return flipAfter(6, "\xa3ext", 2, 1) }},
		// The time's binary form: version, 8 bytes of seconds, 4 of ns.
		{"flipped append time", 6, true, func(*testing.T) func(tx *bbolt.Tx) error { return flipAfter(6, "AppendedAt", 11+12, 1) }},
		{"record moved to another index", 7, true, func(*testing.T) func(tx *bbolt.Tx) error {
			return func(tx *bbolt.Tx) error {
				b := tx.Bucket(bucketLogs)
				return b.Put(indexKey(7), append([]byte(nil), b.Get(indexKey(8))...))
			}
		}},
		{"truncated record", 7, false, func(*testing.T) func(tx *bbolt.Tx) error {
			return func(tx *bbolt.Tx) error {
				b := tx.Bucket(bucketLogs)
				v := b.Get(indexKey(7))
				return b.Put(indexKey(7), append([]byte(nil), v[:len(v)/2]...))
			}
		}},
		{"garbage record", 7, false, func(*testing.T) func(tx *bbolt.Tx) error {
			return func(tx *bbolt.Tx) error { return tx.Bucket(bucketLogs).Put(indexKey(7), []byte{1, 2}) }
		}},
		{"raft-boltdb record without checksum", 7, true, func(t *testing.T) func(tx *bbolt.Tx) error {
			rec := plainRecord(t, 7)
			return func(tx *bbolt.Tx) error { return tx.Bucket(bucketLogs).Put(indexKey(7), rec) }
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newTestLogStore(t)
			if err := s.StoreLogs(testEntries(1, 10)); err != nil {
				t.Fatal(err)
			}
			rawChange(t, s, tc.damage(t))
			var l raft.Log
			if err := s.bs.GetLog(tc.index, &l); (err == nil) != tc.decodes {
				t.Fatalf("raft-boltdb's own decoding of the damaged entry: %v", err)
			}
			err := s.GetLog(tc.index, &l)
			if !errors.Is(err, errChecksum) {
				t.Fatalf("GetLog of the damaged entry: %v (%+v), want a checksum error", err, l)
			}
			if want := fmt.Sprintf("raft.db: log entry %d:", tc.index); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
			if err := s.GetLog(tc.index-1, &l); err != nil {
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
	if _, err := s.Get([]byte("LastVoteCand")); err == nil || err.Error() != "not found" {
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
	rawChange(t, s, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketConf)
		v := append([]byte(nil), b.Get([]byte("CurrentTerm"))...)
		v[7] ^= 2 // the value's last byte
		if err := b.Put([]byte("CurrentTerm"), v); err != nil {
			return err
		}
		// raft-boltdb's plain form of a vote: no CRC.
		return b.Put([]byte("LastVoteCand"), []byte("abc"))
	})
	if _, err := s.GetUint64([]byte("CurrentTerm")); !errors.Is(err, errChecksum) || !strings.Contains(err.Error(), "raft.db") {
		t.Errorf("damaged term: %v", err)
	}
	if _, err := s.Get([]byte("LastVoteCand")); !errors.Is(err, errChecksum) {
		t.Errorf("vote without a checksum: %v", err)
	}
}

// The staged commit index reaches the disk only inside the next
// StoreLogs's entries, never runs backwards, is read back from the last
// entry after a reopen, and is never above the last index.
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
	// raft truncates only uncommitted entries: the new last entry's
	// trailer still says 4.
	if err := s2.DeleteRange(9, 9); err != nil {
		t.Fatal(err)
	}
	if c, _ := s2.GetCommitIndex(); c != 4 {
		t.Errorf("commit index after a suffix was dropped: %d, want 4", c)
	}
	// The reopened store goes on from the persisted index, not from 0:
	// an entry appended before anything new is staged carries 4 too.
	if err := s2.StoreLogs(testEntries(9, 9)); err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	if c, err := s2.read(9, &l); err != nil || c != 4 {
		t.Errorf("trailer of entry 9 appended after the reopen: commit %d, %v; want 4", c, err)
	}
	// A staged index above the entries stored with it (a follower stages
	// the leader's) is capped at the last index.
	_ = s2.StageCommitIndex(12)
	if err := s2.StoreLogs(testEntries(10, 11)); err != nil {
		t.Fatal(err)
	}
	if c, _ := s2.GetCommitIndex(); c != 11 {
		t.Errorf("commit index above the last entry: %d, want it capped at 11", c)
	}
	if c, err := s2.read(11, &l); err != nil || c != 12 {
		t.Errorf("trailer of entry 11: commit %d, %v; want 12", c, err)
	}
	// raft is told there is nothing to restore (restore.go).
	if c, _ := (cachedLog{store: s2}).GetCommitIndex(); c != 0 {
		t.Errorf("cachedLog commit index %d, want 0", c)
	}
}
