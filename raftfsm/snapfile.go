package raftfsm

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// A snapshot file (`etcd-classic snapshot save`, the client API's
// snapshot endpoint) is a member's whole replicated state at one raft
// index, in one self-checking stream:
//
//	magic    "ECLSNAP1"
//	header   uvarint length, then SnapshotInfo as JSON (at most 1 MiB)
//	state    exactly Info.StateSize bytes: the FSM snapshot, as raft's
//	         snapshot store holds it (fsm.go: header, then the store)
//	checksum SHA-256 of every byte before it (32 bytes)
//
// The state is what the member's FSM wrote for raft; nothing is
// re-encoded, so a file restores exactly what the member held.

const (
	snapFileMagic   = "ECLSNAP1"
	maxSnapFileHead = 1 << 20
)

// ErrBadSnapshotFile is wrapped by every error about a file that is not a
// whole, intact snapshot file (wrong magic, truncated, checksum).
var ErrBadSnapshotFile = errors.New("raftfsm: not an intact etcd-classic snapshot file")

// SnapshotInfo is a snapshot file's header.
type SnapshotInfo struct {
	// ClusterID and MemberID name the cluster and the member the state
	// was taken from.
	ClusterID string `json:"clusterID"`
	MemberID  string `json:"memberID"`
	// RaftIndex and RaftTerm are the raft position of the state.
	RaftIndex uint64 `json:"raftIndex"`
	RaftTerm  uint64 `json:"raftTerm"`
	// StoreIndex is the store index (X-Etcd-Index) of the state.
	StoreIndex uint64 `json:"storeIndex"`
	// TakenAt is the member's clock when the state was captured: each
	// TTL's time left is measured against it.
	TakenAt time.Time `json:"takenAt"`
	// StateSize is the length of the state that follows the header.
	StateSize int64 `json:"stateSize"`
}

// writeSnapshotFile writes a snapshot file: info, exactly info.StateSize
// bytes of state, and the checksum. It returns the bytes written.
func writeSnapshotFile(w io.Writer, info SnapshotInfo, state io.Reader) (int64, error) {
	head := snapshotHead(info)
	sum := sha256.New()
	out := io.MultiWriter(w, sum)
	n, err := out.Write(head)
	total := int64(n)
	if err != nil {
		return total, err
	}
	m, err := io.CopyN(out, state, info.StateSize)
	total += m
	if err != nil {
		return total, fmt.Errorf("raftfsm: snapshot state: %w", err)
	}
	n, err = w.Write(sum.Sum(nil))
	return total + int64(n), err
}

// snapshotHead is a file's magic and header.
func snapshotHead(info SnapshotInfo) []byte {
	hj, _ := json.Marshal(info) // plain fields: cannot fail
	head := append([]byte(snapFileMagic), binary.AppendUvarint(nil, uint64(len(hj)))...)
	return append(head, hj...)
}

// SnapshotFile is a snapshot file read whole (ReadSnapshotFile).
type SnapshotFile struct {
	Info SnapshotInfo
	// SHA256 is the file's checksum (verified); Size its length in bytes.
	SHA256 [sha256.Size]byte
	Size   int64
	// State is the state it holds.
	State *State
}

// ReadSnapshotFile reads a snapshot file from r: its header, its state
// (restored into a fresh store whose history keeps historySize events)
// and its checksum, which must match. Any damage is an error wrapping
// ErrBadSnapshotFile.
func ReadSnapshotFile(r io.Reader, historySize int, log *logrus.Entry) (*SnapshotFile, error) {
	cr := &countReader{r: r}
	br := bufio.NewReaderSize(cr, 64<<10)
	// The checksum covers what is consumed above the read-ahead buffer:
	// everything up to the checksum itself, which is read from br.
	hr := &hashReader{r: br, h: sha256.New()}
	info, err := readSnapshotHead(hr)
	if err != nil {
		return nil, err
	}
	st := newState(historySize, log)
	lr := &io.LimitedReader{R: hr, N: info.StateSize}
	if err := st.fsm.Restore(io.NopCloser(lr)); err != nil {
		return nil, fmt.Errorf("%w: the state: %v", ErrBadSnapshotFile, err)
	}
	// Restore's own buffer may have stopped short of the state's end;
	// the checksum covers every byte of it.
	if _, err := io.Copy(io.Discard, lr); err != nil || lr.N != 0 {
		return nil, fmt.Errorf("%w: truncated state", ErrBadSnapshotFile)
	}
	f := &SnapshotFile{Info: info, State: st}
	var want [sha256.Size]byte
	copy(want[:], hr.h.Sum(nil))
	if _, err := io.ReadFull(br, f.SHA256[:]); err != nil {
		return nil, fmt.Errorf("%w: no checksum (truncated file)", ErrBadSnapshotFile)
	}
	if f.SHA256 != want {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrBadSnapshotFile)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, fmt.Errorf("%w: bytes after the checksum", ErrBadSnapshotFile)
	}
	f.Size = cr.n
	st.raftIndex, st.raftTerm = info.RaftIndex, info.RaftTerm
	st.fsm.applied.set(info.RaftIndex)
	return f, nil
}

// readSnapshotHead reads the magic and the header.
func readSnapshotHead(br headReader) (SnapshotInfo, error) {
	var info SnapshotInfo
	magic := make([]byte, len(snapFileMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != snapFileMagic {
		return info, fmt.Errorf("%w: no snapshot file magic", ErrBadSnapshotFile)
	}
	n, err := binary.ReadUvarint(br)
	if err != nil || n > maxSnapFileHead {
		return info, fmt.Errorf("%w: bad header length", ErrBadSnapshotFile)
	}
	hj := make([]byte, n)
	if _, err := io.ReadFull(br, hj); err != nil {
		return info, fmt.Errorf("%w: truncated header", ErrBadSnapshotFile)
	}
	if err := json.Unmarshal(hj, &info); err != nil || info.StateSize < 0 {
		return info, fmt.Errorf("%w: bad header (%v)", ErrBadSnapshotFile, err)
	}
	return info, nil
}

// hashReader hashes the bytes read through it.
type hashReader struct {
	r *bufio.Reader
	h hash.Hash
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	return n, err
}

func (h *hashReader) ReadByte() (byte, error) {
	c, err := h.r.ReadByte()
	if err == nil {
		h.h.Write([]byte{c})
	}
	return c, err
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// State is a member's replicated state held outside a running member:
// what a snapshot file holds (ReadSnapshotFile) or a stopped member's data
// dir (ReadDataDir). WriteDataDir makes a new member's data dir of it.
type State struct {
	fsm                 *FSM
	raftIndex, raftTerm uint64
	servers             []raft.Server // raft's configuration (a data dir's)
}

func newState(historySize int, log *logrus.Entry) *State {
	if log == nil {
		log = logrus.NewEntry(logrus.New())
		log.Logger.SetOutput(io.Discard)
	}
	return &State{fsm: newFSM(store.NewWithConfig(store.Config{HistorySize: historySize}), log)}
}

// Store is the state's store.
func (s *State) Store() *store.Store { return s.fsm.store }

// Cluster is a copy of the state's membership table.
func (s *State) Cluster() *machines.Cluster { return s.fsm.Cluster() }

// RaftIndex and RaftTerm are the raft position of the state.
func (s *State) RaftIndex() uint64 { return s.raftIndex }

// RaftTerm is the term of the state's last entry.
func (s *State) RaftTerm() uint64 { return s.raftTerm }

// LastTime is the time of the last command the state applied.
func (s *State) LastTime() time.Time {
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	return time.Unix(0, s.fsm.lastTime)
}
