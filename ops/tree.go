package ops

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// Node is one key or directory as read from a member.
type Node struct {
	// Key is the full path, e.g. "/a/b".
	Key string
	// Dir is true for a directory.
	Dir bool
	// Value is a key's value ("" for directories).
	Value string
	// Deadline is when the node expires, on this process's clock: the
	// time its listing arrived plus the TTL the member showed. The member
	// rounds the TTL up, so Deadline is never earlier than the real
	// expiry. Zero means permanent.
	Deadline time.Time
}

// Depth is the number of segments of the node's key ("/a/b" is 2).
func (n Node) Depth() int { return strings.Count(n.Key, "/") }

// walkResult is a tree as read: its nodes sorted by key (so every
// directory comes before its children), how many expired while being
// read, and the range of X-Etcd-Index values the listings showed.
type walkResult struct {
	nodes    []Node
	expired  int
	lowIdx   uint64
	highIdx  uint64
	vanished []string
}

// walker reads the trees under some prefixes, one directory per request,
// with at most workers requests in flight.
type walker struct {
	c        *client
	now      func() time.Time
	workers  int
	progress func(nodes int)

	mu      sync.Mutex // guards everything below
	cond    *sync.Cond // signalled when queue grows or pending drops
	queue   []string   // directories still to list
	pending int        // directories queued or being listed
	err     error      // first failure; stops the walk
	res     walkResult
}

// walk reads every node under prefixes (each a key or a directory; "/"
// is the whole tree). Listings do not show hidden nodes, so a hidden
// node is read only when a prefix names it or one of its ancestors'
// hidden segments. A prefix that does not exist is an error. A
// directory that disappears between being listed and being read is
// noted in vanished, not an error: the source is live.
func (w *walker) walk(ctx context.Context, prefixes []string) (walkResult, error) {
	w.cond = sync.NewCond(&w.mu)
	for _, p := range prefixes {
		r, err := w.c.get(ctx, p)
		if err != nil {
			return walkResult{}, fmt.Errorf("reading %s: %w", p, err)
		}
		w.note(r.index)
		t := w.now()
		if !r.event.Node.Dir {
			w.add(r.event.Node, t)
			continue
		}
		if p != "/" {
			w.add(r.event.Node, t)
		}
		w.children(r.event.Node, t)
	}
	var wg sync.WaitGroup
	for i := 0; i < w.workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.work(ctx)
		}()
	}
	wg.Wait()
	if w.err != nil {
		return walkResult{}, w.err
	}
	sort.Slice(w.res.nodes, func(i, j int) bool { return w.res.nodes[i].Key < w.res.nodes[j].Key })
	// Two overlapping prefixes read the same nodes twice; keep one.
	out := w.res.nodes[:0]
	for i, n := range w.res.nodes {
		if i == 0 || n.Key != w.res.nodes[i-1].Key {
			out = append(out, n)
		}
	}
	w.res.nodes = out
	return w.res, nil
}

// work lists queued directories until none is left or the walk failed.
func (w *walker) work(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		for len(w.queue) == 0 && w.pending > 0 && w.err == nil {
			w.cond.Wait()
		}
		if w.err != nil || w.pending == 0 {
			w.cond.Broadcast()
			return
		}
		dir := w.queue[len(w.queue)-1]
		w.queue = w.queue[:len(w.queue)-1]
		w.mu.Unlock()
		r, err := w.c.get(ctx, dir)
		t := w.now()
		w.mu.Lock()
		switch {
		case etcdCode(err) == store.EcodeKeyNotFound:
			w.res.vanished = append(w.res.vanished, dir)
		case err != nil:
			if w.err == nil {
				w.err = fmt.Errorf("reading %s: %w", dir, err)
			}
		default:
			w.noteLocked(r.index)
			w.childrenLocked(r.event.Node, t)
		}
		w.pending--
		w.cond.Broadcast()
	}
}

// children adds dir's listed children and queues its subdirectories.
func (w *walker) children(dir *store.NodeExtern, t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.childrenLocked(dir, t)
}

func (w *walker) childrenLocked(dir *store.NodeExtern, t time.Time) {
	for _, ch := range dir.Nodes {
		if w.addLocked(ch, t) && ch.Dir {
			w.queue = append(w.queue, ch.Key)
			w.pending++
		}
	}
	if w.progress != nil {
		w.progress(len(w.res.nodes))
	}
}

// add records one node read at t.
func (w *walker) add(n *store.NodeExtern, t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.addLocked(n, t)
}

// addLocked records n unless its TTL has already run out (a key the
// member shows with a TTL of 0 or less expires at its next sweep, so it
// is not copied; its subtree is not read). It reports whether n was kept.
func (w *walker) addLocked(n *store.NodeExtern, t time.Time) bool {
	node := Node{Key: n.Key, Dir: n.Dir}
	if n.Value != nil {
		node.Value = *n.Value
	}
	if n.Expiration != nil {
		if n.TTL <= 0 {
			w.res.expired++
			return false
		}
		node.Deadline = t.Add(time.Duration(n.TTL) * time.Second)
	}
	w.res.nodes = append(w.res.nodes, node)
	return true
}

func (w *walker) note(idx uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.noteLocked(idx)
}

// noteLocked widens the range of X-Etcd-Index values seen.
func (w *walker) noteLocked(idx uint64) {
	if idx == 0 {
		return
	}
	if w.res.lowIdx == 0 || idx < w.res.lowIdx {
		w.res.lowIdx = idx
	}
	if idx > w.res.highIdx {
		w.res.highIdx = idx
	}
}
