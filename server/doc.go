// Package server starts one whole member of etcd-classic — or a proxy —
// from a Config: Start decides who the member is (its identity.json, or
// at a first start a new cluster's IDs, a lookup in the running cluster
// an administrator added it to, or an etcd 0.x join — the members given,
// or found by discovery: a v2 keys token, DNS SRV records, or etcd 0.4's
// protocol), lays out its data
// dir, opens its client, peer and metrics listeners (with their TLS and
// connection caps), starts the raft node and the client API on them, and
// stops it all again (Member.Stop). The command (package main) turns
// flags into a Config; tests build one and start members in-process
// (servertest). It also builds and reads data dirs offline for the
// operator subcommands (Restore, Backup, ReadSnapshotStatus): the data
// dir's layout and the member's identity are this package's.
//
// What this package must never do: parse flags or read the environment
// (a Config says everything), hold store or raft rules (it wires store,
// raftfsm, httpapi and certs together and decides nothing they decide), or
// set a default another package owns (it re-exports raftfsm's and
// httpapi's for the command line to show).
package server
