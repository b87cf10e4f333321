package raftfsm

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/etcd-classic/etcd-classic/store"
)

// TestCommandV01Flag checks that the etcd 0.1 dialect bit of a request
// travels through the log, and that entries written before the bit
// existed still decode (as 0.4 requests).
func TestCommandV01Flag(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		req  store.Request
	}{
		{name: "0.1 set with ttl", req: store.Request{Method: "PUT", Path: "a/", Value: "v", HasTTL: true, TTL: -3 * time.Second, V01: true}},
		{name: "0.1 testAndSet", req: store.Request{Method: "PUT", Path: "/a", Value: "v", PrevValue: "u", V01: true}},
		{name: "0.1 delete", req: store.Request{Method: "DELETE", Path: "/a", V01: true}},
		{name: "0.4 set", req: store.Request{Method: "PUT", Path: "/a", Value: "v"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := encodeCommand(&command{Type: cmdRequest, Time: 1, Req: &tc.req})
			if err != nil {
				t.Fatal(err)
			}
			c, err := decodeCommand(b)
			if err != nil {
				t.Fatal(err)
			}
			if got := *c.Req; got != tc.req {
				t.Errorf("round trip: got %+v, want %+v", got, tc.req)
			}
		})
	}
	// An entry as the previous version wrote it: flags without the bit.
	old := []byte{commandVersion, byte(cmdRequest)}
	old = binary.AppendVarint(old, 1)
	old = append(old, methodPut)
	old = binary.AppendUvarint(old, flagHasTTL)
	for _, s := range []string{"/a", "v", ""} {
		old = binary.AppendUvarint(old, uint64(len(s)))
		old = append(old, s...)
	}
	old = binary.AppendUvarint(old, 0)
	old = binary.AppendVarint(old, int64(time.Second))
	c, err := decodeCommand(old)
	if err != nil {
		t.Fatalf("old entry: %v", err)
	}
	if want := (store.Request{Method: "PUT", Path: "/a", Value: "v", HasTTL: true, TTL: time.Second}); *c.Req != want {
		t.Errorf("old entry: got %+v, want %+v", *c.Req, want)
	}
}

// TestFSMV01Deterministic feeds two FSMs the same 0.1-dialect commands,
// failures and expiries included, and compares their snapshots.
func TestFSMV01Deterministic(t *testing.T) {
	t.Parallel()
	reqs := []store.Request{
		{Method: "PUT", Path: "/a", Value: "1", HasTTL: true, TTL: time.Second, V01: true},
		{Method: "PUT", Path: "/a", Value: "2", PrevValue: "nope", V01: true},
		{Method: "DELETE", Path: "/missing", V01: true},
		{Method: "PUT", Path: "/b", Value: "1", V01: true},
	}
	var logs []*raft.Log
	for i := range reqs {
		b, err := encodeCommand(&command{Type: cmdRequest, Time: fsmT0, Req: &reqs[i]})
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, &raft.Log{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: b})
	}
	b, _ := encodeCommand(&command{Type: cmdSync, Time: fsmT0 + int64(2*time.Second)})
	logs = append(logs, &raft.Log{Index: uint64(len(logs) + 1), Term: 1, Type: raft.LogCommand, Data: b})

	sa, sb := store.New(), store.New()
	fa, fb := newFSM(sa, quietLog()), newFSM(sb, quietLog())
	for _, l := range logs {
		fa.Apply(l)
	}
	fb.ApplyBatch(logs)
	if !bytes.Equal(snapshotBytes(t, fa), snapshotBytes(t, fb)) {
		t.Fatal("snapshots differ")
	}
	// Four writes, two of them failed, each took an index; the expiry of
	// the 0.1 key took none.
	if sa.Index() != 4 {
		t.Errorf("store index %d, want 4", sa.Index())
	}
	if g, err := sa.GetV01("/", time.Unix(0, fsmT0)); err != nil || g.EtcdIndex != 4 {
		t.Errorf("GET index: %v %v, want 4", g, err)
	}
}
