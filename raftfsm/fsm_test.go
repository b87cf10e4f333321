package raftfsm

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

var fsmT0 = time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC).UnixNano()

func quietLog() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}

func boolp(b bool) *bool { return &b }

// entries is a fixed command sequence touching every command type.
func entries(t *testing.T) []*raft.Log {
	t.Helper()
	self := &machines.Member{ID: 1, Name: "a", PeerURLs: []string{"http://127.0.0.1:2380"}, ClientURLs: []string{"http://127.0.0.1:2379"}}
	cmds := []*command{
		{Type: cmdInit, Time: fsmT0, Cluster: &clusterCmd{ClusterID: 99, Members: []*machines.Member{{ID: 1, PeerURLs: self.PeerURLs}, {ID: 2, PeerURLs: []string{"http://127.0.0.1:2381"}}}, Member: self}},
		{Type: cmdNoop, Time: fsmT0},
		{Type: cmdRequest, Time: fsmT0, Req: &store.Request{Method: "PUT", Path: "/a/b", Value: "1"}},
		{Type: cmdRequest, Time: fsmT0 + 1, Req: &store.Request{Method: "PUT", Path: "/t", Value: "x", HasTTL: true, TTL: store.TTLDuration(1)}},
		{Type: cmdRequest, Time: fsmT0 + 2, Req: &store.Request{Method: "POST", Path: "/q", Value: "job", Dir: false}},
		{Type: cmdRequest, Time: fsmT0 + 3, Req: &store.Request{Method: "PUT", Path: "/a/b", Value: "2", PrevValue: "1", PrevExist: boolp(true)}},
		{Type: cmdRequest, Time: fsmT0 + 4, Req: &store.Request{Method: "PUT", Path: "/a/b", Value: "3", PrevValue: "nope"}},
		{Type: cmdBatch, Time: fsmT0 + 4, Reqs: []*store.Request{
			{Method: "PUT", Path: "/batch/1", Value: "1"},
			{Method: "PUT", Path: "/batch/1", Value: "2", PrevExist: boolp(false)}, // fails: exists
			{Method: "POST", Path: "/batch/q", Value: "in order"},
		}},
		{Type: cmdPublish, Time: fsmT0 + 5, Cluster: &clusterCmd{Member: &machines.Member{ID: 2, Name: "b", ClientURLs: []string{"http://127.0.0.1:2382"}}}},
		// Time going backwards (a new leader with a slower clock) is
		// ignored: the FSM keeps the largest time seen.
		{Type: cmdSync, Time: fsmT0 + int64(2*time.Second)},
		{Type: cmdRequest, Time: fsmT0, Req: &store.Request{Method: "DELETE", Path: "/a", Recursive: true}},
		{Type: cmdMemberRemove, Time: fsmT0 + 6, Cluster: &clusterCmd{ID: 2}},
	}
	var logs []*raft.Log
	for i, c := range cmds {
		b, err := encodeCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, &raft.Log{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: b})
	}
	return logs
}

func snapshotBytes(t *testing.T, f *FSM) []byte {
	t.Helper()
	s, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := s.Persist(sink); err != nil {
		t.Fatal(err)
	}
	return sink.Bytes()
}

type memSink struct{ bytes.Buffer }

func (m *memSink) ID() string    { return "mem" }
func (m *memSink) Cancel() error { return nil }
func (m *memSink) Close() error  { return nil }

func TestFSMDeterministicSnapshots(t *testing.T) {
	t.Parallel()
	a := newFSM(store.New(), quietLog())
	b := newFSM(store.New(), quietLog())
	logs := entries(t)
	// One applies entry by entry, the other in one batch.
	for _, l := range logs {
		a.Apply(l)
	}
	b.ApplyBatch(logs)
	sa, sb := snapshotBytes(t, a), snapshotBytes(t, b)
	if !bytes.Equal(sa, sb) {
		t.Fatal("two FSMs fed the same commands produced different snapshots")
	}
	// The expiry used the command time, not the wall clock: /t is gone.
	if _, err := a.store.Get("/t", false, false, time.Now()); err == nil {
		t.Error("TTL key survived the sync command")
	}
	if got := a.AppliedIndex(); got != uint64(len(logs)) {
		t.Errorf("applied index %d, want %d", got, len(logs))
	}
	c := a.Cluster()
	if c.ID != 99 || len(c.Members) != 1 || !c.Removed[2] {
		t.Errorf("membership after commands: %+v", c)
	}

	// Round trip: restore into a fresh FSM and snapshot again.
	r := newFSM(store.New(), quietLog())
	if err := r.Restore(io.NopCloser(bytes.NewReader(sa))); err != nil {
		t.Fatal(err)
	}
	if sr := snapshotBytes(t, r); !bytes.Equal(sa, sr) {
		t.Fatal("snapshot → restore → snapshot changed the bytes")
	}
	if r.store.Index() != a.store.Index() || r.AppliedIndex() != a.AppliedIndex() {
		t.Errorf("restored indexes: store %d/%d raft %d/%d", r.store.Index(), a.store.Index(), r.AppliedIndex(), a.AppliedIndex())
	}
	// Restored FSMs keep applying identically.
	more, _ := encodeCommand(&command{Type: cmdRequest, Time: fsmT0 + 10, Req: &store.Request{Method: "PUT", Path: "/z", Value: "z"}})
	l := &raft.Log{Index: 100, Type: raft.LogCommand, Data: more}
	a.Apply(l)
	r.Apply(l)
	if !bytes.Equal(snapshotBytes(t, a), snapshotBytes(t, r)) {
		t.Error("original and restored FSM diverged on the next command")
	}
}

func TestFSMResults(t *testing.T) {
	t.Parallel()
	f := newFSM(store.New(), quietLog())
	ok, _ := encodeCommand(&command{Type: cmdRequest, Time: fsmT0, Req: &store.Request{Method: "PUT", Path: "/k", Value: "v"}})
	bad, _ := encodeCommand(&command{Type: cmdRequest, Time: fsmT0, Req: &store.Request{Method: "PUT", Path: "/k", Value: "v", PrevExist: boolp(false)}})
	out := f.ApplyBatch([]*raft.Log{
		{Index: 1, Type: raft.LogCommand, Data: ok},
		{Index: 2, Type: raft.LogConfiguration},
		{Index: 3, Type: raft.LogCommand, Data: bad},
	})
	if r := out[0].(*applyResult); r.Err != nil || r.Event.Action != "set" {
		t.Errorf("first result: %+v", r)
	}
	if out[1] != nil {
		t.Errorf("configuration entry result: %v", out[1])
	}
	if r := out[2].(*applyResult); r.Err == nil || r.Err.(*store.Error).Code != store.EcodeNodeExist {
		t.Errorf("third result: %+v", r)
	}
}

func TestFSMUnknownCommands(t *testing.T) {
	t.Parallel()
	f := newFSM(store.New(), quietLog())
	// An unknown type with the ignorable bit is skipped.
	if out := f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte{commandVersion, 0xF0, 0}}); out != nil {
		t.Errorf("ignorable unknown command: %v", out)
	}
	// A corrupt entry of a known type must stop the replica.
	defer func() {
		if recover() == nil {
			t.Error("corrupt request entry did not panic")
		}
	}()
	f.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: []byte{commandVersion, byte(cmdRequest), 0, methodPut}})
}

func TestCommandRoundTrip(t *testing.T) {
	t.Parallel()
	cases := []store.Request{
		{Method: "PUT", Path: "/a", Value: "v"},
		{Method: "POST", Path: "/q", Dir: true, HasTTL: true, TTL: store.TTLDuration(18446744073709551615)},
		{Method: "DELETE", Path: "/d", Recursive: true, PrevValue: "x", PrevIndex: 7},
		{Method: "PUT", Path: "/r", Refresh: true, PrevExist: boolp(false), HasTTL: true, TTL: 5 * time.Second},
	}
	for _, r := range cases {
		b, err := encodeCommand(&command{Type: cmdRequest, Time: -5, Req: &r})
		if err != nil {
			t.Fatal(err)
		}
		c, err := decodeCommand(b)
		if err != nil {
			t.Fatal(err)
		}
		got := *c.Req
		if c.Time != -5 || got.Method != r.Method || got.Path != r.Path || got.Value != r.Value || got.Dir != r.Dir ||
			got.Recursive != r.Recursive || got.Refresh != r.Refresh || got.PrevValue != r.PrevValue ||
			got.PrevIndex != r.PrevIndex || got.HasTTL != r.HasTTL || got.TTL != r.TTL ||
			(got.PrevExist == nil) != (r.PrevExist == nil) || (got.PrevExist != nil && *got.PrevExist != *r.PrevExist) {
			t.Errorf("round trip: got %+v, want %+v", got, r)
		}
	}
	if _, err := decodeCommand([]byte{9, 1}); err == nil {
		t.Error("a future command version was accepted")
	}
}

// A batch entry applies its requests in order, each with its own result
// and store index, and leaves the store exactly as the same requests
// would as separate entries.
func TestBatchCommand(t *testing.T) {
	t.Parallel()
	reqs := []*store.Request{
		{Method: "PUT", Path: "/k", Value: "1"},
		{Method: "PUT", Path: "/k", Value: "x", PrevExist: boolp(false)}, // 105: exists
		{Method: "PUT", Path: "/k", Value: "2", PrevValue: "1"},
		{Method: "POST", Path: "/q", Value: "a", HasTTL: true, TTL: 5 * time.Second},
		{Method: "DELETE", Path: "/k", PrevIndex: 1}, // 101: index mismatch
		{Method: "DELETE", Path: "/k"},
	}
	data, err := encodeCommand(&command{Type: cmdBatch, Time: fsmT0, Reqs: reqs})
	if err != nil {
		t.Fatal(err)
	}
	c, err := decodeCommand(data)
	if err != nil || len(c.Reqs) != len(reqs) {
		t.Fatalf("decode: %v, %d requests", err, len(c.Reqs))
	}
	for i := range reqs {
		if c.Reqs[i].Path != reqs[i].Path || c.Reqs[i].Value != reqs[i].Value || c.Reqs[i].Method != reqs[i].Method {
			t.Fatalf("request %d: got %+v, want %+v", i, c.Reqs[i], reqs[i])
		}
	}

	batched := newFSM(store.New(), quietLog())
	out := batched.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data}).(*batchResult)
	single := newFSM(store.New(), quietLog())
	for i, r := range reqs {
		one, _ := encodeCommand(&command{Type: cmdRequest, Time: fsmT0, Req: r})
		want := single.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: one}).(*applyResult)
		got := out.results[i]
		if (got.Err == nil) != (want.Err == nil) {
			t.Fatalf("request %d: batched error %v, single %v", i, got.Err, want.Err)
		}
		if got.Err != nil {
			if got.Err.(*store.Error).Code != want.Err.(*store.Error).Code {
				t.Fatalf("request %d: batched %v, single %v", i, got.Err, want.Err)
			}
			continue
		}
		if got.Event.EtcdIndex != want.Event.EtcdIndex || got.Event.Action != want.Event.Action || got.Event.Node.Key != want.Event.Node.Key {
			t.Fatalf("request %d: batched %+v, single %+v", i, got.Event, want.Event)
		}
	}
	var a, b bytes.Buffer
	if err := batched.store.Save(&a); err != nil {
		t.Fatal(err)
	}
	if err := single.store.Save(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("a batch left the store different from the same requests one by one")
	}

	// Corrupt batches are refused, never half-read: a count larger than
	// the bytes could hold, and a truncated last request.
	huge := append([]byte{commandVersion, byte(cmdBatch), 0}, 0xff, 0xff, 0xff, 0xff, 0x0f)
	if _, err := decodeCommand(huge); err == nil {
		t.Error("a batch claiming 4 billion requests was accepted")
	}
	if _, err := decodeCommand(data[:len(data)-3]); err == nil {
		t.Error("a truncated batch was accepted")
	}
}
