package raftfsm

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
)

// ErrNoSpace: the data dir's filesystem lacks room for the write, which
// was refused before it reached raft. Nothing was proposed; the write may
// be retried once space is freed. It wraps etcd's error 300 with the
// cause etcd gives when it refuses writes for lack of space.
var ErrNoSpace = errors.New("raftfsm: no space left in the data dir")

// Why a guard at all: hashicorp/raft's leader steps down as soon as its
// log store fails to store an entry (dispatchLogs), and every new leader
// then appends its term's no-op and fails the same way — on a full disk
// one election followed another, and a failed term record (SetUint64)
// would even panic. So nothing is given
// to raft unless the filesystem has room for it, and a reserve file gives
// raft's own records room when the disk fills behind our back.
const (
	// DefaultSpaceReserve is the size of the reserve file: it must hold
	// everything that can be on its way to the log when the disk fills
	// (two batches of the write pipeline, each up to one largest request
	// of about 10 MiB) plus raft's own records.
	DefaultSpaceReserve = 32 << 20
	// spaceFloor is the room a write must leave besides twice its own
	// size: bolt's copy-on-write branch and freelist pages.
	spaceFloor = 8 << 20
	// spaceRecheck is how long a free-space reading is trusted (less the
	// bytes admitted since).
	spaceRecheck = 250 * time.Millisecond
	// spaceRetry is how often a released reserve is tried again.
	spaceRetry = time.Second
	// spaceLogEvery limits refusing/accepting log lines above Debug.
	spaceLogEvery = 10 * time.Second
	// reserveName is the reserve file in DataDir/member.
	reserveName = "space.reserve"
)

// diskGuard admits proposals only while the data dir's filesystem has
// room for them, and keeps a reserve file that it gives back the moment a
// log or term write on this member finds the disk full.
//
// Writes need floor + twice their size free, and also room for the
// reserve when it is not in place; so once the reserve is spent, every
// write is refused until space is freed and the reserve is back.
type diskGuard struct {
	path    string // the reserve file
	reserve int64  // its size
	clock   Clock
	log     *logrus.Entry
	// statfs returns the bytes available to this process on dir's
	// filesystem; allocate gives f size bytes of real disk blocks.
	statfs   func(dir string) (int64, error)
	allocate func(f *os.File, size int64) error
	// role, once set (a roleSource), tells whether this member leads:
	// only a leader's failed append costs leadership.
	role atomic.Value

	mu       sync.Mutex // guards the fields below and the reserve file
	held     bool       // the reserve file is in place
	avail    int64      // free bytes at checked, less the bytes admitted since
	checked  time.Time  // when avail was read from the filesystem
	refusing bool       // the last admission failed (logs transitions only)
	loggedAt time.Time  // last transition logged above Debug
	statErr  bool       // statfs failed (logged once)
}

// newDiskGuard returns a guard for the member dir, or nil (admit all,
// retry nothing) when reserve is negative.
func newDiskGuard(dir string, reserve int64, clock Clock, log *logrus.Entry) *diskGuard {
	if reserve < 0 {
		return nil
	}
	if reserve == 0 {
		reserve = DefaultSpaceReserve
	}
	g := &diskGuard{path: filepath.Join(dir, reserveName), reserve: reserve, clock: clock,
		log: log, statfs: statfs, allocate: allocate}
	// A reserve left by an earlier run counts if it is really allocated.
	if fi, err := os.Stat(g.path); err == nil && allocatedBytes(fi) >= reserve {
		g.held = true
	}
	return g
}

// admit reports whether a proposal of size encoded bytes may go to raft,
// and accounts for it. It returns ErrNoSpace (wrapping etcd's error)
// when it may not.
func (g *diskGuard) admit(size int) error {
	if g == nil {
		return nil
	}
	cost := 2 * int64(size)
	g.mu.Lock()
	defer g.mu.Unlock()
	need := spaceFloor + cost
	if !g.held {
		need += g.reserve
	}
	now := g.clock.Now()
	// A refusal is always based on a fresh reading, so freed space is
	// seen at the next attempt.
	if now.Sub(g.checked) > spaceRecheck || g.avail < need {
		g.refreshLocked(now)
	}
	if g.avail < need {
		if !g.refusing {
			g.logTransition(now, logrus.WarnLevel, "data dir almost full: refusing writes",
				logrus.Fields{"avail": g.avail, "need": need, "reserve_held": g.held})
		}
		g.refusing = true
		return apiError(ErrNoSpace)
	}
	if g.refusing {
		g.logTransition(now, logrus.InfoLevel, "data dir has room again: accepting writes", logrus.Fields{"avail": g.avail})
		g.refusing = false
	}
	g.avail -= cost
	return nil
}

// full reports whether the guard would refuse any write now (etcd's
// NOSPACE alarm, which turns /health false). Like a refusal, a "full"
// rests on a fresh reading, so freed space shows at the next call.
func (g *diskGuard) full() bool {
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	need := int64(spaceFloor)
	if !g.held {
		need += g.reserve
	}
	if now := g.clock.Now(); now.Sub(g.checked) > spaceRecheck || g.avail < need {
		g.refreshLocked(now)
	}
	return g.avail < need
}

// logTransition logs a change between refusing and accepting writes at
// level, or at Debug if one was logged in the last spaceLogEvery: with
// free space near the line, writes of different sizes would otherwise
// flip it at every request.
func (g *diskGuard) logTransition(now time.Time, level logrus.Level, msg string, f logrus.Fields) {
	if now.Sub(g.loggedAt) < spaceLogEvery {
		level = logrus.DebugLevel
	} else {
		g.loggedAt = now
	}
	g.log.WithFields(f).Log(level, msg)
}

func (g *diskGuard) refreshLocked(now time.Time) {
	avail, err := g.statfs(filepath.Dir(g.path))
	if err != nil {
		// Without a reading the guard cannot judge: let writes through
		// (the reserve still protects raft's own records).
		if !g.statErr {
			g.log.WithField("err", err).Warn("cannot read the data dir's free space; not guarding writes")
			g.statErr = true
		}
		avail = math.MaxInt64 / 2
	}
	g.avail, g.checked = avail, now
}

// release gives the reserve's space back to the filesystem; it reports
// whether there was a reserve to give.
func (g *diskGuard) release(why string) bool {
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.held {
		return false
	}
	err := os.Remove(g.path)
	g.held = false
	g.checked = time.Time{}
	g.log.WithFields(logrus.Fields{"file": g.path, "for": why, "err": err}).
		Warn("data dir full: released the space reserve for raft's own records; writes are refused until space is freed")
	return err == nil || errors.Is(err, os.ErrNotExist)
}

// ensureReserve puts the reserve file in place if it is not and the
// filesystem has room for it and for the floor.
func (g *diskGuard) ensureReserve() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held {
		return
	}
	dir := filepath.Dir(g.path)
	avail, err := g.statfs(dir)
	if err != nil {
		avail = math.MaxInt64 / 2 // no reading: try, allocation will tell
	}
	// A partial file from a failed attempt is given back first.
	_ = os.Remove(g.path)
	if avail < g.reserve+spaceFloor {
		return
	}
	if err := g.createReserve(); err != nil {
		_ = os.Remove(g.path)
		g.log.WithFields(logrus.Fields{"file": g.path, "err": err}).Debug("could not create the space reserve")
		return
	}
	g.held = true
	g.checked = time.Time{}
	g.log.WithFields(logrus.Fields{"file": g.path, "bytes": g.reserve}).Debug("space reserve in place")
}

func (g *diskGuard) createReserve() error {
	f, err := os.OpenFile(g.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := g.allocate(f, g.reserve); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// run keeps the reserve in place until done is closed: at once, then
// every spaceRetry while it is missing.
func (g *diskGuard) run(done <-chan struct{}) {
	if g == nil {
		return
	}
	g.ensureReserve()
	tick, stop := g.clock.NewTicker(spaceRetry)
	defer stop()
	for {
		select {
		case <-done:
			return
		case <-tick:
			g.ensureReserve()
		}
	}
}

// roleSource is what the guard asks for this member's role (*raft.Raft).
type roleSource interface{ State() raft.RaftState }

// setRole tells the guard where to ask for this member's role.
func (g *diskGuard) setRole(r roleSource) {
	if g != nil {
		g.role.Store(r)
	}
}

// leads reports whether this member is known to lead (true before raft
// is known, so a failure then is treated as costly).
func (g *diskGuard) leads() bool {
	r, _ := g.role.Load().(roleSource)
	return r == nil || r.State() == raft.Leader
}

// isNoSpaceErr reports whether a write failed for lack of space.
func isNoSpaceErr(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// spaceLogStore retries a leader's failed append once after releasing the
// reserve: a leader whose append fails steps down. A follower's failed
// append only fails that AppendEntries (the leader retries), so a
// follower keeps its reserve for its term records — and, lagging, it is
// not elected while its disk is full.
type spaceLogStore struct {
	raft.LogStore
	g *diskGuard
}

// StoreLog stores one entry (see StoreLogs).
func (s *spaceLogStore) StoreLog(l *raft.Log) error {
	return s.StoreLogs([]*raft.Log{l})
}

// StoreLogs stores entries, retrying once on a full disk as described on
// the type. A failed bolt transaction is rolled back whole, so the retry
// writes the same entries afresh.
func (s *spaceLogStore) StoreLogs(logs []*raft.Log) error {
	err := s.LogStore.StoreLogs(logs)
	if err != nil && isNoSpaceErr(err) && s.g.leads() && s.g.release("log append") {
		err = s.LogStore.StoreLogs(logs)
	}
	return err
}

// spaceStableStore retries a failed write of raft's term or vote once
// after releasing the reserve: hashicorp/raft panics when it cannot
// record its term.
type spaceStableStore struct {
	raft.StableStore
	g *diskGuard
}

// Set stores a key, retrying once on a full disk.
func (s *spaceStableStore) Set(k, v []byte) error {
	err := s.StableStore.Set(k, v)
	if err != nil && isNoSpaceErr(err) && s.g.release("term record") {
		err = s.StableStore.Set(k, v)
	}
	return err
}

// SetUint64 stores a number, retrying once on a full disk.
func (s *spaceStableStore) SetUint64(k []byte, v uint64) error {
	err := s.StableStore.SetUint64(k, v)
	if err != nil && isNoSpaceErr(err) && s.g.release("term record") {
		err = s.StableStore.SetUint64(k, v)
	}
	return err
}

// logStore wraps raft's log store (itself when the guard is off).
func (g *diskGuard) logStore(s raft.LogStore) raft.LogStore {
	if g == nil {
		return s
	}
	return &spaceLogStore{LogStore: s, g: g}
}

// stableStore wraps raft's stable store (itself when the guard is off).
func (g *diskGuard) stableStore(s raft.StableStore) raft.StableStore {
	if g == nil {
		return s
	}
	return &spaceStableStore{StableStore: s, g: g}
}

// commandSize estimates a command's encoded size before it is encoded.
func commandSize(c *command) int {
	if c.Req != nil {
		return requestSize(c.Req)
	}
	return 64
}

// writeFill writes size bytes into f from its start. The bytes are not
// zeros, which some filesystems would store as holes. (A compressing
// filesystem still shrinks them: there the reserve is best effort.)
func writeFill(f *os.File, size int64) error {
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = 0xa5
	}
	for off := int64(0); off < size; {
		chunk := buf
		if size-off < int64(len(chunk)) {
			chunk = chunk[:size-off]
		}
		k, err := f.WriteAt(chunk, off)
		if err != nil {
			return fmt.Errorf("write %s: %w", f.Name(), err)
		}
		off += int64(k)
	}
	return nil
}
