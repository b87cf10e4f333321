package main

import (
	"fmt"
	"sort"

	"github.com/anishathalye/porcupine"
)

// kind is what an operation does to one key, with etcd v2's semantics.
type kind int

const (
	opGet      kind = iota // GET ?quorum=true
	opSet                  // PUT value=v
	opCAS                  // PUT value=v&prevValue=p
	opCASIndex             // PUT value=v&prevIndex=i
	opCreate               // PUT value=v&prevExist=false
	opDelete               // DELETE
)

var kindNames = [...]string{"get", "set", "cas", "casIndex", "create", "delete"}

func (k kind) String() string { return kindNames[k] }

// input is an operation as the client sent it.
type input struct {
	Kind      kind
	Key       string
	Value     string // set, cas, create: unique to this operation
	PrevValue string // cas
	PrevIndex uint64 // casIndex
}

// output is what the client learnt. Code 0 is a success; 100 (key not
// found), 101 (compare failed) and 105 (already exists) are etcd's
// answers that say nothing was changed. Unknown marks an outcome the
// client could not learn (a timeout, a dropped connection, an error 300
// that may follow a proposal): the operation may or may not have taken
// effect, and its return time is infinite in the history.
type output struct {
	Unknown bool
	Code    int
	// Exists and Value are the key's value for a get, and the prevNode
	// of a successful write (Exists false: the write created the key).
	Exists bool
	Value  string
	// Index is the modifiedIndex of the node answered (a write: the new
	// node's; a delete: the deletion's).
	Index uint64
}

// state is one key's value in the sequential specification.
type state struct {
	Exists bool
	Value  string
}

// kvModel is a key-value store under etcd v2's rules, partitioned by key:
// operations on different keys commute, so each key's history is checked
// on its own (porcupine's Partition). indexValue maps each modifiedIndex
// observed anywhere in the run to the value that carried it, so that a
// compare-and-swap on prevIndex is a compare on that value: every write's
// value is unique, and a client only uses an index some answer showed it.
func kvModel(indexValue map[uint64]string) porcupine.Model {
	return porcupine.Model{
		Partition: partitionByKey,
		Init:      func() interface{} { return state{} },
		Step: func(st, in, out interface{}) (bool, interface{}) {
			return step(indexValue, st.(state), in.(input), out.(output))
		},
		DescribeOperation: func(in, out interface{}) string { return describe(in.(input), out.(output)) },
		DescribeState: func(st interface{}) string {
			s := st.(state)
			if !s.Exists {
				return "absent"
			}
			return fmt.Sprintf("%q", s.Value)
		},
	}
}

// step is the specification: whether op with its answer could happen in
// st, and the state after it.
func step(indexValue map[uint64]string, st state, in input, out output) (bool, state) {
	written := state{Exists: true, Value: in.Value}
	// holds is the operation's precondition on the current state.
	var holds bool
	switch in.Kind {
	case opGet:
		if out.Code == 100 {
			return !st.Exists, st
		}
		return st.Exists && st.Value == out.Value, st
	case opSet:
		holds = true
	case opCAS:
		holds = st.Exists && st.Value == in.PrevValue
	case opCASIndex:
		v, known := indexValue[in.PrevIndex]
		holds = st.Exists && known && st.Value == v
	case opCreate:
		holds = !st.Exists
	case opDelete:
		holds = st.Exists
		written = state{}
	}
	if out.Unknown {
		// Applied, if it was applied at all, with the outcome the state
		// decides (a write that was never applied is linearized after
		// everything else, where it changes nothing anyone saw).
		if holds {
			return true, written
		}
		return true, st
	}
	switch out.Code {
	case 0:
		// The prevNode of the answer is the state the write replaced.
		prevOK := out.Exists == st.Exists && (!st.Exists || out.Value == st.Value)
		if in.Kind == opCreate {
			prevOK = true // a create answers no prevNode
		}
		return holds && prevOK, written
	case 100: // key not found
		return !st.Exists && (in.Kind == opCAS || in.Kind == opCASIndex || in.Kind == opDelete), st
	case 101: // compare failed
		return st.Exists && !holds && (in.Kind == opCAS || in.Kind == opCASIndex), st
	case 105: // already exists
		return st.Exists && in.Kind == opCreate, st
	}
	return false, st
}

// partitionByKey splits a history into one history per key.
func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	var keys []string
	for _, op := range history {
		k := op.Input.(input).Key
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], op)
	}
	sort.Strings(keys)
	out := make([][]porcupine.Operation, 0, len(keys))
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}

// describe renders an operation for reports and the visualisation.
func describe(in input, out output) string {
	var call string
	switch in.Kind {
	case opGet, opDelete:
		call = fmt.Sprintf("%s(%s)", in.Kind, in.Key)
	case opCAS:
		call = fmt.Sprintf("cas(%s, %q→%q)", in.Key, in.PrevValue, in.Value)
	case opCASIndex:
		call = fmt.Sprintf("casIndex(%s, @%d→%q)", in.Key, in.PrevIndex, in.Value)
	default:
		call = fmt.Sprintf("%s(%s, %q)", in.Kind, in.Key, in.Value)
	}
	switch {
	case out.Unknown:
		return call + " → unknown"
	case out.Code != 0:
		return fmt.Sprintf("%s → error %d", call, out.Code)
	case in.Kind == opGet:
		return fmt.Sprintf("%s → %q @%d", call, out.Value, out.Index)
	case out.Exists:
		return fmt.Sprintf("%s → ok @%d (was %q)", call, out.Index, out.Value)
	}
	return fmt.Sprintf("%s → ok @%d (was absent)", call, out.Index)
}
