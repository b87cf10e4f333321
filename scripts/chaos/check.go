package main

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// finalRead is one member's recursive quorum read of the whole key
// space after the faults were healed.
type finalRead struct {
	Member       int
	Call, Return int64
	Nodes        map[string]*v2Node // leaf nodes by key
}

// event is a moment of the scenario's timeline, for reports.
type event struct {
	At   int64
	What string
}

// result is what one scenario run found.
type result struct {
	Scenario string
	Members  int
	Duration time.Duration // of the workload

	Ops        int // operations answered (success or etcd's 100/101/105)
	Unknown    int // writes whose outcome the client could not learn
	Refused    int // requests that certainly changed nothing
	ReadFailed int // gets without an answer
	Acked      int // writes acknowledged
	LongestGap time.Duration

	Lost       []string // acknowledged writes missing from a member
	Dups       []string // writes applied more than once
	Divergent  []string // one index carrying two different writes
	RYW        []string // read-your-writes violations
	Unexpected []string // answers this workload never provokes

	Linearizable porcupine.CheckResult
	CheckTime    time.Duration
	Excerpt      string // the minimal failing history, when not linearizable
	Timeline     []event
	Logs         string // the end of the members' logs, when not OK

	dupKeys map[string]bool // keys with a write in Dups
}

// OK reports whether the run found nothing wrong.
func (r *result) OK() bool {
	return len(r.Lost) == 0 && len(r.Dups) == 0 && len(r.Divergent) == 0 && len(r.RYW) == 0 &&
		len(r.Unexpected) == 0 && r.Linearizable == porcupine.Ok
}

// check judges a run: its history (the clients' operations and the final
// reads), every node any answer showed, and the acknowledged unique
// writes. visualDir, when set, receives porcupine's HTML rendering of a
// key whose history is not linearizable.
func check(w *workload, finals []finalRead, timeline []event, checkTimeout time.Duration, visualDir string) *result {
	r := &result{dupKeys: map[string]bool{}, Timeline: timeline, RYW: w.ryw, Unexpected: w.unexpected, Refused: w.refusedN, ReadFailed: w.readFailed}
	history := append([]record(nil), w.records...)
	written := map[string]bool{}
	for _, rec := range history {
		switch {
		case rec.Out.Unknown:
			r.Unknown++
		default:
			r.Ops++
			if rec.In.Kind != opGet && rec.Out.Code == 0 {
				r.Acked++
			}
		}
		written[rec.In.Key] = true
	}
	r.LongestGap = longestGap(history)
	observed := append([]observation(nil), w.observed...)
	for _, f := range finals {
		for _, n := range f.Nodes {
			observed = append(observed, observation{Key: n.Key, Value: value(n), Index: n.ModifiedIndex, Create: n.CreatedIndex, From: fmt.Sprintf("final read on m%d", f.Member)})
			written[n.Key] = true
		}
	}
	indexValue := r.checkIndexes(observed)
	r.checkUnique(history, finals)
	history = append(history, finalRecords(finals, written)...)

	ops := make([]porcupine.Operation, len(history))
	for i, rec := range history {
		ops[i] = porcupine.Operation{ClientId: rec.Client, Input: rec.In, Call: rec.Call, Output: rec.Out, Return: rec.Return}
	}
	model := kvModel(indexValue)
	began := time.Now()
	r.Linearizable = porcupine.CheckOperationsTimeout(model, ops, checkTimeout)
	r.CheckTime = time.Since(began)
	if r.Linearizable == porcupine.Illegal {
		r.Excerpt = explain(model, history, timeline, checkTimeout, visualDir)
	}
	return r
}

func value(n *v2Node) string {
	if n.Value == nil {
		return ""
	}
	return *n.Value
}

// checkIndexes checks that every write was applied once and every member
// applied the same writes at the same indexes: each (key, value) — values
// are unique per write — must carry one modifiedIndex wherever it was
// seen, and each index one (key, value). Each write and each index is
// reported once. It returns index → value.
func (r *result) checkIndexes(observed []observation) map[uint64]string {
	byIndex := map[uint64]observation{}
	byWrite := map[[2]string]observation{}
	badIndex := map[uint64]bool{}
	badWrite := map[[2]string]bool{}
	for _, o := range observed {
		prev, ok := byIndex[o.Index]
		switch {
		case !ok:
			byIndex[o.Index] = o
		case (prev.Key != o.Key || prev.Value != o.Value) && !badIndex[o.Index]:
			badIndex[o.Index] = true
			r.Divergent = append(r.Divergent, fmt.Sprintf("index %d is %s=%q (%s) and %s=%q (%s)", o.Index, prev.Key, prev.Value, prev.From, o.Key, o.Value, o.From))
		}
		w := [2]string{o.Key, o.Value}
		prev, ok = byWrite[w]
		switch {
		case !ok:
			byWrite[w] = o
		case prev.Index != o.Index && !badWrite[w]:
			badWrite[w] = true
			r.dupKeys[o.Key] = true
			r.Dups = append(r.Dups, fmt.Sprintf("%s=%q was applied at index %d (%s) and at %d (%s)", o.Key, o.Value, prev.Index, prev.From, o.Index, o.From))
		}
	}
	iv := make(map[uint64]string, len(byIndex))
	for i, o := range byIndex {
		iv[i] = o.Value
	}
	return iv
}

// checkUnique checks the unique keys: every acknowledged one is on every
// member with its value and the index its answer gave; every one present
// was created once (a set applied twice would leave modifiedIndex above
// createdIndex). Each key is reported once, naming the members.
func (r *result) checkUnique(history []record, finals []finalRead) {
	for _, rec := range history {
		if !strings.HasPrefix(rec.In.Key, uniqueDir+"/") || rec.Out.Unknown || rec.Out.Code != 0 {
			continue
		}
		var wrong []string
		for _, f := range finals {
			switch n := f.Nodes[rec.In.Key]; {
			case n == nil:
				wrong = append(wrong, fmt.Sprintf("missing on m%d", f.Member))
			case value(n) != rec.In.Value || n.ModifiedIndex != rec.Out.Index:
				wrong = append(wrong, fmt.Sprintf("%q at %d on m%d", value(n), n.ModifiedIndex, f.Member))
			}
		}
		if len(wrong) > 0 {
			r.Lost = append(r.Lost, fmt.Sprintf("%s=%q (acknowledged at index %d by m%d): %s", rec.In.Key, rec.In.Value, rec.Out.Index, rec.Member, strings.Join(wrong, ", ")))
		}
	}
	twice := map[string][]string{}
	var keys []string
	for _, f := range finals {
		for k, n := range f.Nodes {
			if strings.HasPrefix(k, uniqueDir+"/") && n.CreatedIndex != n.ModifiedIndex && !r.dupKeys[k] {
				if twice[k] == nil {
					keys = append(keys, k)
				}
				twice[k] = append(twice[k], fmt.Sprintf("m%d: created at %d, modified at %d", f.Member, n.CreatedIndex, n.ModifiedIndex))
			}
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		r.Dups = append(r.Dups, fmt.Sprintf("%s, written once by its client: %s", k, strings.Join(twice[k], "; ")))
	}
}

// finalRecords turns the final reads into gets of every key the run
// wrote (present or not found), each spanning its read's interval.
func finalRecords(finals []finalRead, keys map[string]bool) []record {
	var out []record
	for _, f := range finals {
		for k := range keys {
			rec := record{Client: -1, Member: f.Member, In: input{Kind: opGet, Key: k}, Call: f.Call, Return: f.Return, Final: true}
			if n := f.Nodes[k]; n != nil {
				rec.Out = output{Exists: true, Value: value(n), Index: n.ModifiedIndex}
			} else {
				rec.Out = output{Code: 100}
			}
			out = append(out, rec)
		}
	}
	return out
}

// longestGap is the longest time without any answered operation, between
// the first answer and the last.
func longestGap(history []record) time.Duration {
	var rets []int64
	for _, rec := range history {
		if !rec.Out.Unknown {
			rets = append(rets, rec.Return)
		}
	}
	sort.Slice(rets, func(i, j int) bool { return rets[i] < rets[j] })
	var gap int64
	for i := 1; i < len(rets); i++ {
		gap = max(gap, rets[i]-rets[i-1])
	}
	return time.Duration(gap)
}

// explain finds a key whose history is not linearizable and the earliest
// moment its history already was not: the history as known at time T
// (operations called by T; those that had not returned by T count as
// unknown writes, or are left out if reads) is checked for a binary
// search over T. It renders the operations of that minimal history that
// were still running or ended last, around the violation.
func explain(model porcupine.Model, history []record, timeline []event, timeout time.Duration, visualDir string) string {
	byKey := map[string][]record{}
	for _, rec := range history {
		byKey[rec.In.Key] = append(byKey[rec.In.Key], rec)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		recs := byKey[k]
		if porcupine.CheckOperationsTimeout(model, asOps(recs, math.MaxInt64), timeout) != porcupine.Illegal {
			continue
		}
		var ends []int64
		for _, rec := range recs {
			if rec.Return != math.MaxInt64 {
				ends = append(ends, rec.Return)
			}
		}
		sort.Slice(ends, func(i, j int) bool { return ends[i] < ends[j] })
		if len(ends) == 0 {
			continue // only unknown writes: nothing to contradict
		}
		// The history as known at the last return is already illegal
		// (what is left out could only have explained more), so the
		// search always lands inside ends.
		i := sort.Search(len(ends), func(i int) bool {
			return porcupine.CheckOperationsTimeout(model, asOps(recs, ends[i]), timeout) == porcupine.Illegal
		})
		at := ends[min(i, len(ends)-1)]
		if visualDir != "" {
			_, info := porcupine.CheckOperationsVerbose(model, asOps(recs, at), timeout)
			_ = porcupine.VisualizePath(model, info, filepath.Join(visualDir, "violation.html"))
		}
		return renderExcerpt(k, recs, at, timeline)
	}
	return "the whole history is not linearizable, but no single key's is (a checker time-out?)"
}

// asOps is the history of recs as known at time at.
func asOps(recs []record, at int64) []porcupine.Operation {
	var ops []porcupine.Operation
	for _, rec := range recs {
		if rec.Call > at {
			continue
		}
		out, ret := rec.Out, rec.Return
		if ret > at {
			if rec.In.Kind == opGet {
				continue
			}
			out, ret = output{Unknown: true}, math.MaxInt64
		}
		ops = append(ops, porcupine.Operation{ClientId: max(rec.Client, 0), Input: rec.In, Call: rec.Call, Output: out, Return: ret})
	}
	return ops
}

// renderExcerpt shows the last operations on key up to time at (the
// moment the violation became certain), with the scenario's timeline.
func renderExcerpt(key string, recs []record, at int64, timeline []event) string {
	var b strings.Builder
	ms := func(t int64) string { return fmt.Sprintf("%+.1fms", float64(t)/1e6) }
	fmt.Fprintf(&b, "key %s: not linearizable once the operation ending at %s had returned\n", key, ms(at))
	for _, e := range timeline {
		fmt.Fprintf(&b, "  %s  %s\n", ms(e.At), e.What)
	}
	var shown []record
	for _, rec := range recs {
		if rec.Call <= at {
			shown = append(shown, rec)
		}
	}
	sort.Slice(shown, func(i, j int) bool { return shown[i].Call < shown[j].Call })
	const tail = 25
	if len(shown) > tail {
		fmt.Fprintf(&b, "  ... %d earlier operations on the key\n", len(shown)-tail)
		shown = shown[len(shown)-tail:]
	}
	for _, rec := range shown {
		ret := "  (no answer)"
		if rec.Return != math.MaxInt64 {
			ret = " → " + ms(rec.Return)
		}
		who := fmt.Sprintf("client %d", rec.Client)
		if rec.Final {
			who = "final read"
		}
		out := rec.Out
		if rec.Return > at && rec.Return != math.MaxInt64 {
			ret += " (after the violation)"
		}
		fmt.Fprintf(&b, "  [%s%s] %s on m%d: %s\n", ms(rec.Call), ret, who, rec.Member, describe(rec.In, out))
	}
	return b.String()
}
