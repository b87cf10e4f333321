package ops

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"sync"
	"time"
)

// A copied TTL is compared by deadline (read time plus the TTL shown).
// The copy never expires earlier than its original: ttlEarly only absorbs
// the second that etcd's rounding of the shown TTL hides. It may outlive
// it by the rounding on read and on write plus the write's latency:
// ttlLate.
const (
	ttlEarly = time.Second
	ttlLate  = 5 * time.Second
)

// ttlMatches reports whether a target deadline stands for the source's:
// both permanent, or both with a TTL and dst within [src-ttlEarly,
// src+ttlLate].
func ttlMatches(src, dst time.Time) bool {
	if src.IsZero() || dst.IsZero() {
		return src.IsZero() && dst.IsZero()
	}
	d := dst.Sub(src)
	return d >= -ttlEarly && d <= ttlLate
}

// verify reads the target back under the same prefixes and records how
// it differs from the source's nodes. Nodes that failed or expired
// during the copy are not compared again.
func (cp *copier) verify(ctx context.Context, src []Node) error {
	w := &walker{c: cp.to, now: cp.cfg.Now, workers: cp.cfg.Concurrency}
	res, err := w.walk(ctx, cp.prefixes)
	if err != nil {
		return fmt.Errorf("verify: target %s: %w", cp.cfg.To.URL, err)
	}
	skip := map[string]bool{}
	for _, f := range cp.rep.Failed {
		skip[f.Key] = true
	}
	cp.rep.Differences = diffTrees(src, res.nodes, cp.cfg.Now(), skip, !cp.cfg.Overwrite)
	for _, d := range cp.rep.Differences {
		fmt.Fprintf(cp.cfg.Progress, "copy: verify: %s\n", d)
	}
	fmt.Fprintf(cp.cfg.Progress, "copy: verify: %d nodes read back, %d differences\n", len(res.nodes), len(cp.rep.Differences))
	return nil
}

// diffTrees lists how dst differs from src, judged at now: a node is
// missing, has another type, another value or another TTL (ttlMatches).
// A source node that has expired by now, or sits under a directory that
// has, may be missing. Keys in skip (and their subtrees) are not
// compared. With extras, nodes only in dst are differences too. Values
// are never printed.
func diffTrees(src, dst []Node, now time.Time, skip map[string]bool, extras bool) []string {
	byKey := make(map[string]Node, len(dst))
	for _, n := range dst {
		byKey[n.Key] = n
	}
	seen := make(map[string]bool, len(src))
	// until holds each directory's effective deadline: the earliest of
	// its own and its ancestors' (src is sorted, parents first).
	until := map[string]time.Time{}
	var out []string
	for _, s := range src {
		seen[s.Key] = true
		dl := s.Deadline
		if p, ok := until[path.Dir(s.Key)]; ok && !p.IsZero() && (dl.IsZero() || p.Before(dl)) {
			dl = p
		}
		if s.Dir {
			until[s.Key] = dl
		}
		if skip[s.Key] || underSkipped(skip, s.Key) {
			continue
		}
		d, ok := byKey[s.Key]
		switch {
		case !ok && !dl.IsZero() && !dl.After(now.Add(ttlEarly)):
			// expired at the source as well
		case !ok:
			out = append(out, "missing at the target: "+s.Key)
		case s.Dir != d.Dir:
			out = append(out, fmt.Sprintf("%s: a %s at the source, a %s at the target", s.Key, kind(s.Dir), kind(d.Dir)))
		case s.Value != d.Value:
			out = append(out, fmt.Sprintf("%s: the value differs (%d bytes at the source, %d at the target)", s.Key, len(s.Value), len(d.Value)))
		case !ttlMatches(s.Deadline, d.Deadline):
			out = append(out, fmt.Sprintf("%s: TTL differs (%s left at the source, %s at the target)", s.Key, left(s.Deadline, now), left(d.Deadline, now)))
		}
	}
	if extras {
		for _, d := range dst {
			if !seen[d.Key] {
				out = append(out, "only at the target: "+d.Key)
			}
		}
	}
	return out
}

// underSkipped reports whether an ancestor of key is in skip.
func underSkipped(skip map[string]bool, key string) bool {
	for p := path.Dir(key); p != "/" && p != "."; p = path.Dir(p) {
		if skip[p] {
			return true
		}
	}
	return false
}

func kind(dir bool) string {
	if dir {
		return "directory"
	}
	return "key"
}

// left renders a deadline as remaining seconds.
func left(deadline, now time.Time) string {
	if deadline.IsZero() {
		return "no TTL"
	}
	return fmt.Sprintf("%ds", ceilSeconds(deadline.Sub(now)))
}

// inOrderWarnings flags directories of in-order keys (names of 20
// decimal digits, as POST makes them) whose largest name is not below the
// target's index: the target's next POST into such a directory gets a
// smaller name and sorts before the copied keys.
func inOrderWarnings(nodes []Node, targetIndex uint64) []string {
	if targetIndex == 0 {
		return nil
	}
	top := map[string]uint64{}
	var dirs []string
	for _, n := range nodes {
		name := path.Base(n.Key)
		if len(name) != 20 {
			continue
		}
		v, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		dir := path.Dir(n.Key)
		if _, ok := top[dir]; !ok {
			dirs = append(dirs, dir)
		}
		if v > top[dir] {
			top[dir] = v
		}
	}
	var out []string
	for _, d := range dirs {
		if top[d] >= targetIndex {
			out = append(out, fmt.Sprintf("in-order keys under %s keep their names (up to %d) but the target's index is %d: "+
				"a POST into %s sorts before them until the target's index passes %d", d, top[d], targetIndex, d, top[d]))
		}
	}
	return out
}

// ticker prints "copy: <verb> done[/total] nodes" every ProgressEvery
// until the returned stop is called; stop waits for the goroutine.
func (cp *copier) ticker(verb string, counts func() (done, total int)) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(cp.cfg.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				n, total := counts()
				if total > 0 {
					fmt.Fprintf(cp.cfg.Progress, "copy: %s %d/%d nodes\n", verb, n, total)
				} else {
					fmt.Fprintf(cp.cfg.Progress, "copy: %s %d nodes\n", verb, n)
				}
			}
		}
	}()
	return func() { close(quit); wg.Wait() }
}
