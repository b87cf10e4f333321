package raftfsm

import (
	"fmt"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
)

// A restarted member rebuilds its state before raft starts: the newest
// snapshot, then every log entry the persisted commit index (logstore.go)
// covers. Without it, a member restarted while the others are down would
// show only its snapshot — after a short run, an empty store.
//
// Why not raft's own Config.RestoreCommittedLogs: in hashicorp/raft
// v1.8.0 NewRaft scans the log for configuration entries only after the
// restored range, so a configuration entry inside it (the bootstrap
// configuration at index 1, for one) is lost and the member starts with
// no peers ("no known peers, aborting election"). So raft is started with
// RestoreCommittedLogs on, which makes it stage the commit index with
// every append, but is told there is nothing to restore
// (cachedLog.GetCommitIndex); NoSnapshotRestoreOnStart keeps it from
// restoring the snapshot over what was restored here; and the FSM skips
// entries at or below the index it has applied when raft delivers them
// again after the election.

// restoreBatch is how many entries go to the FSM at once (raft's
// MaxAppendEntries).
const restoreBatch = 1024

// restoreLocal restores the newest snapshot (already verified by
// checkSnapshots) and applies the committed entries after it. It returns
// the index the FSM has reached.
func (n *raftNode) restoreLocal(snaps raft.SnapshotStore, last uint64) (uint64, error) {
	metas, err := snaps.List()
	if err != nil {
		return 0, fmt.Errorf("raftfsm: list snapshots: %w", err)
	}
	var from uint64
	if len(metas) > 0 {
		_, rc, err := snaps.Open(metas[0].ID)
		if err != nil {
			return 0, fmt.Errorf("raftfsm: open snapshot %s: %w", metas[0].ID, err)
		}
		if err := n.fsm.Restore(rc); err != nil { // Restore closes rc
			return 0, fmt.Errorf("raftfsm: restore snapshot %s: %w", metas[0].ID, err)
		}
		from = metas[0].Index
	}
	commit, err := n.bolt.GetCommitIndex()
	if err != nil {
		return 0, fmt.Errorf("raftfsm: read the commit index: %w", err)
	}
	commit = min(commit, last)
	batch := make([]*raft.Log, 0, restoreBatch)
	flush := func() {
		if len(batch) > 0 {
			n.fsm.ApplyBatch(batch)
			batch = batch[:0]
		}
	}
	for i := from + 1; i <= commit; i++ {
		l := new(raft.Log)
		if err := n.bolt.GetLog(i, l); err != nil {
			return 0, fmt.Errorf("raftfsm: restore entry %d: %w", i, err)
		}
		// The entry types raft hands a batching FSM.
		if l.Type != raft.LogCommand && l.Type != raft.LogConfiguration {
			continue
		}
		if batch = append(batch, l); len(batch) == restoreBatch {
			flush()
		}
	}
	flush()
	if commit > from {
		n.log.WithFields(logrus.Fields{"raft_index": n.fsm.AppliedIndex(), "snapshot_index": from}).Info("restored committed entries from the log")
	}
	return n.fsm.AppliedIndex(), nil
}
