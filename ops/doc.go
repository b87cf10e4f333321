// Package ops holds the operator subcommands of the etcd-classic binary:
// tools that run beside members rather than inside one. `etcd-classic
// copy` (Copy, CopyMain) copies v2 key trees between running members of
// etcd 2.x, etcd 3.4 (--enable-v2) and etcd-classic over their client
// URLs; `etcd-classic snapshot save|status|restore` (SnapshotMain,
// SaveSnapshot) downloads a running member's snapshot, describes a
// snapshot file and builds a new cluster's data dirs from it; and
// `etcd-classic backup` (BackupMain) copies a stopped member's data dir
// under a new identity, as etcdctl backup does.
//
// Why a package of its own: the clients among them are HTTP clients, and
// no other package honestly holds a client. store is the pure tree,
// raftfsm the replication, httpapi the server side, machines the
// membership model and certs the members' TLS. ops borrows store's wire
// types (Event, NodeExtern, Error and its codes) to decode answers, and
// machines' names for the reserved /_etcd tree it never copies. The
// offline commands go through server, which owns the data dir's layout
// (DESIGN.md says why).
//
// What this package must never do:
//
//   - import raftfsm or httpapi: the clients talk to members only over
//     HTTP, as any client would, so copy works the same against every
//     etcd; data dirs and snapshot files are reached through server;
//   - leave a half-written snapshot or data dir behind: a download goes
//     to FILE.part and is checked before it becomes FILE;
//   - write to a target before both sides were read and the target was
//     checked, or overwrite a key without Config.Overwrite;
//   - print values: plans, progress and errors name keys and sizes only;
//   - hold a response body it has not bounded (Endpoint.MaxResponseBytes).
//
// DESIGN.md explains the walk, the write order, TTLs, hidden keys and
// what "copied identically" means.
package ops
