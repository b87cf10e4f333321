package raftfsm

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// SnapshotSource takes consistent snapshots of a running member for the
// client API's snapshot endpoint (`etcd-classic snapshot save`).
type SnapshotSource struct{ n *raftNode }

// NewSnapshotSource returns n's snapshot source.
func NewSnapshotSource(n *Node) *SnapshotSource { return &SnapshotSource{n: n.raftNode} }

// SnapshotStream is one snapshot being sent: its header is known, its
// bytes are written by WriteTo. Close releases the snapshot.
type SnapshotStream struct {
	Info   SnapshotInfo
	prefix []byte        // the state's first bytes, read to learn its store index
	rest   *bufio.Reader // the state after them
	rc     io.ReadCloser
}

// Open takes a snapshot: raft's own (user snapshot: taken on the FSM's
// goroutine between applies, so the state is exactly the one at its raft
// index), or, when nothing was applied since the last one, that one,
// which is then the current state. The capture's time is the member's
// clock just before it: every TTL's time left is measured against it.
func (s *SnapshotSource) Open(ctx context.Context) (*SnapshotStream, error) {
	n := s.n
	takenAt := n.cfg.Clock.Now()
	meta, rc, err := s.take()
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		rc.Close()
		return nil, ctx.Err()
	}
	ss := &SnapshotStream{rc: rc, rest: bufio.NewReaderSize(rc, 64<<10)}
	// The state opens with the FSM header, then the store's magic and
	// index: read them (keeping the bytes) to name the store index in
	// the file's header.
	rec := &recorder{r: ss.rest}
	if _, err := readFSMHeader(rec); err != nil {
		rc.Close()
		return nil, err
	}
	_, storeIndex, err := store.SnapshotHead(rec)
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("raftfsm: snapshot %s: %w", meta.ID, err)
	}
	ss.prefix = rec.b
	ss.Info = SnapshotInfo{ClusterID: machines.IDString(n.clusterID()), MemberID: machines.IDString(n.cfg.ID),
		RaftIndex: meta.Index, RaftTerm: meta.Term, StoreIndex: storeIndex, TakenAt: takenAt.UTC(), StateSize: meta.Size}
	n.log.WithFields(logrus.Fields{"raft_index": meta.Index, "store_index": storeIndex, "bytes": meta.Size}).Info("sending a snapshot")
	return ss, nil
}

// take returns a snapshot of the current state.
func (s *SnapshotSource) take() (*raft.SnapshotMeta, io.ReadCloser, error) {
	f := s.n.raft.Snapshot()
	err := f.Error()
	if err == nil {
		return f.Open()
	}
	if !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil, nil, translate(err)
	}
	metas, err := s.n.snaps.List()
	if err != nil || len(metas) == 0 {
		return nil, nil, fmt.Errorf("raftfsm: no snapshot to send: %v", err)
	}
	return s.n.snaps.Open(metas[0].ID)
}

// RaftIndex is the raft index of the snapshot.
func (ss *SnapshotStream) RaftIndex() uint64 { return ss.Info.RaftIndex }

// RaftTerm is the raft term of the snapshot.
func (ss *SnapshotStream) RaftTerm() uint64 { return ss.Info.RaftTerm }

// StoreIndex is the store index of the snapshot.
func (ss *SnapshotStream) StoreIndex() uint64 { return ss.Info.StoreIndex }

// Size is the length of the whole file WriteTo writes.
func (ss *SnapshotStream) Size() int64 {
	return int64(len(snapshotHead(ss.Info))) + ss.Info.StateSize + sha256.Size
}

// WriteTo writes the whole snapshot file to w.
func (ss *SnapshotStream) WriteTo(w io.Writer) (int64, error) {
	return writeSnapshotFile(w, ss.Info, io.MultiReader(bytes.NewReader(ss.prefix), ss.rest))
}

// Close releases the snapshot.
func (ss *SnapshotStream) Close() error { return ss.rc.Close() }

// recorder keeps the bytes read through it.
type recorder struct {
	r *bufio.Reader
	b []byte
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.b = append(r.b, p[:n]...)
	return n, err
}

func (r *recorder) ReadByte() (byte, error) {
	c, err := r.r.ReadByte()
	if err == nil {
		r.b = append(r.b, c)
	}
	return c, err
}
