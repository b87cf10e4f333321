package raftfsm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
)

// Offline access to data dirs, for `etcd-classic backup` (ReadDataDir of
// a stopped member, WriteDataDir of the backup) and `etcd-classic
// snapshot restore` (WriteDataDir of a new member from a snapshot file).

// ReadDataDir reads the replicated state of the stopped member id whose
// data dir is dataDir: the files are checked as a start checks them
// (datacheck.go; a member still running holds raft.db's lock and is
// refused), then the newest snapshot is restored and every entry of the
// log after it applied — committed or not, as raft.RecoverCluster takes
// them, so that no acknowledged write is left out (the commit index on
// disk lags the last acknowledged write). The state's raft position is
// the log's last entry, its configuration the latest one.
func ReadDataDir(dataDir string, id uint64, historySize int, log *logrus.Entry) (*State, error) {
	dir := filepath.Join(dataDir, "member")
	bolt, sum, snaps, err := openStores(dir, Config{ID: id, Existing: true}, hclog.NewNullLogger())
	if err != nil {
		return nil, err
	}
	defer bolt.Close()
	st := newState(historySize, log)
	metas, err := snaps.List()
	if err != nil {
		return nil, fmt.Errorf("raftfsm: list snapshots: %w", err)
	}
	if len(metas) > 0 {
		m := metas[0]
		_, rc, err := snaps.Open(m.ID)
		if err != nil {
			return nil, fmt.Errorf("raftfsm: open snapshot %s: %w", m.ID, err)
		}
		if err := st.fsm.Restore(rc); err != nil {
			return nil, fmt.Errorf("raftfsm: restore snapshot %s: %w", m.ID, err)
		}
		st.raftIndex, st.raftTerm, st.servers = m.Index, m.Term, m.Configuration.Servers
	}
	batch := make([]*raft.Log, 0, restoreBatch)
	for i := st.raftIndex + 1; i <= sum.last && i > 0; i++ {
		l := new(raft.Log)
		if err := bolt.GetLog(i, l); err != nil {
			return nil, fmt.Errorf("raftfsm: read entry %d: %w", i, err)
		}
		st.raftIndex, st.raftTerm = l.Index, l.Term
		if l.Type == raft.LogConfiguration {
			st.servers = raft.DecodeConfiguration(l.Data).Servers
		}
		if batch = append(batch, l); len(batch) == restoreBatch || i == sum.last {
			st.fsm.ApplyBatch(batch)
			batch = batch[:0]
		}
	}
	if st.raftIndex == 0 {
		return nil, fmt.Errorf("raftfsm: %s holds no raft state", dir)
	}
	st.fsm.applied.set(st.raftIndex)
	return st, nil
}

// DataDirSpec says how WriteDataDir lays out a member's data dir.
type DataDirSpec struct {
	// Dir is the data dir; Dir/member must not exist yet (or be empty).
	Dir string
	// ClusterID replaces the membership table's cluster ID.
	ClusterID uint64
	// Members, when not nil, is a new cluster's membership (IDs and peer
	// URLs; names and client URLs are published when the members start):
	// it replaces the table, its members are raft's configuration, and
	// the etcd 0.4 registry (/_etcd/machines) of the old members is
	// deleted. When nil the table is kept and raft's configuration is the
	// state's, with the IDs in Rekey replaced.
	Members []*machines.Member
	Rekey   map[uint64]uint64
	// TTLBase, when not zero, makes every TTL keep the time it had left
	// at TTLBase: the first command the new member applies moves the
	// expirations by that command's time minus TTLBase.
	TTLBase time.Time
}

// WriteDataDir makes spec.Dir a member's data dir holding the state: a
// raft.db with no entries (term: the state's) and one raft snapshot of the
// state at its raft position, with the membership table and raft's
// configuration spec says. The identity (identity.json) is the server
// package's to write. The state is changed as spec says.
func (s *State) WriteDataDir(spec DataDirSpec) error {
	dir := filepath.Join(spec.Dir, "member")
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("raftfsm: %s already holds a member's data", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("raftfsm: %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("raftfsm: create %s: %w", dir, err)
	}
	servers := s.prepare(spec)
	if len(servers) == 0 {
		return errors.New("raftfsm: the new data dir's raft configuration would be empty")
	}
	bolt, _, err := openLogStore(filepath.Join(dir, "raft.db"), false, 0)
	if err != nil {
		return err
	}
	err = bolt.SetUint64([]byte("CurrentTerm"), s.raftTerm)
	if cerr := bolt.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("raftfsm: write raft.db: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hclog.NewNullLogger())
	if err != nil {
		return fmt.Errorf("raftfsm: snapshot store: %w", err)
	}
	_, trans := raft.NewInmemTransport("")
	defer trans.Close()
	sink, err := snaps.Create(raft.SnapshotVersionMax, s.raftIndex, s.raftTerm,
		raft.Configuration{Servers: servers}, s.raftIndex, trans)
	if err != nil {
		return fmt.Errorf("raftfsm: create snapshot: %w", err)
	}
	snap, err := s.fsm.Snapshot()
	if err != nil {
		_ = sink.Cancel()
		return err
	}
	defer snap.Release()
	if err := snap.Persist(sink); err != nil {
		return fmt.Errorf("raftfsm: write snapshot: %w", err)
	}
	return nil
}

// prepare changes the state as spec says and returns raft's
// configuration for it.
func (s *State) prepare(spec DataDirSpec) []raft.Server {
	f := s.fsm
	f.mu.Lock()
	defer f.mu.Unlock()
	if !spec.TTLBase.IsZero() {
		f.ttlBase = spec.TTLBase.UnixNano()
	}
	var servers []raft.Server
	if spec.Members == nil {
		f.cluster.ID = spec.ClusterID
		for _, sv := range s.servers {
			if id, err := machines.ParseID(string(sv.ID)); err == nil && spec.Rekey[id] != 0 {
				sv.ID = raft.ServerID(machines.IDString(spec.Rekey[id]))
			}
			servers = append(servers, sv)
		}
		return servers
	}
	c := machines.NewCluster()
	c.ID = spec.ClusterID
	for _, m := range spec.Members {
		_ = c.Add(&machines.Member{ID: m.ID, PeerURLs: m.PeerURLs})
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(machines.IDString(m.ID)), Address: raft.ServerAddress(m.PeerAddr())})
	}
	f.cluster = c
	// The old members' registry goes with them; the new ones write
	// theirs when they publish. Every member restored from the same file
	// deletes it at the same time (the state's last command time), so
	// their stores stay equal.
	registry := strings.TrimSuffix(machines.RegistryKey(""), "/")
	_, _ = f.store.Delete(registry, true, true, time.Unix(0, f.lastTime))
	return servers
}
