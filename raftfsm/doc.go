// Package raftfsm replicates the store with hashicorp/raft: it owns the
// raft node (its log and stable store in raft-boltdb, each record
// carrying a CRC-32C and each entry the commit index, file snapshots, a
// TCP transport on the peer port), the start-up checks of
// the data dir, the versioned command encoding, the FSM
// that applies commands to the store, snapshots and their restore, the
// leader-only TTL expiry loop, membership changes, and the cluster RPCs
// between members (forwarded proposals, read-index for linearizable
// reads), and the free-space guard that refuses writes the data dir has
// no room for.
//
// Node is a thin front over parts that each embed the replication core
// (raftNode): the request path (proposer), the membership manager
// (membership), the leader's probes and duties, readiness and the cluster
// RPC service; every request that must run on the leader goes through one
// routine (viaLeader), and the op byte of rpcops.go is the only RPC
// vocabulary (DESIGN.md, "Structure").
//
// It must not know about the client HTTP API: it speaks in store.Request,
// store.Event and *store.Error values and in its own sentinel errors, and
// every raft error is translated before it leaves the package.
//
// Trust: the peer port serves only members of this cluster. Every
// connection opens with a hello (cluster and member ID) checked before any
// frame is acted on; processes that are not members may only join, look
// themselves up and list the members, and every frame and connection is
// bounded (peerauth.go, transport.go, rpc.go; DESIGN.md "Threat model").
//
// Determinism: FSM.Apply never reads the clock. Each command carries the
// proposing leader's wall time, and the FSM uses the larger of that and
// the last time it applied.
package raftfsm
