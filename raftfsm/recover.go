package raftfsm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"os"
	"slices"
	"sync"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// Forcing a new cluster (etcd 2.x --force-new-cluster, Config.ForceNewCluster)
// happens in two steps, because raft's configuration and the replicated
// membership table live in different places:
//
//  1. Before raft starts, hashicorp/raft's own RecoverCluster rewrites
//     this member's raft state: it applies every entry of the log (the
//     committed ones and any uncommitted tail: an acknowledged write is
//     never lost) to an FSM, writes a snapshot of the result whose
//     configuration is this member alone, and empties the log. The
//     members the table lists besides this one are written down in
//     member/recovery.json at the same time.
//  2. Once raft runs and this member leads, the leader proposes the
//     removal of each of them (cmdMemberRemove, as a client's
//     DELETE /v2/members would), adds itself to the table if it is not
//     there (a backup's new member ID) or updates its peer URLs, and
//     deletes recovery.json (leader.go calls finishRecovery).
//
// From the moment recovery.json exists, the peer hello refuses the members
// it names (knownPeer): the old majority, should it come back, cannot
// reach this member, neither before the removals are committed nor after
// (then the table lists them as removed). Membership changes wait until
// step 2 is done (membership.table), so that the strict reconfiguration
// check does not count the lost members.

// recoveryFileName is step 1's record, in the member directory.
const recoveryFileName = "recovery.json"

// recoveryFile is recovery.json: the body and its CRC-32C (as peers.json).
type recoveryFile struct {
	CRC  uint32          `json:"crc32c"`
	Body json.RawMessage `json:"recovery"`
}

type recoveryBody struct {
	// Remove lists the members to remove from the table (hex IDs).
	Remove []string `json:"remove"`
}

// recovery is the pending second step of a forced new cluster, if any.
type recovery struct {
	path   string
	mu     sync.RWMutex // guards remove
	remove map[uint64]bool
	active bool // a record exists (guarded by mu)
}

// load reads recovery.json, if there is one. A damaged file is an error
// naming it.
func (r *recovery) load(path string) error {
	r.path = path
	r.remove = map[uint64]bool{}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("raftfsm: read %s: %w", path, err)
	}
	damaged := func(why string) error {
		return &damageError{file: path, what: fmt.Sprintf("the record of a forced new cluster is unreadable (%s)", why)}
	}
	var f recoveryFile
	var body recoveryBody
	if err := json.Unmarshal(b, &f); err != nil {
		return damaged(err.Error())
	}
	if crc32.Checksum(f.Body, castagnoli) != f.CRC {
		return damaged("checksum mismatch")
	}
	if err := json.Unmarshal(f.Body, &body); err != nil {
		return damaged(err.Error())
	}
	for _, s := range body.Remove {
		id, err := machines.ParseID(s)
		if err != nil {
			return damaged(err.Error())
		}
		r.remove[id] = true
	}
	r.active = true
	return nil
}

// record adds members to remove, writes the whole set and makes the
// record active.
func (r *recovery) record(ids []uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	all := maps.Clone(r.remove)
	for _, id := range ids {
		all[id] = true
	}
	body := recoveryBody{Remove: []string{}}
	for _, id := range slices.Sorted(maps.Keys(all)) {
		body.Remove = append(body.Remove, machines.IDString(id))
	}
	bb, _ := json.Marshal(body)
	fb, _ := json.Marshal(recoveryFile{CRC: crc32.Checksum(bb, castagnoli), Body: bb})
	if err := writeFileSync(r.path, fb); err != nil {
		return err
	}
	r.remove, r.active = all, true
	return nil
}

// pending reports whether step 2 is still to do.
func (r *recovery) pending() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.active
}

// removes reports whether id is a member the recovery removes.
func (r *recovery) removes(id uint64) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.remove[id]
}

// ids lists the members to remove, in order.
func (r *recovery) ids() []uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []uint64
	for id := range r.remove {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// done deletes the record once the table agrees with raft. The IDs stay
// refused in memory; the table lists them as removed from now on.
func (r *recovery) done() error {
	if err := os.Remove(r.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("raftfsm: remove %s: %w", r.path, err)
	}
	r.mu.Lock()
	r.active = false
	r.mu.Unlock()
	return nil
}

// forceNewCluster is step 1 (see above). It runs before restoreLocal,
// which then restores the snapshot it wrote.
func (n *raftNode) forceNewCluster(rc *raft.Config) error {
	// raft's other servers are refused before anything changes: should
	// the process stop half way, a restart (with the flag or without)
	// still keeps them out while it finishes.
	var before []uint64
	if conf := n.latestConfiguration(n.snaps); conf != nil {
		for _, s := range conf.Servers {
			if id, err := machines.ParseID(string(s.ID)); err == nil && s.ID != rc.LocalID {
				before = append(before, id)
			}
		}
	}
	if err := n.recovery.record(before); err != nil {
		return err
	}
	// A scratch FSM: RecoverCluster restores and applies into it, and
	// what it holds afterwards is only needed for the table.
	scratch := newFSM(store.NewWithConfig(store.Config{HistorySize: n.cfg.Store.HistorySize()}), n.log)
	self := raft.Server{Suffrage: raft.Voter, ID: rc.LocalID, Address: raft.ServerAddress(machines.HostPort(n.cfg.PeerURLs[0]))}
	conf := raft.Configuration{Servers: []raft.Server{self}}
	if err := raft.RecoverCluster(rc, scratch, n.bolt, n.bolt, n.snaps, n.trans, conf); err != nil {
		return fmt.Errorf("raftfsm: force new cluster: %w", err)
	}
	var lost []uint64
	for id := range scratch.Cluster().Members {
		if id != n.cfg.ID {
			lost = append(lost, id)
		}
	}
	if err := n.recovery.record(lost); err != nil {
		return err
	}
	// The log is empty now: everything is in the new snapshot.
	n.logSum = logSummary{currentTerm: n.logSum.currentTerm}
	n.log.WithFields(logrus.Fields{"raft_index": scratch.AppliedIndex(), "store_index": scratch.store.Index(),
		"removing": len(lost)}).Warn("forced a new cluster: this member alone, with its data")
	return nil
}

// finishRecovery is step 2 (see above), run by the leader after its
// term's no-op. It retries until it has done it or ctx ends.
func (d *leaderDuties) finishRecovery(ctx context.Context) {
	for d.recovery.pending() {
		err := d.recordRecovery(ctx)
		if err == nil {
			err = d.recovery.done()
		}
		if err == nil {
			d.log.WithField("removed", len(d.recovery.ids())).Info("forced new cluster recorded in the membership table")
			return
		}
		d.log.WithField("err", err).Warn("could not record the forced new cluster yet; will retry")
		if !d.pause(ctx, d.cfg.HeartbeatInterval) {
			return
		}
	}
}

// recordRecovery proposes what the table lacks: the removals, then this
// member at its configured peer URLs.
func (d *leaderDuties) recordRecovery(ctx context.Context) error {
	for _, id := range d.recovery.ids() {
		if known, removed := d.fsm.memberState(id); !known || removed {
			continue
		}
		if _, err := d.p.proposeLocal(ctx, &command{Type: cmdMemberRemove, Cluster: &clusterCmd{ID: id}}); err != nil {
			return err
		}
	}
	self, ok := d.fsm.member(d.cfg.ID)
	var c *command
	switch {
	case !ok:
		c = &command{Type: cmdMemberAdd, Cluster: &clusterCmd{Member: &machines.Member{ID: d.cfg.ID, PeerURLs: d.cfg.PeerURLs}}}
	case !slices.Equal(self.PeerURLs, d.cfg.PeerURLs):
		c = &command{Type: cmdMemberUpdate, Cluster: &clusterCmd{ID: d.cfg.ID, PeerURLs: d.cfg.PeerURLs}}
	default:
		return nil
	}
	_, err := d.p.proposeLocal(ctx, c)
	return err
}
