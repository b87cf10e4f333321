package raftfsm

import (
	"context"
	"encoding/binary"
	"sync"
	"time"
)

// Settle waits until every other started member has applied everything
// this member has applied when it is called, or until within has passed
// (or ctx ends). A member that cannot be reached is not waited for; one
// that answers but lags is polled until it catches up or the time is up.
// It is how a change is made visible everywhere before it is answered:
// after a membership change (so a listing through any member shows it)
// and after an auth change (so a revoked permission is refused by the
// next request on every running member).
func (n *Node) Settle(ctx context.Context, within time.Duration) {
	target := n.fsm.AppliedIndex()
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var wg sync.WaitGroup
	for id, m := range n.fsm.Cluster().Members {
		if id == n.cfg.ID || !m.Started() || m.PeerAddr() == "" {
			continue
		}
		wg.Add(1)
		go func(addr string) {
			defer wg.Done()
			for ctx.Err() == nil {
				b, err := n.peers.call(ctx, addr, opStatus, nil)
				if err != nil {
					return
				}
				if applied, k := binary.Uvarint(b); k > 0 && applied >= target {
					return
				}
				if !n.pause(ctx, 2*time.Millisecond) {
					return
				}
			}
		}(m.PeerAddr())
	}
	wg.Wait()
}
