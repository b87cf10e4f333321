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
	cancel context.CancelFunc
	stopc  chan struct{}
	wg     sync.WaitGroup

	mu         sync.Mutex // guards the fields below
	records    []record
	observed   []observation // every (key, value, index) an answer showed
	unexpected []string
	ryw        []string // read-your-writes violations
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
	return &workload{cfg: cfg, api: api, start: start, stopc: make(chan struct{})}
}

func (w *workload) now() int64 { return int64(time.Since(w.start)) }

// run starts the clients.
func (w *workload) run() {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	for c := 0; c < w.cfg.Clients; c++ {
		w.wg.Add(1)
		go func(c int) {
			defer w.wg.Done()
			cl := &client{w: w, id: c, rng: rand.New(rand.NewPCG(w.cfg.Seed, uint64(c))), known: map[string]observation{}}
			cl.loop(ctx)
		}(c)
	}
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

// client is one client: one operation at a time, each to a member picked
// at random (clients spread over the members as real ones do, and a
// failed member is left at the next operation).
type client struct {
	w     *workload
	id    int
	seq   int
	rng   *rand.Rand
	known map[string]observation // the last node this client saw per key
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
		m := cl.rng.IntN(len(cl.w.cfg.URLs))
		key := contendedKey(cl.rng.IntN(cl.w.cfg.Keys))
		cl.seq++
		val := fmt.Sprintf("c%d-%d", cl.id, cl.seq)
		in := input{Key: key, Value: val}
		last, haveLast := cl.known[key]
		switch p := cl.rng.Float64(); {
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
		cl.readYourWrite(ctx, m, in.Key, rec.Out.Index)
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

// readYourWrite checks issue 11's guarantee: a plain GET on the member
// that acknowledged a write, sent after the answer, sees that write or a
// later one (a node at least as new, or "not found" at a later index).
func (cl *client) readYourWrite(ctx context.Context, m int, key string, index uint64) {
	w := cl.w
	ans, v, err := w.api.do(ctx, "GET", w.cfg.URLs[m], key, nil, nil)
	if v != answered {
		_ = err // the member could not answer: nothing to check
		return
	}
	var seen uint64
	switch {
	case ans.ErrorCode == 100:
		seen = ans.Index
	case ans.ErrorCode == 0 && ans.Node != nil:
		seen = ans.Node.ModifiedIndex
		w.observe(ans.Node, fmt.Sprintf("plain get on m%d", m))
	default:
		return
	}
	if seen < index {
		what := "not found"
		if ans.ErrorCode == 0 {
			what = fmt.Sprintf("%q", value(ans.Node))
		}
		w.mu.Lock()
		w.ryw = append(w.ryw, fmt.Sprintf("client %d wrote %s at index %d through m%d; a plain GET there then answered %s at index %d",
			cl.id, key, index, m, what, seen))
		w.mu.Unlock()
	}
}
