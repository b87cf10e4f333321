package raftfsm

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/etcd-classic/etcd-classic/store"
)

// A write's user and an auth change survive the log encoding, alone and
// in a batch, next to requests without them.
func TestAuthCommandRoundTrip(t *testing.T) {
	t.Parallel()
	change := &store.AuthChange{Kind: store.AuthCreateRole, Name: "r",
		Role: &store.Role{Role: "r", Permissions: store.Permissions{KV: store.RWPermission{Read: []string{"/b", "/a"}, Write: nil}},
			Grant: &store.Permissions{KV: store.RWPermission{Read: []string{}}}}}
	reqs := []*store.Request{
		{Method: store.MethodPut, Path: "/a", Value: "v", User: "alice"},
		{Method: store.MethodAuth, Auth: change},
		{Method: store.MethodAuth, User: "root", Auth: &store.AuthChange{Kind: store.AuthPutUser, Name: "u", PasswordHash: "$2a$04$x"}},
		{Method: store.MethodDelete, Path: "/d", Recursive: true},
	}
	b, err := encodeCommand(&command{Type: cmdBatch, Time: 7, Reqs: reqs})
	if err != nil {
		t.Fatal(err)
	}
	c, err := decodeCommand(b)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range reqs {
		got, _ := json.Marshal(c.Reqs[i])
		want, _ := json.Marshal(r)
		if !bytes.Equal(got, want) {
			t.Errorf("request %d: got %s, want %s", i, got, want)
		}
	}
	// A truncated auth change is refused, not half-read.
	one, _ := encodeCommand(&command{Type: cmdRequest, Req: reqs[1]})
	if _, err := decodeCommand(one[:len(one)-3]); err == nil {
		t.Error("a truncated auth entry decoded")
	}
}

// Two FSMs fed the same auth changes and checked writes end in the same
// state, snapshot bytes included, and a snapshot carries the auth state.
func TestAuthFSMDeterministic(t *testing.T) {
	t.Parallel()
	reqs := []*store.Request{
		{Method: store.MethodAuth, Auth: &store.AuthChange{Kind: store.AuthPutUser, Name: "root", PasswordHash: "h"}},
		{Method: store.MethodAuth, Auth: &store.AuthChange{Kind: store.AuthCreateRole, Role: &store.Role{Role: "app",
			Permissions: store.Permissions{KV: store.RWPermission{Read: []string{"/app/*"}, Write: []string{"/app/*"}}}}}},
		{Method: store.MethodAuth, Auth: &store.AuthChange{Kind: store.AuthCreateUser, Name: "alice", PasswordHash: "h", Roles: []string{"app"}}},
		{Method: store.MethodAuth, Auth: &store.AuthChange{Kind: store.AuthEnable}},
		{Method: store.MethodAuth, Auth: &store.AuthChange{Kind: store.AuthUpdateRole, Name: "guest", Role: &store.Role{Role: "guest",
			Revoke: &store.Permissions{KV: store.RWPermission{Read: []string{"/*"}, Write: []string{"/*"}}}}}},
		{Method: store.MethodPut, Path: "/app/x", Value: "1", User: "alice"},
		{Method: store.MethodPut, Path: "/other", Value: "1", User: "alice"}, // refused at apply
		{Method: store.MethodPut, Path: "/other", Value: "1"},                // guest: refused
	}
	var logs []*raft.Log
	for i, r := range reqs {
		data, err := encodeCommand(&command{Type: cmdRequest, Time: fsmT0, Req: r})
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, &raft.Log{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: data})
	}
	a, b := newFSM(store.New(), quietLog()), newFSM(store.New(), quietLog())
	var results []any
	for _, l := range logs {
		results = append(results, a.Apply(l))
		b.Apply(l)
	}
	for i, want := range []bool{true, true, true, true, true, true, false, false} {
		ar := results[i].(*applyResult)
		if (ar.Err == nil) != want {
			t.Errorf("entry %d: error %v, want success=%v", i+1, ar.Err, want)
		}
	}
	sa, sb := snapshotBytes(t, a), snapshotBytes(t, b)
	if !bytes.Equal(sa, sb) {
		t.Fatal("same entries, different snapshots")
	}
	c := newFSM(store.New(), quietLog())
	if err := c.Restore(nopCloser{bytes.NewReader(sa)}); err != nil {
		t.Fatal(err)
	}
	if !c.store.Auth().Enabled() || !c.store.Auth().CanAccess("alice", "/app/y", false, true) || c.store.Auth().CanAccess("", "/app/y", false, false) {
		t.Error("restored FSM lost the auth state")
	}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
