package server

import (
	"context"
	"io"

	"github.com/etcd-classic/etcd-classic/httpapi"
	"github.com/etcd-classic/etcd-classic/raftfsm"
)

// SnapshotPath is the client API's snapshot endpoint (httpapi's), for
// `etcd-classic snapshot save`.
const SnapshotPath = httpapi.SnapshotPath

// snapshots adapts raftfsm's snapshot source to the client API's
// interface (httpapi cannot name raftfsm's types).
type snapshots struct{ s *raftfsm.SnapshotSource }

func (s snapshots) OpenSnapshot(ctx context.Context) (httpapi.Snapshot, error) {
	ss, err := s.s.Open(ctx)
	if err != nil {
		return nil, err
	}
	return ss, nil
}

// SnapshotStatus is what `etcd-classic snapshot status` shows of a
// snapshot file.
type SnapshotStatus struct {
	Info raftfsm.SnapshotInfo
	// SHA256 is the file's checksum (verified), Size its length.
	SHA256 [32]byte
	Size   int64
	// Dirs and Keys count the store's directories and keys, hidden ones
	// included; AuthEnabled says whether v2 auth is on in it.
	Dirs, Keys  int
	AuthEnabled bool
}

// ReadSnapshotStatus reads a whole snapshot file from r, checks it (its
// checksum, its state decodes) and describes it.
func ReadSnapshotStatus(r io.Reader) (*SnapshotStatus, error) {
	f, err := raftfsm.ReadSnapshotFile(r, 0, nil)
	if err != nil {
		return nil, err
	}
	st := f.State.Store()
	s := &SnapshotStatus{Info: f.Info, SHA256: f.SHA256, Size: f.Size, AuthEnabled: st.Auth().Enabled()}
	s.Dirs, s.Keys = st.Census()
	return s, nil
}
