package raftfsm

import (
	"errors"
	"time"

	"github.com/hashicorp/raft"

	"github.com/etcd-classic/etcd-classic/machines"
)

// soleVoter reports whether this member is, or is about to bootstrap as,
// the only voter of its cluster. For existing state it reads the latest
// configuration entry of the log, or else of the newest snapshot.
func (n *Node) soleVoter(rc *raft.Config, hasState bool, snaps raft.SnapshotStore) bool {
	if !hasState {
		return len(n.cfg.InitialMembers) == 1 && n.cfg.InitialMembers[0].ID == n.cfg.ID
	}
	var conf *raft.Configuration
	first, err1 := n.bolt.FirstIndex()
	last, err2 := n.bolt.LastIndex()
	if err1 == nil && err2 == nil {
		for i := last; i >= first && i > 0; i-- {
			var l raft.Log
			if err := n.bolt.GetLog(i, &l); err != nil {
				break
			}
			if l.Type == raft.LogConfiguration {
				c := raft.DecodeConfiguration(l.Data)
				conf = &c
				break
			}
		}
	}
	if conf == nil {
		metas, err := snaps.List()
		if err != nil || len(metas) == 0 {
			return false
		}
		conf = &metas[0].Configuration
	}
	voters, self := 0, false
	for _, s := range conf.Servers {
		if s.Suffrage == raft.Voter {
			voters++
			self = self || s.ID == rc.LocalID
		}
	}
	return voters == 1 && self
}

// followerTimeout is raft's follower (and candidate) timeout for an etcd
// election timeout (see New).
func followerTimeout(election time.Duration) time.Duration {
	t := election * 2 / 3
	if t < election/2 {
		t = election / 2 // never below the leader lease
	}
	return t
}

// restoreTimeouts puts back the configured follower timeouts (see New).
func (n *Node) restoreTimeouts() {
	rc := n.raft.ReloadableConfig()
	want := followerTimeout(n.cfg.ElectionTimeout)
	if rc.HeartbeatTimeout == want {
		return
	}
	rc.HeartbeatTimeout, rc.ElectionTimeout = want, want
	if err := n.raft.ReloadConfig(rc); err != nil {
		n.log.WithField("err", err).Warn("could not restore raft timeouts")
	}
}

func (n *Node) closeStores() {
	_ = n.trans.Close()
	_ = n.mux.Close()
	_ = n.bolt.Close()
}

// observeLeaders counts leader changes (for metrics). As in etcd, a
// leader found again after a spell without one counts as a change: a
// member re-elected term after term is a flapping leader, not a stable
// one.
func (n *Node) observeLeaders(ch <-chan raft.Observation) {
	defer n.wg.Done()
	var last raft.ServerID
	for {
		select {
		case o := <-ch:
			lo, ok := o.Data.(raft.LeaderObservation)
			if ok && lo.LeaderID == "" {
				last = ""
			}
			if ok && lo.LeaderID != "" && lo.LeaderID != last {
				last = lo.LeaderID
				n.leaderChanges.Add(1)
				n.leaderSince.Store(n.cfg.Clock.Now().UnixNano())
			}
		case <-n.ctx.Done():
			n.raft.DeregisterObserver(n.observer)
			return
		}
	}
}

// snapshotLoop takes a snapshot whenever the FSM has applied SnapshotCount
// writes since the last one, but not more often than every
// SnapshotInterval. raft's own threshold counts log entries; with writes
// batched into entries it would let the log grow to many times
// SnapshotCount writes, and a restart replay all of them. The interval
// keeps a fast write load (25 000 writes/s would reach 10 000 writes
// every 0.4 s) from spending its time serialising the store.
func (n *Node) snapshotLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.snapshotDue:
		}
		err := n.raft.Snapshot().Error()
		if err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) && n.ctx.Err() == nil {
			n.log.WithError(err).Warn("snapshot failed")
		}
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(n.cfg.SnapshotInterval):
		}
	}
}

// ensureServer makes raft's configuration match the member: voter or
// non-voter at its peer address.
func (n *Node) ensureServer(m *machines.Member) error {
	id := raft.ServerID(machines.IDString(m.ID))
	addr := raft.ServerAddress(m.PeerAddr())
	var f raft.IndexFuture
	if m.IsLearner {
		f = n.raft.AddNonvoter(id, addr, 0, n.cfg.RequestTimeout)
	} else {
		f = n.raft.AddVoter(id, addr, 0, n.cfg.RequestTimeout)
	}
	if err := f.Error(); err != nil {
		return translate(err)
	}
	return nil
}

func (n *Node) removeServer(id uint64) error {
	if err := n.raft.RemoveServer(raft.ServerID(machines.IDString(id)), 0, n.cfg.RequestTimeout).Error(); err != nil {
		return translate(err)
	}
	return nil
}

func (n *Node) inRaftConfig(id uint64) bool {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if s.ID == raft.ServerID(machines.IDString(id)) {
			return true
		}
	}
	return false
}

// voters returns the voting members of raft's current configuration.
func (n *Node) voters() []uint64 {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	var out []uint64
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			if id, err := machines.ParseID(string(s.ID)); err == nil {
				out = append(out, id)
			}
		}
	}
	return out
}
