package store

import (
	"encoding/binary"
	"io"
)

// Capture is a frozen copy of the replicated state, taken in one pass
// over the tree under the read lock and encoded later, without any lock,
// into exactly the bytes Save writes. It lets a raft snapshot stream to
// disk while writes go on, without building the encoded snapshot (a
// second copy of every value) in memory first.
//
// A Capture holds 48 bytes per node, 8 more per node with a TTL, and one
// pointer per history event. Names, values, expirations and events are
// shared with the store, which never changes a string, an expiration or
// an event in place, so later writes cannot reach into it; it points at
// the nodes themselves only for what never changes once a node is in the
// tree (its name and created index), and keeps nodes deleted meanwhile
// alive until it is dropped. WriteTo does not change it: it may be
// written any number of times, from any goroutine.
type Capture struct {
	index, lastWrite uint64
	// nodes holds the tree breadth-first: nodes[0] is the root, and the
	// children of a directory are the contiguous run
	// nodes[first:first+count], in map order (WriteTo sorts as it goes).
	nodes  []capNode
	ttls   []*nodeTTL // TTLs of the captured nodes (capNode.ttl-1)
	events []*Event   // the history, oldest first
	auth   *AuthState // immutable: auth changes replace it
}

// capNode is one node of a Capture: what may change in place on the
// node, as it was, and the node itself for the rest.
type capNode struct {
	n            *node  // for name and createdIndex only (immutable)
	value        string // files only
	mod          uint64
	first, count int32 // children (directories only)
	ttl          int32 // 1 + position in Capture.ttls, 0 if permanent
	flags        uint8 // as encoded: 1 = dir, 2 = ttl, 4 = v01
}

// Capture freezes the replicated state. It holds the read lock for one
// walk of the tree that copies a record per node (no sorting, no
// encoding, no string read, no allocation but the history's list of
// pointers), which is what the raft FSM's Snapshot may afford on its
// goroutine: writes wait meanwhile.
func (s *Store) Capture() *Capture {
	// Allocate before locking, so that neither the zeroing of megabytes
	// nor the collector's assist charged for them runs under the lock:
	// the node count is exact unless writes come in before the lock
	// (raft's FSM takes its snapshots between applies), and the last
	// capture's TTL count is a good guess. A store that outgrew them
	// regrows the slices under the lock.
	nodes, ttls := int(s.nodes.Load()), int(s.capTTLs.Load())
	c := &Capture{
		nodes: make([]capNode, 0, nodes+16),
		ttls:  make([]*nodeTTL, 0, ttls+ttls/8+1),
	}
	s.mu.RLock()
	c.walk(s)
	s.mu.RUnlock()
	s.capTTLs.Store(int64(len(c.ttls)))
	return c
}

// walk fills c from s. Caller holds s.mu (read).
func (c *Capture) walk(s *Store) {
	c.index, c.lastWrite, c.auth = s.index, s.lastWrite, s.auth.Load()
	c.nodes = append(c.nodes, capNode{n: s.root})
	c.fill(c.nodes)
	// Breadth-first over the records themselves: no queue of its own.
	for i := 0; i < len(c.nodes); i++ {
		if c.nodes[i].flags&1 == 0 {
			continue
		}
		kids := c.nodes[i].n.children
		first := len(c.nodes)
		c.nodes[i].first = int32(first)
		c.nodes[i].count = int32(len(kids))
		for _, child := range kids {
			c.nodes = append(c.nodes, capNode{n: child})
		}
		c.fill(c.nodes[first:])
	}
	s.hub.mu.Lock()
	c.events = s.hub.history.list()
	s.hub.mu.Unlock()
}

// fill copies into the records what may change in place on their nodes.
// The nodes lie all over the heap, in map order: each is a cache miss.
// The first loop, short and of independent iterations, lets those misses
// overlap; the second then finds the nodes in the cache.
func (c *Capture) fill(recs []capNode) {
	for j := range recs {
		cn := &recs[j]
		n := cn.n
		cn.mod = n.modifiedIndex
		if n.v01 {
			cn.flags = 4
		}
	}
	for j := range recs {
		cn := &recs[j]
		n := cn.n
		if n.children != nil {
			cn.flags |= 1
		} else {
			cn.value = n.value
		}
		if n.ttl != nil {
			cn.flags |= 2
			c.ttls = append(c.ttls, n.ttl) // never changed, replaced
			cn.ttl = int32(len(c.ttls))
		}
	}
}

// WriteTo encodes the capture in Save's format (see Save) to w, sorting
// every directory's children by name as it reaches them, so equal stores
// give equal bytes whatever their maps' order. It writes w in pieces of
// about 64 KiB and needs no buffering around it; a w that has one (a
// *bufio.Writer: anything with a Flush method) is flushed at the end, so
// the caller has the whole snapshot written when WriteTo returns.
func (c *Capture) WriteTo(w io.Writer) (int64, error) {
	e := newEncoder(w)
	// A store whose auth state was never touched (no auth write ever, so
	// no auth event in the history either) is saved in format 1, which
	// builds from before auth read: clusters that do not use auth keep
	// exchanging snapshots with them during a rolling upgrade.
	withAuth := c.auth.dirs
	if withAuth {
		e.raw(snapshotMagic)
	} else {
		e.raw(snapshotMagicV1)
	}
	e.uvarint(c.index)
	c.tree(e)
	e.uvarint(uint64(len(c.events)))
	for _, ev := range c.events {
		e.event(ev)
	}
	e.uvarint(c.lastWrite)
	if withAuth {
		e.authState(c.auth)
	}
	e.flush()
	if f, ok := w.(interface{ Flush() error }); ok && e.err == nil {
		e.err = f.Flush()
	}
	return e.n, e.err
}

// tree writes the nodes in pre-order, children sorted by name, each
// directory followed by its child count. It keeps its own stack: a tree
// of any depth is safe to encode. The sorted keys and encoded heads of
// the children of the directories on the current path sit one after the
// other in the sorter's buffers, so it holds them for at most the sum of
// those directories' sizes.
func (c *Capture) tree(e *encoder) {
	type frame struct{ start, next, end, heads int }
	var (
		order []sortKey
		stack []frame
		srt   = childSorter{c: c}
	)
	// descend sorts the children of dir and pushes them.
	descend := func(dir *capNode) {
		e.uvarint(uint64(dir.count))
		start, heads := len(order), len(srt.heads)
		order = srt.children(order, dir)
		if srt.err != nil && e.err == nil {
			e.err = srt.err
		}
		srt.sort(order[start:])
		stack = append(stack, frame{start, start, len(order), heads})
	}
	root := &c.nodes[0]
	e.buf = appendHead(e.buf, root, root.n.name, c.ttls)
	descend(root)
	for len(stack) > 0 && e.err == nil {
		top := &stack[len(stack)-1]
		if top.next == top.end {
			order = order[:top.start]
			srt.heads = srt.heads[:top.heads]
			stack = stack[:len(stack)-1]
			continue
		}
		k := order[top.next]
		top.next++
		e.write(srt.head(k))
		cn := &c.nodes[k.i]
		if cn.flags&1 != 0 {
			descend(cn) // grows stack: top is not used after this
		} else {
			e.str(cn.value)
		}
		e.spare()
	}
}

// appendHead appends what the format writes of a node before its value
// or child count: name, flags, created, modified and expiration.
func appendHead(dst []byte, cn *capNode, name string, ttls []*nodeTTL) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(name)))
	dst = append(dst, name...)
	dst = binary.AppendUvarint(dst, uint64(cn.flags))
	dst = binary.AppendUvarint(dst, cn.n.createdIndex)
	dst = binary.AppendUvarint(dst, cn.mod)
	if cn.ttl != 0 {
		t := ttls[cn.ttl-1].expire
		dst = binary.AppendVarint(dst, t.Unix())
		dst = binary.AppendUvarint(dst, uint64(t.Nanosecond()))
	}
	return dst
}
