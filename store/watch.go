package store

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// watcherBuffer is how many undelivered events a watcher may hold before
// the store drops it as too slow (etcd's figure).
const watcherBuffer = 100

// Watcher receives the events of one watch request. Events arrive on
// EventChan. A non-stream watcher gets at most one event. Done is closed
// when the store drops the watcher (its buffer overflowed, or the store was
// restored from a snapshot); events already buffered can still be read, but
// no more will come and the client should re-watch from the next index.
// Remove must be called when the consumer goes away.
type Watcher struct {
	ch         chan *Event
	done       chan struct{}
	key        string
	recursive  bool
	stream     bool
	sinceIndex uint64
	startIndex uint64
	hub        *watcherHub
	at         *watchNode    // guarded by hub.mu; where w is registered
	elem       *list.Element // guarded by hub.mu; nil when not registered
	removed    bool          // guarded by hub.mu
	// allow, when set, decides per event whether the watcher may see it
	// (auth: only what its user may read). It runs under the store's
	// locks and must not call back into the store, except Auth.
	allow func(*Event) bool
}

// EventChan delivers the watcher's events.
func (w *Watcher) EventChan() <-chan *Event { return w.ch }

// Done is closed when the store has dropped the watcher.
func (w *Watcher) Done() <-chan struct{} { return w.done }

// StartIndex is the store index at the moment the watch was registered
// (what etcd sends as X-Etcd-Index on a watch response).
func (w *Watcher) StartIndex() uint64 { return w.startIndex }

// Remove unregisters the watcher. It is idempotent and safe to call from
// any goroutine.
func (w *Watcher) Remove() {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	w.hub.removeLocked(w, false)
}

// watcherHub keeps the registered watchers by key and the event history.
// Lock order: Store.mu before watcherHub.mu.
type watcherHub struct {
	mu      sync.Mutex
	root    *watchNode // guarded by mu; the watchers by key, as a tree
	history *history   // guarded by mu
	count   atomic.Int64
}

// watchNode is one path of the watcher index: the watchers registered at
// exactly that path, and the nodes of the paths one segment longer that
// have watchers at or below them. The index is a tree by path segment so
// that finding the watchers on a key and on all its ancestors hashes each
// segment of the key once (linear in the key's length), where a map by
// full path would hash every prefix (quadratic in the key's depth). Nodes
// with no watchers at or below them are pruned. Guarded by watcherHub.mu.
type watchNode struct {
	name     string
	parent   *watchNode
	children map[string]*watchNode
	watchers list.List // of *Watcher
}

// child returns the index node for name below w (nil-safe).
func (w *watchNode) child(name string) *watchNode {
	if w == nil {
		return nil
	}
	return w.children[name]
}

func newWatcherHub(historySize int) *watcherHub {
	return &watcherHub{root: &watchNode{}, history: newHistory(historySize)}
}

// lookupLocked returns the index node of the clean path p, nil if no
// watcher is registered at or below p. Caller holds mu.
func (h *watcherHub) lookupLocked(p string) *watchNode {
	w := h.root
	if p == "/" {
		return w
	}
	for start := 1; start <= len(p) && w != nil; {
		end := segmentEnd(p, start)
		w = w.children[p[start:end]]
		start = end + 1
	}
	return w
}

// insertLocked returns the index node of the clean path p, creating it.
func (h *watcherHub) insertLocked(p string) *watchNode {
	w := h.root
	if p == "/" {
		return w
	}
	for start := 1; start <= len(p); {
		end := segmentEnd(p, start)
		name := p[start:end]
		c := w.children[name]
		if c == nil {
			if w.children == nil {
				w.children = make(map[string]*watchNode)
			}
			c = &watchNode{name: name, parent: w}
			w.children[name] = c
		}
		w = c
		start = end + 1
	}
	return w
}

// pruneLocked removes w and its ancestors from the index while they hold
// neither watchers nor children.
func (h *watcherHub) pruneLocked(w *watchNode) {
	for w.parent != nil && w.watchers.Len() == 0 && len(w.children) == 0 {
		delete(w.parent.children, w.name)
		w = w.parent
	}
}

// watch registers a watcher at key, first looking for a match in the
// history from sinceIndex on. storeIndex is the current store index.
func (h *watcherHub) watch(key string, recursive, stream bool, sinceIndex, storeIndex uint64, allow func(*Event) bool) (*Watcher, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, err := h.history.scan(key, recursive, sinceIndex, allow)
	if err != nil {
		err.Index = storeIndex
		return nil, err
	}
	// A non-stream watcher receives one event and is unregistered by its
	// delivery, so one slot is all it can ever use: an idle long-poll
	// costs 8 bytes of buffer instead of 800.
	buffer := 1
	if stream {
		buffer = watcherBuffer
	}
	w := &Watcher{ch: make(chan *Event, buffer), done: make(chan struct{}), key: key,
		recursive: recursive, stream: stream, sinceIndex: sinceIndex, startIndex: storeIndex, hub: h, allow: allow}
	if e != nil {
		// Satisfied from history: deliver that one event and do not
		// register, even for a stream (etcd behaves the same way).
		ne := e.Clone()
		ne.EtcdIndex = storeIndex
		w.ch <- ne
		return w, nil
	}
	w.at = h.insertLocked(key)
	w.elem = w.at.watchers.PushBack(w)
	h.count.Add(1)
	return w, nil
}

// removeLocked unregisters w; dropped tells whether the store dropped it
// (then Done is closed).
func (h *watcherHub) removeLocked(w *Watcher, dropped bool) {
	if w.removed {
		return
	}
	w.removed = true
	if dropped {
		close(w.done)
	}
	if w.elem == nil {
		return
	}
	w.at.watchers.Remove(w.elem)
	h.pruneLocked(w.at)
	w.at, w.elem = nil, nil
	h.count.Add(-1)
}

// add records an event in the history without notifying anyone (refresh).
func (h *watcherHub) add(e *Event) {
	h.mu.Lock()
	h.history.add(e)
	h.mu.Unlock()
}

// notify records e and wakes the watchers on its key and on every
// ancestor of it. It walks the watcher index down the key's segments, so
// its cost is linear in the key's length. An event that took no index (the
// expiry of an etcd 0.1 key) is not recorded: no replay returns it.
func (h *watcherHub) notify(e *Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !e.noIndex {
		h.history.add(e)
	}
	if h.count.Load() == 0 {
		return
	}
	key := e.Node.Key
	// Watchers above a hidden segment ("_" first) do not see the event:
	// hidden counts the hidden segments still below the current level.
	hidden := 0
	if key != "/" {
		for start := 1; start <= len(key); {
			end := segmentEnd(key, start)
			if end > start && key[start] == '_' {
				hidden++
			}
			start = end + 1
		}
	}
	w := h.root
	h.notifyLocked(e, w, key == "/", hidden > 0)
	if key == "/" {
		return
	}
	for start := 1; start <= len(key); {
		end := segmentEnd(key, start)
		if w = w.children[key[start:end]]; w == nil {
			return
		}
		if end > start && key[start] == '_' {
			hidden--
		}
		h.notifyLocked(e, w, end == len(key), hidden > 0)
		start = end + 1
	}
}

// notifyDeletedLocked wakes the watchers registered exactly at w, the
// index node of a node removed by e (the target or one of its
// descendants). Caller holds mu.
func (h *watcherHub) notifyDeletedLocked(e *Event, w *watchNode) {
	h.deliverLocked(e, w, true)
}

// notifyLocked wakes the watchers at w, an ancestor of e's key (or the key
// itself when exact). hiddenBelow tells whether a segment of the key below
// w is hidden, in which case only an exact match is reported.
func (h *watcherHub) notifyLocked(e *Event, w *watchNode, exact, hiddenBelow bool) {
	if w.watchers.Len() == 0 || (!exact && hiddenBelow) {
		return
	}
	h.deliverLocked(e, w, exact)
}

// deliverLocked hands e to the watchers at w: every one of them when
// direct (the event is on w's own path), recursive ones only otherwise.
// A watcher whose buffer is full is dropped.
func (h *watcherHub) deliverLocked(e *Event, w *watchNode, direct bool) {
	var next *list.Element
	for el := w.watchers.Front(); el != nil; el = next {
		next = el.Next()
		wa := el.Value.(*Watcher)
		if !(wa.recursive || direct) || e.watchIndex() < wa.sinceIndex {
			continue
		}
		if wa.allow != nil && !wa.allow(e) {
			continue
		}
		select {
		case wa.ch <- e:
			if !wa.stream {
				h.removeLocked(wa, false)
			}
		default:
			// The consumer fell 100 events behind: drop it.
			h.removeLocked(wa, true)
		}
	}
}

// dropAll removes every watcher, closing their Done channels (used when
// the store is restored from a snapshot).
func (h *watcherHub) dropAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	stack := []*watchNode{h.root}
	for len(stack) > 0 {
		w := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, c := range w.children {
			stack = append(stack, c)
		}
		for el := w.watchers.Front(); el != nil; {
			next := el.Next()
			wa := el.Value.(*Watcher)
			// Unlink without pruning: the whole index is replaced below.
			wa.removed = true
			close(wa.done)
			wa.at, wa.elem = nil, nil
			h.count.Add(-1)
			el = next
		}
	}
	h.root = &watchNode{}
}
