package raftfsm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/etcd-classic/etcd-classic/store"
)

// Forward batching: the keys writes a follower forwards at about the same
// time share one call to the leader (opProposeBatch), as the leader's own
// writes share one log entry (batch.go). A write that finds fewer than
// maxInflightForwards calls in flight leaves at once, alone, as a plain
// opPropose — a single client pays nothing for the batching; writes that
// arrive while the calls are in flight queue, and leave together, in one
// call, as soon as one returns. The leader hands the batch's writes to
// its write batcher together (so they join its own writes in one entry)
// and answers them in one frame, one answer per write. Under 256 clients
// spread over three members, this saves the leader a goroutine, a frame
// and a wake-up per forwarded write, and the follower a call.
//
// Wire: request = uvarint count, then per write uvarint length and the
// encoded command (a keys write); reply = uvarint count, then per write
// a status byte (statusOK: the proposeReply of reply.go; statusErr: an
// encoded error, errors.go) and uvarint length and bytes. A whole-call
// error means the leader did nothing (it does not lead, or the call was
// malformed): a leader of an older build, which does not know the op,
// answers that way too, and the follower then forwards to that address
// one write per call.

const (
	maxInflightForwards  = 2    // calls in flight before writes queue up
	maxForwardBatch      = 1024 // writes in one call
	maxForwardBatchBytes = 1 << 20
)

// forwardBatcher is a follower's side of forward batching.
type forwardBatcher struct {
	p     *proposer
	calls tracked // batch calls in flight

	sent    atomic.Uint64 // calls made (a batch is one)
	batched atomic.Uint64 // writes sent in batches of two or more

	mu       sync.Mutex
	inflight int                 // calls in flight
	queue    []*forwardWrite     // writes waiting for a call
	singles  map[string]struct{} // leaders that do not serve batches
}

type forwardWrite struct {
	addr string
	data []byte              // the encoded command
	done chan forwardOutcome // buffered: the sender never blocks
}

type forwardOutcome struct {
	rep *proposeReply
	err error
}

func newForwardBatcher(p *proposer) *forwardBatcher {
	return &forwardBatcher{p: p, singles: map[string]struct{}{}}
}

// submit forwards one encoded keys write to the leader at addr and
// returns the leader's answer.
func (b *forwardBatcher) submit(ctx context.Context, addr string, data []byte) (*proposeReply, error) {
	b.mu.Lock()
	_, single := b.singles[addr]
	if single || b.inflight < maxInflightForwards {
		b.inflight++
		b.mu.Unlock()
		b.sent.Add(1)
		rep, err := b.p.forwardOne(ctx, addr, data)
		b.next()
		return rep, err
	}
	w := &forwardWrite{addr: addr, data: data, done: make(chan forwardOutcome, 1)}
	b.queue = append(b.queue, w)
	b.mu.Unlock()
	select {
	case o := <-w.done:
		return o.rep, o.err
	case <-ctx.Done():
		// It may still be sent and committed, like any write that times
		// out.
		return nil, apiError(ErrTimeout)
	}
}

// next hands a finished call's slot to the writes queued meanwhile (the
// first one's leader, in order, up to a batch) or frees it.
func (b *forwardBatcher) next() {
	b.mu.Lock()
	if len(b.queue) == 0 {
		b.inflight--
		b.mu.Unlock()
		return
	}
	addr := b.queue[0].addr
	var batch, rest []*forwardWrite
	size := 0
	for _, w := range b.queue {
		if w.addr != addr || len(batch) == maxForwardBatch || size+len(w.data) > maxForwardBatchBytes && len(batch) > 0 {
			rest = append(rest, w)
			continue
		}
		batch = append(batch, w)
		size += len(w.data)
	}
	b.queue = rest
	b.mu.Unlock()
	if !b.calls.start(func() {
		b.send(addr, batch)
		b.next()
	}) {
		// The member is stopping: nothing more is sent.
		b.mu.Lock()
		batch = append(batch, b.queue...)
		b.queue = nil
		b.inflight--
		b.mu.Unlock()
		for _, w := range batch {
			w.done <- forwardOutcome{err: apiError(ErrStopped)}
		}
	}
}

// send makes one call for batch and hands every write its outcome.
func (b *forwardBatcher) send(addr string, batch []*forwardWrite) {
	ctx, cancel := context.WithTimeout(b.p.ctx, b.p.cfg.RequestTimeout)
	defer cancel()
	b.sent.Add(1)
	if len(batch) == 1 {
		rep, err := b.p.forwardOne(ctx, addr, batch[0].data)
		batch[0].done <- forwardOutcome{rep, err}
		return
	}
	b.batched.Add(uint64(len(batch)))
	payload := binary.AppendUvarint(nil, uint64(len(batch)))
	for _, w := range batch {
		payload = binary.AppendUvarint(payload, uint64(len(w.data)))
		payload = append(payload, w.data...)
	}
	r, err := b.p.peers.call(ctx, addr, opProposeBatch, payload)
	if err != nil && errors.Is(err, errRemote) && !errors.Is(err, errNotLeader) {
		// An older leader (or a call it could not read): nothing was
		// proposed. One write per call from now on.
		b.mu.Lock()
		b.singles[addr] = struct{}{}
		b.mu.Unlock()
		for _, w := range batch {
			rep, err := b.p.forwardOne(ctx, addr, w.data)
			w.done <- forwardOutcome{rep, err}
		}
		return
	}
	var outs []forwardOutcome
	if err == nil {
		outs, err = decodeBatchReply(r, len(batch))
	}
	for i, w := range batch {
		if err != nil {
			w.done <- forwardOutcome{err: callFailure(ctx, b.p.log, err)}
			continue
		}
		w.done <- outs[i]
	}
}

// decodeBatchReply reads the leader's answer to a batch of n writes.
func decodeBatchReply(b []byte, n int) ([]forwardOutcome, error) {
	d := reader{b: b}
	if d.uvarint() != uint64(n) {
		return nil, fmt.Errorf("raftfsm: batch reply of another size")
	}
	outs := make([]forwardOutcome, n)
	for i := range outs {
		status := d.byte()
		item := d.bytes()
		if d.err != nil {
			return nil, fmt.Errorf("raftfsm: bad batch reply: %w", d.err)
		}
		if status != statusOK {
			outs[i].err = decodeRPCError(item)
			continue
		}
		rep, err := decodeProposeReply(item)
		if err != nil {
			return nil, fmt.Errorf("raftfsm: bad reply from leader: %w", err)
		}
		outs[i].rep = rep
	}
	return outs, nil
}

// proposeBatch proposes a follower's batch of keys writes
// (opProposeBatch) on this member, which must lead, and answers each.
// Everything is checked before anything is proposed: a whole-call error
// means nothing was.
func (s *peerService) proposeBatch(ctx context.Context, from peerIdentity, payload []byte) ([]byte, error) {
	d := reader{b: payload}
	n := d.uvarint()
	if d.err != nil || n == 0 || n > maxForwardBatch || n > uint64(len(d.b)) {
		return nil, fmt.Errorf("%w: a batch of %d writes", errPeerCall, n)
	}
	reqs := make([]*store.Request, n)
	for i := range reqs {
		data := d.bytes()
		if d.err != nil {
			return nil, fmt.Errorf("raftfsm: malformed batch: %w", d.err)
		}
		c, err := decodeCommand(data)
		if err != nil {
			return nil, err
		}
		if c.Type != cmdRequest || !answersAtOnce(c) {
			return nil, fmt.Errorf("%w: only keys writes are forwarded in batches", errPeerCall)
		}
		if err := checkForwarded(from, c); err != nil {
			return nil, err
		}
		reqs[i] = c.Req
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("raftfsm: malformed batch: %d bytes after it", len(d.b))
	}
	if s.raft.State() != raft.Leader {
		return nil, errNotLeader
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	outs := make([]writeOutcome, n)
	var kept []*store.Request
	var at []int
	for i, r := range reqs {
		if len(r.Value) > maxValueBytes {
			outs[i].err = errValueTooLarge() // refused, like a single forward
			continue
		}
		kept, at = append(kept, r), append(at, i)
	}
	for j, o := range s.p.writes.submitAll(ctx, kept) {
		outs[at[j]] = o
	}
	b := binary.AppendUvarint(make([]byte, 0, 64*len(reqs)), n)
	for _, o := range outs {
		item, err := answerProposal(o.res, o.err)
		status := statusOK
		if err != nil {
			status, item = statusErr, encodeRPCError(err)
		}
		b = append(b, status)
		b = binary.AppendUvarint(b, uint64(len(item)))
		b = append(b, item...)
	}
	return b, nil
}
