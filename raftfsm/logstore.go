package raftfsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync/atomic"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// logStore is the member's raft log, stable store (term and vote) and
// commit tracking: raft-boltdb's BoltStore on member/raft.db, with a
// CRC-32C on every record it stores, checked on every read. It
// implements raft.LogStore, raft.StableStore and
// raft.CommitTrackingLogStore, and counts durable appends (each StoreLogs
// call is one bolt transaction, i.e. one fsync). The format is described
// in DESIGN.md ("On-disk format").
//
// A log entry is stored as raft-boltdb stores any entry, except that its
// Data is an envelope: the entry's own data, then a trailer holding the
// commit index staged when it was stored and the CRC (see seal). Because
// the trailer travels inside the entries of raft-boltdb's one
// transaction, the commit index reaches the disk atomically with them,
// as CommitTrackingLogStore requires.
//
// raft's *raft.Log values are only read: StoreLogs stores sealed copies,
// and GetLog fills the caller's Log with freshly decoded values.
type logStore struct {
	bs   *raftboltdb.BoltStore
	path string // for error messages

	// staged is the commit index the next StoreLogs writes into its
	// trailers: the largest raft has staged, and at least the one the
	// last entry carried at open. It only grows.
	staged atomic.Uint64

	batches atomic.Uint64 // StoreLogs calls
	entries atomic.Uint64 // entries written

	// stored, when set (before raft starts), is called with the last
	// index of every successful StoreLogs, on raft's goroutine: it must
	// not block (commit notices wait for a follower's log to reach an
	// index, commit.go).
	stored func(last uint64)
}

// keyFormat is the stable-store key holding logFormat (as a stable
// record). raft's own keys are CurrentTerm, LastVoteTerm and
// LastVoteCand.
var keyFormat = []byte("etcd-classic/format")

// logFormat names this file format.
const logFormat = "etcd-classic raft log v2 (raft-boltdb, CRC-32C trailers)"

const (
	// trailerVersion is the version byte of an entry's trailer.
	trailerVersion = 1
	// trailerLen is the trailer's size: commit index (8 bytes), version
	// (1), CRC-32C (4).
	trailerLen = 8 + 1 + 4
	// stableCRCLen is the size of a stable record's CRC.
	stableCRCLen = 4
)

// recordCRC is the CRC-32C (Castagnoli) table of raft.db records.
var recordCRC = crc32.MakeTable(crc32.Castagnoli)

// errChecksum marks a record whose checksum or structure is wrong.
var errChecksum = errors.New("checksum mismatch")

// crcScratch is entryCRC's buffer for the fixed fields. crc32 makes it
// escape, so callers allocate one per call of theirs, not per entry.
type crcScratch [8 + 8 + 1 + 8 + 8]byte

// seal returns l's data followed by its trailer: commit (8 bytes
// big-endian), version, and the CRC-32C (big-endian) of entryCRC.
func seal(l *raft.Log, commit uint64, h *crcScratch) []byte {
	b := make([]byte, len(l.Data)+trailerLen)
	n := copy(b, l.Data)
	binary.BigEndian.PutUint64(b[n:], commit)
	b[n+8] = trailerVersion
	binary.BigEndian.PutUint32(b[n+9:], entryCRC(l, l.Data, b[n:n+9], h))
	return b
}

// entryCRC is the CRC-32C over the index, term, type, append time (Unix
// ns, 0 for none; each 8 bytes big-endian, the type 1 byte), the data's
// length (8 bytes) and bytes, the extensions' length and bytes, then the
// trailer's commit index and version (tail). The lengths keep data and
// extensions from trading bytes unnoticed. (An entry found under another
// key passes its own CRC: unseal compares its index with the key's.)
func entryCRC(l *raft.Log, data, tail []byte, h *crcScratch) uint32 {
	binary.BigEndian.PutUint64(h[0:], l.Index)
	binary.BigEndian.PutUint64(h[8:], l.Term)
	h[16] = byte(l.Type)
	var at int64
	if !l.AppendedAt.IsZero() {
		at = l.AppendedAt.UnixNano()
	}
	binary.BigEndian.PutUint64(h[17:], uint64(at))
	binary.BigEndian.PutUint64(h[25:], uint64(len(data)))
	c := crc32.Update(0, recordCRC, h[:])
	c = crc32.Update(c, recordCRC, data)
	binary.BigEndian.PutUint64(h[:8], uint64(len(l.Extensions)))
	c = crc32.Update(c, recordCRC, h[:8])
	c = crc32.Update(c, recordCRC, l.Extensions)
	return crc32.Update(c, recordCRC, tail)
}

// unseal checks the entry raft-boltdb decoded from the key index, strips
// its trailer from l.Data and returns the commit index it carried.
func unseal(index uint64, l *raft.Log, h *crcScratch) (uint64, error) {
	if l.Index != index {
		return 0, fmt.Errorf("%w: entry %d found under index %d", errChecksum, l.Index, index)
	}
	n := len(l.Data) - trailerLen
	if n < 0 {
		return 0, fmt.Errorf("%w: no checksum trailer", errChecksum)
	}
	t := l.Data[n:]
	if t[8] != trailerVersion {
		return 0, fmt.Errorf("%w: unknown trailer version %d", errChecksum, t[8])
	}
	if binary.BigEndian.Uint32(t[9:]) != entryCRC(l, l.Data[:n], t[:9], h) {
		return 0, errChecksum
	}
	commit := binary.BigEndian.Uint64(t)
	if n == 0 {
		l.Data = nil
	} else {
		l.Data = l.Data[:n:n] // the decoder's own buffer: a copy already
	}
	return commit, nil
}

// sealStable returns a stable record: the value, then the CRC-32C
// (big-endian) of key and value.
func sealStable(key, val []byte) []byte {
	b := make([]byte, len(val)+stableCRCLen)
	n := copy(b, val)
	binary.BigEndian.PutUint32(b[n:], stableCRC(key, val))
	return b
}

func stableCRC(key, val []byte) uint32 {
	return crc32.Update(crc32.Checksum(key, recordCRC), recordCRC, val)
}

// parseStable checks a stable record stored under key and returns its
// value (pointing into rec).
func parseStable(key, rec []byte) ([]byte, error) {
	n := len(rec) - stableCRCLen
	if n < 0 || binary.BigEndian.Uint32(rec[n:]) != stableCRC(key, rec[:n]) {
		return nil, errChecksum
	}
	return rec[:n], nil
}

// read decodes and checks the entry at index into l (raft-boltdb decodes
// into fresh buffers) and returns the commit index its trailer carried. A
// missing entry is raft.ErrLogNotFound; a record that does not decode is
// damage like one that fails its CRC.
func (s *logStore) read(index uint64, l *raft.Log) (uint64, error) {
	// Never decode into the caller's buffers. One allocation for both.
	var buf struct {
		rec raft.Log
		h   crcScratch
	}
	rec := &buf.rec
	if err := s.bs.GetLog(index, rec); err != nil {
		if errors.Is(err, raft.ErrLogNotFound) || errors.Is(err, bbolt.ErrDatabaseNotOpen) {
			return 0, err
		}
		// Everything else raft-boltdb returns here comes from msgpack.
		return 0, fmt.Errorf("%w: undecodable (%v)", errChecksum, err)
	}
	commit, err := unseal(index, rec, &buf.h)
	if err != nil {
		return 0, err
	}
	*l = *rec
	return commit, nil
}

// recordError names the file and record a failed read came from.
func (s *logStore) recordError(what string, err error) error {
	return fmt.Errorf("raftfsm: %s: %s: %w", s.path, what, err)
}

// FirstIndex returns the first index in the log (0 if empty).
func (s *logStore) FirstIndex() (uint64, error) { return s.bs.FirstIndex() }

// LastIndex returns the last index in the log (0 if empty).
func (s *logStore) LastIndex() (uint64, error) { return s.bs.LastIndex() }

// GetLog reads the entry at index into l, checking its checksum. A
// missing entry is raft.ErrLogNotFound; a damaged one an error naming
// raft.db and the index.
func (s *logStore) GetLog(index uint64, l *raft.Log) error {
	_, err := s.read(index, l)
	if err != nil && !errors.Is(err, raft.ErrLogNotFound) {
		return s.recordError(fmt.Sprintf("log entry %d", index), err)
	}
	return err
}

// StoreLog stores one entry.
func (s *logStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// StoreLogs stores sealed copies of entries, each carrying the staged
// commit index, in one raft-boltdb transaction (one fsync).
func (s *logStore) StoreLogs(logs []*raft.Log) error {
	s.batches.Add(1)
	s.entries.Add(uint64(len(logs)))
	commit := s.staged.Load()
	var h crcScratch
	sealed := make([]raft.Log, len(logs))
	ptrs := make([]*raft.Log, len(logs))
	for i, l := range logs {
		sealed[i] = *l // raft keeps l (and its LogCache does): never touch it
		sealed[i].Data = seal(l, commit, &h)
		ptrs[i] = &sealed[i]
	}
	if err := s.bs.StoreLogs(ptrs); err != nil {
		return err
	}
	if s.stored != nil && len(logs) > 0 {
		s.stored(logs[len(logs)-1].Index)
	}
	return nil
}

// DeleteRange deletes the entries min..max (inclusive).
func (s *logStore) DeleteRange(min, max uint64) error { return s.bs.DeleteRange(min, max) }

// StageCommitIndex records the commit index to persist with the next
// StoreLogs (raft.CommitTrackingLogStore): never on its own, so the index
// on disk never runs ahead of the entries stored with it. A lower index
// than one already staged is ignored (a new leader may know less).
func (s *logStore) StageCommitIndex(index uint64) error {
	for {
		cur := s.staged.Load()
		if index <= cur || s.staged.CompareAndSwap(cur, index) {
			return nil
		}
	}
}

// GetCommitIndex returns the commit index the last entry carries (0 if
// the log is empty), capped at the last index: every entry up to it is
// committed. raft only ever truncates uncommitted entries, so the last
// entry's trailer is the newest commit index on disk.
func (s *logStore) GetCommitIndex() (uint64, error) {
	last, err := s.LastIndex()
	if err != nil || last == 0 {
		return 0, err
	}
	var l raft.Log
	commit, err := s.read(last, &l)
	if err != nil {
		return 0, s.recordError(fmt.Sprintf("log entry %d", last), err)
	}
	return min(commit, last), nil
}

// Set stores a stable value with its checksum.
func (s *logStore) Set(key, val []byte) error { return s.bs.Set(key, sealStable(key, val)) }

// Get returns a stable value, or raft-boltdb's error for a missing key,
// whose text is "not found" (hashicorp/raft compares the text).
func (s *logStore) Get(key []byte) ([]byte, error) {
	rec, err := s.bs.Get(key) // a copy
	if err != nil {
		return nil, err
	}
	v, err := parseStable(key, rec)
	if err != nil {
		return nil, s.recordError(fmt.Sprintf("stable value %q", key), err)
	}
	return v, nil
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
		return 0, s.recordError(fmt.Sprintf("stable value %q", key), fmt.Errorf("%w: %d bytes", errChecksum, len(v)))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Close closes the file.
func (s *logStore) Close() error { return s.bs.Close() }

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

// logStats returns the counters since start.
func (n *raftNode) logStats() LogStats {
	return LogStats{Batches: n.bolt.batches.Load(), Entries: n.bolt.entries.Load()}
}
