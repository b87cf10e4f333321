package raftfsm

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"

	"github.com/etcd-classic/etcd-classic/machines"
)

// ErrDamaged is wrapped by every error New returns because the data dir
// is damaged (a checksum mismatch, a truncated or missing file, a gap
// between the snapshots and the log). The member must not start: its
// message names the file and what the operator can do.
var ErrDamaged = errors.New("raftfsm: data dir damaged")

// damageError is one kind of damage in one file.
type damageError struct {
	file   string
	what   string
	member uint64
}

func (e *damageError) Error() string {
	// One line: the file, what is wrong, what to do.
	what := strings.ReplaceAll(e.what, "\n", " ")
	return fmt.Sprintf("%s: %s; restore the data dir from a backup, or remove this member from the cluster "+
		"(etcdctl member remove %s) and add it again with an empty data dir", e.file, what, machines.IDString(e.member))
}

func (e *damageError) Is(target error) bool { return target == ErrDamaged }

// logSummary is what the start-up check learned about raft.db.
type logSummary struct {
	first, last uint64 // log indexes (0, 0 when empty)
	lastTerm    uint64 // term of the last entry
	lastVisible uint64 // last entry the FSM sees (command or configuration)
	currentTerm uint64 // raft's CurrentTerm (0 when unset)
}

// openLogStore opens member/raft.db after checking it, before raft sees
// it. mustExist says the member has started before (its identity is on
// disk), so a missing or empty file is damage rather than a first start.
// Damage is returned as a *damageError (ErrDamaged); bbolt's panics on a
// damaged file are turned into such errors, never propagated.
func openLogStore(path string, mustExist bool, member uint64) (*logStore, logSummary, error) {
	damaged := func(format string, a ...any) error {
		return &damageError{file: path, what: fmt.Sprintf(format, a...), member: member}
	}
	var sum logSummary
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if mustExist {
			return nil, sum, damaged("the raft log is missing, but this member has started before (identity.json is there)")
		}
	case err != nil:
		return nil, sum, fmt.Errorf("raftfsm: %s: %w", path, err)
	case fi.Size() == 0 && mustExist:
		return nil, sum, damaged("the raft log is empty (truncated to zero bytes), but this member has started before")
	}

	var s *logStore
	err = guardBolt(func() error {
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 2 * time.Second})
		if errors.Is(err, bbolt.ErrTimeout) {
			return fmt.Errorf("raftfsm: %s is locked by another process (is another member using this data dir?)", path)
		}
		if err != nil {
			return damaged("cannot be opened as a bbolt file (%v)", err)
		}
		s = &logStore{db: db, path: path}
		if err := s.init(mustExist); err != nil {
			return err
		}
		sum, err = s.verify()
		return err
	})
	if err == nil {
		return s, sum, nil
	}
	if s != nil {
		_ = guardBolt(s.db.Close)
	}
	if msg, ok := err.(boltPanic); ok {
		err = damaged("unreadable (bbolt: %s)", string(msg))
	}
	var de *damageError
	if errors.As(err, &de) {
		de.file, de.member = path, member
	}
	return nil, sum, err
}

// boltPanic is a panic from bbolt (or a memory fault in its mapping of a
// damaged file), caught by guardBolt.
type boltPanic string

func (p boltPanic) Error() string { return string(p) }

// guardBolt runs fn, turning a panic — and a memory fault, which bbolt
// hits when a damaged file points past its end — into a boltPanic error.
// Faults become panics only on this goroutine, for the duration of fn.
func guardBolt(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = boltPanic(fmt.Sprint(r))
		}
	}()
	return fn()
}

// init creates the buckets of a new file, or checks that an existing one
// is in this format.
func (s *logStore) init(mustExist bool) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		var names []string
		_ = tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			names = append(names, string(name))
			return nil
		})
		if len(names) == 0 {
			if mustExist {
				return &damageError{what: "the raft log holds nothing, but this member has started before"}
			}
			for _, b := range [][]byte{bucketLog, bucketStable, bucketMeta} {
				if _, err := tx.CreateBucket(b); err != nil {
					return err
				}
			}
			return tx.Bucket(bucketMeta).Put(keyFormat, encodeStable(keyFormat, []byte(logFormat)))
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil || tx.Bucket(bucketLog) == nil || tx.Bucket(bucketStable) == nil {
			if tx.Bucket([]byte("logs")) != nil && tx.Bucket([]byte("conf")) != nil {
				return &damageError{what: "written by an earlier build of etcd-classic (raft-boltdb's format, without checksums)"}
			}
			return &damageError{what: fmt.Sprintf("not an etcd-classic raft log (buckets %v)", names)}
		}
		format, err := parseStable(keyFormat, meta.Get(keyFormat))
		if err != nil || string(format) != logFormat {
			return &damageError{what: fmt.Sprintf("unknown raft log format %q", format)}
		}
		return nil
	})
}

// verify reads the whole file once: every log record's checksum, the
// log's continuity, the stable values and the commit index, then bbolt's
// own consistency check of its pages.
func (s *logStore) verify() (logSummary, error) {
	var sum logSummary
	damaged := func(format string, a ...any) error { return &damageError{what: fmt.Sprintf(format, a...)} }
	if fi, err := os.Stat(s.path); err == nil {
		var size int64
		_ = s.db.View(func(tx *bbolt.Tx) error { size = tx.Size(); return nil })
		if fi.Size() < size {
			return sum, damaged("truncated: %d bytes, but its pages reach to byte %d", fi.Size(), size)
		}
	}
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketLog).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) != 8 {
				return damaged("a log key of %d bytes", len(k))
			}
			idx := binary.BigEndian.Uint64(k)
			if sum.last != 0 && idx != sum.last+1 {
				return damaged("log entries %d to %d are missing", sum.last+1, idx-1)
			}
			rec, err := parseLog(idx, v)
			if err != nil {
				return damaged("log entry %d: %v", idx, err)
			}
			if sum.first == 0 {
				sum.first = idx
			}
			sum.last, sum.lastTerm = idx, rec.term
			if rec.typ == raft.LogCommand || rec.typ == raft.LogConfiguration {
				sum.lastVisible = idx
			}
		}
		err := tx.Bucket(bucketStable).ForEach(func(k, v []byte) error {
			if _, err := parseStable(k, v); err != nil {
				return damaged("stable value %q: %v", k, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if v := tx.Bucket(bucketStable).Get([]byte("CurrentTerm")); v != nil {
			t, _ := parseStable([]byte("CurrentTerm"), v) // checked above
			if len(t) != 8 {
				return damaged("stable value \"CurrentTerm\" is %d bytes", len(t))
			}
			sum.currentTerm = binary.BigEndian.Uint64(t)
		}
		if v := tx.Bucket(bucketMeta).Get(keyCommit); v != nil {
			c, err := parseStable(keyCommit, v)
			if err != nil || len(c) != 8 {
				return damaged("the commit index: %v", errChecksum)
			}
			s.written.Store(binary.BigEndian.Uint64(c))
			s.staged.Store(s.written.Load())
		}
		// bbolt's checker runs on its own goroutine and sends every
		// problem it finds: drain the channel, keep the first.
		var first error
		for err := range tx.Check() {
			if first == nil {
				first = err
			}
		}
		if first != nil {
			return damaged("bbolt consistency check: %v", first)
		}
		return nil
	})
	if err != nil {
		return sum, err
	}
	if sum.last > 0 && sum.currentTerm < sum.lastTerm {
		return sum, damaged("the current term %d is older than the last entry's term %d", sum.currentTerm, sum.lastTerm)
	}
	return sum, nil
}

// snapshotMeta is raft's meta.json of a file snapshot.
type snapshotMeta struct {
	raft.SnapshotMeta
	CRC []byte
}

// checkSnapshots verifies every snapshot raft would consider at start
// (each directory under member/snapshots without the .tmp suffix of an
// unfinished one): its metadata parses and its state.bin matches the
// CRC-64 in it. It returns the newest snapshot's index (0 if none).
// Any damaged snapshot stops the member, the older one included: raft
// falls back to an older snapshot silently, and a disk that damaged one
// file is not trusted with the rest.
func checkSnapshots(dir string, member uint64) (uint64, error) {
	root := filepath.Join(dir, "snapshots")
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("raftfsm: %s: %w", root, err)
	}
	var newest uint64
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		metaPath := filepath.Join(root, e.Name(), "meta.json")
		statePath := filepath.Join(root, e.Name(), "state.bin")
		b, err := os.ReadFile(metaPath)
		var meta snapshotMeta
		if err == nil {
			err = json.Unmarshal(b, &meta)
		}
		if err == nil && meta.ID != e.Name() {
			err = fmt.Errorf("it names snapshot %q", meta.ID)
		}
		if err != nil {
			return 0, &damageError{file: metaPath, what: fmt.Sprintf("unreadable snapshot metadata (%v)", err), member: member}
		}
		if what := checkSnapshotState(statePath, &meta); what != "" {
			return 0, &damageError{file: statePath, what: what, member: member}
		}
		newest = max(newest, meta.Index)
	}
	return newest, nil
}

// checkSnapshotState reads state.bin once, checking its CRC-64 and size
// against the metadata and its format's magic. It returns what is wrong,
// or "".
func checkSnapshotState(path string, meta *snapshotMeta) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("unreadable snapshot (%v)", err)
	}
	defer f.Close()
	h := crc64.New(crc64.MakeTable(crc64.ECMA))
	head := make([]byte, len(fsmSnapshotMagic)) // checked below
	k, err := io.ReadFull(f, head)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = nil
	}
	head = head[:k]
	h.Write(head)
	var n int64
	if err == nil {
		n, err = io.Copy(h, f)
		n += int64(k)
	}
	switch {
	case err != nil:
		return fmt.Sprintf("unreadable snapshot (%v)", err)
	case n != meta.Size:
		return fmt.Sprintf("snapshot is %d bytes, its metadata says %d", n, meta.Size)
	case !bytes.Equal(h.Sum(nil), meta.CRC):
		return "snapshot fails its CRC-64 checksum"
	}
	if !bytes.HasPrefix(head, []byte(fsmSnapshotMagic)) {
		return "not a snapshot of this format"
	}
	return ""
}

// checkCoverage makes sure the newest snapshot and the log together hold
// every entry: the log must continue from the snapshot. Otherwise raft
// would stop later with "panic: log not found".
func checkCoverage(path string, sum logSummary, snapshot uint64, member uint64) error {
	if sum.last == 0 || sum.first <= snapshot+1 {
		return nil
	}
	have := "no snapshot"
	if snapshot > 0 {
		have = fmt.Sprintf("the newest snapshot ends at entry %d", snapshot)
	}
	return &damageError{file: path, member: member,
		what: fmt.Sprintf("the raft log starts at entry %d but %s (missing snapshot files?)", sum.first, have)}
}
