package raftfsm

import (
	"bytes"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/etcd-classic/etcd-classic/store"
)

// raft calls Persist concurrently with the applies that follow Snapshot:
// the snapshot must still hold the state at Snapshot time, as the
// metadata raft writes next to it says.
func TestFSMPersistAfterLaterApplies(t *testing.T) {
	t.Parallel()
	logs := entries(t)
	a := newFSM(store.New(), quietLog())
	b := newFSM(store.New(), quietLog())
	a.ApplyBatch(logs[:8])
	b.ApplyBatch(logs[:8])
	want := snapshotBytes(t, b)

	snap, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	a.ApplyBatch(logs[8:])
	more, _ := encodeCommand(&command{Type: cmdRequest, Time: fsmT0 + 10, Req: &store.Request{Method: "PUT", Path: "/q", Value: "z", Dir: true}})
	a.Apply(&raft.Log{Index: 100, Type: raft.LogCommand, Data: more})
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	if !bytes.Equal(sink.Bytes(), want) {
		t.Fatal("Persist wrote the state after later applies, not the state at Snapshot")
	}
}

// Snapshot (on raft's FSM goroutine) and Persist together allocate a
// small fraction of the store: the snapshot streams to the sink instead
// of being encoded into memory (which took more than the store's values
// again, plus the growth of one large buffer).
func TestFSMSnapshotStreams(t *testing.T) {
	f := newFSM(store.New(), quietLog())
	value := strings.Repeat("v", 256)
	const n = 20000
	var reqs []*store.Request
	for i := 0; i < n; i++ {
		reqs = append(reqs, &store.Request{Method: "PUT", Path: "/bench/k" + strconv.Itoa(i), Value: value})
	}
	data, err := encodeCommand(&command{Type: cmdBatch, Time: fsmT0, Reqs: reqs})
	if err != nil {
		t.Fatal(err)
	}
	f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data})
	reqs, data = nil, nil
	persist := func() {
		s, err := f.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Persist(discardSink{}); err != nil {
			t.Fatal(err)
		}
		s.Release()
	}
	persist() // sizes the next capture
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	persist()
	runtime.ReadMemStats(&after)
	per := float64(after.TotalAlloc-before.TotalAlloc) / n
	t.Logf("snapshot: %.0f bytes allocated per key", per)
	if per > 150 {
		t.Errorf("a snapshot allocated %.0f bytes per key, want at most 150", per)
	}
}

type discardSink struct{}

func (discardSink) Write(p []byte) (int, error) { return len(p), nil }
func (discardSink) ID() string                  { return "discard" }
func (discardSink) Cancel() error               { return nil }
func (discardSink) Close() error                { return nil }
