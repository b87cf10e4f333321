package raftfsm

import (
	"context"
	"encoding/binary"
	"math"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/etcd-classic/etcd-classic/machines"
)

// followerState is what the leader knows of one follower.
type followerState struct {
	machines.FollowerStats
	lastOK     time.Time
	applied    uint64
	sum, sumSq float64
}

// monitor is the leader's view of its followers: every probe interval it
// asks each member for its applied index. Answers within two election
// timeouts make a member "running and connected" for the strict
// reconfiguration check; the round trips feed /v2/stats/leader.
type monitor struct {
	*raftNode
	mu    sync.Mutex // guards stats
	stats map[uint64]*followerState
}

func (m *monitor) get(id uint64) (followerState, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.stats[id]
	if !ok {
		return followerState{}, false
	}
	return *s, true
}

func (m *monitor) reset() {
	m.mu.Lock()
	m.stats = map[uint64]*followerState{}
	m.mu.Unlock()
}

func (m *monitor) record(id uint64, ok bool, rtt time.Duration, applied uint64, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stats == nil {
		m.stats = map[uint64]*followerState{}
	}
	s := m.stats[id]
	if s == nil {
		s = &followerState{}
		s.Min = math.MaxFloat64
		m.stats[id] = s
	}
	if !ok {
		s.Fail++
		return
	}
	sec := rtt.Seconds()
	s.Success++
	s.lastOK, s.applied = now, applied
	s.Current = sec
	s.sum += sec
	s.sumSq += sec * sec
	n := float64(s.Success)
	s.Average = s.sum / n
	if v := s.sumSq/n - s.Average*s.Average; v > 0 {
		s.StdDev = math.Sqrt(v)
	} else {
		s.StdDev = 0
	}
	s.Min = math.Min(s.Min, sec)
	s.Max = math.Max(s.Max, sec)
}

// leaderStats returns, on the leader, the probe statistics of every other
// member; ok is false on a follower.
func (m *monitor) leaderStats() (map[uint64]machines.FollowerStats, bool) {
	if m.raft.State() != raft.Leader {
		return nil, false
	}
	out := map[uint64]machines.FollowerStats{}
	for id := range m.fsm.Cluster().Members {
		if id == m.cfg.ID {
			continue
		}
		s, _ := m.get(id)
		fs := s.FollowerStats
		if fs.Success == 0 {
			fs.Min = 0
		}
		out[id] = fs
	}
	return out, true
}

// run probes the other members every election timeout/4 while this
// member leads (until ctx ends).
func (m *monitor) run(ctx context.Context) {
	m.reset()
	interval := m.cfg.ElectionTimeout / 4
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for id, mb := range m.fsm.Cluster().Members {
			if id == m.cfg.ID {
				continue
			}
			go m.probe(ctx, id, mb.PeerAddr())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probe asks the member id at addr for its applied index and records the
// answer and its round trip.
func (m *monitor) probe(ctx context.Context, id uint64, addr string) {
	if addr == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.ElectionTimeout)
	defer cancel()
	start := time.Now()
	b, err := m.peers.call(ctx, addr, opStatus, nil)
	rtt := time.Since(start)
	if ctx.Err() != nil && err != nil && m.ctx.Err() != nil {
		return
	}
	applied, k := binary.Uvarint(b)
	m.record(id, err == nil && k > 0, rtt, applied, m.cfg.Clock.Now())
}

// activeCount counts the members among ids that are running and
// connected: the leader itself, and followers that answered the leader's
// health probe within the last two election timeouts.
func (m *monitor) activeCount(ids []uint64) int {
	count := 0
	horizon := m.cfg.Clock.Now().Add(-2 * m.cfg.ElectionTimeout)
	for _, id := range ids {
		if id == m.cfg.ID {
			count++
			continue
		}
		if st, ok := m.get(id); ok && st.lastOK.After(horizon) {
			count++
		}
	}
	return count
}

// caughtUp reports whether a member has applied (nearly) all of the log.
func (m *monitor) caughtUp(mb *machines.Member) bool {
	st, ok := m.get(mb.ID)
	if !ok || st.lastOK.Before(m.cfg.Clock.Now().Add(-2*m.cfg.ElectionTimeout)) {
		return false
	}
	commit := m.raft.CommitIndex()
	// etcd lets a learner within 10% of the leader's log be promoted.
	return st.applied*10 >= commit*9
}
