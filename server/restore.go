package server

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/raftfsm"
)

// Offline operations on data dirs (ops: `etcd-classic snapshot restore`
// and `etcd-classic backup`). The server package owns the data dir's
// layout and the member's identity; raftfsm writes the raft state.

// RestoreConfig describes one member of a new cluster built from a
// snapshot file (etcd's `etcdctl snapshot restore`).
type RestoreConfig struct {
	// Name is this member's name in InitialCluster; DataDir its new data
	// dir (DataDir/member must not exist).
	Name, DataDir string
	// InitialCluster and InitialClusterToken are the new cluster's, as
	// the members will be started with; AdvertisePeerURLs are this
	// member's and must be its entry's.
	InitialCluster      []InitialMember
	InitialClusterToken string
	AdvertisePeerURLs   []string
	// Log receives the progress (default: discarded).
	Log *logrus.Entry
}

// Restore makes cfg.DataDir the data dir of a member of a new cluster
// holding the state of the snapshot file read from r: the member and
// cluster IDs derive from the initial cluster and token as a new
// cluster's do (so every member restored from the same file with the same
// flags agrees), the old members and their registry are gone, and the
// TTLs keep the time they had left when the snapshot was taken. The
// member is then started with the same flags; the file is verified whole
// first, and nothing is left behind on error.
func Restore(r io.Reader, cfg RestoreConfig) (*raftfsm.SnapshotFile, error) {
	sc := &Config{Name: cfg.Name, DataDir: cfg.DataDir, InitialCluster: cfg.InitialCluster,
		InitialClusterToken: cfg.InitialClusterToken, AdvertisePeerURLs: cfg.AdvertisePeerURLs}
	if err := checkNewMemberDir(sc); err != nil {
		return nil, err
	}
	var b bootstrap
	if err := b.newCluster(sc); err != nil {
		return nil, err
	}
	for _, im := range cfg.InitialCluster {
		if im.Name == cfg.Name && !sameURLs(im.PeerURLs, cfg.AdvertisePeerURLs) {
			return nil, fmt.Errorf("--initial-cluster has %s=%v, but --initial-advertise-peer-urls is %v", im.Name, im.PeerURLs, cfg.AdvertisePeerURLs)
		}
	}
	f, err := raftfsm.ReadSnapshotFile(r, 0, cfg.Log)
	if err != nil {
		return nil, err
	}
	err = f.State.WriteDataDir(raftfsm.DataDirSpec{Dir: cfg.DataDir, ClusterID: b.clusterID, Members: b.initial, TTLBase: f.Info.TakenAt})
	if err == nil {
		err = writeIdentity(sc.identityPath(), identity{Name: cfg.Name, ID: machines.IDString(b.memberID), ClusterID: machines.IDString(b.clusterID)})
	}
	if err != nil {
		_ = os.RemoveAll(sc.memberDir())
		return nil, err
	}
	return f, nil
}

// BackupResult is what Backup wrote.
type BackupResult struct {
	Name                  string
	MemberID, ClusterID   uint64 // the backup's new identity
	RaftIndex, RaftTerm   uint64
	StoreIndex            uint64
	OldMember, OldCluster uint64
}

// Backup copies the state of the stopped member whose data dir is
// dataDir into a new data dir, backupDir, as etcdctl backup does: the
// backup has a new member ID and a new cluster ID, so that a cluster
// started from it never talks to the old one (their peer hellos refuse
// each other), and it holds one raft snapshot of everything the member's
// log held. It must be started with --force-new-cluster (etcd's procedure;
// its identity says so). TTLs keep their absolute expirations, as the
// member's own data dir would. Nothing is left behind on error.
func Backup(dataDir, backupDir string, log *logrus.Entry) (*BackupResult, error) {
	src := &Config{DataDir: dataDir}
	raw, err := os.ReadFile(src.identityPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s holds no member (no %s)", dataDir, src.identityPath())
	}
	if err != nil {
		return nil, err
	}
	var old identity
	if err := json.Unmarshal(raw, &old); err != nil {
		return nil, fmt.Errorf("%s: %w", src.identityPath(), err)
	}
	oldID, err1 := machines.ParseID(old.ID)
	oldCluster, err2 := machines.ParseID(old.ClusterID)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("%s: %w", src.identityPath(), err)
	}
	dst := &Config{DataDir: backupDir}
	if err := checkNewMemberDir(dst); err != nil {
		return nil, err
	}
	st, err := raftfsm.ReadDataDir(dataDir, oldID, 0, log)
	if err != nil {
		return nil, err
	}
	res := &BackupResult{Name: old.Name, MemberID: randomID(), ClusterID: randomID(), OldMember: oldID, OldCluster: oldCluster,
		RaftIndex: st.RaftIndex(), RaftTerm: st.RaftTerm(), StoreIndex: st.Store().Index()}
	err = st.WriteDataDir(raftfsm.DataDirSpec{Dir: backupDir, ClusterID: res.ClusterID, Rekey: map[uint64]uint64{oldID: res.MemberID}})
	if err == nil {
		err = writeIdentity(dst.identityPath(), identity{Name: old.Name, ID: machines.IDString(res.MemberID),
			ClusterID: machines.IDString(res.ClusterID), Backup: true})
	}
	if err != nil {
		_ = os.RemoveAll(dst.memberDir())
		return nil, err
	}
	return res, nil
}

// checkNewMemberDir refuses a data dir that already holds a member.
func checkNewMemberDir(c *Config) error {
	entries, err := os.ReadDir(c.memberDir())
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case len(entries) > 0:
		return fmt.Errorf("%s already holds a member (%s): give an empty or new data dir", c.DataDir, filepath.Join(c.memberDir(), entries[0].Name()))
	}
	return nil
}

// sameURLs compares two URL lists as sets.
func sameURLs(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// randomID is a random, non-zero member or cluster ID (etcdctl backup
// draws new ones too).
func randomID() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if id := binary.BigEndian.Uint64(b[:]); id != 0 {
			return id
		}
	}
}
