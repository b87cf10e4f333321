package raftfsm

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// applyResult is what Apply hands back to the proposer through raft's
// ApplyFuture: the store event, or the store error (an application
// error, which is a normal outcome and not a raft failure).
type applyResult struct {
	Event *store.Event
	Err   error
}

// batchResult is the outcome of a cmdBatch: one result per request, in
// order.
type batchResult struct{ results []applyResult }

// FSM applies committed commands to the store and keeps the replicated
// membership table. Apply, ApplyBatch, Snapshot and Restore are called by
// raft one at a time; the read methods may run concurrently with them.
type FSM struct {
	store *store.Store
	log   *logrus.Entry

	mu       sync.RWMutex      // guards cluster, lastTime, lastTerm and ttlBase
	cluster  *machines.Cluster // replicated membership
	lastTime int64             // largest command time applied (Unix ns)
	// lastTerm is the term of the entry at the applied index (0 after a
	// snapshot restore: unknown). The leader's commit notices need both.
	lastTerm uint64
	// ttlBase, when not 0, is the time (Unix ns) at which a restored
	// backup's TTLs had the time left that they must keep: the first
	// command applied moves every expiration by its own time minus this
	// one, then clears it (snapfile.go).
	ttlBase int64

	applied progress // raft index of the last entry applied here
	// onMembership, when set, is called (outside any lock, on the apply
	// goroutine) after a membership command changed the table.
	onMembership func()

	// sinceSnapshot counts the commands applied since the last snapshot,
	// each write of a batch as one: etcd's --snapshot-count counts
	// writes, and one log entry may hold hundreds. snapshotDue, when set,
	// is called (on the apply goroutine, so it must not block) when the
	// count reaches snapshotEvery.
	sinceSnapshot uint64
	snapshotEvery uint64
	snapshotDue   func()
}

func newFSM(s *store.Store, log *logrus.Entry) *FSM {
	return &FSM{store: s, log: log, cluster: machines.NewCluster(), applied: newProgress()}
}

// Cluster returns a copy of the membership table.
func (f *FSM) Cluster() *machines.Cluster {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.cluster.Clone()
}

// wasRemoved reports whether id is among the removed members.
func (f *FSM) wasRemoved(id uint64) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.cluster.Removed[id]
}

// AppliedIndex is the raft index of the last entry this FSM applied.
func (f *FSM) AppliedIndex() uint64 { return f.applied.get() }

// lastApplied returns the index and term of the last entry applied here
// (term 0: unknown, after a snapshot restore).
func (f *FSM) lastApplied() (index, term uint64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.applied.get(), f.lastTerm
}

// Apply applies one log entry.
func (f *FSM) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies committed entries in order and then wakes the
// goroutines waiting for them in one go.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	changed := false
	// Entries restored before raft started (restore.go) come again once
	// raft learns they are committed: applying is idempotent by index.
	applied := f.applied.get()
	for i, l := range logs {
		if l.Type != raft.LogCommand || l.Index <= applied {
			continue
		}
		var member bool
		out[i], member = f.applyCommand(l)
		changed = changed || member
		if br, ok := out[i].(*batchResult); ok {
			f.sinceSnapshot += uint64(len(br.results))
		} else {
			f.sinceSnapshot++
		}
	}
	if f.snapshotDue != nil && f.snapshotEvery > 0 && f.sinceSnapshot >= f.snapshotEvery {
		f.snapshotDue()
	}
	if len(logs) > 0 {
		last := logs[len(logs)-1]
		f.mu.Lock()
		if last.Index >= f.applied.get() {
			// Not when the whole batch was restored before raft
			// started: lastTerm stays the term of the applied index.
			f.lastTerm = last.Term
			f.applied.set(last.Index)
		}
		f.mu.Unlock()
	}
	if changed && f.onMembership != nil {
		f.onMembership()
	}
	return out
}

func (f *FSM) applyCommand(l *raft.Log) (any, bool) {
	c, err := decodeCommand(l.Data)
	if err != nil {
		if errors.Is(err, errUnknownType) && c != nil && c.Type&ignorableBit != 0 {
			f.log.WithFields(logrus.Fields{"raft_index": l.Index, "err": err}).Warn("skipping unknown ignorable command")
			return nil, false
		}
		// A replica that cannot apply a committed entry must not go on:
		// it would diverge from the others.
		panic(fmt.Sprintf("raftfsm: cannot apply entry %d: %v", l.Index, err))
	}
	f.mu.Lock()
	if c.Time > f.lastTime {
		f.lastTime = c.Time
	}
	now := time.Unix(0, f.lastTime)
	base := f.ttlBase
	f.ttlBase = 0
	f.mu.Unlock()
	if base != 0 {
		// A restored backup: its TTLs count down from now on, with the
		// time they had left when it was taken. now is the entry's, so
		// every replica moves them alike.
		f.store.ShiftExpirations(now.Sub(time.Unix(0, base)))
	}
	switch c.Type {
	case cmdRequest:
		ev, err := f.store.Apply(c.Req, now)
		return &applyResult{Event: ev, Err: err}, false
	case cmdBatch:
		out := &batchResult{results: make([]applyResult, len(c.Reqs))}
		for i, r := range c.Reqs {
			out.results[i].Event, out.results[i].Err = f.store.Apply(r, now)
		}
		return out, false
	case cmdSync:
		f.store.DeleteExpiredKeys(now)
		return &applyResult{}, false
	case cmdNoop:
		return &applyResult{}, false
	default:
		err := f.applyMembership(c, now)
		return &applyResult{Err: err}, err == nil
	}
}

// progress is a monotonically increasing index that goroutines can wait
// on. Reading it takes no lock (every local read checks the applied
// index against the read fence).
type progress struct {
	index atomic.Uint64
	mu    sync.Mutex    // guards ch, and orders set against wait
	ch    chan struct{} // closed and replaced whenever index grows
}

func newProgress() progress { return progress{ch: make(chan struct{})} }

func (p *progress) get() uint64 { return p.index.Load() }

func (p *progress) set(i uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i <= p.index.Load() {
		return
	}
	p.index.Store(i)
	close(p.ch)
	p.ch = make(chan struct{})
}

// wait blocks until the index reaches i or ctx ends.
func (p *progress) wait(ctx context.Context, i uint64) error {
	for {
		if p.index.Load() >= i {
			return nil
		}
		p.mu.Lock()
		if p.index.Load() >= i {
			p.mu.Unlock()
			return nil
		}
		ch := p.ch
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// fsmSnapshotMagic heads an FSM snapshot; the digits are the version.
// Version 2 (fsmSnapshotMagicV2) adds the pending TTL base after the last
// command time; it is written only while a restored backup's TTLs wait
// for their first command, so that other snapshots stay readable by
// builds that know version 1 alone.
const (
	fsmSnapshotMagic   = "ECLFSM01"
	fsmSnapshotMagicV2 = "ECLFSM02"
)

// fsmHeader is what an FSM snapshot holds before the store's bytes.
type fsmHeader struct {
	lastTime, ttlBase int64
	applied           uint64
	cluster           []byte // the membership table, JSON
}

// appendFSMHeader encodes an FSM snapshot's header: the magic, the last
// command time, the TTL base (version 2 only), the applied index and the
// membership table's JSON with its length.
func appendFSMHeader(b []byte, lastTime, ttlBase int64, applied uint64, cluster []byte) []byte {
	if ttlBase == 0 {
		b = append(b, fsmSnapshotMagic...)
		b = binary.AppendVarint(b, lastTime)
	} else {
		b = append(b, fsmSnapshotMagicV2...)
		b = binary.AppendVarint(b, lastTime)
		b = binary.AppendVarint(b, ttlBase)
	}
	b = binary.AppendUvarint(b, applied)
	b = binary.AppendUvarint(b, uint64(len(cluster)))
	return append(b, cluster...)
}

// headReader is what readFSMHeader reads from.
type headReader interface {
	io.Reader
	io.ByteReader
}

// readFSMHeader reads an FSM snapshot's header (either version), leaving
// br at the store's bytes.
func readFSMHeader(br headReader) (fsmHeader, error) {
	var h fsmHeader
	magic := make([]byte, len(fsmSnapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || (string(magic) != fsmSnapshotMagic && string(magic) != fsmSnapshotMagicV2) {
		return h, fmt.Errorf("raftfsm: not a snapshot of this format")
	}
	var err1, err2, err3, err4 error
	h.lastTime, err1 = binary.ReadVarint(br)
	if string(magic) == fsmSnapshotMagicV2 {
		h.ttlBase, err2 = binary.ReadVarint(br)
	}
	h.applied, err3 = binary.ReadUvarint(br)
	n, err4 := binary.ReadUvarint(br)
	if err := errors.Join(err1, err2, err3, err4); err != nil || n > 1<<30 {
		return h, fmt.Errorf("raftfsm: corrupt snapshot header: %v", err)
	}
	h.cluster = make([]byte, n)
	if _, err := io.ReadFull(br, h.cluster); err != nil {
		return h, fmt.Errorf("raftfsm: corrupt snapshot: %w", err)
	}
	return h, nil
}

// Snapshot captures the state. It runs on raft's FSM goroutine, so no
// Apply runs meanwhile: it copies the membership header and freezes the
// store (store.Capture, one walk of the tree with no encoding), and
// Persist encodes both straight into the sink, concurrently with later
// applies. Nothing holds a second, encoded copy of the store in memory.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.sinceSnapshot = 0
	f.mu.RLock()
	cj, err := json.Marshal(f.cluster)
	lastTime, ttlBase := f.lastTime, f.ttlBase
	f.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	hdr := appendFSMHeader(nil, lastTime, ttlBase, f.applied.get(), cj)
	return &fsmSnapshot{header: hdr, store: f.store.Capture()}, nil
}

// Restore replaces the whole state with a snapshot.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 64<<10)
	h, err := readFSMHeader(br)
	if err != nil {
		return err
	}
	cluster := machines.NewCluster()
	if err := json.Unmarshal(h.cluster, cluster); err != nil {
		return fmt.Errorf("raftfsm: corrupt snapshot membership: %w", err)
	}
	if err := f.store.Restore(br); err != nil {
		return err
	}
	applied := h.applied
	f.mu.Lock()
	f.cluster, f.lastTime, f.ttlBase, f.lastTerm = cluster, h.lastTime, h.ttlBase, 0
	f.applied.set(applied)
	f.mu.Unlock()
	f.sinceSnapshot = 0
	if f.onMembership != nil {
		f.onMembership()
	}
	f.log.WithFields(logrus.Fields{"raft_index": applied, "store_index": f.store.Index()}).Info("restored from snapshot")
	return nil
}

// fsmSnapshot is a frozen state waiting to be written: the FSM header
// and the store's capture.
type fsmSnapshot struct {
	header []byte
	store  *store.Capture
}

// Persist encodes the snapshot into sink through one buffer; the bytes
// are those the FSM has always written (header, then store.Save's).
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	bw := bufio.NewWriterSize(sink, 64<<10)
	_, err := bw.Write(s.header)
	if err == nil {
		_, err = s.store.WriteTo(bw)
	}
	if err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release lets the capture go: its strings and events are shared with
// the store and are only kept alive by it until then.
func (s *fsmSnapshot) Release() { s.store = nil }
