package raftfsm

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
)

// Commit notices: telling followers at once that an entry is committed.
//
// A follower of hashicorp/raft learns a commit only from the leader's
// next AppendEntries. While writes flow, the next entries carry it; after
// the last write of a burst, raft sends an AppendEntries without entries
// only once CommitTimeout has passed (its heartbeats carry no commit
// index, to stay clear of the follower's disk). Every follower then
// applies the last write 5–10 ms late at a CommitTimeout of 5 ms — which
// also woke an idle leader 200–400 times a second — or up to a second
// late at the CommitTimeout an idle cluster can afford.
//
// So the members that know an entry is committed tell the followers:
//
//   - the leader, whenever the entry it just applied is the last of its
//     log (nothing else is on its way to carry the news), sends a notice
//     (opCommitted: index and term) to every other member; at most one
//     per member is in flight, and a newer one replaces one waiting;
//   - a follower that forwarded a write finds the same news in the
//     leader's answer.
//
// A follower hands its raft, through the transport's consumer
// (statsTransport.inject), the AppendEntries the leader could have sent
// itself: the entry's term, previous entry (index, term), no entries,
// commit index = index. Raft checks it like any other: it refuses it
// unless its log holds that entry with that term (the log matching
// property then makes its log up to the entry the leader's), and raises
// its commit index to the entry. Raft's safety does not depend on when a
// message arrives, so a late notice is harmless; a notice is only used
// when
//
//   - its term is the one in which the sender led and knew the entry
//     committed (the leader checks its role and term after reading its
//     applied entry; a forwarded write's term is known only if the term
//     did not move while it committed, entryTerm);
//   - the follower's current term is that term and its leader is the
//     sender: a notice never moves a member to another term or leader;
//   - the follower's log holds the index. A notice that arrives before
//     the entry waits for it (the log store's callback), at most
//     staleNotice, then it is dropped.
//
// Raft's CommitTimeout stays as the backstop (raftConfig).

// staleNotice is how long a notice may wait for the follower's log to
// reach its entry.
const staleNotice = time.Second

// commitHint is one notice: the entry (index, term) is committed.
type commitHint struct {
	index, term uint64
	leader      uint64    // the sender's member ID, 0 when addr is given
	addr        string    // the leader's peer address, "" when leader is given
	at          time.Time // when it arrived
}

// commitNotices sends the leader's notices and hands a follower's to
// raft (see above).
type commitNotices struct {
	*raftNode
	mu      sync.Mutex
	pending commitHint    // the newest notice raft may not have (index 0: none); guarded by mu
	want    atomic.Uint64 // pending.index, for the log store's callback
	last    atomic.Uint64 // the last index the log store stored
	wake    chan struct{} // one wake-up for run
}

func newCommitNotices(n *raftNode) *commitNotices {
	return &commitNotices{raftNode: n, wake: make(chan struct{}, 1)}
}

func (c *commitNotices) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// offer records a notice; the newest one wins.
func (c *commitNotices) offer(h commitHint) {
	if h.index == 0 || h.term == 0 || h.index <= c.raft.CommitIndex() {
		return
	}
	h.at = time.Now()
	c.mu.Lock()
	if h.index > c.pending.index {
		c.pending = h
		c.want.Store(h.index)
	}
	c.mu.Unlock()
	c.signal()
}

// stored is the log store's callback after each append (on raft's
// goroutine: it only wakes run).
func (c *commitNotices) stored(last uint64) {
	c.last.Store(last)
	if w := c.want.Load(); w != 0 && last >= w {
		c.signal()
	}
}

// run hands pending notices to raft until the member stops.
func (c *commitNotices) run() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.wake:
		}
		c.mu.Lock()
		h := c.pending
		c.mu.Unlock()
		if h.index == 0 {
			continue
		}
		switch {
		case h.index <= c.raft.CommitIndex() || time.Since(h.at) > staleNotice:
			c.drop(h)
		case max(c.last.Load(), c.raft.LastIndex()) < h.index:
			// Not in the log yet: stored wakes us when it is. (Raft
			// handles the notice after the append that stored it.)
		default:
			c.drop(h)
			c.hand(h)
		}
	}
}

// drop forgets h unless a newer notice replaced it.
func (c *commitNotices) drop(h commitHint) {
	c.mu.Lock()
	if c.pending.index == h.index {
		c.pending = commitHint{}
		c.want.Store(0)
	}
	c.mu.Unlock()
}

// hand gives raft the AppendEntries h stands for, if h's sender leads
// this member's current term.
func (c *commitNotices) hand(h commitHint) {
	if c.raft.State() != raft.Follower || c.raft.CurrentTerm() != h.term {
		return
	}
	addr, id := c.raft.LeaderWithID()
	if addr == "" || (h.addr != "" && string(addr) != h.addr) ||
		(h.leader != 0 && string(id) != machines.IDString(h.leader)) {
		return
	}
	req := &raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(id), Addr: c.trans.EncodePeer(id, addr)},
		Term:      h.term, PrevLogEntry: h.index, PrevLogTerm: h.term, LeaderCommitIndex: h.index,
	}
	resp, ok := c.trans.inject(req, c.ctx.Done())
	if !ok {
		return
	}
	if ae, _ := resp.Response.(*raft.AppendEntriesResponse); resp.Error != nil || ae == nil || !ae.Success {
		c.log.WithFields(logrus.Fields{"raft_index": h.index, "term": h.term, "err": resp.Error}).Debug("commit notice refused")
	}
}

// lead sends the leader's notices while ctx lasts (this member leads).
func (c *commitNotices) lead(ctx context.Context) {
	s := &noticeSender{c: c, ctx: ctx, peers: map[raft.ServerID]*peerNotice{}}
	defer s.wg.Wait()
	var seen uint64
	for {
		if c.fsm.applied.wait(ctx, seen+1) != nil {
			return
		}
		index, term := c.fsm.lastApplied()
		seen = index
		// More entries on their way carry the news; the last one of them
		// gets a notice when it is applied.
		if term == 0 || c.raft.LastIndex() > index {
			continue
		}
		if c.raft.State() != raft.Leader || c.raft.CurrentTerm() != term {
			continue
		}
		s.notify(index, term)
	}
}

// noticeSender is one term's sending side: one notice in flight per
// member, the newest waiting behind it.
type noticeSender struct {
	c     *commitNotices
	ctx   context.Context
	wg    sync.WaitGroup
	mu    sync.Mutex // guards peers and their fields
	peers map[raft.ServerID]*peerNotice
	conf  []raft.Server // the other members, read at most once a second
	read  time.Time
}

type peerNotice struct {
	addr      string
	busy      bool   // a sender runs for this member
	index     uint64 // the newest notice for this member
	term      uint64
	sentIndex uint64 // the last notice sent
}

// notify sends (index, term) to every other member.
func (s *noticeSender) notify(index, term uint64) {
	if time.Since(s.read) > time.Second {
		s.conf, s.read = s.c.otherServers(), time.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, srv := range s.conf {
		p := s.peers[srv.ID]
		if p == nil {
			p = &peerNotice{}
			s.peers[srv.ID] = p
		}
		p.addr, p.index, p.term = string(srv.Address), index, term
		if !p.busy {
			p.busy = true
			s.wg.Add(1)
			go s.send(p)
		}
	}
}

// send delivers p's newest notice until none is newer than the last sent.
func (s *noticeSender) send(p *peerNotice) {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if p.index <= p.sentIndex || s.ctx.Err() != nil {
			p.busy = false
			s.mu.Unlock()
			return
		}
		addr, index, term := p.addr, p.index, p.term
		p.sentIndex = index
		s.mu.Unlock()
		b := binary.AppendUvarint(binary.AppendUvarint(make([]byte, 0, 20), index), term)
		ctx, cancel := context.WithTimeout(s.ctx, s.c.cfg.HeartbeatInterval)
		_, err := s.c.peers.call(ctx, addr, opCommitted, b)
		cancel()
		if err != nil && s.ctx.Err() == nil {
			s.c.log.WithFields(logrus.Fields{"raft_index": index, "err": err}).Debug("commit notice not delivered")
		}
	}
}

// otherServers lists raft's configuration less this member.
func (n *raftNode) otherServers() []raft.Server {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	self := raft.ServerID(machines.IDString(n.cfg.ID))
	var out []raft.Server
	for _, s := range f.Configuration().Servers {
		if s.ID != self {
			out = append(out, s)
		}
	}
	return out
}

// decodeCommitNotice reads an opCommitted payload.
func decodeCommitNotice(b []byte) (index, term uint64, err error) {
	index, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, 0, errBadNotice
	}
	term, k2 := binary.Uvarint(b[k:])
	if k2 <= 0 || k+k2 != len(b) {
		return 0, 0, errBadNotice
	}
	return index, term, nil
}

var errBadNotice = errors.New("raftfsm: malformed commit notice")
