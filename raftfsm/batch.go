package raftfsm

import (
	"context"

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
	n        *Node
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

func newWriteBatcher(n *Node) *writeBatcher {
	return &writeBatcher{n: n, in: make(chan *pendingWrite, maxBatchWrites),
		inflight: make(chan struct{}, maxInflightBatches)}
}

// submit hands req to the batcher and waits for its outcome.
func (b *writeBatcher) submit(ctx context.Context, req *store.Request) (*Result, error) {
	w := &pendingWrite{req: req, done: make(chan writeOutcome, 1)}
	select {
	case b.in <- w:
	case <-ctx.Done():
		return nil, apiError(ErrTimeout)
	case <-b.n.ctx.Done():
		return nil, apiError(ErrStopped)
	}
	select {
	case o := <-w.done:
		return o.res, o.err
	case <-ctx.Done():
		return nil, apiError(ErrTimeout)
	case <-b.n.ctx.Done():
		// The write may still have been committed, like any write whose
		// answer is lost.
		return nil, apiError(ErrStopped)
	}
}

// run gathers and proposes batches until the node stops.
func (b *writeBatcher) run() {
	defer b.n.wg.Done()
	stop := b.n.ctx.Done()
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
	n := b.n
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
	c := &command{Type: cmdRequest, Time: n.cfg.Clock.Now().UnixNano()}
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
	if err := n.space.admit(len(data)); err != nil {
		<-b.inflight
		for _, w := range batch {
			w.done <- writeOutcome{err: err}
		}
		return
	}
	f := n.raft.Apply(data, n.cfg.RequestTimeout)
	go func() {
		err := f.Error()
		<-b.inflight
		if err != nil {
			n.proposalsFailed.Add(uint64(len(batch)))
			err = translate(err)
			for _, w := range batch {
				w.done <- writeOutcome{err: err}
			}
			return
		}
		index, term := f.Index(), n.raft.CurrentTerm()
		var results []applyResult
		switch r := f.Response().(type) {
		case *applyResult:
			results = []applyResult{*r}
		case *batchResult:
			results = r.results
		}
		for i, w := range batch {
			res := &Result{RaftIndex: index, RaftTerm: term}
			if i < len(results) {
				if results[i].Err != nil {
					w.done <- writeOutcome{err: results[i].Err}
					continue
				}
				res.Event = results[i].Event
			}
			w.done <- writeOutcome{res: res}
		}
	}()
}
