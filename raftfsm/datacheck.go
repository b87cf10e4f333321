package raftfsm

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/crc64"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
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
//
// The file is checked twice: first with bbolt directly (checkBoltFile:
// pages, buckets, format, keys), so that raft-boltdb, which creates its
// buckets as it opens a file, writes nothing into a file of another
// format or a damaged one; then through raft-boltdb and the checksums of
// logStore (verify: every entry).
func openLogStore(path string, mustExist bool, member uint64) (*logStore, logSummary, error) {
	damaged := func(format string, a ...any) error {
		return &damageError{file: path, what: fmt.Sprintf(format, a...), member: member}
	}
	var sum logSummary
	fresh := false
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if mustExist {
			return nil, sum, damaged("the raft log is missing, but this member has started before (identity.json is there)")
		}
		fresh = true
	case err != nil:
		return nil, sum, fmt.Errorf("raftfsm: %s: %w", path, err)
	case fi.Size() == 0:
		if mustExist {
			return nil, sum, damaged("the raft log is empty (truncated to zero bytes), but this member has started before")
		}
		fresh = true // bbolt lays out an empty file as a new one
	}

	var s *logStore
	err = guardBolt(func() error {
		if !fresh {
			var err error
			if fresh, err = checkBoltFile(path, fi.Size(), mustExist); err != nil {
				return err
			}
		}
		bs, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: &bbolt.Options{Timeout: lockTimeout}})
		if errors.Is(err, bbolt.ErrTimeout) {
			return errLocked(path)
		}
		if err != nil {
			return damaged("cannot be opened as a bbolt file (%v)", err)
		}
		s = &logStore{bs: bs, path: path}
		if fresh {
			return s.Set(keyFormat, []byte(logFormat))
		}
		if sum, err = s.verify(); err != nil {
			return err
		}
		// verify read every entry through the mapping raft will keep:
		// the pages it touched (the whole trailing log, tens of MB)
		// would stay in the member's RSS for good. Open the file again
		// so that only what raft reads from now on is mapped in.
		if err := s.bs.Close(); err != nil {
			return err
		}
		s.bs, err = raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: &bbolt.Options{Timeout: lockTimeout}})
		if err != nil {
			s = nil
			return damaged("cannot be opened again after its check (%v)", err)
		}
		return nil
	})
	if err == nil {
		return s, sum, nil
	}
	if s != nil {
		_ = guardBolt(s.Close)
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

// lockTimeout is how long opening raft.db waits for another process's
// lock before giving up.
const lockTimeout = 2 * time.Second

func errLocked(path string) error {
	return fmt.Errorf("raftfsm: %s is locked by another process (is another member using this data dir?)", path)
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

var (
	bucketLogs = []byte("logs") // raft-boltdb's log bucket: 8-byte big-endian index → entry
	bucketConf = []byte("conf") // raft-boltdb's stable-store bucket
)

// checkBoltFile opens raft.db with bbolt directly and checks what
// raft-boltdb cannot: the file reaches as far as its pages, it has
// raft-boltdb's buckets and this format's marker, every stable value
// passes its CRC, the log's keys are indexes without gaps, and bbolt's
// own tx.Check finds nothing. It runs inside guardBolt and writes nothing:
// its transaction only reads (bbolt's open would rewrite a freelist it
// found unsynced, which raft-boltdb never leaves). empty reports a file
// with nothing stored yet (a first start that stopped early).
//
// bbolt's checker runs on a goroutine of its own, where a panic cannot be
// recovered, so everything it will touch is touched here first: the
// freelist, which bbolt reads when it opens a file for writing (and, in
// read-only mode, only inside tx.Check: hence not read-only), and every
// page, which the walk below reads byte by byte.
func checkBoltFile(path string, size int64, mustExist bool) (empty bool, err error) {
	damaged := func(format string, a ...any) error { return &damageError{what: fmt.Sprintf(format, a...)} }
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bbolt.ErrTimeout) {
		return false, errLocked(path)
	}
	if err != nil {
		return false, damaged("cannot be opened as a bbolt file (%v)", err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		if size < tx.Size() {
			return damaged("truncated: %d bytes, but its pages reach to byte %d", size, tx.Size())
		}
		logs, conf := tx.Bucket(bucketLogs), tx.Bucket(bucketConf)
		if logs == nil || conf == nil {
			var names []string
			_ = tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
				names = append(names, string(name))
				return nil
			})
			if len(names) == 0 && !mustExist {
				empty = true
				return nil
			}
			return layoutError(names)
		}
		if k, _ := logs.Cursor().First(); k == nil {
			if k, _ := conf.Cursor().First(); k == nil {
				if mustExist {
					return damaged("the raft log holds nothing, but this member has started before")
				}
				empty = true
				return nil
			}
		}
		if err := checkFormat(conf); err != nil {
			return err
		}
		if err := checkKeys(logs, conf); err != nil {
			return err
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
	return empty, err
}

// layoutError says what a bbolt file without raft-boltdb's buckets is.
func layoutError(names []string) error {
	has := map[string]bool{}
	for _, n := range names {
		has[n] = true
	}
	what := fmt.Sprintf("not an etcd-classic raft log (buckets %v)", names)
	switch {
	case len(names) == 0:
		what = "the raft log holds nothing, but this member has started before"
	case has["log"] && has["stable"] && has["meta"]:
		what = "written by an earlier build of etcd-classic (its own bbolt format, \"etcd-classic raft log v1\")"
	}
	return &damageError{what: what}
}

// checkFormat checks the format marker in raft-boltdb's conf bucket.
func checkFormat(conf *bbolt.Bucket) error {
	rec := conf.Get(keyFormat)
	if rec == nil {
		return &damageError{what: "written by an earlier build of etcd-classic (raft-boltdb's format, without checksums)"}
	}
	format, err := parseStable(keyFormat, rec)
	if err != nil {
		return &damageError{what: fmt.Sprintf("the format marker: %v", err)}
	}
	if string(format) != logFormat {
		return &damageError{what: fmt.Sprintf("unknown raft log format %q", format)}
	}
	return nil
}

// checkKeys checks every stable value's CRC and that the log's keys are
// 8-byte indexes without gaps; it reads every log value's bytes (their
// CRC comes later, through raft-boltdb's decoding).
func checkKeys(logs, conf *bbolt.Bucket) error {
	damaged := func(format string, a ...any) error { return &damageError{what: fmt.Sprintf(format, a...)} }
	err := conf.ForEach(func(k, v []byte) error {
		if _, err := parseStable(k, v); err != nil {
			return damaged("stable value %q: %v", k, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var prev uint64
	var touched uint32
	c := logs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 8 {
			return damaged("a log key of %d bytes", len(k))
		}
		idx := binary.BigEndian.Uint64(k)
		if prev != 0 && idx != prev+1 {
			// A gap, or a page of garbage keys.
			return damaged("the log's keys jump from entry %d to %d (entries missing, or a damaged page)", prev, idx)
		}
		prev = idx
		touched = crc32.Update(touched, recordCRC, v)
	}
	_ = touched
	return nil
}

// verify reads every entry through raft-boltdb and the checksums, and the
// current term, once checkBoltFile has passed. It leaves the last entry's
// commit index staged, so later trailers never carry a lower one.
func (s *logStore) verify() (logSummary, error) {
	var sum logSummary
	damaged := func(format string, a ...any) error { return &damageError{what: fmt.Sprintf(format, a...)} }
	first, err := s.FirstIndex()
	if err != nil {
		return sum, err
	}
	last, err := s.LastIndex()
	if err != nil {
		return sum, err
	}
	var commit uint64
	for i := first; i <= last && i > 0; i++ {
		var l raft.Log
		if commit, err = s.read(i, &l); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) {
				return sum, damaged("log entry %d is missing", i)
			}
			return sum, damaged("log entry %d: %v", i, err)
		}
		sum.lastTerm = l.Term
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			sum.lastVisible = i
		}
	}
	sum.first, sum.last = first, last
	_ = s.StageCommitIndex(commit)
	term, err := s.GetUint64([]byte("CurrentTerm"))
	switch {
	case errors.Is(err, raftboltdb.ErrKeyNotFound):
	case err != nil:
		return sum, damaged("stable value \"CurrentTerm\": %v", errors.Unwrap(err))
	default:
		sum.currentTerm = term
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
	if !bytes.HasPrefix(head, []byte(fsmSnapshotMagic)) && !bytes.HasPrefix(head, []byte(fsmSnapshotMagicV2)) {
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
