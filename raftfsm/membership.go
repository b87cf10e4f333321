package raftfsm

import (
	"errors"
	"time"

	"github.com/etcd-classic/etcd-classic/machines"
)

// applyMembership applies the membership commands. Besides the table it
// maintains the etcd 0.4 registry in the key space: /_etcd/machines/<name>
// = "etcd=<client URL>&raft=<peer URL>" for every started member, and
// /_etcd/config at cluster creation. Those writes consume store indexes and
// notify watchers exactly like client writes, as they did in etcd 0.4.
func (f *FSM) applyMembership(c *command, now time.Time) error {
	cc := c.Cluster
	if cc == nil {
		return errors.New("raftfsm: membership command without payload")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch c.Type {
	case cmdInit:
		if f.cluster.ID != 0 {
			return nil // a second init (from a later leader) changes nothing
		}
		f.cluster.ID = cc.ClusterID
		for _, m := range cc.Members {
			if err := f.cluster.Add(m); err != nil {
				return err
			}
		}
		if cc.Member != nil {
			f.publishLocked(cc.Member, now)
		}
		_, _ = f.store.Set(machines.ConfigKey, false, machines.ConfigValue, time.Time{}, false, now)
		return nil
	case cmdPublish:
		if cc.Member == nil {
			return errors.New("raftfsm: publish without member")
		}
		return f.publishLocked(cc.Member, now)
	case cmdMemberAdd:
		if cc.Member == nil {
			return errors.New("raftfsm: member add without member")
		}
		if err := f.cluster.Add(cc.Member); err != nil {
			return err
		}
		f.writeRegistryLocked(f.cluster.Members[cc.Member.ID], now)
		return nil
	case cmdMemberRemove:
		m, err := f.cluster.Remove(cc.ID)
		if err != nil {
			return err
		}
		if m.Name != "" {
			_, _ = f.store.Delete(machines.RegistryKey(m.Name), false, false, now)
		}
		return nil
	case cmdMemberUpdate:
		if err := f.cluster.UpdatePeerURLs(cc.ID, cc.PeerURLs); err != nil {
			return err
		}
		f.writeRegistryLocked(f.cluster.Members[cc.ID], now)
		return nil
	case cmdMemberPromote:
		m, ok := f.cluster.Members[cc.ID]
		if !ok {
			return machines.ErrIDNotFound
		}
		m.IsLearner = false
		return nil
	}
	return errUnknownType
}

// publishLocked records a member's name and client URLs and its registry
// key. Caller holds f.mu.
func (f *FSM) publishLocked(m *machines.Member, now time.Time) error {
	old, ok := f.cluster.Members[m.ID]
	oldName := ""
	if ok {
		oldName = old.Name
	}
	changed, err := f.cluster.Publish(m.ID, m.Name, m.ClientURLs)
	if err != nil || !changed {
		return err
	}
	if oldName != "" && oldName != m.Name {
		_, _ = f.store.Delete(machines.RegistryKey(oldName), false, false, now)
	}
	f.writeRegistryLocked(f.cluster.Members[m.ID], now)
	return nil
}

// writeRegistryLocked (re)writes /_etcd/machines/<name> for a started
// member when its value differs from what is stored.
func (f *FSM) writeRegistryLocked(m *machines.Member, now time.Time) {
	if m == nil || m.Name == "" || len(m.ClientURLs) == 0 || len(m.PeerURLs) == 0 {
		return
	}
	key := machines.RegistryKey(m.Name)
	val := machines.RegistryValue(m.ClientURLs[0], m.PeerURLs[0])
	if ev, err := f.store.Get(key, false, false, now); err == nil && ev.Node.Value != nil && *ev.Node.Value == val {
		return
	}
	_, _ = f.store.Set(key, false, val, time.Time{}, false, now)
}

// ClusterID is the replicated cluster ID (0 until the cluster's first
// entry is applied).
func (f *FSM) ClusterID() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.cluster.ID
}

// member returns a copy of the table's entry for id.
func (f *FSM) member(id uint64) (*machines.Member, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	m, ok := f.cluster.Members[id]
	if !ok {
		return nil, false
	}
	return m.Clone(), true
}

// memberState reports whether the table lists id as a member, and whether
// as removed.
func (f *FSM) memberState(id uint64) (known, removed bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, known = f.cluster.Members[id]
	return known, f.cluster.Removed[id]
}
