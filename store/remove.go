package store

// removeNode detaches n (and its subtree) from the tree and the TTL heap.
// When e is not nil, the watchers registered exactly at every removed path
// receive e, descendants first.
func (s *Store) removeNode(n *node, e *Event) {
	s.detach(n, e)
	if n.parent != nil {
		delete(n.parent.children, n.name)
	}
}

// detach takes the subtree of n out of the TTL heap and tells the
// watchers on its nodes. It walks the tree without recursion (any depth
// is safe) and walks the watcher index alongside, so that the cost is
// linear in the subtree's size whatever its depth.
func (s *Store) detach(n *node, e *Event) {
	type frame struct {
		n    *node
		w    *watchNode // watchers at n.path; nil when none are at or below it
		kids []*node    // children not yet visited
	}
	var w *watchNode
	if e != nil && s.hub.count.Load() > 0 {
		// The watcher index is walked alongside the tree: hold its lock
		// for the whole walk (lock order: Store.mu, then hub.mu). The
		// count only changes under Store.mu's read lock or with a
		// watcher leaving, so a zero count here means nobody to tell.
		s.hub.mu.Lock()
		defer s.hub.mu.Unlock()
		w = s.hub.lookupLocked(n.path)
	}
	if len(n.children) == 0 {
		// The common case, a single key: no stack needed.
		s.nodes.Add(-1)
		s.ttl.remove(n)
		if w != nil {
			s.hub.notifyDeletedLocked(e, w)
		}
		return
	}
	stack := []frame{{n: n, w: w, kids: childList(n)}}
	removed := int64(0)
	defer func() { s.nodes.Add(-removed) }()
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if len(top.kids) > 0 {
			c := top.kids[len(top.kids)-1]
			top.kids = top.kids[:len(top.kids)-1]
			stack = append(stack, frame{n: c, w: top.w.child(c.name), kids: childList(c)})
			continue
		}
		// Map order is fine here: it changes only the order in which
		// watchers hear about the removal, never the resulting state.
		s.ttl.remove(top.n)
		removed++
		if top.w != nil {
			s.hub.notifyDeletedLocked(e, top.w)
		}
		stack = stack[:len(stack)-1]
	}
}

// childList returns the children of n in map order (nil for a file).
func childList(n *node) []*node {
	if len(n.children) == 0 {
		return nil
	}
	out := make([]*node, 0, len(n.children))
	for _, c := range n.children {
		out = append(out, c)
	}
	return out
}
