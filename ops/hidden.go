package ops

import (
	"context"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// historySize is how many events etcd 2.x/3.4 (and etcd-classic) keep for
// watches with a waitIndex.
const historySize = 1000

// historyWait bounds one history request: a waitIndex past the last
// event a recursive watch on / can match would block until the next
// write, so a request that does not answer at once ends its scan.
const historyWait = 3 * time.Second

// hiddenNotCovered finds hidden nodes the copy will miss. Listings never
// show hidden nodes, but history scans do (etcd 2.x and 3.4 do not filter
// hidden keys there, and neither does etcd-classic): a recursive watch on
// / with waitIndex i returns the first event at or after i. Reading the
// events of the last historySize indexes up to high names every hidden
// node written recently. The result is, for each such node that still
// exists and is under a prefix but not reachable by listing from it, the
// shortest path to pass as --prefix. Nodes written longer ago cannot be
// found this way; the scan is best effort and its failures are ignored.
func (cp *copier) hiddenNotCovered(ctx context.Context, high uint64) []string {
	if high == 0 {
		return nil
	}
	keys := scanHistory(ctx, cp.from, high, cp.cfg.Concurrency)
	want := map[string]bool{}
	for _, k := range keys {
		if s := uncovered(k, cp.prefixes); s != "" {
			want[s] = true
		}
	}
	var out []string
	for s := range want {
		if _, err := cp.from.get(ctx, s); err == nil {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// scanHistory returns the keys of the events with indexes in
// (high-historySize, high], read by workers requests in parallel, each
// over its own slice of the range.
func scanHistory(ctx context.Context, c *client, high uint64, workers int) []string {
	low := uint64(1)
	if high > historySize {
		low = high - historySize + 1
	}
	span := (high - low + uint64(workers)) / uint64(workers)
	var mu sync.Mutex
	var keys []string
	var wg sync.WaitGroup
	for start := low; start <= high; start += span {
		end := min(start+span-1, high)
		wg.Add(1)
		go func(start, end uint64) {
			defer wg.Done()
			found := scanRange(ctx, c, start, end)
			mu.Lock()
			keys = append(keys, found...)
			mu.Unlock()
		}(start, end)
	}
	wg.Wait()
	return keys
}

// scanRange reads the events from index start to end, stopping at the
// first request that fails or does not answer within historyWait.
func scanRange(ctx context.Context, c *client, start, end uint64) []string {
	var keys []string
	for i := start; i <= end; {
		rctx, cancel := context.WithTimeout(ctx, historyWait)
		q := url.Values{"wait": {"true"}, "recursive": {"true"}, "waitIndex": {strconv.FormatUint(i, 10)}}
		r, err := c.do(rctx, http.MethodGet, "/", q, nil)
		cancel()
		if etcdCode(err) == store.EcodeEventIndexCleared {
			// The cause is "... [oldest/asked]": jump to the oldest kept.
			if oldest := clearedOldest(err); oldest > i {
				i = oldest
				continue
			}
			i++
			continue
		}
		if err != nil {
			return keys
		}
		n := r.event.Node
		if n.ModifiedIndex > end {
			return keys
		}
		if hasHiddenSegment(n.Key) {
			keys = append(keys, n.Key)
		}
		i = max(n.ModifiedIndex, i) + 1
	}
	return keys
}

// clearedOldest parses the oldest kept index out of a 401 error's cause.
func clearedOldest(err error) uint64 {
	e, ok := err.(*store.Error)
	if !ok {
		return 0
	}
	open := strings.LastIndexByte(e.Cause, '[')
	slash := strings.LastIndexByte(e.Cause, '/')
	if open < 0 || slash < open {
		return 0
	}
	v, _ := strconv.ParseUint(e.Cause[open+1:slash], 10, 64)
	return v
}

// hasHiddenSegment reports whether any segment of key starts with '_'.
func hasHiddenSegment(key string) bool {
	return strings.Contains(key, "/_")
}

// uncovered returns the path to name as a prefix so that a copy reaches
// key, or "" when key is already reached from one of prefixes (a prefix
// above it with no hidden segment between) or lies under none of them,
// or under the reserved tree. The path is key cut after its first hidden
// segment below the deepest prefix above it.
func uncovered(key string, prefixes []string) string {
	if key == reserved || strings.HasPrefix(key, reserved+"/") {
		return ""
	}
	best := ""
	found := false
	for _, p := range prefixes {
		if p == "/" || key == p || strings.HasPrefix(key, p+"/") {
			if !found || len(p) > len(best) {
				best, found = p, true
			}
		}
	}
	if !found {
		return ""
	}
	rest := strings.TrimPrefix(key, strings.TrimSuffix(best, "/"))
	i := strings.Index(rest, "/_")
	if i < 0 {
		return ""
	}
	end := len(rest)
	if j := strings.IndexByte(rest[i+1:], '/'); j >= 0 {
		end = i + 1 + j
	}
	return path.Join(strings.TrimSuffix(best, "/"), rest[:end])
}
