package raftfsm

import (
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// countingLogStore wraps the raft log to count durable appends: each
// StoreLogs call is one bolt transaction, i.e. one fsync. Comparing it
// with the number of entries shows how well concurrent writes are
// batched.
type countingLogStore struct {
	raft.LogStore
	batches atomic.Uint64 // StoreLogs/StoreLog calls
	entries atomic.Uint64 // entries written
}

func (c *countingLogStore) StoreLog(l *raft.Log) error {
	c.batches.Add(1)
	c.entries.Add(1)
	return c.LogStore.StoreLog(l)
}

func (c *countingLogStore) StoreLogs(logs []*raft.Log) error {
	c.batches.Add(1)
	c.entries.Add(uint64(len(logs)))
	return c.LogStore.StoreLogs(logs)
}

// LogStats are the durable-append counters of this member's raft log.
type LogStats struct {
	Batches uint64 // appends, each one fsync
	Entries uint64 // entries appended
}

// LogStats returns the counters since start.
func (n *Node) LogStats() LogStats {
	return LogStats{Batches: n.logs.batches.Load(), Entries: n.logs.entries.Load()}
}
