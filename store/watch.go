package store

import (
	"container/list"
	"path"
	"strings"
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
	// allow, when set, decides per event whether the watcher may see it
	// (auth: only what its user may read). It runs under the store's
	// locks and must not call back into the store, except Auth.
	allow   func(*Event) bool
	elem    *list.Element // guarded by hub.mu; nil when not registered
	removed bool          // guarded by hub.mu
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
	mu       sync.Mutex
	watchers map[string]*list.List // guarded by mu
	history  *history              // guarded by mu
	count    atomic.Int64          // registered watchers
}

func newWatcherHub() *watcherHub {
	return &watcherHub{watchers: make(map[string]*list.List), history: newHistory(HistoryCapacity)}
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
	w := &Watcher{ch: make(chan *Event, watcherBuffer), done: make(chan struct{}), key: key,
		recursive: recursive, stream: stream, sinceIndex: sinceIndex, startIndex: storeIndex, hub: h, allow: allow}
	if e != nil {
		// Satisfied from history: deliver that one event and do not
		// register, even for a stream (etcd behaves the same way).
		ne := e.Clone()
		ne.EtcdIndex = storeIndex
		w.ch <- ne
		return w, nil
	}
	l := h.watchers[key]
	if l == nil {
		l = list.New()
		h.watchers[key] = l
	}
	w.elem = l.PushBack(w)
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
	if l := h.watchers[w.key]; l != nil {
		l.Remove(w.elem)
		if l.Len() == 0 {
			delete(h.watchers, w.key)
		}
	}
	w.elem = nil
	h.count.Add(-1)
}

// add records an event in the history without notifying anyone (refresh).
func (h *watcherHub) add(e *Event) {
	h.mu.Lock()
	h.history.add(e)
	h.mu.Unlock()
}

// notify records e and wakes the watchers on its key and on every
// ancestor of it.
func (h *watcherHub) notify(e *Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.history.add(e)
	if h.count.Load() == 0 {
		return
	}
	key := e.Node.Key
	h.notifyLocked(e, "/", false)
	if key == "/" {
		return
	}
	for i := 1; i <= len(key); i++ {
		if i == len(key) || key[i] == '/' {
			h.notifyLocked(e, key[:i], false)
		}
	}
}

// notifyDeleted wakes the watchers registered exactly at p, a node removed
// by e (the target or one of its descendants).
func (h *watcherHub) notifyDeleted(e *Event, p string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.count.Load() == 0 {
		return
	}
	h.notifyLocked(e, p, true)
}

func (h *watcherHub) notifyLocked(e *Event, watchPath string, deleted bool) {
	l := h.watchers[watchPath]
	if l == nil {
		return
	}
	exact := e.Node.Key == watchPath
	if !exact && !deleted && hiddenBelow(watchPath, e.Node.Key) {
		return
	}
	var next *list.Element
	for el := l.Front(); el != nil; el = next {
		next = el.Next()
		w := el.Value.(*Watcher)
		if !(w.recursive || exact || deleted) || e.watchIndex() < w.sinceIndex {
			continue
		}
		if w.allow != nil && !w.allow(e) {
			continue
		}
		select {
		case w.ch <- e:
			if !w.stream {
				h.removeLocked(w, false)
			}
		default:
			// The consumer fell 100 events behind: drop it.
			h.removeLocked(w, true)
		}
	}
}

// hiddenBelow reports whether key has a hidden segment (one starting with
// "_") below watchPath, in which case watchers on watchPath do not see it.
func hiddenBelow(watchPath, key string) bool {
	if len(watchPath) > len(key) {
		return false
	}
	rest := path.Clean("/" + key[len(watchPath):])
	return strings.Contains(rest, "/_")
}

// dropAll removes every watcher, closing their Done channels (used when
// the store is restored from a snapshot).
func (h *watcherHub) dropAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.watchers {
		for el := l.Front(); el != nil; {
			next := el.Next()
			h.removeLocked(el.Value.(*Watcher), true)
			el = next
		}
	}
	h.watchers = make(map[string]*list.List)
}
