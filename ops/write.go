package ops

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// outcome is what became of one node.
type outcome int

const (
	written outcome = iota
	expired
	failed
)

// result is the outcome of writing one node, with the target's
// X-Etcd-Index after it.
type result struct {
	node  Node
	out   outcome
	err   error
	index uint64
}

// write creates nodes on the target, one depth at a time so that every
// directory exists (with its TTL) before its children are written, with
// cfg.Concurrency writes in flight. A node under a directory that was
// not written is not attempted: it fails (or counts as expired) with its
// directory. It returns the highest X-Etcd-Index the target answered.
func (cp *copier) write(ctx context.Context, nodes []Node) uint64 {
	cp.total.Store(int64(len(nodes)))
	stop := cp.ticker("wrote", func() (int, int) { return int(cp.written.Load()), int(cp.total.Load()) })
	defer stop()

	levels := map[int][]Node{}
	var depths []int
	for _, n := range nodes {
		d := n.Depth()
		if _, ok := levels[d]; !ok {
			depths = append(depths, d)
		}
		levels[d] = append(levels[d], n)
	}
	sort.Ints(depths)
	notWritten := map[string]outcome{} // directories not created, by key
	var high uint64
	for _, d := range depths {
		var todo []Node
		for _, n := range levels[d] {
			if o, ok := ancestorOutcome(notWritten, n.Key); ok {
				cp.record(result{node: n, out: o, err: fmt.Errorf("its directory was not copied")}, notWritten)
				cp.written.Add(1)
				continue
			}
			todo = append(todo, n)
		}
		for _, r := range cp.writeLevel(ctx, todo) {
			cp.record(r, notWritten)
			if r.index > high {
				high = r.index
			}
		}
	}
	fmt.Fprintf(cp.cfg.Progress, "copy: wrote %d/%d nodes to %s\n", cp.rep.Dirs+cp.rep.Keys, len(nodes), cp.cfg.To.URL)
	return high
}

// writeLevel writes nodes concurrently and returns their results in
// input order.
func (cp *copier) writeLevel(ctx context.Context, nodes []Node) []result {
	out := make([]result, len(nodes))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < cp.cfg.Concurrency && w < len(nodes); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = cp.writeNode(ctx, nodes[i])
				cp.written.Add(1)
			}
		}()
	}
	for i := range nodes {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// record adds r to the report and remembers directories not written.
func (cp *copier) record(r result, notWritten map[string]outcome) {
	switch r.out {
	case written:
		if r.node.Dir {
			cp.rep.Dirs++
		} else {
			cp.rep.Keys++
		}
		return
	case expired:
		cp.rep.Expired++
	case failed:
		cp.rep.Failed = append(cp.rep.Failed, KeyError{Key: r.node.Key, Err: r.err})
		fmt.Fprintf(cp.cfg.Progress, "copy: %s: %v\n", r.node.Key, r.err)
	}
	if r.node.Dir {
		notWritten[r.node.Key] = r.out
	}
}

// ancestorOutcome reports whether a directory above key was not written,
// and why.
func ancestorOutcome(notWritten map[string]outcome, key string) (outcome, bool) {
	if len(notWritten) == 0 {
		return 0, false
	}
	for i := strings.LastIndexByte(key, '/'); i > 0; i = strings.LastIndexByte(key[:i], '/') {
		if o, ok := notWritten[key[:i]]; ok {
			return o, true
		}
	}
	return 0, false
}

// writeNode writes one node. Keys are created only where nothing exists
// (prevExist=false) unless Overwrite is set, when they are set: etcd
// refuses to set a value over a directory (102), so a directory is never
// replaced. A directory that already exists is reused (see mergeDir).
func (cp *copier) writeNode(ctx context.Context, n Node) result {
	form := url.Values{}
	if n.Dir {
		form.Set("dir", "true")
	} else {
		form.Set("value", n.Value)
	}
	if !n.Deadline.IsZero() {
		// The deadline is an upper bound of the source's expiry; rounding
		// the rest up again means the copy never expires before the
		// original (it may outlive it by about two seconds).
		ttl := ceilSeconds(n.Deadline.Sub(cp.cfg.Now()))
		if ttl <= 0 {
			return result{node: n, out: expired}
		}
		form.Set("ttl", strconv.FormatInt(ttl, 10))
	}
	if n.Dir || !cp.cfg.Overwrite {
		form.Set("prevExist", "false")
	}
	r, err := cp.to.put(ctx, n.Key, form)
	if n.Dir && etcdCode(err) == store.EcodeNodeExist {
		return cp.mergeDir(ctx, n, form)
	}
	if err != nil {
		return result{node: n, out: failed, err: describe(err, n)}
	}
	return result{node: n, out: written, index: r.index}
}

// mergeDir handles a directory that exists at the target. A directory
// whose TTL matches (both permanent, or deadlines within tolerance) is
// reused as it is; with Overwrite, a different TTL is replaced by the
// source's; otherwise, and when the target has a key there, it is a
// conflict.
func (cp *copier) mergeDir(ctx context.Context, n Node, form url.Values) result {
	r, err := cp.to.get(ctx, n.Key)
	if err != nil {
		return result{node: n, out: failed, err: fmt.Errorf("exists at the target but cannot be read: %w", err)}
	}
	t := r.event.Node
	if !t.Dir {
		return result{node: n, out: failed, err: fmt.Errorf("the target has a key where the source has a directory")}
	}
	if ttlMatches(n.Deadline, targetDeadline(t, cp.cfg.Now())) {
		return result{node: n, out: written, index: r.index}
	}
	if !cp.cfg.Overwrite {
		return result{node: n, out: failed, err: fmt.Errorf("the directory exists at the target with a different TTL (pass --overwrite to replace it)")}
	}
	form.Set("prevExist", "true")
	r, err = cp.to.put(ctx, n.Key, form)
	if err != nil {
		return result{node: n, out: failed, err: describe(err, n)}
	}
	return result{node: n, out: written, index: r.index}
}

// describe turns the target's refusals into operator language.
func describe(err error, n Node) error {
	switch etcdCode(err) {
	case store.EcodeNodeExist:
		return fmt.Errorf("already exists at the target (pass --overwrite to replace it): %w", err)
	case store.EcodeNotFile:
		return fmt.Errorf("the target has a directory where the source has a key: %w", err)
	case store.EcodeNotDir:
		return fmt.Errorf("the target has a key where the source has a directory above %s: %w", n.Key, err)
	}
	return err
}

// targetDeadline is the deadline of a node read at now (zero: permanent).
func targetDeadline(n *store.NodeExtern, now time.Time) time.Time {
	if n.Expiration == nil {
		return time.Time{}
	}
	return now.Add(time.Duration(n.TTL) * time.Second)
}
