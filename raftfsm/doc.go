// Package raftfsm replicates the store with hashicorp/raft: it owns the
// raft node (raft-boltdb log and stable store, file snapshots, a TCP
// transport on the peer port), the versioned command encoding, the FSM
// that applies commands to the store, snapshots and their restore, the
// leader-only TTL expiry loop, membership changes, and the cluster RPCs
// between members (forwarded proposals, read-index for linearizable
// reads), and the free-space guard that refuses writes the data dir has
// no room for.
//
// It must not know about the client HTTP API: it speaks in store.Request,
// store.Event and *store.Error values and in its own sentinel errors, and
// every raft error is translated before it leaves the package.
//
// Determinism: FSM.Apply never reads the clock. Each command carries the
// proposing leader's wall time, and the FSM uses the larger of that and
// the last time it applied.
package raftfsm
