// Package machines is the cluster membership model of etcd-classic: the
// members with their IDs, names, peer and client URLs and learner flag,
// the IDs removed for good, the cluster ID, and the helpers that render
// them the way etcd's clients expect (/v2/members objects, the
// "etcd=...&raft=..." registry values under /_etcd/machines, client URL
// lists, member and cluster ID derivation).
//
// A Cluster value is part of the replicated state: the raft FSM changes it
// only while applying log entries, so every method that mutates it is
// deterministic. The package never talks to the network and never reads
// the clock; a time that matters (runtime member IDs) is an argument.
package machines
