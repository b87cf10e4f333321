package raftfsm

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/etcd-classic/etcd-classic/machines"
)

// writtenLogStore creates member/raft.db holding entries 1..n with a
// current term, closed, and returns the member dir.
func writtenLogStore(t *testing.T, n uint64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "member")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s, _, err := openLogStore(filepath.Join(dir, "raft.db"), false, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Values big enough to take several pages.
	for i := uint64(1); i <= n; i += 10 {
		var batch []*raft.Log
		for j := i; j < i+10 && j <= n; j++ {
			batch = append(batch, &raft.Log{Index: j, Term: 3, Type: raft.LogCommand, Data: []byte(strings.Repeat("d", 700))})
		}
		if err := s.StoreLogs(batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 3); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkDir runs every start-up check New runs, the way it runs them.
func checkDir(dir string, mustExist bool) error {
	path := filepath.Join(dir, "raft.db")
	s, sum, err := openLogStore(path, mustExist, 0xabc)
	if err != nil {
		return err
	}
	defer s.Close()
	snap, err := checkSnapshots(dir, 0xabc)
	if err != nil {
		return err
	}
	return checkCoverage(path, sum, snap, 0xabc)
}

// wantDamage checks that err is ErrDamaged with one line naming file and
// the way out.
func wantDamage(t *testing.T, err error, file string) {
	t.Helper()
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("got %v, want damage", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, file) || !strings.Contains(msg, "backup") ||
		!strings.Contains(msg, "member remove "+machines.IDString(0xabc)+")") {
		t.Errorf("message %q: want one line naming %s and what to do", msg, file)
	}
	t.Log(msg)
}

// writeSnapshot stores a snapshot of index idx holding an FSM header.
func writeSnapshot(t *testing.T, dir string, idx uint64) string {
	t.Helper()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	sink, err := snaps.Create(raft.SnapshotVersionMax, idx, 3, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(sink, fsmSnapshotMagic+strings.Repeat("s", 500)); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "snapshots", sink.ID())
}

func TestStartupChecks(t *testing.T) {
	t.Parallel()
	db := func(dir string) string { return filepath.Join(dir, "raft.db") }
	cases := []struct {
		name      string
		mustExist bool
		damage    func(t *testing.T, dir string) string // returns the file the message must name ("" = no damage)
	}{
		{"healthy", true, func(t *testing.T, dir string) string { return "" }},
		{"healthy with a snapshot covering a compacted log", true, func(t *testing.T, dir string) string {
			writeSnapshot(t, dir, 30)
			deleteEntries(t, db(dir), 1, 25)
			return ""
		}},
		{"missing, first start", false, func(t *testing.T, dir string) string { _ = os.Remove(db(dir)); return "" }},
		{"empty, first start", false, func(t *testing.T, dir string) string { _ = os.Truncate(db(dir), 0); return "" }},
		{"raft-boltdb's buckets only, first start", false, func(t *testing.T, dir string) string {
			// raft-boltdb created its buckets, the process stopped before
			// the format marker: nothing was stored, so a first start.
			_ = os.Remove(db(dir))
			rawBolt(t, db(dir), func(tx *bbolt.Tx) error {
				_, _ = tx.CreateBucket(bucketLogs)
				_, err := tx.CreateBucket(bucketConf)
				return err
			})
			return ""
		}},
		{"raft-boltdb's buckets only after a start", true, func(t *testing.T, dir string) string {
			_ = os.Remove(db(dir))
			rawBolt(t, db(dir), func(tx *bbolt.Tx) error {
				_, _ = tx.CreateBucket(bucketLogs)
				_, err := tx.CreateBucket(bucketConf)
				return err
			})
			return "raft.db"
		}},
		{"no buckets after a start", true, func(t *testing.T, dir string) string {
			_ = os.Remove(db(dir))
			rawBolt(t, db(dir), func(tx *bbolt.Tx) error { return nil })
			return "raft.db"
		}},
		{"missing after a start", true, func(t *testing.T, dir string) string { _ = os.Remove(db(dir)); return "raft.db" }},
		{"truncated to zero after a start", true, func(t *testing.T, dir string) string { _ = os.Truncate(db(dir), 0); return "raft.db" }},
		{"half truncated", false, func(t *testing.T, dir string) string {
			fi, _ := os.Stat(db(dir))
			_ = os.Truncate(db(dir), fi.Size()/2)
			return "raft.db"
		}},
		{"garbage meta pages", false, func(t *testing.T, dir string) string {
			overwrite(t, db(dir), 0, 8192, 7)
			return "raft.db"
		}},
		{"entries missing in the middle", true, func(t *testing.T, dir string) string {
			deleteEntries(t, db(dir), 20, 22)
			return "raft.db"
		}},
		{"term older than the log", true, func(t *testing.T, dir string) string {
			s, _, _ := openLogStore(db(dir), true, 1)
			_ = s.SetUint64([]byte("CurrentTerm"), 2)
			_ = s.Close()
			return "raft.db"
		}},
		{"raft-boltdb's format without checksums", false, func(t *testing.T, dir string) string {
			_ = os.Remove(db(dir))
			bs, err := raftboltdb.New(raftboltdb.Options{Path: db(dir)})
			if err != nil {
				t.Fatal(err)
			}
			_ = bs.StoreLog(&raft.Log{Index: 1, Term: 1, Type: raft.LogCommand, Data: []byte("v")})
			_ = bs.SetUint64([]byte("CurrentTerm"), 1)
			_ = bs.Close()
			return "raft.db"
		}},
		{"the earlier checksummed format", false, func(t *testing.T, dir string) string {
			_ = os.Remove(db(dir))
			rawBolt(t, db(dir), func(tx *bbolt.Tx) error {
				for _, b := range []string{"log", "stable", "meta"} {
					if _, err := tx.CreateBucket([]byte(b)); err != nil {
						return err
					}
				}
				return nil
			})
			return "raft.db"
		}},
		{"unknown format marker", true, func(t *testing.T, dir string) string {
			rawBolt(t, db(dir), func(tx *bbolt.Tx) error {
				return tx.Bucket(bucketConf).Put(keyFormat, sealStable(keyFormat, []byte("etcd-classic raft log v9")))
			})
			return "raft.db"
		}},
		{"bytes changed inside an entry", true, func(t *testing.T, dir string) string {
			rawBolt(t, db(dir), func(tx *bbolt.Tx) error {
				b := tx.Bucket(bucketLogs)
				v := append([]byte(nil), b.Get(indexKey(33))...)
				i := bytes.Index(v, []byte("ddddddd"))
				copy(v[i:], "XXXXXXX")
				return b.Put(indexKey(33), v)
			})
			return "raft.db"
		}},
		{"damaged last entry", true, func(t *testing.T, dir string) string {
			rawBolt(t, db(dir), func(tx *bbolt.Tx) error {
				b := tx.Bucket(bucketLogs)
				v := append([]byte(nil), b.Get(indexKey(60))...)
				v[len(v)-1] ^= 1
				return b.Put(indexKey(60), v)
			})
			return "raft.db"
		}},
		{"damaged term", true, func(t *testing.T, dir string) string {
			rawBolt(t, db(dir), func(tx *bbolt.Tx) error {
				b := tx.Bucket(bucketConf)
				v := append([]byte(nil), b.Get([]byte("CurrentTerm"))...)
				v[0] ^= 1
				return b.Put([]byte("CurrentTerm"), v)
			})
			return "raft.db"
		}},
		{"a stray log key", true, func(t *testing.T, dir string) string {
			rawBolt(t, db(dir), func(tx *bbolt.Tx) error {
				return tx.Bucket(bucketLogs).Put([]byte("stray"), []byte("x"))
			})
			return "raft.db"
		}},
		{"damaged snapshot", true, func(t *testing.T, dir string) string {
			snap := writeSnapshot(t, dir, 30)
			overwrite(t, filepath.Join(snap, "state.bin"), 100, 7, 1)
			return "state.bin"
		}},
		{"damaged older snapshot", true, func(t *testing.T, dir string) string {
			old := writeSnapshot(t, dir, 20)
			writeSnapshot(t, dir, 30)
			_ = os.Truncate(filepath.Join(old, "state.bin"), 10)
			return "state.bin"
		}},
		{"unreadable snapshot metadata", true, func(t *testing.T, dir string) string {
			snap := writeSnapshot(t, dir, 30)
			_ = os.WriteFile(filepath.Join(snap, "meta.json"), []byte("{\"ID\":"), 0o600)
			return "meta.json"
		}},
		{"log compacted past the snapshot", true, func(t *testing.T, dir string) string {
			writeSnapshot(t, dir, 10)
			deleteEntries(t, db(dir), 1, 25)
			return "raft.db"
		}},
		{"log compacted, snapshots gone", true, func(t *testing.T, dir string) string {
			deleteEntries(t, db(dir), 1, 25)
			return "raft.db"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := writtenLogStore(t, 60)
			file := tc.damage(t, dir)
			err := checkDir(dir, tc.mustExist)
			if file == "" {
				if err != nil {
					t.Fatalf("healthy data dir refused: %v", err)
				}
				return
			}
			wantDamage(t, err, file)
		})
	}
}

// rawBolt changes the file at path with bbolt directly, as a damaged
// disk or another program would.
func rawBolt(t *testing.T, path string, change func(tx *bbolt.Tx) error) {
	t.Helper()
	b, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Update(change); err != nil {
		t.Fatal(err)
	}
}

func deleteEntries(t *testing.T, path string, from, to uint64) {
	t.Helper()
	s, _, err := openLogStore(path, true, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.DeleteRange(from, to); err != nil {
		t.Fatal(err)
	}
}

// overwrite puts n random bytes at off.
func overwrite(t *testing.T, path string, off int64, n int, seed int64) {
	t.Helper()
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// Random garbage on any one page of raft.db never panics or crashes the
// check: the file either still checks out (a free page) or is reported
// as damaged.
func TestGarbageOnEveryPage(t *testing.T) {
	t.Parallel()
	orig, err := os.ReadFile(filepath.Join(writtenLogStore(t, 200), "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	page := os.Getpagesize()
	damaged := 0
	for p := 2; p*page < len(orig); p++ { // pages 0 and 1 are bbolt's meta pages
		// A fresh copy each time: a bbolt panic inside Open leaks the
		// file's lock until the process ends (or the finalizer runs).
		dir := filepath.Join(t.TempDir(), "member")
		path := filepath.Join(dir, "raft.db")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, orig, 0o600); err != nil {
			t.Fatal(err)
		}
		overwrite(t, path, int64(p*page), page, int64(p))
		err := checkDir(dir, true)
		if err != nil {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("page %d: %v, want damage", p, err)
			}
			damaged++
			t.Logf("page %d: %v", p, err)
		}
	}
	t.Logf("%d of %d pages reported damaged", damaged, len(orig)/page-2)
	if damaged == 0 {
		t.Error("no damaged page was noticed")
	}
}

// A data dir another process has open is refused with a clear error, not
// reported as damage.
func TestLockedLogStore(t *testing.T) {
	t.Parallel()
	s, path := newTestLogStore(t)
	_ = s
	_, _, err := openLogStore(path, true, 1)
	if err == nil || errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "locked") {
		t.Errorf("second open: %v", err)
	}
}

// A file of another format is refused without being changed: raft-boltdb
// would add its buckets to any file it opens, so it only opens files the
// bbolt-level check has accepted.
func TestOtherFormatLeftAlone(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "raft.db")
	rawBolt(t, path, func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket([]byte("log"))
		return err
	})
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := openLogStore(path, true, 1); !errors.Is(err, ErrDamaged) {
		t.Fatalf("open: %v, want damage", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("refusing the file changed it")
	}
}
