package raftfsm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// The binary reply carries exactly what the JSON one did: events from
// real store operations (values, directories, TTLs with their expiration
// in any zone, previous nodes, children) and errors survive the round
// trip unchanged, and no truncation of a reply decodes or panics.
func TestProposeReplyRoundTrip(t *testing.T) {
	t.Parallel()
	st := store.New()
	now := time.Date(2026, 11, 21, 8, 0, 0, 123456789, time.FixedZone("CET", 3600))
	var replies []proposeReply
	apply := func(r *store.Request) {
		ev, err := st.Apply(r, now)
		rep := proposeReply{Index: 77, Term: 3}
		if err != nil {
			rep.Err = err.(*store.Error)
		} else {
			rep.Event, rep.EtcdIndex, rep.Refresh = ev, ev.EtcdIndex, ev.Refresh
		}
		replies = append(replies, rep)
	}
	apply(&store.Request{Method: store.MethodPut, Path: "/a", Value: "1"})
	apply(&store.Request{Method: store.MethodPut, Path: "/a", Value: "2", PrevValue: "1"})
	apply(&store.Request{Method: store.MethodPut, Path: "/a", Value: "x", PrevValue: "nope"}) // 101 with a cause
	apply(&store.Request{Method: store.MethodPut, Path: "/t", Value: "", HasTTL: true, TTL: 30 * time.Second})
	apply(&store.Request{Method: store.MethodPut, Path: "/t", Refresh: true, HasTTL: true, TTL: 60 * time.Second})
	apply(&store.Request{Method: store.MethodPut, Path: "/d", Dir: true, HasTTL: true, TTL: 5 * time.Second})
	apply(&store.Request{Method: store.MethodPost, Path: "/d", Value: "queued ✓ \x00 \"quoted\""})
	apply(&store.Request{Method: store.MethodDelete, Path: "/d", Recursive: true})
	apply(&store.Request{Method: store.MethodDelete, Path: "/missing"}) // 100
	utc := now.UTC()
	v := "v"
	replies = append(replies, proposeReply{Index: 1<<64 - 1, Term: 9, EtcdIndex: 5, Event: &store.Event{Action: "get",
		Node: &store.NodeExtern{Key: "/p", Dir: true, Nodes: []*store.NodeExtern{
			{Key: "/p/a", Value: &v, Expiration: &utc, TTL: 4, ModifiedIndex: 4, CreatedIndex: 2},
			{Key: "/p/b", Dir: true, Nodes: []*store.NodeExtern{{Key: "/p/b/c", Value: &v}}},
		}}}})

	for i, r := range replies {
		b := encodeProposeReply(&r)
		got, err := decodeProposeReply(b)
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		want, _ := json.Marshal(r)
		have, _ := json.Marshal(got)
		if string(want) != string(have) || got.EtcdIndex != r.EtcdIndex || got.Refresh != r.Refresh {
			t.Fatalf("reply %d:\n got %s (etcdIndex %d refresh %v)\nwant %s (etcdIndex %d refresh %v)",
				i, have, got.EtcdIndex, got.Refresh, want, r.EtcdIndex, r.Refresh)
		}
		for cut := 0; cut < len(b); cut++ {
			if _, err := decodeProposeReply(b[:cut]); err == nil {
				t.Fatalf("reply %d cut to %d of %d bytes decoded", i, cut, len(b))
			}
		}
	}
}

// protoListener hands out connections after reading the protocol byte
// and the hello the peer mux would have read, and accepting the hello.
type protoListener struct{ net.Listener }

func (l protoListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		_, err = io.ReadFull(c, make([]byte, 1+helloSize))
	}
	if err == nil {
		err = answerHello(c, nil)
	}
	return c, err
}

// A follower of this build forwarding to a leader of an earlier one (no
// opProposeBin) gets its answer through the JSON call instead.
func TestForwardFallsBackToJSONReplies(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	v := "v"
	var ops []byte
	var mu sync.Mutex
	old := func(_ context.Context, _ peerIdentity, op byte, _ []byte) ([]byte, error) {
		mu.Lock()
		ops = append(ops, op)
		mu.Unlock()
		if op != opPropose {
			return nil, fmt.Errorf("raftfsm: unknown cluster RPC %d", op)
		}
		return json.Marshal(proposeReply{Index: 0, Term: 2, EtcdIndex: 9,
			Event: &store.Event{Action: "set", Node: &store.NodeExtern{Key: "/k", Value: &v, ModifiedIndex: 9, CreatedIndex: 9}}})
	}
	srv := newRPCServer(protoListener{ln}, old, quietLog())
	defer srv.Close()
	n := &Node{peers: newRPCPool(dialer{proto: protoCluster}), fsm: newFSM(store.New(), quietLog()), log: quietLog()}
	defer n.peers.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := n.forward(ctx, ln.Addr().String(), &command{Type: cmdRequest, Req: &store.Request{Method: store.MethodPut, Path: "/k", Value: "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Event.Node.Key != "/k" || res.Event.EtcdIndex != 9 {
		t.Fatalf("answer %+v", res.Event)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ops) != 2 || ops[0] != opProposeBin || ops[1] != opPropose {
		t.Fatalf("ops sent: %v", ops)
	}
}
