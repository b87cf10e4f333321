package store

import (
	"bufio"
	"encoding/binary"
	"io"
	"slices"
	"strings"
	"time"
)

// Capture is a frozen copy of the replicated state, taken in one pass
// over the tree under the read lock and encoded later, without any lock,
// into exactly the bytes Save writes. It lets a raft snapshot stream to
// disk while writes go on, without building the encoded snapshot (a
// second copy of every value) in memory first.
//
// A Capture holds about 64 bytes per node plus one pointer per history
// event: values, names and events are shared with the store, which never
// changes a string or an event in place, so later writes cannot reach
// into it. It is not safe for concurrent use.
type Capture struct {
	index, lastWrite uint64
	// nodes holds the tree breadth-first: nodes[0] is the root, and the
	// children of a directory are the contiguous run
	// nodes[first:first+count], in map order until WriteTo sorts them.
	nodes   []capNode
	expires []time.Time // TTLs of the captured nodes (capNode.ttl-1)
	events  []*Event    // the history, oldest first
	auth    *AuthState  // immutable: auth changes replace it
}

// capNode is one node of a Capture: everything Save writes about it.
type capNode struct {
	name, value  string
	created, mod uint64
	first, count int32 // children (directories only)
	ttl          int32 // 1 + position in Capture.expires, 0 if permanent
	flags        uint8 // as encoded: 1 = dir, 2 = ttl, 4 = v01
}

// Capture freezes the replicated state. It holds the read lock for one
// walk of the tree (no sorting, no encoding), which is what the raft
// FSM's Snapshot may afford on its goroutine.
func (s *Store) Capture() *Capture {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := &Capture{index: s.index, lastWrite: s.lastWrite, auth: s.auth.Load()}
	// The last capture's size is a good guess: avoid regrowing a slice
	// of a hundred thousand nodes on every snapshot.
	hint := int(s.capHint.Load())
	c.nodes = make([]capNode, 0, hint+hint/8+1)
	queue := make([]*node, 0, cap(c.nodes))
	c.add(s.root)
	queue = append(queue, s.root)
	for i := 0; i < len(queue); i++ {
		n := queue[i]
		if !n.isDir() {
			continue
		}
		c.nodes[i].first = int32(len(c.nodes))
		c.nodes[i].count = int32(len(n.children))
		for _, child := range n.children {
			c.add(child)
			queue = append(queue, child)
		}
	}
	s.capHint.Store(int64(len(c.nodes)))
	s.hub.mu.Lock()
	c.events = s.hub.history.list()
	s.hub.mu.Unlock()
	return c
}

// add appends the record of n (children filled in by Capture).
func (c *Capture) add(n *node) {
	cn := capNode{name: n.name, created: n.createdIndex, mod: n.modifiedIndex}
	if n.isDir() {
		cn.flags |= 1
	} else {
		cn.value = n.value
	}
	if !n.isPermanent() {
		cn.flags |= 2
		c.expires = append(c.expires, n.ttl.expire)
		cn.ttl = int32(len(c.expires))
	}
	if n.v01 {
		cn.flags |= 4
	}
	c.nodes = append(c.nodes, cn)
}

// WriteTo encodes the capture in Save's format (see Save) to w. It sorts
// every directory's children by name first, so equal stores give equal
// bytes whatever their maps' order.
func (c *Capture) WriteTo(w io.Writer) (int64, error) {
	bw, ok := w.(*bufio.Writer)
	if !ok {
		bw = bufio.NewWriterSize(w, 64<<10)
	}
	e := &encoder{w: bw}
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
	if e.err == nil {
		e.err = bw.Flush()
	}
	return e.n, e.err
}

// tree writes the nodes in pre-order, children sorted by name, each
// directory followed by its child count. It keeps its own stack: a tree
// of any depth is safe to encode.
func (c *Capture) tree(e *encoder) {
	type frame struct{ next, end int32 }
	var stack []frame
	write := func(i int32) {
		cn := &c.nodes[i]
		e.capNode(cn, c.expires)
		if cn.flags&1 != 0 {
			kids := c.nodes[cn.first : cn.first+cn.count]
			slices.SortFunc(kids, func(a, b capNode) int { return strings.Compare(a.name, b.name) })
			e.uvarint(uint64(cn.count))
			stack = append(stack, frame{cn.first, cn.first + cn.count})
		}
	}
	write(0)
	for len(stack) > 0 && e.err == nil {
		top := &stack[len(stack)-1]
		if top.next == top.end {
			stack = stack[:len(stack)-1]
			continue
		}
		i := top.next
		top.next++
		write(i)
	}
}

// encoder writes the snapshot format's primitives, remembering the first
// error and the number of bytes written.
type encoder struct {
	w   *bufio.Writer
	buf [binary.MaxVarintLen64]byte
	n   int64
	err error
}

func (e *encoder) raw(s string) {
	if e.err == nil {
		m, err := e.w.WriteString(s)
		e.n += int64(m)
		e.err = err
	}
}

func (e *encoder) bytes(b []byte) {
	if e.err == nil {
		m, err := e.w.Write(b)
		e.n += int64(m)
		e.err = err
	}
}

func (e *encoder) uvarint(v uint64) {
	e.bytes(e.buf[:binary.PutUvarint(e.buf[:], v)])
}

func (e *encoder) varint(v int64) {
	e.bytes(e.buf[:binary.PutVarint(e.buf[:], v)])
}

func (e *encoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.raw(s)
}

func (e *encoder) time(t time.Time) {
	e.varint(t.Unix())
	e.uvarint(uint64(t.Nanosecond()))
}

// capNode writes one node without its children (a directory's child
// count follows, written by tree).
func (e *encoder) capNode(cn *capNode, expires []time.Time) {
	e.str(cn.name)
	e.uvarint(uint64(cn.flags))
	e.uvarint(cn.created)
	e.uvarint(cn.mod)
	if cn.ttl != 0 {
		e.time(expires[cn.ttl-1])
	}
	if cn.flags&1 == 0 {
		e.str(cn.value)
	}
}

func (e *encoder) event(ev *Event) {
	e.str(ev.Action)
	var flags uint64
	if ev.Refresh {
		flags |= 1
	}
	if ev.PrevNode != nil {
		flags |= 2
	}
	if ev.internal {
		flags |= 4
	}
	e.uvarint(flags)
	e.uvarint(ev.EtcdIndex)
	e.extern(ev.Node)
	if ev.PrevNode != nil {
		e.extern(ev.PrevNode)
	}
}

func (e *encoder) extern(ne *NodeExtern) {
	e.str(ne.Key)
	var flags uint64
	if ne.Value != nil {
		flags |= 1
	}
	if ne.Dir {
		flags |= 2
	}
	if ne.Expiration != nil {
		flags |= 4
	}
	e.uvarint(flags)
	if ne.Value != nil {
		e.str(*ne.Value)
	}
	if ne.Expiration != nil {
		e.time(*ne.Expiration)
	}
	e.varint(ne.TTL)
	e.uvarint(ne.ModifiedIndex)
	e.uvarint(ne.CreatedIndex)
}
