package main

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// op builds a history entry: times in ms; ret < 0 means an unknown
// outcome (infinite return time).
func op(client int, call, ret int64, in input, out output) record {
	r := record{Client: client, In: in, Out: out, Call: call * 1e6, Return: ret * 1e6}
	if ret < 0 {
		r.Out, r.Return = output{Unknown: true}, math.MaxInt64
	}
	return r
}

func set(k, v string) input       { return input{Kind: opSet, Key: k, Value: v} }
func get(k string) input          { return input{Kind: opGet, Key: k} }
func cas(k, prev, v string) input { return input{Kind: opCAS, Key: k, PrevValue: prev, Value: v} }
func casIdx(k string, i uint64, v string) input {
	return input{Kind: opCASIndex, Key: k, PrevIndex: i, Value: v}
}
func create(k, v string) input { return input{Kind: opCreate, Key: k, Value: v} }
func del(k string) input       { return input{Kind: opDelete, Key: k} }

func ok(i uint64) output                 { return output{Index: i} }
func okWas(i uint64, prev string) output { return output{Index: i, Exists: true, Value: prev} }
func got(v string, i uint64) output      { return output{Exists: true, Value: v, Index: i} }
func code(c int) output                  { return output{Code: c} }

// The model accepts what etcd may answer and refuses what it may not:
// each history is checked by porcupine with the harness's model.
func TestModel(t *testing.T) {
	t.Parallel()
	const k = "/chaos/k0"
	cases := []struct {
		name    string
		history []record
		want    porcupine.CheckResult
	}{
		{"a read sees the last write", []record{
			op(0, 0, 10, set(k, "a"), ok(5)),
			op(1, 20, 30, get(k), got("a", 5)),
		}, porcupine.Ok},
		{"a stale read: the write before it had returned", []record{
			op(0, 0, 10, set(k, "a"), ok(5)),
			op(0, 20, 30, set(k, "b"), okWas(6, "a")),
			op(1, 40, 50, get(k), got("a", 5)),
		}, porcupine.Illegal},
		{"a read concurrent with a write may see either", []record{
			op(0, 0, 10, set(k, "a"), ok(5)),
			op(0, 20, 60, set(k, "b"), okWas(6, "a")),
			op(1, 30, 40, get(k), got("a", 5)),
			op(2, 35, 45, get(k), got("b", 6)),
		}, porcupine.Ok},
		{"reads going back in time", []record{
			op(0, 0, 10, set(k, "a"), ok(5)),
			op(0, 20, 60, set(k, "b"), okWas(6, "a")),
			op(1, 30, 40, get(k), got("b", 6)),
			op(2, 45, 50, get(k), got("a", 5)),
		}, porcupine.Illegal},
		{"an acknowledged write lost", []record{
			op(0, 0, 10, create(k, "a"), ok(5)),
			op(1, 20, 30, get(k), code(100)),
		}, porcupine.Illegal},
		{"an unknown write may have been applied", []record{
			op(0, 0, -1, set(k, "a"), output{}),
			op(1, 20, 30, get(k), code(100)),
			op(1, 40, 50, get(k), got("a", 5)),
		}, porcupine.Ok},
		{"an unknown write applied, then gone without a delete", []record{
			op(0, 0, -1, set(k, "a"), output{}),
			op(1, 20, 30, get(k), got("a", 5)),
			op(1, 40, 50, get(k), code(100)),
		}, porcupine.Illegal},
		{"compare-and-swap on the value", []record{
			op(0, 0, 10, set(k, "a"), ok(5)),
			op(1, 20, 30, cas(k, "a", "b"), okWas(6, "a")),
			op(2, 40, 50, cas(k, "a", "c"), code(101)),
			op(2, 60, 70, get(k), got("b", 6)),
		}, porcupine.Ok},
		{"two compare-and-swaps from the same value both succeed", []record{
			op(0, 0, 10, set(k, "a"), ok(5)),
			op(1, 20, 30, cas(k, "a", "b"), okWas(6, "a")),
			op(2, 20, 30, cas(k, "a", "c"), okWas(7, "a")),
		}, porcupine.Illegal},
		{"compare-and-swap on an index that is not the current one succeeds", []record{
			op(0, 0, 10, set(k, "a"), ok(5)),
			op(0, 20, 30, set(k, "b"), okWas(6, "a")),
			op(1, 40, 50, casIdx(k, 5, "c"), okWas(7, "b")),
		}, porcupine.Illegal},
		{"compare-and-swap on the current index", []record{
			op(0, 0, 10, set(k, "a"), ok(5)),
			op(0, 20, 30, set(k, "b"), okWas(6, "a")),
			op(1, 40, 50, casIdx(k, 5, "c"), code(101)),
			op(1, 60, 70, casIdx(k, 6, "d"), okWas(8, "b")),
		}, porcupine.Ok},
		{"create, already exists, delete, not found", []record{
			op(0, 0, 10, create(k, "a"), ok(5)),
			op(1, 20, 30, create(k, "b"), code(105)),
			op(1, 40, 50, del(k), okWas(6, "a")),
			op(0, 60, 70, del(k), code(100)),
			op(0, 80, 90, cas(k, "a", "c"), code(100)),
		}, porcupine.Ok},
		{"a write's prevNode must be the value it replaced", []record{
			op(0, 0, 10, set(k, "a"), ok(5)),
			op(1, 20, 30, set(k, "b"), okWas(6, "x")),
		}, porcupine.Illegal},
		{"a set that says it created the key, which existed", []record{
			op(0, 0, 10, set(k, "a"), ok(5)),
			op(1, 20, 30, set(k, "b"), ok(6)),
		}, porcupine.Illegal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := &workload{records: tc.history}
			for _, r := range tc.history {
				if r.Out.Code == 0 && !r.Out.Unknown && r.In.Kind != opDelete {
					v := r.In.Value
					if r.In.Kind == opGet {
						v = r.Out.Value
					}
					w.observed = append(w.observed, observation{Key: r.In.Key, Value: v, Index: r.Out.Index})
				}
			}
			res := check(w, nil, nil, 10*time.Second, "")
			if res.Linearizable != tc.want {
				t.Fatalf("checker says %s, want %s", res.Linearizable, tc.want)
			}
			if tc.want == porcupine.Illegal && !strings.Contains(res.Excerpt, k) {
				t.Fatalf("no excerpt naming the key:\n%s", res.Excerpt)
			}
		})
	}
}

// The checks beside linearizability: an acknowledged unique key missing
// on a member is lost; a unique key modified after its creation, or one
// write seen at two indexes, was applied twice; one index carrying two
// writes means the members diverged.
func TestChecksBesideLinearizability(t *testing.T) {
	t.Parallel()
	u1, u2, u3 := uniqueDir+"/c0-1", uniqueDir+"/c0-2", uniqueDir+"/c0-3"
	sv := func(s string) *string { return &s }
	w := &workload{
		records: []record{
			op(0, 0, 10, set(u1, "c0-1"), ok(5)),
			op(0, 20, 30, set(u2, "c0-2"), ok(6)),
			op(0, 40, -1, set(u3, "c0-3"), output{}), // unknown outcome, applied twice
			op(1, 0, 10, set("/chaos/k0", "c1-1"), ok(7)),
		},
		observed: []observation{
			{Key: "/chaos/k0", Value: "c1-1", Index: 7, From: "set"},
			{Key: "/chaos/k0", Value: "c1-1", Index: 9, From: "a later get"},
			{Key: "/chaos/k1", Value: "c1-5", Index: 7, From: "another member"},
		},
	}
	finals := []finalRead{
		{Member: 0, Call: 100e6, Return: 110e6, Nodes: map[string]*v2Node{
			u1:          {Key: u1, Value: sv("c0-1"), ModifiedIndex: 5, CreatedIndex: 5},
			u2:          {Key: u2, Value: sv("c0-2"), ModifiedIndex: 8, CreatedIndex: 6},
			"/chaos/k0": {Key: "/chaos/k0", Value: sv("c1-1"), ModifiedIndex: 9, CreatedIndex: 7},
		}},
		{Member: 1, Call: 120e6, Return: 130e6, Nodes: map[string]*v2Node{
			u2: {Key: u2, Value: sv("c0-2"), ModifiedIndex: 6, CreatedIndex: 6},
			u3: {Key: u3, Value: sv("c0-3"), ModifiedIndex: 11, CreatedIndex: 10},
		}},
	}
	res := check(w, finals, nil, 10*time.Second, "")
	wantIn := func(what string, items []string, subs ...string) {
		t.Helper()
		all := strings.Join(items, "\n")
		for _, s := range subs {
			if !strings.Contains(all, s) {
				t.Errorf("%s does not mention %q:\n%s", what, s, all)
			}
		}
	}
	wantIn("lost", res.Lost, u1+`="c0-1" (acknowledged at index 5 by m0): missing on m1`, u2+`="c0-2" (acknowledged at index 6 by m0): "c0-2" at 8 on m0`)
	wantIn("dups", res.Dups, u2+`="c0-2" was applied at index 8 (final read on m0) and at 6`, `/chaos/k0="c1-1" was applied at index 7`,
		u3+", written once by its client: m1: created at 10, modified at 11")
	if len(res.Lost) != 2 || len(res.Dups) != 3 || len(res.Divergent) != 1 {
		t.Errorf("each write is reported once: lost %q, dups %q, divergent %q", res.Lost, res.Dups, res.Divergent)
	}
	wantIn("divergent", res.Divergent, `index 7 is /chaos/k0="c1-1" (set) and /chaos/k1="c1-5" (another member)`)
	if res.OK() {
		t.Fatal("a run with lost and duplicated writes passed")
	}
}

// The excerpt stops at the first moment the history was certainly not
// linearizable, not at the end of the run.
func TestExcerptStopsAtTheViolation(t *testing.T) {
	t.Parallel()
	const k = "/chaos/k0"
	w := &workload{records: []record{
		op(0, 0, 10, set(k, "a"), ok(5)),
		op(0, 20, 30, set(k, "b"), okWas(6, "a")),
		op(1, 40, 50, get(k), got("a", 5)), // stale
		op(0, 60, 70, set(k, "c"), okWas(7, "b")),
		op(1, 80, 90, get(k), got("c", 7)),
	}, observed: []observation{{Key: k, Value: "a", Index: 5}, {Key: k, Value: "b", Index: 6}, {Key: k, Value: "c", Index: 7}}}
	res := check(w, nil, []event{{At: 35e6, What: "fault"}}, 10*time.Second, "")
	if res.Linearizable != porcupine.Illegal {
		t.Fatalf("checker says %s", res.Linearizable)
	}
	for _, want := range []string{"ending at +50.0ms", "+35.0ms  fault", `get(/chaos/k0) → "a" @5`} {
		if !strings.Contains(res.Excerpt, want) {
			t.Errorf("excerpt lacks %q:\n%s", want, res.Excerpt)
		}
	}
	if strings.Contains(res.Excerpt, `"c"`) {
		t.Errorf("excerpt shows operations after the violation:\n%s", res.Excerpt)
	}
}

// Answers are judged as the model needs them: etcd's "nothing changed"
// errors are outputs, "no leader" certainly did nothing, other raft
// errors may have.
func TestClassify(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status int
		ans    v2Answer
		want   verdict
	}{
		{200, v2Answer{Action: "set"}, answered},
		{201, v2Answer{Action: "create"}, answered},
		{404, v2Answer{ErrorCode: 100}, answered},
		{412, v2Answer{ErrorCode: 101}, answered},
		{412, v2Answer{ErrorCode: 105}, answered},
		{500, v2Answer{ErrorCode: 300, Cause: "etcdserver: no leader"}, notApplied},
		{500, v2Answer{ErrorCode: 300, Cause: "etcdserver: request timed out"}, unknown},
		{500, v2Answer{ErrorCode: 300, Cause: "etcdserver: request timed out, possibly due to previous leader failure"}, unknown},
		{500, v2Answer{ErrorCode: 301}, unknown},
		{400, v2Answer{ErrorCode: 209}, unexpected},
	}
	for _, tc := range cases {
		if got := classify(tc.status, &tc.ans); got != tc.want {
			t.Errorf("%d %+v: %v, want %v", tc.status, tc.ans, got, tc.want)
		}
	}
}
