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

	mu       sync.RWMutex      // guards cluster, lastTime and lastTerm
	cluster  *machines.Cluster // replicated membership
	lastTime int64             // largest command time applied (Unix ns)
	// lastTerm is the term of the entry at the applied index (0 after a
	// snapshot restore: unknown). The leader's commit notices need both.
	lastTerm uint64

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
		f.lastTerm = last.Term
		f.applied.set(last.Index)
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
	f.mu.Unlock()
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
const fsmSnapshotMagic = "ECLFSM01"

// Snapshot captures the state. It runs on raft's FSM goroutine, so no
// Apply runs meanwhile: it copies the membership header and freezes the
// store (store.Capture, one walk of the tree with no encoding), and
// Persist encodes both straight into the sink, concurrently with later
// applies. Nothing holds a second, encoded copy of the store in memory.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.sinceSnapshot = 0
	f.mu.RLock()
	cj, err := json.Marshal(f.cluster)
	lastTime := f.lastTime
	f.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	hdr := []byte(fsmSnapshotMagic)
	hdr = binary.AppendVarint(hdr, lastTime)
	hdr = binary.AppendUvarint(hdr, f.applied.get())
	hdr = binary.AppendUvarint(hdr, uint64(len(cj)))
	hdr = append(hdr, cj...)
	return &fsmSnapshot{header: hdr, store: f.store.Capture()}, nil
}

// Restore replaces the whole state with a snapshot.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 64<<10)
	magic := make([]byte, len(fsmSnapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != fsmSnapshotMagic {
		return fmt.Errorf("raftfsm: not a snapshot of this format")
	}
	lastTime, err1 := binary.ReadVarint(br)
	applied, err2 := binary.ReadUvarint(br)
	n, err3 := binary.ReadUvarint(br)
	if err := errors.Join(err1, err2, err3); err != nil || n > 1<<30 {
		return fmt.Errorf("raftfsm: corrupt snapshot header: %v", err)
	}
	cj := make([]byte, n)
	if _, err := io.ReadFull(br, cj); err != nil {
		return fmt.Errorf("raftfsm: corrupt snapshot: %w", err)
	}
	cluster := machines.NewCluster()
	if err := json.Unmarshal(cj, cluster); err != nil {
		return fmt.Errorf("raftfsm: corrupt snapshot membership: %w", err)
	}
	if err := f.store.Restore(br); err != nil {
		return err
	}
	f.mu.Lock()
	f.cluster, f.lastTime, f.lastTerm = cluster, lastTime, 0
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
