package raftfsm

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// logCapture keeps the Warn lines a node logged (and passes every line
// on to t.Log).
type logCapture struct {
	mu    sync.Mutex
	warns []*logrus.Entry
}

func (c *logCapture) Levels() []logrus.Level { return []logrus.Level{logrus.WarnLevel} }

func (c *logCapture) Fire(e *logrus.Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.warns = append(c.warns, e)
	return nil
}

// find returns the first Warn line with msg whose fields contain want.
func (c *logCapture) find(msg string, want logrus.Fields) *logrus.Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
next:
	for _, e := range c.warns {
		if e.Message != msg {
			continue
		}
		for k, v := range want {
			if fmt.Sprint(e.Data[k]) != fmt.Sprint(v) {
				continue next
			}
		}
		return e
	}
	return nil
}

func captureLogger(t testing.TB) (*logrus.Entry, *logCapture) {
	e := testLogger(t)
	c := &logCapture{}
	e.Logger.AddHook(c)
	return e, c
}

// startLonely starts a one-member cluster, without the strict
// reconfiguration check (so that nothing but the peer checks stands
// between a stranger and a membership change), and waits until it leads
// and has recorded its membership.
func startLonely(t *testing.T) (*testMember, *logCapture) {
	t.Helper()
	tm := newTestCluster(t, 1)[0]
	log, capture := captureLogger(t)
	startWith(t, tm, func(c *Config) {
		c.InitialMembers, c.ClusterID = []*machines.Member{tm.m}, 77
		c.StrictReconfigCheck = false
		c.Log = log
	})
	eventually(t, "leader with its membership", func() bool {
		return tm.node.IsLeader() && len(tm.node.Cluster().Members) == 1
	})
	return tm, capture
}

// rawCall is a stranger's cluster call: a TCP connection, the protocol
// byte, the hello h (none when nil, as a peer of the earlier protocol
// would send), one frame, and the answer. A refused hello is an error.
func rawCall(t *testing.T, addr string, h *hello, op byte, payload []byte) (byte, []byte, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if h != nil {
		if err := dialHello(c, protoCluster, *h, time.Now().Add(20*time.Second)); err != nil {
			return 0, nil, err
		}
	} else if _, err := c.Write([]byte{protoCluster}); err != nil {
		return 0, nil, err
	}
	frame := binary.BigEndian.AppendUint32(nil, 1)
	frame = append(frame, op)
	frame = binary.BigEndian.AppendUint32(frame, uint32(len(payload)))
	if _, err := c.Write(append(frame, payload...)); err != nil {
		return 0, nil, err
	}
	_, status, reply, err := readFrame(bufio.NewReader(c), maxReplyFrame)
	return status, reply, err
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustCommand(t *testing.T, c *command) []byte {
	t.Helper()
	b, err := encodeCommand(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Finding 1 of issue 17: one frame from a stranger wrote a key, added a
// voter at a dead address (the member lost its quorum for good), or
// removed the last member. Each is refused and logged, whether the
// stranger sends no hello (as the finding did), an anonymous one, or one
// naming the right cluster and a member ID it made up; the store and the
// membership stay as they were.
func TestStrangerCannotWriteJoinOrRemove(t *testing.T) {
	t.Parallel()
	anon := &hello{Version: helloVersion}
	made := func(cid uint64) *hello { return &hello{Version: helloVersion, ClusterID: cid, MemberID: 0xbad} }
	write := func(t *testing.T, tm *testMember) (byte, []byte) {
		return opProposeBin, mustCommand(t, &command{Type: cmdRequest, Req: &store.Request{Method: store.MethodPut, Path: "/injected", Value: "x"}})
	}
	join := func(t *testing.T, tm *testMember) (byte, []byte) {
		ghost := &machines.Member{ID: 0x1234, Name: "ghost", PeerURLs: []string{"http://127.0.0.1:1"}}
		return opJoin, mustJSON(t, memberRequest{Op: "join", Member: ghost, Nonce: "n"})
	}
	remove := func(t *testing.T, tm *testMember) (byte, []byte) {
		return opMember, mustJSON(t, memberRequest{Op: "remove", ID: tm.m.ID})
	}
	removeAsJoin := func(t *testing.T, tm *testMember) (byte, []byte) {
		return opJoin, mustJSON(t, memberRequest{Op: "remove", ID: tm.m.ID})
	}
	cases := []struct {
		name  string
		hello func(cid uint64) *hello
		call  func(*testing.T, *testMember) (byte, []byte)
		log   string // the Warn line expected
	}{
		{"write/no hello", nil, write, "peer connection refused"},
		{"join/no hello", nil, join, "peer connection refused"},
		{"remove/no hello", nil, remove, "peer connection refused"},
		{"write/anonymous", func(uint64) *hello { return anon }, write, "peer call refused"},
		{"join/anonymous", func(uint64) *hello { return anon }, join, "join refused"},
		{"remove/anonymous", func(uint64) *hello { return anon }, remove, "peer call refused"},
		{"remove as join/anonymous", func(uint64) *hello { return anon }, removeAsJoin, "peer call refused"},
		{"write/made-up member", made, write, "peer connection refused"},
		{"remove/made-up member", made, remove, "peer connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tm, capture := startLonely(t)
			var h *hello
			if tc.hello != nil {
				h = tc.hello(tm.node.ClusterID())
			}
			op, payload := tc.call(t, tm)
			status, reply, err := rawCall(t, tm.m.PeerAddr(), h, op, payload)
			if err == nil && status == statusOK {
				var rep memberReply
				if json.Unmarshal(reply, &rep) != nil || rep.Kind == "" {
					t.Errorf("the call was served: status %d, reply %q", status, reply)
				}
			}
			t.Logf("answer: status %d, %q, err %v", status, reply, err)
			if _, err := tm.st.Get("/injected", false, false, time.Now()); err == nil {
				t.Error("the stranger's write is in the store")
			}
			c := tm.node.Cluster()
			if len(c.Members) != 1 || c.Members[tm.m.ID] == nil || len(c.Removed) != 0 {
				t.Errorf("membership changed: %+v removed %v", c.Members, c.Removed)
			}
			if v := tm.node.voters(); len(v) != 1 || v[0] != tm.m.ID {
				t.Errorf("raft voters changed: %v", v)
			}
			put(t, tm.node, "/still/writable", "yes")
			if e := capture.find(tc.log, nil); e == nil {
				t.Errorf("no Warn %q logged", tc.log)
			} else if tc.log != "join refused" && e.Data["remote"] == nil {
				t.Errorf("the refusal does not name the remote address: %v", e.Data)
			}
		})
	}
}

// strangerTransport is a raft NetworkTransport whose connections open
// with the protocol byte and the given hello (none when nil).
func strangerTransport(t *testing.T, h *hello) *raft.NetworkTransport {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	st := &rawStream{Listener: ln, h: h}
	tr := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: st, MaxPool: 1, Timeout: 5 * time.Second,
		Logger: newRaftLogger(quietLog())})
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

type rawStream struct {
	net.Listener
	h *hello
}

func (s *rawStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil {
		return nil, err
	}
	if s.h == nil {
		_, err = c.Write([]byte{protoRaft})
	} else {
		err = dialHello(c, protoRaft, *s.h, time.Now().Add(timeout))
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// A stranger's raft messages never reach raft: a vote request and an
// append for a far later term (raft, which does not check who sends an
// append, would adopt the term, step down and answer success) are refused
// whatever hello comes first — none, anonymous, a wrong
// cluster, the right cluster with an unknown member or with a removed
// one. A member's hello is accepted.
func TestStrangerRaftRefused(t *testing.T) {
	t.Parallel()
	tm, capture := startLonely(t)
	n := tm.node
	ghost, err := n.AddMember(context.Background(), []string{"http://127.0.0.1:1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.RemoveMember(context.Background(), ghost.ID); err != nil {
		t.Fatal(err)
	}
	cid := n.ClusterID()
	term := n.RaftTerm()
	cases := []struct {
		name   string
		h      *hello
		reason string
	}{
		{"no hello", nil, ""}, // the refusal reads as garbage to raft
		{"anonymous", &hello{Version: helloVersion}, "need a member identity"},
		{"wrong cluster", &hello{Version: helloVersion, ClusterID: cid + 1, MemberID: 0xbad}, "cluster ID mismatch"},
		{"unknown member", &hello{Version: helloVersion, ClusterID: cid, MemberID: 0xbad}, "is not a member"},
		{"removed member", &hello{Version: helloVersion, ClusterID: cid, MemberID: ghost.ID}, "was removed"},
		{"this member's own ID", &hello{Version: helloVersion, ClusterID: cid, MemberID: tm.m.ID}, "own ID"},
		{"other version", &hello{Version: helloVersion + 1, ClusterID: cid, MemberID: 0xbad}, "version"},
	}
	for _, tc := range cases {
		tr := strangerTransport(t, tc.h)
		var resp raft.RequestVoteResponse
		err := tr.RequestVote("x", raft.ServerAddress(tm.m.PeerAddr()), &raft.RequestVoteRequest{
			RPCHeader: raft.RPCHeader{ID: []byte("bad"), Addr: []byte(tr.LocalAddr())},
			Term:      term + 1000, LastLogIndex: 1 << 40, LastLogTerm: term + 999,
		}, &resp)
		if err == nil {
			t.Errorf("%s: the vote request was answered: %+v", tc.name, resp)
		} else if !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: refused with %q, want a reason containing %q", tc.name, err, tc.reason)
		}
		// Without the hello check an append for a later term was
		// answered with success, and the leader adopted the term.
		var aresp raft.AppendEntriesResponse
		if err := tr.AppendEntries("x", raft.ServerAddress(tm.m.PeerAddr()), &raft.AppendEntriesRequest{
			RPCHeader: raft.RPCHeader{ID: []byte("bad"), Addr: []byte(tr.LocalAddr())}, Term: term + 1000,
		}, &aresp); err == nil {
			t.Errorf("%s: the append was answered: %+v", tc.name, aresp)
		}
	}
	if got := n.RaftTerm(); got != term || !n.IsLeader() {
		t.Fatalf("term %d → %d, leader %v: a stranger's vote request reached raft", term, got, n.IsLeader())
	}
	if e := capture.find("peer connection refused", logrus.Fields{"member_id": machines.IDString(ghost.ID)}); e == nil || e.Data["remote"] == nil {
		t.Errorf("the removed member's refusal was not logged with its remote address: %v", e)
	}
	// The hello of a member in the table is accepted (even one added but
	// not started yet).
	added, err := n.AddMember(context.Background(), []string{"http://127.0.0.1:2"}, true)
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialer{proto: protoRaft, hello: func() hello {
		return hello{Version: helloVersion, ClusterID: cid, MemberID: added.ID}
	}}.dial(tm.m.PeerAddr(), 5*time.Second)
	if err != nil {
		t.Fatalf("a member's hello was refused: %v", err)
	}
	_ = c.Close()
}
