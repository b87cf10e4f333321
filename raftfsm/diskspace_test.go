package raftfsm

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/etcd-classic/etcd-classic/store"
)

// stepClock is a Clock whose time moves only when the test says so.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
func (c *stepClock) NewTicker(time.Duration) (<-chan time.Time, func()) {
	return make(chan time.Time), func() {}
}

// fakeDisk stands in for the filesystem's free space.
type fakeDisk struct {
	mu    sync.Mutex
	avail int64
	reads int
}

func (d *fakeDisk) statfs(string) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reads++
	return d.avail, nil
}

func (d *fakeDisk) set(v int64) { d.mu.Lock(); d.avail = v; d.mu.Unlock() }

const testReserve = 64 << 10

func newTestGuard(t *testing.T, avail int64) (*diskGuard, *fakeDisk, *stepClock) {
	t.Helper()
	disk := &fakeDisk{avail: avail}
	clock := &stepClock{now: time.Unix(1000, 0)}
	g := newDiskGuard(t.TempDir(), testReserve, clock, testLogger(t))
	g.statfs = disk.statfs
	return g, disk, clock
}

func TestDiskGuardAdmit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		held  bool
		avail int64
		size  int
		want  bool // admitted
	}{
		{"room with reserve held", true, spaceFloor + 2*100, 100, true},
		{"one byte short with reserve held", true, spaceFloor + 2*100 - 1, 100, false},
		{"a big write needs twice its size", true, spaceFloor + 10<<20, 10 << 20, false},
		{"reserve missing: its room is needed too", false, spaceFloor + 2*100, 100, false},
		{"reserve missing, room for it and the write", false, testReserve + spaceFloor + 2*100, 100, true},
		{"empty disk", true, 0, 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g, _, _ := newTestGuard(t, tc.avail)
			g.held = tc.held
			err := g.admit(tc.size)
			if got := err == nil; got != tc.want {
				t.Fatalf("admit(%d) with %d free, reserve held %v: err %v, want admitted=%v", tc.size, tc.avail, tc.held, err, tc.want)
			}
			if err != nil {
				var se *store.Error
				if !errors.Is(err, ErrNoSpace) || !errors.As(err, &se) || se.Code != store.EcodeRaftInternal ||
					se.Cause != "etcdserver: mvcc: database space exceeded" {
					t.Fatalf("refusal is %v (%#v), want ErrNoSpace with error 300", err, se)
				}
			}
		})
	}
}

// full says whether any write would be refused, from a fresh reading
// once the last one said so: freed space shows without a write.
func TestDiskGuardFull(t *testing.T) {
	t.Parallel()
	g, disk, _ := newTestGuard(t, spaceFloor)
	g.held = true
	if g.full() {
		t.Fatal("full with the floor free and the reserve held")
	}
	disk.set(spaceFloor - 1)
	if g.admit(1) == nil || !g.full() {
		t.Fatal("not full one byte under the floor")
	}
	g.held = false // the reserve was spent: its room is needed again
	disk.set(spaceFloor + testReserve - 1)
	if !g.full() {
		t.Fatal("not full without room for the reserve")
	}
	disk.set(spaceFloor + testReserve)
	if g.full() {
		t.Fatal("still full after space was freed")
	}
	var off *diskGuard
	if off.full() {
		t.Fatal("a guard that is off says full")
	}
}

// Within one reading's lifetime, admitted bytes are counted against it;
// when the count says no, or the reading is old, the disk is read again,
// and a refusal always rests on a fresh reading.
func TestDiskGuardAccountsAndRereads(t *testing.T) {
	t.Parallel()
	g, disk, clock := newTestGuard(t, spaceFloor+10*2000)
	g.held = true
	for i := 0; i < 10; i++ {
		if err := g.admit(1000); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if disk.reads != 1 {
		t.Errorf("%d statfs calls for 10 writes within %v, want 1", disk.reads, spaceRecheck)
	}
	// The count is used up, the disk (a fake) still has room.
	if err := g.admit(1000); err != nil || disk.reads != 2 {
		t.Fatalf("write past the counted room: %v after %d readings, want admitted after 2", err, disk.reads)
	}
	disk.set(spaceFloor + 1000)
	if err := g.admit(1000); err != nil || disk.reads != 2 {
		t.Fatalf("write within the reading's lifetime: %v after %d readings", err, disk.reads)
	}
	clock.advance(spaceRecheck + time.Millisecond)
	if err := g.admit(1000); !errors.Is(err, ErrNoSpace) || disk.reads != 3 {
		t.Fatalf("write on a disk filled since the last reading: %v after %d readings", err, disk.reads)
	}
	disk.set(1 << 30)
	if err := g.admit(1000); err != nil {
		t.Fatalf("write once space is freed: %v", err)
	}
}

func TestDiskGuardReserveLifecycle(t *testing.T) {
	t.Parallel()
	g, disk, _ := newTestGuard(t, testReserve+spaceFloor-1)
	g.ensureReserve()
	if g.held {
		t.Fatal("reserve created without room for it and the floor")
	}
	if _, err := os.Stat(g.path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("reserve file left behind: %v", err)
	}
	disk.set(testReserve + spaceFloor)
	g.ensureReserve()
	fi, err := os.Stat(g.path)
	if !g.held || err != nil || allocatedBytes(fi) < testReserve {
		t.Fatalf("reserve not in place: held=%v stat=%v", g.held, err)
	}
	// A restart finds it and keeps it.
	again := newDiskGuard(filepath.Dir(g.path), testReserve, g.clock, g.log)
	if !again.held {
		t.Error("a reserve left by an earlier run is not counted")
	}
	if !g.release("test") || g.held {
		t.Fatal("release did not give the reserve back")
	}
	if _, err := os.Stat(g.path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("released reserve still on disk: %v", err)
	}
	if g.release("test") {
		t.Error("a second release claims to free something")
	}
	// A sparse file of the right size reserves nothing.
	if err := os.WriteFile(g.path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(g.path, testReserve); err != nil {
		t.Fatal(err)
	}
	if newDiskGuard(filepath.Dir(g.path), testReserve, g.clock, g.log).held {
		t.Error("a sparse reserve file is taken for a real one")
	}
}

// flakyStore fails writes with ENOSPC while the reserve file exists, as a
// full disk does until the reserve's blocks are given back.
type flakyStore struct {
	raft.LogStore
	raft.StableStore
	reserve string
	calls   int
}

func (f *flakyStore) write() error {
	f.calls++
	if _, err := os.Stat(f.reserve); err == nil {
		return &os.PathError{Op: "write", Path: "raft.db", Err: syscall.ENOSPC}
	}
	return nil
}

func (f *flakyStore) StoreLogs([]*raft.Log) error        { return f.write() }
func (f *flakyStore) StoreLog(*raft.Log) error           { return f.write() }
func (f *flakyStore) Set(k, v []byte) error              { return f.write() }
func (f *flakyStore) SetUint64(k []byte, v uint64) error { return f.write() }

type fixedRole raft.RaftState

func (r fixedRole) State() raft.RaftState { return raft.RaftState(r) }

func TestFullDiskWritesRetryAfterRelease(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		role      raft.RaftState
		write     func(g *diskGuard, s *flakyStore) error
		wantOK    bool
		wantCalls int
	}{
		{"leader append", raft.Leader, func(g *diskGuard, s *flakyStore) error {
			return g.logStore(s).StoreLogs([]*raft.Log{{Index: 1}})
		}, true, 2},
		{"leader single append", raft.Leader, func(g *diskGuard, s *flakyStore) error {
			return g.logStore(s).StoreLog(&raft.Log{Index: 1})
		}, true, 2},
		// A follower keeps its reserve for its term records: its failed
		// append costs nothing but a retry from the leader.
		{"follower append", raft.Follower, func(g *diskGuard, s *flakyStore) error {
			return g.logStore(s).StoreLogs([]*raft.Log{{Index: 1}})
		}, false, 1},
		{"term record", raft.Candidate, func(g *diskGuard, s *flakyStore) error {
			return g.stableStore(s).SetUint64([]byte("CurrentTerm"), 3)
		}, true, 2},
		{"vote record", raft.Follower, func(g *diskGuard, s *flakyStore) error {
			return g.stableStore(s).Set([]byte("LastVoteCand"), []byte("x"))
		}, true, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g, _, _ := newTestGuard(t, 1<<30)
			g.ensureReserve()
			g.setRole(fixedRole(tc.role))
			s := &flakyStore{reserve: g.path}
			err := tc.write(g, s)
			if (err == nil) != tc.wantOK || s.calls != tc.wantCalls {
				t.Fatalf("err %v after %d calls; want ok=%v after %d", err, s.calls, tc.wantOK, tc.wantCalls)
			}
			if tc.wantOK == g.held {
				t.Errorf("reserve held=%v after the write", g.held)
			}
			// Spent, the reserve cannot save a second failure.
			if tc.wantOK {
				if err := os.WriteFile(g.path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := tc.write(g, s); err == nil {
					t.Error("a second full-disk failure was hidden")
				}
			}
		})
	}
}

func TestNoSpaceCrossesTheWire(t *testing.T) {
	t.Parallel()
	err := decodeRPCError(encodeRPCError(apiError(ErrNoSpace)))
	var se *store.Error
	if !errors.Is(err, ErrNoSpace) || !errors.As(err, &se) || se.Code != store.EcodeRaftInternal {
		t.Fatalf("decoded %v", err)
	}
}
