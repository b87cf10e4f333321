package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// ErrTargetNotEmpty is returned by Copy, before anything is written, when
// the target already holds keys under a prefix and Config.Overwrite is
// not set.
var ErrTargetNotEmpty = errors.New("the target already holds keys under the prefix")

// Config describes one copy. Zero values: Prefixes means {"/"} (the
// whole tree), Concurrency 16, ProgressEvery one second, Now time.Now,
// Out and Progress discard.
type Config struct {
	// From and To are the source and target members.
	From, To Endpoint
	// Prefixes are the subtrees to copy, each a key or a directory. A
	// hidden node (a segment starting with '_') is copied only when a
	// prefix names it or an ancestor of it below its last hidden segment:
	// listings never show hidden nodes.
	Prefixes []string
	// DryRun reads both sides and prints the plan to Out, writing nothing.
	DryRun bool
	// Overwrite lets the copy merge into a target that already has keys
	// under a prefix, replacing keys that exist on both sides. A key and a
	// directory of the same name are a conflict even then.
	Overwrite bool
	// Verify reads the target back after the copy and reports every key
	// that differs from the source (see DESIGN.md for "identical").
	Verify bool
	// Concurrency bounds the requests in flight on each side.
	Concurrency int
	// Out receives the dry-run plan and the summary; Progress receives
	// progress lines, warnings and per-key errors.
	Out, Progress io.Writer
	// ProgressEvery is the interval between progress lines.
	ProgressEvery time.Duration
	// Now is the clock TTL deadlines are computed with.
	Now func() time.Time
}

// KeyError is the failure of one key or directory.
type KeyError struct {
	Key string
	Err error
}

// Report is what a copy did. In a dry run, Dirs and Keys are what it
// would create.
type Report struct {
	// Read is the number of nodes read from the source.
	Read int
	// Dirs and Keys are the directories and keys written.
	Dirs, Keys int
	// Expired counts nodes whose TTL ran out during the copy (on either
	// side of it): the source deletes them too, so they are not failures.
	Expired int
	// Failed lists the nodes that were not written, with the reason.
	Failed []KeyError
	// Warnings are facts an operator should read: hidden keys seen in the
	// source's history but not under any prefix, a source that changed
	// while being read, in-order directories whose names run ahead of the
	// target's index.
	Warnings []string
	// Differences are what Verify found (empty when it was not asked).
	Differences []string
}

// Copy copies the trees under cfg.Prefixes from cfg.From to cfg.To. It
// returns an error, having written nothing, when either side cannot be
// read, a prefix is malformed or reserved, or the target is not empty
// (ErrTargetNotEmpty) without Overwrite. Failures of single nodes during
// the write do not stop the copy: they are in Report.Failed.
func Copy(ctx context.Context, cfg Config) (*Report, error) {
	cp, err := newCopier(cfg)
	if err != nil {
		return nil, err
	}
	return cp.run(ctx)
}

// copier holds one copy's clients and settings.
type copier struct {
	cfg      Config
	from, to *client
	prefixes []string
	rep      Report // written by the goroutine running the copy only

	// Progress counters, read by the progress ticker.
	readCount, written, total atomic.Int64
}

func newCopier(cfg Config) (*copier, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	// The progress ticker and the copy print concurrently.
	cfg.Progress = &lockedWriter{w: cfg.Progress}
	prefixes, err := cleanPrefixes(cfg.Prefixes)
	if err != nil {
		return nil, err
	}
	from, err := newClient(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	to, err := newClient(cfg.To)
	if err != nil {
		return nil, fmt.Errorf("--to: %w", err)
	}
	return &copier{cfg: cfg, from: from, to: to, prefixes: prefixes}, nil
}

// reserved is the tree where etcd-classic (like etcd 0.4) keeps its
// member registry and cluster configuration: copying it would graft one
// cluster's members onto another.
var reserved = path.Dir(machines.ConfigKey) // "/_etcd"

// cleanPrefixes normalises the prefixes and refuses the reserved tree.
func cleanPrefixes(in []string) ([]string, error) {
	if len(in) == 0 {
		in = []string{"/"}
	}
	var out []string
	for _, p := range in {
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("--prefix %q: must start with /", p)
		}
		c := path.Clean(p)
		if c == reserved || strings.HasPrefix(c, reserved+"/") {
			return nil, fmt.Errorf("--prefix %q: %s holds the cluster's own membership and is never copied", p, reserved)
		}
		out = append(out, c)
	}
	return out, nil
}

// run is the whole copy: check the target, read, plan or write, verify.
func (cp *copier) run(ctx context.Context) (*Report, error) {
	// The target is checked first: a refusal should not wait for a large
	// source to be read.
	if err := cp.checkTarget(ctx); err != nil {
		return nil, err
	}
	res, err := cp.read(ctx)
	if err != nil {
		return nil, err
	}
	cp.rep.Read = len(res.nodes)
	cp.rep.Expired = res.expired
	if res.lowIdx != res.highIdx {
		cp.warn("the source changed while it was read (X-Etcd-Index %d to %d): the copy may mix states; stop writers to the source for an exact copy", res.lowIdx, res.highIdx)
	}
	for _, v := range res.vanished {
		cp.warn("directory %s was deleted at the source while the tree was read; not copied", v)
	}
	for _, h := range cp.hiddenNotCovered(ctx, res.highIdx) {
		cp.warn("hidden node %s exists at the source (found in its recent history) but listings do not show it; add --prefix %s to copy it", h, h)
	}
	if cp.cfg.DryRun {
		cp.plan(res.nodes)
		return &cp.rep, nil
	}
	high := cp.write(ctx, res.nodes)
	for _, w := range inOrderWarnings(res.nodes, high) {
		cp.warn("%s", w)
	}
	if cp.cfg.Verify {
		if err := cp.verify(ctx, res.nodes); err != nil {
			return &cp.rep, err
		}
	}
	return &cp.rep, nil
}

// read walks the source, printing progress.
func (cp *copier) read(ctx context.Context) (walkResult, error) {
	stop := cp.ticker("read", func() (int, int) { return int(cp.readCount.Load()), 0 })
	w := &walker{c: cp.from, now: cp.cfg.Now, workers: cp.cfg.Concurrency,
		progress: func(n int) { cp.readCount.Store(int64(n)) }}
	res, err := w.walk(ctx, cp.prefixes)
	stop()
	if err != nil {
		return walkResult{}, fmt.Errorf("source %s: %w", cp.cfg.From.URL, err)
	}
	fmt.Fprintf(cp.cfg.Progress, "copy: read %d nodes from %s\n", len(res.nodes), cp.cfg.From.URL)
	return res, nil
}

// checkTarget refuses, unless Overwrite is set, a target that already
// shows keys under a prefix. An empty directory is accepted. Hidden keys
// at the target cannot be seen; the create-only writes catch them.
func (cp *copier) checkTarget(ctx context.Context) error {
	for _, p := range cp.prefixes {
		r, err := cp.to.get(ctx, p)
		if etcdCode(err) == store.EcodeKeyNotFound {
			continue
		}
		if err != nil {
			return fmt.Errorf("target %s: reading %s: %w", cp.cfg.To.URL, p, err)
		}
		n := r.event.Node
		if cp.cfg.Overwrite || (n.Dir && len(n.Nodes) == 0) {
			continue
		}
		example := p
		if n.Dir {
			example = n.Nodes[0].Key
		}
		return fmt.Errorf("target %s: %w %s (for example %s); pass --overwrite to merge into it", cp.cfg.To.URL, ErrTargetNotEmpty, p, example)
	}
	return nil
}

// plan prints what a copy would write, without values.
func (cp *copier) plan(nodes []Node) {
	now := cp.cfg.Now()
	for _, n := range nodes {
		ttl := ""
		if !n.Deadline.IsZero() {
			ttl = fmt.Sprintf(" ttl=%d", ceilSeconds(n.Deadline.Sub(now)))
		}
		if n.Dir {
			cp.rep.Dirs++
			fmt.Fprintf(cp.cfg.Out, "mkdir %s%s\n", n.Key, ttl)
		} else {
			cp.rep.Keys++
			fmt.Fprintf(cp.cfg.Out, "set %s (%d bytes)%s\n", n.Key, len(n.Value), ttl)
		}
	}
	fmt.Fprintf(cp.cfg.Out, "dry run: would create %d directories and %d keys on %s; nothing was written\n",
		cp.rep.Dirs, cp.rep.Keys, cp.cfg.To.URL)
}

// warn records a warning and prints it.
func (cp *copier) warn(format string, args ...any) {
	w := fmt.Sprintf(format, args...)
	cp.rep.Warnings = append(cp.rep.Warnings, w)
	fmt.Fprintf(cp.cfg.Progress, "copy: warning: %s\n", w)
}

// ceilSeconds rounds d up to whole seconds, as etcd shows TTLs.
func ceilSeconds(d time.Duration) int64 {
	s := int64(d / time.Second)
	if d%time.Second > 0 {
		s++
	}
	return s
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
