package store

import (
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Store is the key tree with its index, TTL heap, history and watchers.
// The zero value is not usable; call New.
type Store struct {
	mu    sync.RWMutex // guards root, index, lastWrite, ttl; lock before hub.mu
	root  *node
	index uint64
	// lastWrite is the index etcd v0.1.0 showed on a GET: the index of
	// the last write, failed sets and deletes of the 0.1 dialect included
	// but failed 0.1 TestAndSets excluded (see v01.go). It equals index
	// unless 0.1 TestAndSets failed since the last other write.
	lastWrite uint64
	ttl       ttlHeap
	hub       *watcherHub
	stats     Stats
	// nodes is the number of nodes in the tree, the root included: it
	// changes under mu, and Capture reads it before locking to size its
	// records. capTTLs, the last capture's count of nodes with a TTL,
	// sizes the rest (atomic: captures may run together).
	nodes, capTTLs atomic.Int64
	// auth is the authentication state (auth.go): replaced, never
	// modified, by auth changes under mu; read without a lock.
	auth atomic.Pointer[AuthState]
}

// Config holds a store's settings. The zero value takes the defaults.
type Config struct {
	// HistorySize is how many events the store remembers for watches
	// that ask for a waitIndex in the past (HistoryCapacity, etcd's
	// 1000, when zero or negative). It is a member's own choice: the
	// history is rebuilt from the log on every replica, and a snapshot
	// made with another size restores its newest events up to this one
	// (see DESIGN.md "Event history").
	HistorySize int
}

// New returns an empty store at index 0 with the default settings.
func New() *Store { return NewWithConfig(Config{}) }

// NewWithConfig returns an empty store at index 0.
func NewWithConfig(cfg Config) *Store {
	if cfg.HistorySize <= 0 {
		cfg.HistorySize = HistoryCapacity
	}
	s := &Store{root: newDir("/", 0, nil, time.Time{}), hub: newWatcherHub(cfg.HistorySize)}
	s.nodes.Store(1)
	s.auth.Store(emptyAuth)
	return s
}

// HistorySize is the number of events the store remembers.
func (s *Store) HistorySize() int {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.hub.history.cap
}

// Index returns the current store index: the index of the last mutation.
func (s *Store) Index() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.index
}

// advance makes next, the index of a mutation that just took place, the
// current index. Caller holds mu for writing.
func (s *Store) advance(next uint64) {
	s.index = next
	s.lastWrite = next
}

// Stats returns the store's operation counters.
func (s *Store) Stats() *Stats { return &s.stats }

// WatcherCount is the number of registered watchers.
func (s *Store) WatcherCount() int64 { return s.hub.count.Load() }

// HasTTLKeys reports whether any node has a TTL, and when the first one
// expires.
func (s *Store) HasTTLKeys() (time.Time, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if n := s.ttl.top(); n != nil {
		return n.ttl.expire, true
	}
	return time.Time{}, false
}

// cleanPath turns a client key into the canonical absolute path.
func cleanPath(p string) string {
	if p == "" || p == "/" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	return path.Clean(p)
}

// childPath joins a directory path and a child name.
func childPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// internalGet walks to p. A missing component gives 100 with the path of
// the first missing component; a component that is a file gives 104 with
// that file's path. The walk hashes each segment once: linear in len(p).
func (s *Store) internalGet(p string) (*node, *Error) {
	n := s.root
	if p == "/" {
		return n, nil
	}
	for start := 1; start <= len(p); {
		end := segmentEnd(p, start)
		if !n.isDir() {
			return nil, NewError(EcodeNotDir, n.path, s.index)
		}
		child, ok := n.children[p[start:end]]
		if !ok {
			return nil, NewError(EcodeKeyNotFound, p[:end], s.index)
		}
		n = child
		start = end + 1
	}
	return n, nil
}

// segmentEnd is the end of the segment of the clean path p that starts at
// start: the next "/" or the end of p.
func segmentEnd(p string, start int) int {
	if i := strings.IndexByte(p[start:], '/'); i >= 0 {
		return start + i
	}
	return len(p)
}

// walkCreate walks to directory p, creating missing directories with
// index. It fails with 104 if a component is a file; it never fails after
// having created something, because a new directory has no children.
// Every directory it creates takes a prefix of p as its path, sharing p's
// bytes, so creating d levels costs O(len(p)) and not O(d*len(p)).
func (s *Store) walkCreate(p string, index uint64) (*node, *Error) {
	n := s.root
	if p == "/" {
		return n, nil
	}
	for start := 1; start <= len(p); {
		end := segmentEnd(p, start)
		name := p[start:end]
		child, ok := n.children[name]
		if !ok {
			child = newDir(p[:end], index, n, time.Time{})
			n.children[name] = child
			s.nodes.Add(1)
		} else if !child.isDir() {
			return nil, NewError(EcodeNotDir, child.path, s.index)
		}
		n = child
		start = end + 1
	}
	return n, nil
}

// readNode looks p up for a read (Get, GetV01, List, ListOrFreeze and
// ListOrFreezeV01) and counts the read in the stats, as a success or a
// failure. Caller holds s.mu (read).
func (s *Store) readNode(p string) (*node, error) {
	n, err := s.internalGet(p)
	if err != nil {
		s.stats.inc(&s.stats.GetsFail)
		return nil, err
	}
	s.stats.inc(&s.stats.GetsSuccess)
	return n, nil
}

// Get reads the node at p. Directories list their direct children (every
// level with recursive); hidden children are left out. TTLs are rendered
// against now.
func (s *Store) Get(p string, recursive, sorted bool, now time.Time) (*Event, error) {
	p = cleanPath(p)
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, err := s.readNode(p)
	if err != nil {
		return nil, err
	}
	ne := &NodeExtern{Key: n.path, ModifiedIndex: n.modifiedIndex, CreatedIndex: n.createdIndex}
	if n == s.root {
		ne.Key = "" // etcd renders the root without a key
	}
	ne.Expiration, ne.TTL = n.expirationAndTTL(now)
	if n.isDir() {
		ne.Dir = true
		ne.Nodes = n.listChildren(recursive, sorted, now)
	} else {
		v := n.value
		ne.Value = &v
	}
	return &Event{Action: ActionGet, Node: ne, EtcdIndex: s.index}, nil
}

// Set creates or replaces the node at p (PUT without conditions). An
// existing file is replaced by a brand-new node (new createdIndex), even by
// a directory; an existing directory cannot be replaced (102). With refresh
// the node must exist and keeps its value; the event is recorded but wakes
// no watcher.
func (s *Store) Set(p string, dir bool, value string, expire time.Time, refresh bool, now time.Time) (*Event, error) {
	p = cleanPath(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, gerr := s.internalGet(p)
	if gerr != nil && gerr.Code != EcodeKeyNotFound {
		s.stats.inc(&s.stats.SetsFail)
		return nil, gerr
	}
	if refresh {
		if gerr != nil {
			s.stats.inc(&s.stats.SetsFail)
			return nil, gerr
		}
		value = prev.value
	}
	e, err := s.internalCreate(p, dir, value, false, true, expire, ActionSet, now)
	if err != nil {
		s.stats.inc(&s.stats.SetsFail)
		return nil, err
	}
	s.stats.inc(&s.stats.SetsSuccess)
	s.publish(e, refresh)
	return e, nil
}

// Create creates the node at p, failing with 105 if anything exists there.
// With unique (POST) the node is created below p with the new index,
// zero-padded to 20 digits, as its name.
func (s *Store) Create(p string, dir bool, value string, unique bool, expire time.Time, now time.Time) (*Event, error) {
	p = cleanPath(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.internalCreate(p, dir, value, unique, false, expire, ActionCreate, now)
	if err != nil {
		s.stats.inc(&s.stats.CreateFail)
		return nil, err
	}
	s.stats.inc(&s.stats.CreateSuccess)
	s.publish(e, false)
	return e, nil
}

// internalCreate is the shared body of Set and Create. Caller holds mu.
func (s *Store) internalCreate(p string, dir bool, value string, unique, replace bool, expire time.Time, action string, now time.Time) (*Event, *Error) {
	next := s.index + 1
	if unique {
		p = childPath(p, padIndex(next))
	}
	if p == "/" {
		return nil, NewError(EcodeRootROnly, "/", s.index)
	}
	if expire.Before(minExpireTime) {
		expire = time.Time{}
	}
	// The parent path and the name are substrings of p (see walkCreate).
	slash := strings.LastIndexByte(p, '/')
	dirPath, name := p[:slash], p[slash+1:]
	if dirPath == "" {
		dirPath = "/"
	}
	parent, err := s.walkCreate(dirPath, next)
	if err != nil {
		// etcd counts a failed walk as a failed set on top of the
		// operation's own failure counter (a quirk of its stats).
		s.stats.inc(&s.stats.SetsFail)
		return nil, err
	}
	e := &Event{Action: action, Node: &NodeExtern{Key: p, ModifiedIndex: next, CreatedIndex: next}}
	if old, ok := parent.children[name]; ok {
		if !replace {
			return nil, NewError(EcodeNodeExist, p, s.index)
		}
		if old.isDir() {
			return nil, NewError(EcodeNotFile, p, s.index)
		}
		e.PrevNode = old.repr(false, false, now)
		s.removeNode(old, nil)
	}
	var n *node
	if dir {
		n = newDir(p, next, parent, expire)
		e.Node.Dir = true
	} else {
		n = newFile(p, value, next, parent, expire)
		v := value
		e.Node.Value = &v
	}
	parent.children[name] = n
	s.nodes.Add(1)
	if !n.isPermanent() {
		s.ttl.add(n)
		e.Node.Expiration, e.Node.TTL = n.expirationAndTTL(now)
	}
	s.advance(next)
	e.EtcdIndex = next
	return e, nil
}

// padIndex names an in-order key: the index in 20 zero-padded digits.
func padIndex(i uint64) string {
	s := uitoa(i)
	if len(s) >= 20 {
		return s
	}
	return strings.Repeat("0", 20-len(s)) + s
}

// Update changes the value and TTL of an existing node (PUT
// prevExist=true). A directory accepts only an empty value (its TTL
// changes). Quirk kept from etcd: for a directory the event shows the new
// modifiedIndex but the stored directory keeps its old one.
func (s *Store) Update(p, value string, expire time.Time, refresh bool, now time.Time) (*Event, error) {
	p = cleanPath(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.update(p, value, expire, refresh, now)
	if err != nil {
		s.stats.inc(&s.stats.UpdateFail)
		return nil, err
	}
	s.stats.inc(&s.stats.UpdateSuccess)
	s.publish(e, refresh)
	return e, nil
}

func (s *Store) update(p, value string, expire time.Time, refresh bool, now time.Time) (*Event, *Error) {
	if p == "/" {
		return nil, NewError(EcodeRootROnly, "/", s.index)
	}
	n, err := s.internalGet(p)
	if err != nil {
		return nil, err
	}
	if n.isDir() && value != "" {
		return nil, NewError(EcodeNotFile, p, s.index)
	}
	if refresh {
		value = n.value
	}
	return s.rewrite(n, ActionUpdate, value, expire, now), nil
}

// rewrite is the common end of update and compareAndSwap: the node keeps
// its createdIndex and takes value and expire at the next index. A
// directory (update only) keeps its value-less self and, quirk kept from
// etcd, its stored modifiedIndex, although the event shows the new one.
// Caller holds mu.
func (s *Store) rewrite(n *node, action, value string, expire time.Time, now time.Time) *Event {
	next := s.index + 1
	e := &Event{Action: action, Node: &NodeExtern{Key: n.path, ModifiedIndex: next, CreatedIndex: n.createdIndex}}
	e.PrevNode = n.repr(false, false, now)
	if n.isDir() {
		e.Node.Dir = true
	} else {
		n.value = value
		n.modifiedIndex = next
		v := value
		e.Node.Value = &v
	}
	n.v01 = false // the TTL is now a v2 one
	s.updateTTL(n, expire)
	e.Node.Expiration, e.Node.TTL = n.expirationAndTTL(now)
	s.advance(next)
	e.EtcdIndex = next
	return e
}

// updateTTL gives n a new expiration (zero = permanent) and keeps the heap
// in step. Unlike create it does not reject expirations before 2000.
func (s *Store) updateTTL(n *node, expire time.Time) {
	if expire.IsZero() {
		s.ttl.remove(n)
		n.ttl = nil
		return
	}
	// A new nodeTTL, never a changed one: a Capture may hold the old
	// one and read its expiration without the lock (capture.go). The
	// heap position carries over.
	at := -1
	if n.ttl != nil {
		at = n.ttl.heapIndex
	}
	n.ttl = &nodeTTL{expire: expire, heapIndex: at}
	s.ttl.add(n)
}

// CompareAndSwap replaces the value of a file if prevValue ("" = any) and
// prevIndex (0 = any) match; the TTL becomes the request's.
func (s *Store) CompareAndSwap(p, prevValue string, prevIndex uint64, value string, expire time.Time, refresh bool, now time.Time) (*Event, error) {
	p = cleanPath(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.compareAndSwap(p, prevValue, prevIndex, value, expire, refresh, now)
	if err != nil {
		s.stats.inc(&s.stats.CompareAndSwapFail)
		return nil, err
	}
	s.stats.inc(&s.stats.CompareAndSwapSuccess)
	s.publish(e, refresh)
	return e, nil
}

func (s *Store) compareAndSwap(p, prevValue string, prevIndex uint64, value string, expire time.Time, refresh bool, now time.Time) (*Event, *Error) {
	if p == "/" {
		return nil, NewError(EcodeRootROnly, "/", s.index)
	}
	n, err := s.internalGet(p)
	if err != nil {
		return nil, err
	}
	if n.isDir() {
		return nil, NewError(EcodeNotFile, p, s.index)
	}
	if ok, cause := n.compare(prevValue, prevIndex); !ok {
		return nil, NewError(EcodeTestFailed, cause, s.index)
	}
	if refresh {
		value = n.value
	}
	return s.rewrite(n, ActionCompareAndSwap, value, expire, now), nil
}

// Delete removes the node at p. A directory needs dir (empty directories)
// or recursive (whole subtrees). Watchers on every removed node are told.
func (s *Store) Delete(p string, dir, recursive bool, now time.Time) (*Event, error) {
	p = cleanPath(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.delete(p, dir, recursive, now)
	if err != nil {
		s.stats.inc(&s.stats.DeleteFail)
		return nil, err
	}
	s.stats.inc(&s.stats.DeleteSuccess)
	return e, nil
}

func (s *Store) delete(p string, dir, recursive bool, now time.Time) (*Event, *Error) {
	if p == "/" {
		return nil, NewError(EcodeRootROnly, "/", s.index)
	}
	if recursive {
		dir = true
	}
	n, err := s.internalGet(p)
	if err != nil {
		return nil, err
	}
	if n.isDir() {
		if !dir {
			return nil, NewError(EcodeNotFile, n.path, s.index)
		}
		if len(n.children) > 0 && !recursive {
			return nil, NewError(EcodeDirNotEmpty, n.path, s.index)
		}
	}
	next := s.index + 1
	e := &Event{Action: ActionDelete, Node: &NodeExtern{Key: p, Dir: n.isDir(), ModifiedIndex: next, CreatedIndex: n.createdIndex}}
	e.PrevNode = n.repr(false, false, now)
	s.advance(next)
	e.EtcdIndex = next
	s.removeNode(n, e)
	s.hub.notify(e)
	return e, nil
}

// CompareAndDelete removes a file if prevValue and prevIndex match.
func (s *Store) CompareAndDelete(p, prevValue string, prevIndex uint64, now time.Time) (*Event, error) {
	p = cleanPath(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.compareAndDelete(p, prevValue, prevIndex, now)
	if err != nil {
		s.stats.inc(&s.stats.CompareAndDeleteFail)
		return nil, err
	}
	s.stats.inc(&s.stats.CompareAndDeleteSuccess)
	return e, nil
}

func (s *Store) compareAndDelete(p, prevValue string, prevIndex uint64, now time.Time) (*Event, *Error) {
	n, err := s.internalGet(p)
	if err != nil {
		return nil, err
	}
	if n.isDir() {
		// etcd does not check the root here; its internal root path
		// trims to "", so the error has no cause.
		cause := p
		if p == "/" {
			cause = ""
		}
		return nil, NewError(EcodeNotFile, cause, s.index)
	}
	if ok, cause := n.compare(prevValue, prevIndex); !ok {
		return nil, NewError(EcodeTestFailed, cause, s.index)
	}
	next := s.index + 1
	e := &Event{Action: ActionCompareAndDelete, Node: &NodeExtern{Key: p, ModifiedIndex: next, CreatedIndex: n.createdIndex}}
	e.PrevNode = n.repr(false, false, now)
	s.advance(next)
	e.EtcdIndex = next
	s.removeNode(n, e)
	s.hub.notify(e)
	return e, nil
}

// DeleteExpiredKeys removes, in expiration order, every node whose
// expiration is at or before cutoff; each removal is one expire event with
// its own index, except for keys written in the etcd 0.1 dialect
// (expireV01). cutoff is the time carried by the leader's command.
func (s *Store) DeleteExpiredKeys(cutoff time.Time) []*Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Event
	for {
		n := s.ttl.top()
		if n == nil || n.ttl.expire.After(cutoff) {
			break
		}
		if n.v01 {
			out = append(out, s.expireV01(n, cutoff))
			continue
		}
		next := s.index + 1
		// etcd 3.4 marks the expired node as a directory when it is one
		// (v2.3.8 did not); this server answers as 3.4 does.
		e := &Event{Action: ActionExpire, Node: &NodeExtern{Key: n.path, Dir: n.isDir(), ModifiedIndex: next, CreatedIndex: n.createdIndex}}
		e.PrevNode = n.repr(false, false, cutoff)
		s.advance(next)
		e.EtcdIndex = next
		s.removeNode(n, e)
		s.stats.inc(&s.stats.ExpireCount)
		s.hub.notify(e)
		out = append(out, e)
	}
	return out
}

// publish records a mutation's event; refreshes wake nobody.
func (s *Store) publish(e *Event, refresh bool) {
	if refresh {
		e.Refresh = true
		s.hub.add(e)
		return
	}
	s.hub.notify(e)
}

// Watch registers a watch on p. sinceIndex 0 means "from the next index";
// otherwise the history is searched first from sinceIndex, and an index
// older than the history fails with 401.
func (s *Store) Watch(p string, recursive, stream bool, sinceIndex uint64) (*Watcher, error) {
	return s.WatchFiltered(p, recursive, stream, sinceIndex, nil)
}

// WatchFiltered is Watch for a watcher that sees only the events allow
// accepts, in the history as live: a non-stream watcher waits for the
// first accepted one. allow runs under the store's locks (it may call
// Auth, nothing else of the store).
func (s *Store) WatchFiltered(p string, recursive, stream bool, sinceIndex uint64, allow func(*Event) bool) (*Watcher, error) {
	p = cleanPath(p)
	s.stats.inc(&s.stats.WatchRequests)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if sinceIndex == 0 {
		sinceIndex = s.index + 1
	}
	w, err := s.hub.watch(p, recursive, stream, sinceIndex, s.index, allow)
	if err != nil {
		return nil, err
	}
	return w, nil
}
