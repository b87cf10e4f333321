//go:build linux

package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// mountTmpfs mounts a tmpfs of the given size (mount(8) syntax) on a
// fresh directory, so that a test can fill the disk under a member. It
// needs root (CAP_SYS_ADMIN); without it the test is skipped. The mount
// goes away after every cleanup registered later (the members) has run.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("skipped: a full-disk test needs a small tmpfs and mounting one failed (run as root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk writes a file into dir until the filesystem has no byte left
// and returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "filler-")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range []int{1 << 20, 4096, 1} {
		buf := make([]byte, chunk)
		for i := range buf {
			buf[i] = 0xa5
		}
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatal(err)
				}
				break
			}
		}
	}
	return f.Name()
}

// startOnDisk starts the members of ms with their data dirs under root.
func startOnDisk(t *testing.T, ms []*testMember, root string) {
	t.Helper()
	initial, cid := bootstrapOf(ms)
	for _, tm := range ms {
		tm.dir = filepath.Join(root, tm.m.Name)
		startMember(t, tm, initial, cid)
	}
}

// isNoSpace checks the refusal of a write for lack of disk space: the
// package's sentinel, carrying etcd's error 300 with the cause etcd
// gives when it refuses writes for space.
func isNoSpace(t *testing.T, err error) bool {
	t.Helper()
	if !errors.Is(err, ErrNoSpace) {
		return false
	}
	var se *store.Error
	if !errors.As(err, &se) || se.Code != store.EcodeRaftInternal || se.Cause != "etcdserver: mvcc: database space exceeded" {
		t.Fatalf("refused write carries %#v, want error 300 with etcd's space-exceeded cause", se)
	}
	return true
}

// hammer tries a write every 20 ms on via for d, checking after each that
// leader still leads in term and that plain and quorum reads answer on
// every member of readers. Each write must succeed or be refused for
// lack of space; it returns the acknowledged keys and the refusals.
func hammer(t *testing.T, via, leader *testMember, term uint64, readers []*testMember, d time.Duration, prefix string) (acked []string, refused int) {
	t.Helper()
	changes := leader.node.Metrics().LeaderChanges
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	end := time.Now().Add(d)
	for i := 0; time.Now().Before(end); i++ {
		key := fmt.Sprintf("/%s/%d", prefix, i)
		_, err := via.node.Propose(context.Background(), &store.Request{Method: store.MethodPut, Path: key, Value: "v"})
		switch {
		case err == nil:
			acked = append(acked, key)
		case isNoSpace(t, err):
			refused++
		default:
			t.Fatalf("write %s on a full disk: %v (want success or the no-space error)", key, err)
		}
		if !leader.node.IsLeader() || leader.node.RaftTerm() != term || leader.node.Metrics().LeaderChanges != changes {
			t.Fatalf("leadership moved on a full disk: %s leads=%v term %d → %d, leader changes %d → %d", leader.m.Name,
				leader.node.IsLeader(), term, leader.node.RaftTerm(), changes, leader.node.Metrics().LeaderChanges)
		}
		for _, r := range readers {
			if _, err := r.st.Get("/before", false, false, time.Now()); err != nil {
				t.Fatalf("plain read on %s: %v", r.m.Name, err)
			}
			if err := r.node.ReadBarrier(context.Background()); err != nil {
				t.Fatalf("quorum read on %s: %v", r.m.Name, err)
			}
		}
		<-tick.C
	}
	return acked, refused
}

// mustHave checks that every acknowledged key is in each member's store.
func mustHave(t *testing.T, keys []string, ms ...*testMember) {
	t.Helper()
	for _, tm := range ms {
		for _, k := range keys {
			eventually(t, k+" on "+tm.m.Name, func() bool {
				_, err := tm.st.Get(k, false, false, time.Now())
				return err == nil
			})
		}
	}
}

// TestFullDiskKeepsLeader: with its data dir's filesystem full, a member
// keeps its leadership (same term throughout), answers plain and quorum
// reads, refuses writes with etcd's space error, and takes writes again
// by itself once space is freed. Before the guard, the first write that
// failed to reach the log made raft step down, and every new term's no-op
// failed the same way: dozens of elections in a few seconds.
func TestFullDiskKeepsLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("full-disk test")
	}
	root := mountTmpfs(t, "64m")
	ms := newTestCluster(t, 1)
	startOnDisk(t, ms, root)
	tm := ms[0]
	n := tm.node
	eventually(t, "leader", func() bool { return n.IsLeader() })
	eventually(t, "ready", func() bool { return n.ReadBarrier(context.Background()) == nil })
	if _, err := n.Propose(context.Background(), &store.Request{Method: store.MethodPut, Path: "/before", Value: "v"}); err != nil {
		t.Fatal(err)
	}
	term := n.RaftTerm()

	filler := fillDisk(t, root)
	acked, refused := hammer(t, tm, tm, term, ms, 4*time.Second, "full")
	if refused == 0 {
		t.Fatalf("no write was refused on a full disk (%d acknowledged)", len(acked))
	}
	t.Logf("full disk: %d writes acknowledged, %d refused, term %d throughout", len(acked), refused, term)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	eventually(t, "writes accepted once space is freed", func() bool {
		_, err := n.Propose(context.Background(), &store.Request{Method: store.MethodPut, Path: "/after", Value: "v"})
		if err != nil && !isNoSpace(t, err) {
			t.Fatalf("write after freeing space: %v", err)
		}
		return err == nil
	})
	if !n.IsLeader() || n.RaftTerm() != term {
		t.Fatalf("leadership moved: leads=%v term %d → %d", n.IsLeader(), term, n.RaftTerm())
	}
	mustHave(t, append(acked, "/before", "/after"), tm)

	// The log the failed appends left behind opens cleanly and holds
	// every acknowledged write.
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	startMember(t, tm, nil, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tm.node.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	mustHave(t, append(acked, "/before", "/after"), tm)
}

// TestFullDiskNewLeaderHolds: three members share one full filesystem.
// The leader refuses writes and keeps its term; when it then stops, with
// the disk filled to the last byte again, one of the others takes over
// and keeps the leadership (its term records and no-op find room in the
// space reserve), serves quorum reads, and accepts writes once space is
// freed. Nothing acknowledged is lost.
func TestFullDiskNewLeaderHolds(t *testing.T) {
	if testing.Short() {
		t.Skip("full-disk test")
	}
	root := mountTmpfs(t, "192m")
	ms := newTestCluster(t, 3)
	startOnDisk(t, ms, root)
	eventually(t, "leader", func() bool { return leaderOf(ms) != nil })
	for _, tm := range ms {
		eventually(t, "ready and published", func() bool {
			return tm.node.ReadBarrier(context.Background()) == nil && len(tm.node.Cluster().ClientURLs()) == 3
		})
	}
	ld := leaderOf(ms)
	if _, err := ld.node.Propose(context.Background(), &store.Request{Method: store.MethodPut, Path: "/before", Value: "v"}); err != nil {
		t.Fatal(err)
	}
	rest := without(ms, ld)

	fillers := []string{fillDisk(t, root)}
	acked, refused := hammer(t, ld, ld, ld.node.RaftTerm(), ms, 2*time.Second, "full")
	if refused == 0 {
		t.Fatalf("no write was refused on a full disk (%d acknowledged)", len(acked))
	}
	// Through a follower, the refusal is the same.
	more, _ := hammer(t, rest[0], ld, ld.node.RaftTerm(), nil, 200*time.Millisecond, "viafollower")
	acked = append(acked, more...)

	// Fill whatever a released reserve gave back, then take the leader
	// away: the next leader must write its term and no-op on a full disk.
	fillers = append(fillers, fillDisk(t, root))
	if err := ld.node.Close(); err != nil {
		t.Logf("closing the leader: %v", err)
	}
	eventually(t, "a new leader", func() bool { return leaderOf(rest) != nil })
	nl := leaderOf(rest)
	eventually(t, "the new leader serves quorum reads", func() bool {
		return nl.node.ReadBarrier(context.Background()) == nil
	})
	term := nl.node.RaftTerm()
	more, _ = hammer(t, nl, nl, term, rest, 3*time.Second, "newleader")
	acked = append(acked, more...)

	for _, f := range fillers {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "writes accepted once space is freed", func() bool {
		_, err := nl.node.Propose(context.Background(), &store.Request{Method: store.MethodPut, Path: "/after", Value: "v"})
		if err != nil && !isNoSpace(t, err) {
			t.Fatalf("write after freeing space: %v", err)
		}
		return err == nil
	})
	if !nl.node.IsLeader() || nl.node.RaftTerm() != term {
		t.Fatalf("leadership moved after the disk was freed: term %d → %d", term, nl.node.RaftTerm())
	}
	mustHave(t, append(acked, "/before", "/after"), rest...)
}
