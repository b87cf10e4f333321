package store

import (
	"slices"
	"strings"
	"time"
)

// Listing is a frozen copy of a listing: the nodes List would hand a
// ListWriter, copied under the read lock into 48-byte records (a
// Capture's, see capture.go) and handed to one later, with no lock
// held, by Walk. Like a Capture it shares names, paths, values and
// expirations with the store, which never changes them in place, so
// writes made after it was taken cannot reach into it. It costs 48 bytes
// per listed node, 8 more per node with a TTL; its rendering is not in
// memory at once unless the ListWriter keeps it.
type Listing struct {
	// c.nodes holds the listed nodes breadth-first: c.nodes[0] is the
	// node read and the visible children of a listed directory are the
	// run c.nodes[first:first+count], in map order (Walk sorts them).
	// A directory whose children are not listed has count 0.
	c Capture
	// keyless is set when the node read is the root, which etcd renders
	// without a key.
	keyless bool
	// index is the store index ListOrFreeze returned with the Listing,
	// handed to an IndexListWriter by Walk.
	index uint64
}

// listNodeCost is about what a node's rendering takes beyond its key
// and value (braces, field names, indexes, a TTL): ListOrFreeze's
// estimate of a listing's size.
const listNodeCost = 128

// ListOrFreeze reads the node at p as List does, with one lock and one
// lookup, in one of two ways. When the listing's estimated size (its
// keys and values, plus listNodeCost bytes a node) is at most inline
// bytes, or p is a file, it hands the listing to lw at once under the
// read lock, exactly as List, and returns a nil Listing. Otherwise it
// does not call lw: it returns a Listing of the same nodes, to be handed
// to a ListWriter later with Walk, with no lock held. The estimate stops
// as soon as it passes inline, so deciding costs at most about
// inline/listNodeCost nodes' visit. It returns the store index Get's
// event would carry (handed to an IndexListWriter, see there).
func (s *Store) ListOrFreeze(p string, recursive, sorted bool, inline int, now time.Time, lw ListWriter) (*Listing, uint64, error) {
	p = cleanPath(p)
	var records []capNode
	if nodes := s.nodes.Load(); p == "/" && recursive && nodes > int64(inline/listNodeCost) {
		// The whole store, less the hidden keys, will most likely be
		// frozen: size its records once (appends would allocate about
		// twice as much), before locking, as Capture does.
		records = make([]capNode, 0, nodes+16)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, err := s.readNode(p)
	if err != nil {
		return nil, 0, err
	}
	return s.listOrFreeze(n, listMode{recursive: recursive}, s.index, inline, now, lw, records), s.index, nil
}

// ListOrFreezeV01 is ListOrFreeze for a read of etcd v0.1.0's dialect:
// it lists what GetV01 returns, the node read and its direct children,
// hidden ones included, the root under its key "/". It returns, and
// hands to an IndexListWriter, the index GetV01's event carries (the
// last write v0.1.0 counted), and fails as GetV01 does: anything not
// there is 100 with the cleaned key as cause. Stats count as GetV01's.
func (s *Store) ListOrFreezeV01(p string, inline int, now time.Time, lw ListWriter) (*Listing, uint64, error) {
	p = cleanPath(p)
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, err := s.readNode(p)
	if err != nil {
		return nil, 0, NewError(EcodeKeyNotFound, p, s.lastWrite)
	}
	return s.listOrFreeze(n, listMode{v01: true}, s.lastWrite, inline, now, lw, nil), s.lastWrite, nil
}

// listOrFreeze lists n in mode m to lw at once, or returns it frozen,
// as ListOrFreeze describes; index is the index to hand along and
// records, when not nil, the room to freeze into. Caller holds s.mu
// (read).
func (s *Store) listOrFreeze(n *node, m listMode, index uint64, inline int, now time.Time, lw ListWriter, records []capNode) *Listing {
	budget := inline - len(n.path) - listNodeCost
	if !n.isDir() || (budget >= 0 && listFits(n, m, &budget)) {
		listIndex(lw, index)
		s.list(n, m, now, lw)
		return nil
	}
	if records == nil && !m.recursive {
		// One level: its size is known, so size it once (appends
		// would allocate about twice as much).
		records = make([]capNode, 0, 1+len(n.children))
	}
	l := &Listing{c: Capture{nodes: records}, keyless: n == s.root && !m.v01, index: index}
	l.freeze(n, m)
	return l
}

// listFits takes from *budget the estimated size of dir's listed
// children (every level with m.recursive) and reports whether it
// lasted. It stops as soon as the budget runs out, so it visits at most
// about budget/listNodeCost nodes; it recurses once per level, which
// the budget bounds too.
func listFits(dir *node, m listMode, budget *int) bool {
	for _, c := range dir.children {
		if !m.shows(c) {
			continue
		}
		*budget -= len(c.path) + len(c.value) + listNodeCost
		if *budget < 0 {
			return false
		}
		if m.recursive && c.isDir() && !listFits(c, m, budget) {
			return false
		}
	}
	return true
}

// freeze fills l with the listing of n in mode m. Caller holds s.mu
// (read). Breadth-first over the records themselves, as Capture.walk,
// but only over the children m shows, and below the node read only
// with m.recursive.
func (l *Listing) freeze(n *node, m listMode) {
	c := &l.c
	c.nodes = append(c.nodes, capNode{n: n})
	c.fill(c.nodes)
	for i := 0; i < len(c.nodes); i++ {
		if c.nodes[i].flags&1 == 0 || (i > 0 && !m.recursive) {
			continue
		}
		first := len(c.nodes)
		for _, child := range c.nodes[i].n.children {
			if m.shows(child) {
				c.nodes = append(c.nodes, capNode{n: child})
			}
		}
		c.nodes[i].first = int32(first)
		c.nodes[i].count = int32(len(c.nodes) - first)
		c.fill(c.nodes[first:])
	}
}

// Walk hands the listing to lw exactly as List would have when the
// Listing was taken (same nodes, order, fields), with TTLs rendered
// against now. It holds no lock, so lw may block (write to a network);
// the ListWriter contract is otherwise List's. Walk allocates only sort
// keys (16 bytes per child of the directories on the current path) and
// does not change l: it may run any number of times, from any goroutine.
func (l *Listing) Walk(now time.Time, lw ListWriter) {
	listIndex(lw, l.index)
	w := listWalker{l: l, lw: lw, now: now}
	w.walk()
}

// listWalker is one Walk: a depth-first walk with its own stack, so a
// tree of any depth is safe to walk.
type listWalker struct {
	l      *Listing
	lw     ListWriter
	now    time.Time
	leaf   NodeExtern
	value  string
	expire time.Time
	order  []sortKey   // the sorted children of the open directories
	stack  []walkFrame // the open directories, the node read first
}

// walkFrame is an open directory: what it renders as, and the run of
// its sorted children in listWalker.order.
type walkFrame struct {
	ne               NodeExtern
	exp              time.Time
	start, next, end int
}

func (w *listWalker) walk() {
	if !w.node(0) {
		return
	}
	for len(w.stack) > 0 {
		top := &w.stack[len(w.stack)-1]
		if top.next == top.end {
			w.order = w.order[:top.start]
			w.lw.Close(w.extern(top))
			w.stack = w.stack[:len(w.stack)-1]
			continue
		}
		k := w.order[top.next]
		top.next++
		w.node(k.i) // may grow stack: top is not used after this
	}
}

// node hands record i to lw: a file or a directory without listed
// children as Leaf (through the reused leaf), a directory with some as
// Open, pushing it with its children sorted. It reports whether it
// pushed.
func (w *listWalker) node(i int32) bool {
	cn := &w.l.c.nodes[i]
	w.leaf = NodeExtern{Key: cn.n.path, Dir: cn.flags&1 != 0, ModifiedIndex: cn.mod, CreatedIndex: cn.n.createdIndex}
	if i == 0 && w.l.keyless {
		w.leaf.Key = ""
	}
	if !w.leaf.Dir {
		w.value = cn.value
		w.leaf.Value = &w.value
	}
	if cn.ttl != 0 {
		expire := w.l.c.ttls[cn.ttl-1].expire
		w.expire = expire.UTC()
		w.leaf.Expiration, w.leaf.TTL = &w.expire, remainingTTL(expire, w.now)
	}
	if !w.leaf.Dir || cn.count == 0 {
		w.lw.Leaf(&w.leaf)
		return false
	}
	start := len(w.order)
	w.order = w.sortedKids(w.order, cn)
	w.stack = append(w.stack, walkFrame{ne: w.leaf, exp: w.expire, start: start, next: start, end: len(w.order)})
	w.lw.Open(w.extern(&w.stack[len(w.stack)-1]))
	return true
}

// extern is what directory frame f renders as. Its Expiration points
// into f, which a growing stack moves: it is set again on every use.
func (w *listWalker) extern(f *walkFrame) *NodeExtern {
	if f.ne.Expiration != nil {
		f.ne.Expiration = &f.exp
	}
	return &f.ne
}

// sortedKids appends the sort keys of dir's children to order, sorted
// by name (capture_sort.go): keyed on the bytes after the prefix all
// the siblings share.
func (w *listWalker) sortedKids(order []sortKey, dir *capNode) []sortKey {
	nodes := w.l.c.nodes
	kids := nodes[dir.first : dir.first+dir.count]
	start := len(order)
	order = slices.Grow(order, len(kids)) // once: appends would take about twice
	common := kids[0].n.name
	for j := range kids {
		common = common[:commonPrefix(common, kids[j].n.name)]
	}
	for j := range kids {
		order = append(order, sortKey{key: prefixKey(kids[j].n.name[len(common):]), i: dir.first + int32(j)})
	}
	sortKeys(order[start:], func(a, b sortKey) int {
		return strings.Compare(nodes[a.i].n.name, nodes[b.i].n.name)
	})
	return order
}
