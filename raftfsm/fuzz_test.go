package raftfsm

import (
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// fuzzClusterID and fuzzMemberID identify the member FuzzPeer attacks, so
// that the checked-in seeds can name them.
const (
	fuzzClusterID = 0xfeed
	fuzzMemberID  = 0x1001
)

var errNoNetwork = errors.New("no network in FuzzPeer")

// FuzzPeer feeds bytes from a stranger to a member's peer port — the
// protocol byte, the hello, cluster RPC frames or raft messages, as they
// come — on an in-memory connection. Whatever arrives, nothing panics,
// nothing is written to the store or the membership, raft's term does
// not move, and no large allocation is made that the input did not pay
// for. The seeds (testdata/fuzz/FuzzPeer) are the attacks of issue 17:
// raw write, join and remove frames with no hello, an anonymous hello, a
// made-up member's hello; huge frame announcements; raft vote requests
// and appends from strangers.
//
//	go test ./raftfsm -run XXX -fuzz FuzzPeer -fuzztime 20s
func FuzzPeer(f *testing.F) {
	f.Add([]byte{protoCluster})
	f.Add(append(anonymousHello.encode(protoCluster), frameHeader(1, opJoin, 15)...))
	ln := newPipeListener()
	self := &machines.Member{ID: fuzzMemberID, Name: "fuzz", PeerURLs: []string{"http://127.0.0.1:1"}}
	st := store.New()
	n, err := New(Config{ID: self.ID, Name: self.Name, DataDir: f.TempDir(), PeerListener: ln,
		PeerURLs: self.PeerURLs, ClientURLs: []string{"http://127.0.0.1:2"},
		InitialMembers: []*machines.Member{self}, ClusterID: fuzzClusterID, Store: st, Log: quietLog(),
		ElectionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond, StrictReconfigCheck: false,
		// The member never reaches the network: a join's call back to
		// an address from the input fails at once.
		PeerDial: func(string, time.Duration) (net.Conn, error) { return nil, errNoNetwork },
	})
	if err != nil {
		f.Fatal(err)
	}
	defer n.Close()
	deadline := time.Now().Add(30 * time.Second)
	for !(n.IsLeader() && len(n.Cluster().Members) == 1) {
		if time.Now().After(deadline) {
			f.Fatal("the fuzzed member did not become leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	n.mux.handshake = time.Second
	index, term := st.Index(), n.RaftTerm()
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c, err := ln.dial()
		if err != nil {
			t.Fatal(err)
		}
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.Write(data)
		}()
		go func() { _, _ = io.Copy(io.Discard, c) }()
		<-wrote
		_ = c.Close()
		// The member drops the connection once every call it started on
		// it has ended.
		held := time.Now().Add(20 * time.Second)
		for n.mux.conns() > 0 {
			if time.Now().After(held) {
				t.Fatal("the member still holds the connection 20s after the stranger left")
			}
			time.Sleep(50 * time.Microsecond)
		}
		runtime.ReadMemStats(&after)
		if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(8<<20+4*len(data)); got > limit {
			t.Errorf("%d input bytes made the member allocate %d bytes", len(data), got)
		}
		if st.Index() != index {
			t.Fatalf("the store index moved from %d to %d", index, st.Index())
		}
		if c := n.Cluster(); len(c.Members) != 1 || len(c.Removed) != 0 || len(n.voters()) != 1 {
			t.Fatalf("the membership changed: %+v", c)
		}
		if n.RaftTerm() != term || !n.IsLeader() {
			t.Fatalf("raft moved: term %d → %d, leader %v", term, n.RaftTerm(), n.IsLeader())
		}
	})
}
