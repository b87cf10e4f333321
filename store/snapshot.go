package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// snapshotMagic starts every snapshot; the trailing digit is the format
// version. Save writes version 2 once the auth state has been touched
// (it adds that state, so a binary that cannot keep it refuses the
// snapshot instead of silently turning auth off), version 1 before;
// Restore reads both and refuses anything else.
const (
	snapshotMagic   = "ECLSTORE2"
	snapshotMagicV1 = "ECLSTORE1"
)

// ErrBadSnapshot is returned (wrapped) by Restore for data that is not a
// store snapshot or is truncated.
var ErrBadSnapshot = errors.New("store: malformed snapshot")

// Save writes the whole replicated state — the index, the tree with TTLs,
// and the event history — to w. The encoding is deterministic: equal
// stores produce equal bytes. Watchers and stats are not part of it.
//
// Format (all integers unsigned varints unless noted):
//
//	magic "ECLSTORE2" ("ECLSTORE1" while auth was never used)
//	index
//	node*      root first, pre-order, children sorted by name
//	count, event*   history, oldest first
//	lastWrite  (version 1: absent in snapshots written before the v0.1
//	           dialect; Restore then takes index)
//	auth       version 2 only: the authentication state (auth_snapshot.go)
//
// Version 1 is the same without the auth state (and event flag 4).
//
// node:  name, flags (1=dir, 2=ttl, 4=v01), created, modified,
//
//	[expire sec (zigzag), nsec] if ttl, value if file, child count if dir
//
// event: action, flags (1=refresh, 2=prevNode, 4=auth change), etcdIndex,
// extern, [extern]
// extern: key, flags (1=value, 2=dir, 4=expiration), [value],
//
//	[sec (zigzag), nsec], ttl (zigzag), modified, created
func (s *Store) Save(w io.Writer) error {
	_, err := s.Capture().WriteTo(w)
	return err
}

// Restore replaces the whole state with a snapshot written by Save. On
// error the store is left unchanged. Every registered watcher is dropped
// (its Done channel closes): its view of the history no longer holds.
func (s *Store) Restore(r io.Reader) error {
	d := &decoder{r: bufio.NewReaderSize(r, 64<<10)}
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(d.r, magic); err != nil || (string(magic) != snapshotMagic && string(magic) != snapshotMagicV1) {
		return fmt.Errorf("%w: bad header", ErrBadSnapshot)
	}
	v1 := string(magic) == snapshotMagicV1
	index := d.uvarint()
	var heap ttlHeap
	root, nodes := d.tree(&heap)
	n := d.uvarint()
	// The snapshot may come from a member with another history size:
	// the ring keeps the newest events that fit this store's. A damaged
	// count cannot make it allocate: the ring is sized here, and every
	// event read takes bytes of the snapshot.
	s.hub.mu.Lock()
	size := s.hub.history.cap
	s.hub.mu.Unlock()
	hist := newHistory(size)
	for i := uint64(0); i < n && d.err == nil; i++ {
		hist.add(d.event())
	}
	lastWrite := index
	auth := emptyAuth
	if !v1 {
		lastWrite = d.uvarint()
		auth = d.authState()
	} else if d.err == nil {
		// An optional trailer: older snapshots end after the history.
		v, err := binary.ReadUvarint(d.r)
		switch {
		case err == nil:
			lastWrite = v
		case !errors.Is(err, io.EOF):
			d.fail("truncated trailer")
		}
	}
	if d.err != nil {
		return d.err
	}
	if root == nil || !root.isDir() {
		return fmt.Errorf("%w: root is not a directory", ErrBadSnapshot)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.root, s.index, s.lastWrite, s.ttl = root, index, lastWrite, heap
	s.nodes.Store(nodes)
	s.auth.Store(auth)
	s.hub.dropAll()
	s.hub.mu.Lock()
	s.hub.history = hist
	s.hub.mu.Unlock()
	return nil
}

type decoder struct {
	r       *bufio.Reader
	err     error
	ttl     []*node // nodes with a TTL, for the heap once paths are known
	scratch []byte  // reused by str
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrBadSnapshot, what)
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(d.r)
	if err != nil {
		d.fail("truncated number")
	}
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadVarint(d.r)
	if err != nil {
		d.fail("truncated number")
	}
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > math.MaxInt32 {
		d.fail("string too long")
		return ""
	}
	if n <= 64<<10 {
		// Read through a reused scratch buffer: the string is the only
		// allocation, so restoring makes little garbage (a restarted
		// member's heap then stays near its live size).
		if cap(d.scratch) < int(n) {
			d.scratch = make([]byte, n, max(n, 512))
		}
		b := d.scratch[:n]
		if _, err := io.ReadFull(d.r, b); err != nil {
			d.fail("truncated string")
			return ""
		}
		return string(b)
	}
	// A long string grows with the bytes actually read, so a damaged
	// length cannot make Restore allocate gigabytes up front.
	var sb strings.Builder
	if m, err := io.CopyN(&sb, d.r, int64(n)); err != nil || m != int64(n) {
		d.fail("truncated string")
		return ""
	}
	return sb.String()
}

func (d *decoder) time() time.Time {
	sec := d.varint()
	nsec := d.uvarint()
	if nsec >= 1e9 {
		d.fail("bad nanoseconds")
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// tree reads the tree written by Capture.tree and gives every node its
// path (assignPaths). It returns the root and the number of nodes. It keeps its own stack: a snapshot of any depth
// decodes without deep recursion, in memory linear in its size.
func (d *decoder) tree(heap *ttlHeap) (*node, int64) {
	type frame struct {
		dir  *node
		left uint64 // children still to read
	}
	root, count := d.node(nil)
	if root == nil {
		return nil, 0
	}
	nodes := int64(1)
	root.path, root.name = "/", "/"
	var stack []frame
	if root.isDir() {
		stack = append(stack, frame{root, count})
	}
	for len(stack) > 0 && d.err == nil {
		top := &stack[len(stack)-1]
		if top.left == 0 {
			stack = stack[:len(stack)-1]
			continue
		}
		top.left--
		c, count := d.node(top.dir)
		if c == nil {
			break
		}
		if _, dup := top.dir.children[c.name]; dup || c.name == "" || strings.IndexByte(c.name, '/') >= 0 {
			d.fail("bad node name")
			break
		}
		top.dir.children[c.name] = c
		nodes++
		if c.isDir() {
			stack = append(stack, frame{c, count})
		}
	}
	if d.err != nil {
		return nil, 0
	}
	assignPaths(root)
	// The heap orders by path: fill it once every path is known.
	for _, n := range d.ttl {
		heap.add(n)
	}
	return root, nodes
}

// node reads one node (and, for a directory, its child count). Its path
// is left empty for assignPaths.
func (d *decoder) node(parent *node) (*node, uint64) {
	name := d.str()
	flags := d.uvarint()
	created, modified := d.uvarint(), d.uvarint()
	var expire time.Time
	if flags&2 != 0 {
		expire = d.time()
	}
	if d.err != nil {
		return nil, 0
	}
	n := &node{name: name, createdIndex: created, modifiedIndex: modified,
		parent: parent, ttl: newTTL(expire), v01: flags&4 != 0}
	var count uint64
	if flags&1 == 0 {
		n.value = d.str()
	} else {
		n.children = make(map[string]*node)
		count = d.uvarint()
	}
	if d.err != nil {
		return nil, 0
	}
	if !n.isPermanent() {
		d.ttl = append(d.ttl, n)
	}
	return n, count
}

// assignPaths gives every node below root its full path, sharing bytes:
// for a node without a path it follows one line of descendants down to
// its end, builds that end's path once, and gives every node on the line
// a prefix of it. Each line costs the length of one key, so a chain d
// levels deep costs O(d) here, where joining each node's path to its
// parent's would cost O(d²).
func assignPaths(root *node) {
	stack := []*node{root}
	var buf []byte
	var line []*node
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, c := range n.children {
			stack = append(stack, c)
			if c.path != "" {
				continue
			}
			buf, line = buf[:0], line[:0]
			if n != root {
				buf = append(buf, n.path...)
			}
			for x := c; x != nil; x = anyChild(x) {
				buf = append(buf, '/')
				buf = append(buf, x.name...)
				line = append(line, x)
			}
			full := string(buf)
			end := len(full)
			for i := len(line) - 1; i >= 0; i-- {
				line[i].path = full[:end]
				end -= len(line[i].name) + 1
			}
		}
	}
}

// anyChild returns one child of n, nil if it has none.
func anyChild(n *node) *node {
	for _, c := range n.children {
		return c
	}
	return nil
}

func (d *decoder) event() *Event {
	ev := &Event{Action: d.str()}
	flags := d.uvarint()
	ev.Refresh = flags&1 != 0
	ev.internal = flags&4 != 0
	ev.EtcdIndex = d.uvarint()
	ev.Node = d.extern()
	if flags&2 != 0 {
		ev.PrevNode = d.extern()
	}
	return ev
}

func (d *decoder) extern() *NodeExtern {
	ne := &NodeExtern{Key: d.str()}
	flags := d.uvarint()
	if flags&1 != 0 {
		v := d.str()
		ne.Value = &v
	}
	ne.Dir = flags&2 != 0
	if flags&4 != 0 {
		t := d.time()
		ne.Expiration = &t
	}
	ne.TTL = d.varint()
	ne.ModifiedIndex = d.uvarint()
	ne.CreatedIndex = d.uvarint()
	return ne
}
