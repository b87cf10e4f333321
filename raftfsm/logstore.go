package raftfsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"
)

// logStore is the member's raft log, stable store (term and vote) and
// commit tracking, in one bbolt file (member/raft.db). Every record
// carries a CRC-32C checked on every read; the format is described in
// DESIGN.md ("On-disk format"). It implements raft.LogStore,
// raft.StableStore and raft.CommitTrackingLogStore, and counts durable
// appends (each StoreLogs call is one bolt transaction, i.e. one fsync).
//
// raft's *raft.Log values are only read: records are encoded into new
// buffers, and GetLog fills the caller's Log with copies.
type logStore struct {
	db   *bbolt.DB
	path string // for error messages

	// staged is the commit index raft asked to persist with the next
	// StoreLogs; written is the one on disk. Both only grow.
	staged  atomic.Uint64
	written atomic.Uint64

	batches atomic.Uint64 // StoreLogs calls
	entries atomic.Uint64 // entries written
}

var (
	bucketLog    = []byte("log")    // 8-byte big-endian index → log record
	bucketStable = []byte("stable") // raft's key → stable record
	bucketMeta   = []byte("meta")   // keyFormat, keyCommit → stable record
	keyFormat    = []byte("format")
	keyCommit    = []byte("commit")
)

// logFormat names this file format; it is the value of meta/format.
const logFormat = "etcd-classic raft log v1"

// logRecordVersion is the first byte after a log record's CRC.
const logRecordVersion = 1

// recordCRC is the CRC-32C (Castagnoli) table of raft.db records.
var recordCRC = crc32.MakeTable(crc32.Castagnoli)

// errChecksum marks a record whose checksum or structure is wrong.
var errChecksum = errors.New("checksum mismatch")

// errStableNotFound is what raft expects from a StableStore for a missing
// key: hashicorp/raft compares the error's text with "not found".
var errStableNotFound = errors.New("not found")

func indexKey(i uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], i)
	return k[:]
}

// encodeLog returns l's record: CRC-32C (big-endian, over the index as 8
// big-endian bytes followed by everything after the CRC), version, term,
// type, append time, data and extensions. The index itself is the key;
// including it in the CRC catches a record found under the wrong key.
func encodeLog(l *raft.Log) []byte {
	b := make([]byte, 4, 4+1+3*binary.MaxVarintLen64+1+len(l.Data)+len(l.Extensions))
	b = append(b, logRecordVersion)
	b = binary.AppendUvarint(b, l.Term)
	b = append(b, byte(l.Type))
	var at int64
	if !l.AppendedAt.IsZero() {
		at = l.AppendedAt.UnixNano()
	}
	b = binary.AppendVarint(b, at)
	b = binary.AppendUvarint(b, uint64(len(l.Data)))
	b = append(b, l.Data...)
	b = binary.AppendUvarint(b, uint64(len(l.Extensions)))
	b = append(b, l.Extensions...)
	binary.BigEndian.PutUint32(b, logCRC(l.Index, b[4:]))
	return b
}

func logCRC(index uint64, body []byte) uint32 {
	return crc32.Update(crc32.Checksum(indexKey(index), recordCRC), recordCRC, body)
}

// logView is a decoded record whose slices still point into the record.
type logView struct {
	term       uint64
	typ        raft.LogType
	appendedAt int64
	data, ext  []byte
}

// parseLog checks the record stored under index and decodes it without
// copying. Every length is checked against what is left.
func parseLog(index uint64, rec []byte) (logView, error) {
	var v logView
	if len(rec) < 5 || binary.BigEndian.Uint32(rec) != logCRC(index, rec[4:]) {
		return v, errChecksum
	}
	if rec[4] != logRecordVersion {
		return v, fmt.Errorf("unknown record version %d", rec[4])
	}
	r := rec[5:]
	var n int
	if v.term, n = binary.Uvarint(r); n <= 0 || len(r) < n+1 {
		return v, errChecksum
	}
	v.typ, r = raft.LogType(r[n]), r[n+1:]
	if v.appendedAt, n = binary.Varint(r); n <= 0 {
		return v, errChecksum
	}
	r = r[n:]
	var err error
	if v.data, r, err = lengthPrefixed(r); err != nil {
		return v, err
	}
	if v.ext, r, err = lengthPrefixed(r); err != nil || len(r) != 0 {
		return v, errChecksum
	}
	return v, nil
}

func lengthPrefixed(r []byte) (field, rest []byte, err error) {
	l, n := binary.Uvarint(r)
	if n <= 0 || l > uint64(len(r)-n) {
		return nil, nil, errChecksum
	}
	return r[n : n+int(l)], r[n+int(l):], nil
}

// fill copies the view into l (the copies outlive the bolt transaction).
func (v logView) fill(index uint64, l *raft.Log) {
	*l = raft.Log{Index: index, Term: v.term, Type: v.typ}
	if len(v.data) > 0 {
		l.Data = append([]byte(nil), v.data...)
	}
	if len(v.ext) > 0 {
		l.Extensions = append([]byte(nil), v.ext...)
	}
	if v.appendedAt != 0 {
		l.AppendedAt = time.Unix(0, v.appendedAt)
	}
}

// encodeStable returns a stable record: CRC-32C (over key and value),
// then the value.
func encodeStable(key, val []byte) []byte {
	b := make([]byte, 4, 4+len(val))
	b = append(b, val...)
	binary.BigEndian.PutUint32(b, stableCRC(key, val))
	return b
}

func stableCRC(key, val []byte) uint32 {
	return crc32.Update(crc32.Checksum(key, recordCRC), recordCRC, val)
}

// parseStable checks a stable record and returns its value (pointing
// into rec).
func parseStable(key, rec []byte) ([]byte, error) {
	if len(rec) < 4 || binary.BigEndian.Uint32(rec) != stableCRC(key, rec[4:]) {
		return nil, errChecksum
	}
	return rec[4:], nil
}

// recordError names the file and record a failed read came from.
func (s *logStore) recordError(what string, err error) error {
	return fmt.Errorf("raftfsm: %s: %s: %w", s.path, what, err)
}

// FirstIndex returns the first index in the log (0 if empty).
func (s *logStore) FirstIndex() (uint64, error) { return s.edgeIndex(true) }

// LastIndex returns the last index in the log (0 if empty).
func (s *logStore) LastIndex() (uint64, error) { return s.edgeIndex(false) }

func (s *logStore) edgeIndex(first bool) (uint64, error) {
	var idx uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketLog).Cursor()
		k, _ := c.Last()
		if first {
			k, _ = c.First()
		}
		if k != nil {
			idx = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	return idx, err
}

// GetLog reads the entry at index into l, checking its checksum. A
// missing entry is raft.ErrLogNotFound.
func (s *logStore) GetLog(index uint64, l *raft.Log) error {
	return s.db.View(func(tx *bbolt.Tx) error {
		rec := tx.Bucket(bucketLog).Get(indexKey(index))
		if rec == nil {
			return raft.ErrLogNotFound
		}
		v, err := parseLog(index, rec)
		if err != nil {
			return s.recordError(fmt.Sprintf("log entry %d", index), err)
		}
		v.fill(index, l)
		return nil
	})
}

// StoreLog stores one entry.
func (s *logStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// StoreLogs stores entries, and the staged commit index if it grew, in one
// transaction (one fsync).
func (s *logStore) StoreLogs(logs []*raft.Log) error {
	s.batches.Add(1)
	s.entries.Add(uint64(len(logs)))
	commit := s.staged.Load()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketLog)
		for _, l := range logs {
			// bbolt keeps the slices until commit: one buffer per entry.
			if err := b.Put(indexKey(l.Index), encodeLog(l)); err != nil {
				return err
			}
		}
		if commit > s.written.Load() {
			var v [8]byte
			binary.BigEndian.PutUint64(v[:], commit)
			return tx.Bucket(bucketMeta).Put(keyCommit, encodeStable(keyCommit, v[:]))
		}
		return nil
	})
	if err == nil && commit > s.written.Load() {
		s.written.Store(commit)
	}
	return err
}

// DeleteRange deletes the entries min..max (inclusive).
func (s *logStore) DeleteRange(min, max uint64) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketLog).Cursor()
		for k, _ := c.Seek(indexKey(min)); k != nil && binary.BigEndian.Uint64(k) <= max; k, _ = c.Next() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

// StageCommitIndex records the commit index to persist with the next
// StoreLogs (raft.CommitTrackingLogStore): never on its own, so the index
// on disk never runs ahead of the entries stored with it.
func (s *logStore) StageCommitIndex(index uint64) error {
	for {
		cur := s.staged.Load()
		if index <= cur || s.staged.CompareAndSwap(cur, index) {
			return nil
		}
	}
}

// GetCommitIndex returns the commit index persisted with the log (0 if
// none), capped at the last index: every entry up to it is committed.
func (s *logStore) GetCommitIndex() (uint64, error) {
	last, err := s.LastIndex()
	if err != nil {
		return 0, err
	}
	return min(s.written.Load(), last), nil
}

// Set stores a stable value.
func (s *logStore) Set(key, val []byte) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketStable).Put(append([]byte(nil), key...), encodeStable(key, val))
	})
}

// Get returns a stable value, or an error whose text is "not found".
func (s *logStore) Get(key []byte) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		rec := tx.Bucket(bucketStable).Get(key)
		if rec == nil {
			return errStableNotFound
		}
		v, err := parseStable(key, rec)
		if err != nil {
			return s.recordError(fmt.Sprintf("stable value %q", key), err)
		}
		out = append([]byte{}, v...)
		return nil
	})
	return out, err
}

// SetUint64 stores a stable integer.
func (s *logStore) SetUint64(key []byte, val uint64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], val)
	return s.Set(key, v[:])
}

// GetUint64 returns a stable integer, or an error whose text is "not
// found".
func (s *logStore) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, s.recordError(fmt.Sprintf("stable value %q", key), errChecksum)
	}
	return binary.BigEndian.Uint64(v), nil
}

// Close closes the file. It is idempotent.
func (s *logStore) Close() error { return s.db.Close() }

// cachedLog puts raft's in-memory cache of recent entries in front of the
// store, and forwards commit staging, which raft.LogCache does not.
type cachedLog struct {
	*raft.LogCache
	store *logStore
}

// StageCommitIndex forwards raft's commit index to the store.
func (c cachedLog) StageCommitIndex(i uint64) error { return c.store.StageCommitIndex(i) }

// GetCommitIndex tells raft there is nothing to restore: the member
// restores its committed entries itself before raft starts (restore.go
// says why).
func (c cachedLog) GetCommitIndex() (uint64, error) { return 0, nil }

var (
	_ raft.CommitTrackingLogStore = cachedLog{}
	_ raft.CommitTrackingLogStore = (*logStore)(nil)
	_ raft.StableStore            = (*logStore)(nil)
)

// LogStats are the durable-append counters of this member's raft log.
type LogStats struct {
	Batches uint64 // appends, each one fsync
	Entries uint64 // entries appended
}

// LogStats returns the counters since start.
func (n *Node) LogStats() LogStats {
	return LogStats{Batches: n.bolt.batches.Load(), Entries: n.bolt.entries.Load()}
}
