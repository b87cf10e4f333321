package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Keys of the workload: contended keys that every client reads and
// writes with every kind of operation, and unique keys, each written once
// by a plain set, whose presence on every member at the end shows that no
// acknowledged write was lost and whose createdIndex = modifiedIndex shows
// that none was applied twice.
const (
	keyDir    = "/chaos"
	uniqueDir = keyDir + "/u"
)

func contendedKey(i int) string { return fmt.Sprintf("%s/k%d", keyDir, i) }

// record is one operation of the history.
type record struct {
	Client int
	Member int // the member it was sent to
	In     input
	Out    output
	Call   int64 // ns since the run started
	Return int64 // math.MaxInt64 when the outcome is unknown
	Final  bool  // one of the final reads after the faults
}

// workloadConfig shapes the clients.
type workloadConfig struct {
	URLs    []string // one client URL per member
	Clients int
	Keys    int // contended keys
	// StaleReads sends the gets without quorum=true (local reads, which
	// are not linearizable on followers): the harness's self-test.
	StaleReads bool
	// RYWShare is the share of acknowledged writes followed by a plain GET
	// on the member that answered (read-your-writes).
	RYWShare float64
	Seed     uint64
}

// workload runs the clients and keeps the history.
type workload struct {
	cfg    workloadConfig
	api    *apiClient
	start  time.Time
	ctx    context.Context // the clients' requests; cancelled by stop
	cancel context.CancelFunc
	stopc  chan struct{}
	wg     sync.WaitGroup

	mu         sync.Mutex // guards the fields below
	records    []record
	observed   []observation // every (key, value, index) an answer showed
	unexpected []string
	ryw        []string // read-your-writes and monotonic-read violations
	floor      []uint64 // per member: the highest index it has shown applied
	refusedN   int      // requests that certainly did nothing
	readFailed int      // gets without an answer
}

// observation is a node some answer showed.
type observation struct {
	Key, Value    string
	Index, Create uint64
	From          string
}

func newWorkload(cfg workloadConfig, api *apiClient, start time.Time) *workload {
	return &workload{cfg: cfg, api: api, start: start, stopc: make(chan struct{}), floor: make([]uint64, len(cfg.URLs))}
}

func (w *workload) now() int64 { return int64(time.Since(w.start)) }

// run starts the clients.
func (w *workload) run() {
	ctx, cancel := context.WithCancel(context.Background())
	w.ctx, w.cancel = ctx, cancel
	for c := 0; c < w.cfg.Clients; c++ {
		w.wg.Add(1)
		go func(c int) {
			defer w.wg.Done()
			cl := &client{w: w, id: c, member: c % len(w.cfg.URLs), rng: rand.New(rand.NewPCG(w.cfg.Seed, uint64(c))), known: map[string]observation{}}
			cl.loop(ctx)
		}(c)
	}
}

// probe sends a read of every contended key to member m at once, each
// from a client of its own (ids after the workload's clients); stop waits
// for them as for the clients. The channel it returns is closed when
// every probe has its answer (or gave up).
func (w *workload) probe(m int) <-chan struct{} {
	var each sync.WaitGroup
	for k := 0; k < w.cfg.Keys; k++ {
		w.wg.Add(1)
		each.Add(1)
		go func(k int) {
			defer w.wg.Done()
			defer each.Done()
			id := w.cfg.Clients + k
			cl := &client{w: w, id: id, member: m, rng: rand.New(rand.NewPCG(w.cfg.Seed, uint64(id))), known: map[string]observation{}}
			cl.one(w.ctx, m, input{Kind: opGet, Key: contendedKey(k)})
		}(k)
	}
	done := make(chan struct{})
	go func() { each.Wait(); close(done) }()
	return done
}

// stop asks the clients to finish; requests still running after grace
// are cancelled (their outcome is unknown).
func (w *workload) stop(grace time.Duration) {
	close(w.stopc)
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		w.cancel()
		<-done
	}
	w.cancel()
}

func (w *workload) add(r record) {
	w.mu.Lock()
	w.records = append(w.records, r)
	w.mu.Unlock()
}

func (w *workload) observe(n *v2Node, from string) {
	if n == nil || n.Dir || n.Value == nil {
		return
	}
	w.mu.Lock()
	w.observed = append(w.observed, observation{Key: n.Key, Value: *n.Value, Index: n.ModifiedIndex, Create: n.CreatedIndex, From: from})
	w.mu.Unlock()
}

// client is one client: one operation at a time, to one member until a
// request there fails (no answer, or an answer that says nothing), then to
// the next — as etcd's clients use their list of endpoints. Clients start
// spread evenly over the members.
type client struct {
	w      *workload
	id     int
	member int // the member it sends to
	seq    int
	rng    *rand.Rand
	known  map[string]observation // the last node this client saw per key
}

func (cl *client) stopped() bool {
	select {
	case <-cl.w.stopc:
		return true
	default:
		return false
	}
}

func (cl *client) loop(ctx context.Context) {
	for !cl.stopped() {
		m := cl.member
		key := contendedKey(cl.rng.IntN(cl.w.cfg.Keys))
		cl.seq++
		val := fmt.Sprintf("c%d-%d", cl.id, cl.seq)
		in := input{Key: key, Value: val}
		last, haveLast := cl.known[key]
		switch p := cl.rng.Float64(); {
		case p < 0.05:
			cl.plainRead(ctx, m, key, 0)
			continue
		case p < 0.35:
			in = input{Kind: opGet, Key: key}
		case p < 0.55:
			in.Kind = opSet
		case p < 0.68 && haveLast:
			in.Kind, in.PrevValue = opCAS, last.Value
		case p < 0.76 && haveLast:
			in.Kind, in.PrevIndex = opCASIndex, last.Index
		case p < 0.84:
			in.Kind = opCreate
		case p < 0.90:
			in = input{Kind: opDelete, Key: key}
		default:
			in = input{Kind: opSet, Key: fmt.Sprintf("%s/c%d-%d", uniqueDir, cl.id, cl.seq), Value: val}
		}
		if !cl.one(ctx, m, in) {
			cl.member = (m + 1) % len(cl.w.cfg.URLs)
			// A short back-off after a failure, as a real client would
			// (and so that a dead member costs a few requests, not
			// thousands of indeterminate ones).
			select {
			case <-time.After(50 * time.Millisecond):
			case <-cl.w.stopc:
			}
		}
	}
}

// one runs an operation on member m and records it; it reports whether
// the member answered.
func (cl *client) one(ctx context.Context, m int, in input) bool {
	w := cl.w
	base := w.cfg.URLs[m]
	method, query, form := requestFor(in, w.cfg.StaleReads)
	call := w.now()
	ans, v, err := w.api.do(ctx, method, base, in.Key, query, form)
	ret := w.now()
	rec := record{Client: cl.id, Member: m, In: in, Call: call, Return: ret}
	switch v {
	case notApplied:
		w.mu.Lock()
		w.refusedN++
		w.mu.Unlock()
		return false
	case unexpected:
		w.mu.Lock()
		w.unexpected = append(w.unexpected, fmt.Sprintf("%s on m%d: %s", describe(in, output{Unknown: true}), m, answerErr(ans, err)))
		w.mu.Unlock()
		return false
	case unknown:
		if in.Kind == opGet {
			w.mu.Lock()
			w.readFailed++
			w.mu.Unlock()
			return false
		}
		rec.Out, rec.Return = output{Unknown: true}, math.MaxInt64
		w.add(rec)
		return false
	}
	rec.Out = outputOf(in, ans)
	w.add(rec)
	w.observe(ans.Node, fmt.Sprintf("%s on m%d", in.Kind, m))
	w.observe(ans.PrevNode, fmt.Sprintf("%s on m%d (prevNode)", in.Kind, m))
	switch {
	case in.Kind == opGet && !w.cfg.StaleReads:
		// A quorum read answers from m's store after the read-index
		// round: m has applied up to the index it names.
		w.raiseFloor(m, ans.EtcdIndex)
	case rec.Out.Code == 0:
		w.raiseFloor(m, rec.Out.Index)
	}
	if rec.Out.Code != 0 {
		return true
	}
	switch {
	case in.Kind == opGet:
		cl.known[in.Key] = observation{Value: rec.Out.Value, Index: rec.Out.Index}
	case in.Kind == opDelete:
		delete(cl.known, in.Key)
	case !strings.HasPrefix(in.Key, uniqueDir+"/"):
		cl.known[in.Key] = observation{Value: in.Value, Index: rec.Out.Index}
	}
	if in.Kind != opGet && cl.rng.Float64() < w.cfg.RYWShare {
		cl.plainRead(ctx, m, in.Key, rec.Out.Index)
	}
	return true
}

// requestFor is the HTTP request of an operation.
func requestFor(in input, stale bool) (method string, query, form url.Values) {
	switch in.Kind {
	case opGet:
		if stale {
			return "GET", nil, nil
		}
		return "GET", url.Values{"quorum": {"true"}}, nil
	case opDelete:
		return "DELETE", nil, nil
	}
	form = url.Values{"value": {in.Value}}
	switch in.Kind {
	case opCAS:
		form.Set("prevValue", in.PrevValue)
	case opCASIndex:
		form.Set("prevIndex", strconv.FormatUint(in.PrevIndex, 10))
	case opCreate:
		form.Set("prevExist", "false")
	}
	return "PUT", nil, form
}

// outputOf is what an answered request tells the model.
func outputOf(in input, ans *v2Answer) output {
	if ans.ErrorCode != 0 {
		return output{Code: ans.ErrorCode}
	}
	out := output{}
	if ans.Node != nil {
		out.Index = ans.Node.ModifiedIndex
	}
	if in.Kind == opGet {
		out.Exists = true
		if ans.Node != nil && ans.Node.Value != nil {
			out.Value = *ans.Node.Value
		}
		return out
	}
	if ans.PrevNode != nil {
		out.Exists = true
		if ans.PrevNode.Value != nil {
			out.Value = *ans.PrevNode.Value
		}
	}
	return out
}

func (w *workload) raiseFloor(m int, index uint64) {
	w.mu.Lock()
	w.floor[m] = max(w.floor[m], index)
	w.mu.Unlock()
}

// plainRead sends a plain GET (a local read) of key to member m and
// checks two guarantees. Monotonic reads on a member (issue 17: a member,
// restarted or not, never answers from a state older than one it has
// shown): its X-Etcd-Index is at least the highest index m had
// acknowledged (a write it answered, a quorum read it served) when the
// GET was sent. Read-your-writes (issue 11), when wrote is not 0: after a
// write m acknowledged at index wrote, the GET sees that write or a later
// one (a node at least as new, or "not found" at a later index).
func (cl *client) plainRead(ctx context.Context, m int, key string, wrote uint64) {
	w := cl.w
	w.mu.Lock()
	floor := w.floor[m]
	w.mu.Unlock()
	ans, v, _ := w.api.do(ctx, "GET", w.cfg.URLs[m], key, nil, nil)
	if v != answered {
		return // m could not answer: nothing to check
	}
	seen, what := ans.Index, "not found"
	switch {
	case ans.ErrorCode == 0 && ans.Node != nil:
		seen, what = ans.Node.ModifiedIndex, fmt.Sprintf("%q", value(ans.Node))
		w.observe(ans.Node, fmt.Sprintf("plain get on m%d", m))
	case ans.ErrorCode != 100:
		return
	}
	var bad []string
	if ans.EtcdIndex < floor {
		bad = append(bad, fmt.Sprintf("m%d answered a plain GET of %s at X-Etcd-Index %d, after it had acknowledged index %d", m, key, ans.EtcdIndex, floor))
	}
	if seen < wrote {
		bad = append(bad, fmt.Sprintf("client %d wrote %s at index %d through m%d; a plain GET there then answered %s at index %d", cl.id, key, wrote, m, what, seen))
	}
	if len(bad) > 0 {
		w.mu.Lock()
		w.ryw = append(w.ryw, bad...)
		w.mu.Unlock()
	}
}
