package store

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// ShiftExpirations moves the expiration of every node that has one d
// later (d > 0; a non-positive d changes nothing). A restored backup uses
// it so that each TTL keeps the time it had left when the backup was
// taken (raftfsm applies it, with a d taken from a replicated command, on
// every replica alike). It is not a mutation: no index, no event, no
// watcher is woken; the history keeps the expirations its events had.
func (s *Store) ShiftExpirations(d time.Duration) {
	if d <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Every node has moved by the same amount, so the heap's order (ties
	// by path included) is unchanged; each node gets a new nodeTTL, never
	// a changed one (a Capture may hold the old one, see updateTTL).
	for _, n := range s.ttl.nodes {
		n.ttl = &nodeTTL{expire: n.ttl.expire.Add(d), heapIndex: n.ttl.heapIndex}
	}
}

// Census counts the tree's directories and keys, hidden ones included
// and the root not counted, for `etcd-classic snapshot status`.
func (s *Store) Census() (dirs, keys int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	stack := []*node{s.root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, c := range n.children {
			if c.isDir() {
				dirs++
				stack = append(stack, c)
			} else {
				keys++
			}
		}
	}
	return dirs, keys
}

// SnapshotHead reads the head of a snapshot as Save writes it, its
// format's magic and the store index, from r, and returns the bytes it
// read and the index. raftfsm uses it to learn a snapshot's store index
// before streaming it.
func SnapshotHead(r io.ByteReader) (head []byte, index uint64, err error) {
	rec := &byteRecorder{r: r}
	for len(rec.b) < len(snapshotMagic) {
		if _, err := rec.ReadByte(); err != nil {
			return nil, 0, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
		}
	}
	if string(rec.b) != snapshotMagic && string(rec.b) != snapshotMagicV1 {
		return nil, 0, fmt.Errorf("%w: bad header", ErrBadSnapshot)
	}
	if index, err = binary.ReadUvarint(rec); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	return rec.b, index, nil
}

// byteRecorder keeps the bytes read through it.
type byteRecorder struct {
	r io.ByteReader
	b []byte
}

func (b *byteRecorder) ReadByte() (byte, error) {
	c, err := b.r.ReadByte()
	if err == nil {
		b.b = append(b.b, c)
	}
	return c, err
}
