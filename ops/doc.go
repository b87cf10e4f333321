// Package ops holds the operator subcommands of the etcd-classic binary:
// tools that run beside members rather than inside one. Today that is
// `etcd-classic copy` (Copy, CopyMain), which copies v2 key trees between
// running members of etcd 2.x, etcd 3.4 (--enable-v2) and etcd-classic
// over their client URLs; issue 13's backup, snapshot and restore
// subcommands will join it.
//
// Why a package of its own: these are HTTP clients of the v2 API, and no
// other package honestly holds a client. store is the pure tree, raftfsm
// the replication, httpapi the server side, machines the membership model
// and certs the members' TLS. ops borrows store's wire types (Event,
// NodeExtern, Error and its codes) to decode answers, and machines' names
// for the reserved /_etcd tree it never copies.
//
// What this package must never do:
//
//   - import raftfsm or httpapi: it talks to members only over HTTP, as
//     any client would, so it works the same against every etcd;
//   - write to a target before both sides were read and the target was
//     checked, or overwrite a key without Config.Overwrite;
//   - print values: plans, progress and errors name keys and sizes only;
//   - hold a response body it has not bounded (Endpoint.MaxResponseBytes).
//
// DESIGN.md explains the walk, the write order, TTLs, hidden keys and
// what "copied identically" means.
package ops
