package raftfsm

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// anonJoin sends a join request for m with nonce the way a stranger (or a
// joining member) does and returns the cluster's answer: its reply, or
// the error it answered with.
func anonJoin(t *testing.T, addr string, m *machines.Member, nonce string) (*memberReply, error) {
	t.Helper()
	status, reply, err := rawCall(t, addr, &anonymousHello, opJoin, mustJSON(t, memberRequest{Member: m, Nonce: nonce}))
	if err != nil {
		t.Fatalf("join call: %v", err)
	}
	if status != statusOK {
		return nil, decodeRPCError(reply)
	}
	var rep memberReply
	if err := json.Unmarshal(reply, &rep); err != nil {
		t.Fatal(err)
	}
	return &rep, nil
}

// The leader adds a -C/-peers joiner only once the process at the peer
// URL it advertises, called back, proves to be the one asking. A join for
// a process that is running but not joining, for a member of another
// cluster, or with a guessed nonce is refused and logged; with the
// joiner's own nonce it goes through.
func TestJoinVerifiedByCallingBack(t *testing.T) {
	t.Parallel()
	ld, capture := startLonely(t)
	addr := ld.m.PeerAddr()

	// A running member that is not joining (it knows no cluster).
	idle := newTestCluster(t, 1)[0]
	startWith(t, idle, nil)
	// A member of another cluster.
	other := newTestCluster(t, 1)[0]
	startWith(t, other, func(c *Config) { c.InitialMembers, c.ClusterID = []*machines.Member{other.m}, 99 })
	// A member waiting for its own join: it has learned the cluster.
	joiner := newTestCluster(t, 1)[0]
	joiner.m.Name = "joiner"
	startWith(t, joiner, nil)
	if err := joiner.node.learned.learn(ld.node.ClusterID(), ld.node.Cluster().Sorted()); err != nil {
		t.Fatal(err)
	}
	joiner.node.members.joinNonce.Store("the-real-nonce")

	for _, tc := range []struct {
		name, nonce, want string
		target            *testMember
	}{
		{"not joining", "x", "does not belong to a cluster", idle},
		{"other cluster", "x", "cluster ID mismatch", other},
		{"guessed nonce", "a-guess", "not the one asking", joiner},
		{"no nonce", "", "no nonce", joiner},
	} {
		rep, err := anonJoin(t, addr, tc.target.m, tc.nonce)
		if !errors.Is(err, ErrJoinRefused) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: answer %+v %v, want a join refusal saying %q", tc.name, rep, err, tc.want)
		}
		if e := capture.find("join refused", map[string]any{"id": machines.IDString(tc.target.m.ID)}); e == nil {
			t.Errorf("%s: no Warn logged", tc.name)
		}
	}
	if got := len(ld.node.Cluster().Members); got != 1 {
		t.Fatalf("members after refused joins: %d", got)
	}
	rep, err := anonJoin(t, addr, joiner.m, "the-real-nonce")
	if err != nil || rep.Member == nil || rep.Member.ID != joiner.m.ID {
		t.Fatalf("the verified join: %+v %v", rep, err)
	}
	eventually(t, "the joiner replicates", func() bool { return len(joiner.node.Cluster().Members) == 2 })
	put(t, joiner.node, "/joined", "yes")
}

// A member that advertises a peer URL nobody answers at is told so
// clearly, and the cluster stays as it was.
func TestJoinWithWrongAdvertisedURL(t *testing.T) {
	t.Parallel()
	ld, _ := startLonely(t)
	j := newTestCluster(t, 1)[0]
	j.m.PeerURLs = []string{"http://127.0.0.1:1"}
	startWith(t, j, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := j.node.Join(ctx, []string{ld.m.PeerAddr()})
	if !errors.Is(err, ErrJoinRefused) || !strings.Contains(err.Error(), "http://127.0.0.1:1") {
		t.Fatalf("join: %v", err)
	}
	t.Logf("the joiner is told: %v", err)
	if got := len(ld.node.Cluster().Members); got != 1 {
		t.Fatalf("members: %d", got)
	}
}

// Finding 2 of issue 17: a value of 50 MB written through a follower was
// stored. The leader refuses a forwarded write whose value the client
// API would refuse (etcd: 400, error 210), and takes the largest legal
// one.
func TestForwardedValueLimit(t *testing.T) {
	t.Parallel()
	ms := newTestCluster(t, 3)
	initial, cid := bootstrapOf(ms)
	for _, tm := range ms {
		startWith(t, tm, func(c *Config) {
			c.InitialMembers, c.ClusterID = initial, cid
			if raceEnabled {
				// The race detector checks every byte of each copy of the
				// 10 MiB entry (encoding, the peer frames, raft-boltdb's
				// pages): seconds of CPU on two cores, during which the
				// followers' answers to heartbeats come later than the
				// leader lease of the usual timings (half an election
				// timeout). Without the detector the usual timings hold.
				c.ElectionTimeout, c.HeartbeatInterval = 5*time.Second, 500*time.Millisecond
			}
		})
	}
	eventually(t, "leader", func() bool { return leaderOf(ms) != nil })
	var f *testMember
	for _, tm := range ms {
		if !tm.node.IsLeader() {
			f = tm
		}
	}
	ctx := context.Background()
	_, err := f.node.Propose(ctx, &store.Request{Method: store.MethodPut, Path: "/big", Value: strings.Repeat("x", maxValueBytes+1)})
	var se *store.Error
	if !errors.As(err, &se) || se.Code != store.EcodeInvalidForm {
		t.Fatalf("a value over the limit: %v", err)
	}
	if _, err := leaderOf(ms).st.Get("/big", false, false, time.Now()); err == nil {
		t.Fatal("the oversized value was stored")
	}
	ev, err := f.node.Propose(ctx, &store.Request{Method: store.MethodPut, Path: "/big", Value: strings.Repeat("y", maxValueBytes)})
	if err != nil || ev.Node == nil || len(*ev.Node.Value) != maxValueBytes {
		t.Fatalf("the largest legal value: %v", err)
	}
}

// The members a member learned from the cluster survive a restart, and a
// damaged record stops the start with a line naming the file.
func TestLearnedPeersFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), peersFileName)
	var a learnedPeers
	if err := a.load(path); err != nil {
		t.Fatal(err)
	}
	if err := a.learn(0x77, []*machines.Member{{ID: 1}, {ID: 2}}); err != nil {
		t.Fatal(err)
	}
	var b learnedPeers
	if err := b.load(path); err != nil {
		t.Fatal(err)
	}
	if b.cluster() != 0x77 || !b.has(1) || !b.has(2) || b.has(3) {
		t.Fatalf("reloaded: cluster %x, ids %v", b.cluster(), b.ids)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(raw), `"members":["`) + len(`"members":["`)
	raw[i] ^= 1
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	var c learnedPeers
	if err := c.load(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged file: %v", err)
	}
}

// A 2.x member (--initial-cluster-state=existing) restarted before the
// first log entry reached it still recognises its cluster: it accepts the
// leader's connections once the lookup puts it into raft's
// configuration. (A guard for the hello check: before it, nothing was
// checked.)
func TestMemberRestartedBeforeItsLogArrived(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 1)
	ld := ms[0]
	eventually(t, "leader", func() bool { return ld.node.IsLeader() && len(ld.node.Cluster().Members) == 1 })
	extra := newTestCluster(t, 1)[0]
	m, err := ld.node.AddMember(context.Background(), extra.m.PeerURLs, false)
	if err != nil {
		t.Fatal(err)
	}
	extra.m.ID = m.ID
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cid, members, err := ListMembers(ctx, []string{ld.m.PeerAddr()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// First start, as after a lookup; stopped before anything arrives
	// (the member is not in raft's configuration yet).
	startWith(t, extra, func(c *Config) { c.ClusterID, c.KnownMembers = cid, members })
	_ = extra.node.Close()
	extra.node = nil
	// The restart knows only its cluster ID (identity.json).
	startWith(t, extra, func(c *Config) { c.ClusterID = cid })
	if _, err := LookupMember(ctx, []string{ld.m.PeerAddr()}, extra.m.PeerURLs, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "two voters", func() bool { return len(ld.node.voters()) == 2 })
	put(t, ld.node, "/after", "restart")
	sameState(t, []*testMember{ld, extra})
}
