package store

import "time"

// ListWriter receives a read's node from List, in document order,
// without the store building a NodeExtern tree for it. The NodeExtern
// passed never has Nodes set; what would be in it comes between Open and
// Close. List and ListOrFreeze hold the store's read lock while they call
// a ListWriter, so there the methods must not block (buffer; do not
// write to a network) and must not call the store; Listing.Walk holds no
// lock, and there they may. They must not keep the NodeExtern passed
// (it is reused) nor change any of them.
type ListWriter interface {
	// Leaf is a node listed without children: a file, or a directory
	// whose children are not listed or are all hidden.
	Leaf(n *NodeExtern)
	// Open starts a directory with at least one listed child; the
	// children follow, then Close with the same n (or an equal one).
	Open(n *NodeExtern)
	// Close ends the directory opened last.
	Close(n *NodeExtern)
}

// IndexListWriter is a ListWriter that needs the store index of a
// listing before its first node, as a renderer that writes the index
// into every node does (the /v1 API's). List, ListOrFreeze and
// ListOrFreezeV01 call ListIndex once, before the first node, with the
// index they return; Listing.Walk calls it with the index ListOrFreeze
// returned when it took the Listing. The same lock rules as the other
// methods hold.
type IndexListWriter interface {
	ListWriter
	ListIndex(index uint64)
}

// listIndex hands index to lw when lw wants it.
func listIndex(lw ListWriter, index uint64) {
	if iw, ok := lw.(IndexListWriter); ok {
		iw.ListIndex(index)
	}
}

// listMode is what a listing shows below the node read: every level
// (recursive) or its direct children only; and, for a read of etcd
// v0.1.0's dialect (v01), hidden children too and the root under its
// key "/", as GetV01.
type listMode struct {
	recursive bool
	v01       bool
}

// shows reports whether c, a child of a listed directory, is listed.
func (m listMode) shows(c *node) bool { return m.v01 || !c.isHidden() }

// List reads the node at p exactly as Get does (same nodes, same fields,
// same order, same stats) but hands it to lw node by node, so that a
// listing of the whole store can be rendered with no more memory than
// its rendering. It returns the store index Get's event would carry.
func (s *Store) List(p string, recursive, sorted bool, now time.Time, lw ListWriter) (uint64, error) {
	p = cleanPath(p)
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, err := s.readNode(p)
	if err != nil {
		return 0, err
	}
	listIndex(lw, s.index)
	s.list(n, listMode{recursive: recursive}, now, lw)
	return s.index, nil
}

// list hands the listing of n to lw. Caller holds s.mu (read).
func (s *Store) list(n *node, m listMode, now time.Time, lw ListWriter) {
	l := &lister{lw: lw, mode: m, now: now}
	if !n.isDir() {
		l.file(n)
		return
	}
	ne := l.dirExtern(n)
	if n == s.root && !m.v01 {
		ne.Key = "" // etcd renders the root without a key
	}
	// The node read lists its direct children even without recursive.
	l.dir(n, ne, true)
}

// lister walks a subtree for List. Files reuse one NodeExtern (and the
// value and expiration it points to), so a listing allocates only per
// directory. It recurses once per level, which the key length limit
// bounds (DESIGN.md "Key limits and cost").
type lister struct {
	lw     ListWriter
	mode   listMode
	now    time.Time
	leaf   NodeExtern
	value  string
	expire time.Time
}

// file hands a file to lw as Leaf, through the reused NodeExtern.
func (l *lister) file(n *node) {
	l.leaf = NodeExtern{Key: n.path, ModifiedIndex: n.modifiedIndex, CreatedIndex: n.createdIndex}
	l.value = n.value
	l.leaf.Value = &l.value
	if !n.isPermanent() {
		l.expire = n.ttl.expire.UTC()
		l.leaf.Expiration = &l.expire
		l.leaf.TTL = remainingTTL(n.ttl.expire, l.now)
	}
	l.lw.Leaf(&l.leaf)
}

// dirExtern is what repr renders for a directory, without its children.
func (l *lister) dirExtern(n *node) *NodeExtern {
	ne := &NodeExtern{Key: n.path, Dir: true, ModifiedIndex: n.modifiedIndex, CreatedIndex: n.createdIndex}
	ne.Expiration, ne.TTL = n.expirationAndTTL(l.now)
	return ne
}

// dir hands directory n (rendered as ne) to lw with its visible
// children, sorted by name, when listKids is set and it has some.
func (l *lister) dir(n *node, ne *NodeExtern, listKids bool) {
	if !listKids || len(n.children) == 0 {
		l.lw.Leaf(ne)
		return
	}
	opened := false
	for _, c := range n.sortedChildren() {
		if !l.mode.shows(c) {
			continue
		}
		if !opened {
			l.lw.Open(ne)
			opened = true
		}
		if c.isDir() {
			l.dir(c, l.dirExtern(c), l.mode.recursive)
		} else {
			l.file(c)
		}
	}
	if opened {
		l.lw.Close(ne)
	} else {
		l.lw.Leaf(ne)
	}
}
