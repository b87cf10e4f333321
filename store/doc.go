// Package store is the replicated state of etcd-classic: the hierarchical
// key tree with its TTLs, the store index, the 1000-event history and the
// watchers, plus the etcd error codes that describe every way an operation
// can fail.
//
// The store is a deterministic library. Given the same sequence of calls
// with the same arguments, every replica reaches byte-identical state
// (compare Save output). To keep it that way the package must never read
// the clock, use randomness, depend on map iteration order, do I/O, or
// import raft, HTTP or logging packages. Time enters only as an argument:
// a mutation receives the time stamped on its raft command, a read receives
// the time at which its answer is rendered.
//
// Two rule sets share the tree and the index: etcd 0.4/2.x's for every
// request, and etcd v0.1.0's for requests marked Request.V01 (v01.go),
// which the /v1 API of a member started with --v1-dialect=0.1 sends. The
// mark travels in the raft log, so the choice is the same on every replica.
//
// The v2 authentication state — users with bcrypt hashes, roles with
// their key patterns, the enabled switch — is replicated state too
// (auth.go, auth_apply.go): changed only by MethodAuth requests, decided
// during apply with etcd 3.4's rules, saved in snapshots. It is kept
// apart from the tree; no key path reaches it. The bcrypt hashing itself
// happens before proposing (it is random), never here.
//
// Concurrency: a Store is safe for concurrent use. Mutations are expected
// to be serialised by the caller (the raft FSM applies one entry at a
// time), but reads and watch registrations may run at any time.
package store
