package raftfsm

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/etcd-classic/etcd-classic/store"
)

// writeBatcher turns the keys-API writes that reach the leader at about
// the same time into one log entry. Everything raft and raft-boltdb do
// per entry — a future, a msgpack encoding on every member, a bolt put,
// a slot in the replication stream, a dispatch to the FSM — is then paid
// once per batch instead of once per write; under 256 concurrent clients
// a batch holds dozens of writes.
//
// It never holds a write back to wait for company: a write that finds
// fewer than maxInflightBatches batches in raft goes out at once, alone if
// need be (as a plain cmdRequest entry, exactly what an unbatched write
// would be). Writes that arrive while the pipeline is full queue up and
// leave together as soon as a batch commits. The batch is applied in its
// order, each write with its own store index and result, so to clients
// it is the same as the writes committing one after the other.
type writeBatcher struct {
	raft    *raft.Raft
	space   *diskGuard // nil: no free-space guard
	clock   Clock
	timeout time.Duration  // bounds raft.Apply's enqueueing (RequestTimeout)
	failed  *atomic.Uint64 // counts writes that did not commit (metrics)
	stop    <-chan struct{}

	in       chan *pendingWrite
	inflight chan struct{} // one token per batch raft has not finished
}

const (
	maxBatchWrites     = 1024
	maxBatchBytes      = 1 << 20 // stop adding writes once the entry is this big
	maxInflightBatches = 2
)

type pendingWrite struct {
	req  *store.Request
	done chan writeOutcome // buffered: the batcher never blocks on a caller
}

type writeOutcome struct {
	res *Result
	err error
}

// newWriteBatcher proposes through r, asking space (if not nil) first,
// stamping entries with cfg.Clock; failed counts the writes that did not
// commit. It stops taking writes once stop is closed.
func newWriteBatcher(r *raft.Raft, space *diskGuard, cfg Config, failed *atomic.Uint64, stop <-chan struct{}) *writeBatcher {
	return &writeBatcher{raft: r, space: space, clock: cfg.Clock, timeout: cfg.RequestTimeout, failed: failed, stop: stop,
		in: make(chan *pendingWrite, maxBatchWrites), inflight: make(chan struct{}, maxInflightBatches)}
}

// submit hands req to the batcher and waits for its outcome.
func (b *writeBatcher) submit(ctx context.Context, req *store.Request) (*Result, error) {
	w := &pendingWrite{req: req, done: make(chan writeOutcome, 1)}
	select {
	case b.in <- w:
	case <-ctx.Done():
		return nil, apiError(ErrTimeout)
	case <-b.stop:
		return nil, apiError(ErrStopped)
	}
	select {
	case o := <-w.done:
		return o.res, o.err
	case <-ctx.Done():
		return nil, apiError(ErrTimeout)
	case <-b.stop:
		// The write may still have been committed, like any write whose
		// answer is lost.
		return nil, apiError(ErrStopped)
	}
}

// submitAll hands reqs to the batcher together (they join the same
// entries as far as they fit) and waits for every outcome; a write whose
// outcome did not come before ctx ended reports ErrTimeout.
func (b *writeBatcher) submitAll(ctx context.Context, reqs []*store.Request) []writeOutcome {
	outs := make([]writeOutcome, len(reqs))
	ws := make([]*pendingWrite, 0, len(reqs))
	for i, r := range reqs {
		w := &pendingWrite{req: r, done: make(chan writeOutcome, 1)}
		select {
		case b.in <- w:
			ws = append(ws, w)
			continue
		case <-ctx.Done():
			outs[i].err = apiError(ErrTimeout)
		case <-b.stop:
			outs[i].err = apiError(ErrStopped)
		}
		break
	}
	for i := len(ws); i < len(reqs); i++ {
		if outs[i].err == nil {
			outs[i].err = outs[len(ws)].err // not handed over: nothing proposed
		}
	}
	for i, w := range ws {
		select {
		case outs[i] = <-w.done:
		case <-ctx.Done():
			outs[i].err = apiError(ErrTimeout)
		case <-b.stop:
			outs[i].err = apiError(ErrStopped)
		}
	}
	return outs
}

// run gathers and proposes batches until stop is closed.
func (b *writeBatcher) run() {
	stop := b.stop
	for {
		select {
		case b.inflight <- struct{}{}:
		case <-stop:
			return
		}
		var first *pendingWrite
		select {
		case first = <-b.in:
		case <-stop:
			return
		}
		batch := []*pendingWrite{first}
		size := requestSize(first.req)
	gather:
		for len(batch) < maxBatchWrites && size < maxBatchBytes {
			select {
			case w := <-b.in:
				batch = append(batch, w)
				size += requestSize(w.req)
			default:
				break gather
			}
		}
		b.propose(batch)
	}
}

// requestSize approximates a request's encoded size.
func requestSize(r *store.Request) int {
	return 16 + len(r.Path) + len(r.Value) + len(r.PrevValue)
}

// propose appends one entry for batch and, without waiting for it,
// arranges for every write in it to get its outcome.
func (b *writeBatcher) propose(batch []*pendingWrite) {
	// A request that cannot be encoded fails alone rather than taking
	// the rest of the batch with it.
	kept := batch[:0]
	for _, w := range batch {
		if _, err := appendRequest(nil, w.req); err != nil {
			w.done <- writeOutcome{err: err}
			continue
		}
		kept = append(kept, w)
	}
	batch = kept
	if len(batch) == 0 {
		<-b.inflight
		return
	}
	c := &command{Type: cmdRequest, Time: b.clock.Now().UnixNano()}
	if len(batch) == 1 {
		c.Req = batch[0].req
	} else {
		c.Type = cmdBatch
		c.Reqs = make([]*store.Request, len(batch))
		for i, w := range batch {
			c.Reqs[i] = w.req
		}
	}
	data, err := encodeCommand(c)
	if err != nil {
		<-b.inflight
		for _, w := range batch {
			w.done <- writeOutcome{err: err}
		}
		return
	}
	if err := b.space.admit(len(data)); err != nil {
		<-b.inflight
		for _, w := range batch {
			w.done <- writeOutcome{err: err}
		}
		return
	}
	// The entry's term is this one if the term has not moved by the
	// time it commits (a follower's commit notice needs it; commit.go).
	termBefore := b.raft.CurrentTerm()
	f := b.raft.Apply(data, b.timeout)
	go func() {
		err := f.Error()
		<-b.inflight
		if err != nil {
			b.failed.Add(uint64(len(batch)))
			err = translate(err)
			for _, w := range batch {
				w.done <- writeOutcome{err: err}
			}
			return
		}
		index, term := f.Index(), entryTerm(b.raft, termBefore)
		var results []applyResult
		switch r := f.Response().(type) {
		case *applyResult:
			results = []applyResult{*r}
		case *batchResult:
			results = r.results
		}
		for i, w := range batch {
			// An application error (a failed compare, a missing key) is
			// committed like any write: its index comes with it.
			res := &Result{RaftIndex: index, RaftTerm: term}
			var err error
			if i < len(results) {
				res.Event, err = results[i].Event, results[i].Err
			}
			w.done <- writeOutcome{res: res, err: err}
		}
	}()
}

// entryTerm is the term of an entry appended after before was read and
// now committed: before itself if the term has not moved since, else 0
// (unknown).
func entryTerm(r *raft.Raft, before uint64) uint64 {
	if r.CurrentTerm() != before {
		return 0
	}
	return before
}
