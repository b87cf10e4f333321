package raftfsm

import (
	"context"
	"sync"
)

// readBatcher coalesces concurrent read-index requests: one round (a
// leadership confirmation, or one RPC to the leader) at a time serves
// every caller that arrived before the round started. A caller that
// arrives during a round waits for the next one, so the index it gets
// was read after its request began — which is what linearizability needs.
type readBatcher struct {
	fetch func(ctx context.Context) (uint64, error)

	mu      sync.Mutex
	waiting []chan readResult // callers for the next round
	running bool
}

type readResult struct {
	index uint64
	err   error
}

// get returns a commit index read after the call began.
func (b *readBatcher) get(ctx context.Context) (uint64, error) {
	ch := make(chan readResult, 1)
	b.mu.Lock()
	b.waiting = append(b.waiting, ch)
	if !b.running {
		b.running = true
		go b.loop(ctx)
	}
	b.mu.Unlock()
	select {
	case r := <-ch:
		return r.index, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// loop runs rounds until nobody waits. The round's context is the one of
// the caller that started the loop, which bounds it by that caller's
// deadline; callers with longer deadlines simply ask again on failure.
func (b *readBatcher) loop(ctx context.Context) {
	for {
		b.mu.Lock()
		batch := b.waiting
		b.waiting = nil
		if len(batch) == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		idx, err := b.fetch(context.WithoutCancel(ctx))
		for _, ch := range batch {
			ch <- readResult{idx, err}
		}
	}
}
