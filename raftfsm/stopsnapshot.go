package raftfsm

import (
	"errors"

	"github.com/hashicorp/raft"
)

// SnapshotBeforeStop takes a snapshot when writes were applied since the
// last one; an owner stopping the member gracefully calls it before
// Close. A restarted member restores everything it had from the snapshot
// and serves it at once: entries left in the log after the newest
// snapshot are applied only once a leader commits them again, so up to
// SnapshotCount writes would stay invisible until the first election
// after the restart. A crash still restarts from the last periodic
// snapshot and the log, as before.
func (n *Node) SnapshotBeforeStop() error {
	err := n.raft.Snapshot().Error()
	if err == nil || errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil
	}
	return err
}
