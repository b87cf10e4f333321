package store

import (
	"strings"
	"sync/atomic"
	"time"
)

// This file holds the store side of the etcd v0.1.0 dialect of /v1
// (httpapi serves it with --v1-dialect=0.1). Everything that changes
// replicated state is decided here, from Request.V01 carried in the log,
// never from a member's own configuration: every replica applies the same
// rule to the same entry. Rendering (upper-case actions, error shapes,
// TTL rounding) stays in httpapi.
//
// The rules, from etcd v0.1.0's store/store.go and etcd_handlers.go:
//
//   - A set creates or replaces a key. Missing parent directories are
//     created. A set onto a directory, through a plain key or onto the
//     root fails with 102 "Not A File" for the whole key.
//   - A set whose TTL is zero or negative had already expired when v0.1.0
//     applied it, and was carried out as a delete of the key.
//   - A TestAndSet (a set with a non-empty prevValue) compares the current
//     value; on success it is a plain set. A missing key (or a directory)
//     is 100 with the key as the client wrote it as cause, without its
//     leading slash; a mismatch is 101 "TestAndSet: <current>!=<given>".
//   - A delete removes a plain key; a directory is "not found" (100).
//   - v0.1.0 numbered every command with its raft index, so a write that
//     fails still uses an index up. A GET shows the index of the last set
//     or delete, failed ones included, but a failed TestAndSet never
//     reached the store and leaves it alone (lastWrite).
//   - Keys expired through per-member timers outside the log: the expiry
//     of a key written in this dialect takes no index and is not in the
//     event history (expireV01).

// applyV01 performs a write of the etcd v0.1.0 dialect.
func (s *Store) applyV01(r *Request, now time.Time) (*Event, error) {
	p := cleanPath(r.Path)
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		e   *Event
		err *Error
	)
	switch {
	case r.Method == MethodDelete:
		e, err = s.deleteV01(p, now)
		s.count(err, &s.stats.DeleteSuccess, &s.stats.DeleteFail)
	case r.PrevValue != "":
		e, err = s.testAndSetV01(p, r, now)
		s.count(err, &s.stats.CompareAndSwapSuccess, &s.stats.CompareAndSwapFail)
	default:
		e, err = s.setV01(p, r, now)
		s.count(err, &s.stats.SetsSuccess, &s.stats.SetsFail)
	}
	if err != nil {
		// The failed write still took its index. A TestAndSet can only
		// fail its comparison (a key that passed it is always settable
		// and deletable), which v0.1.0 did before touching the store.
		s.index++
		if r.Method == MethodDelete || r.PrevValue == "" {
			s.lastWrite = s.index
		}
		err.Index = s.index
		return nil, err
	}
	return e, nil
}

func (s *Store) count(err *Error, ok, fail *atomic.Uint64) {
	if err != nil {
		s.stats.inc(fail)
		return
	}
	s.stats.inc(ok)
}

// setV01 sets p to r's value and TTL. Caller holds mu.
func (s *Store) setV01(p string, r *Request, now time.Time) (*Event, *Error) {
	if r.HasTTL && r.TTL <= 0 {
		return s.deleteV01(p, now)
	}
	e, err := s.internalCreate(p, false, r.Value, false, true, r.ExpireTime(now), ActionSet, now)
	if err != nil {
		return nil, NewError(EcodeNotFile, p, s.index)
	}
	if n, gerr := s.internalGet(p); gerr == nil {
		n.v01 = true
	}
	s.publish(e, false)
	return e, nil
}

// testAndSetV01 sets p if its current value is r.PrevValue. Caller holds
// mu.
func (s *Store) testAndSetV01(p string, r *Request, now time.Time) (*Event, *Error) {
	n, err := s.internalGet(p)
	if err != nil || n.isDir() {
		return nil, NewError(EcodeKeyNotFound, strings.TrimPrefix(r.Path, "/"), s.index)
	}
	if n.value != r.PrevValue {
		return nil, NewError(EcodeTestFailed, "TestAndSet: "+n.value+"!="+r.PrevValue, s.index)
	}
	return s.setV01(p, r, now)
}

// deleteV01 deletes the plain key p. Caller holds mu.
func (s *Store) deleteV01(p string, now time.Time) (*Event, *Error) {
	n, err := s.internalGet(p)
	if err != nil || n.isDir() {
		return nil, NewError(EcodeKeyNotFound, p, s.index)
	}
	return s.delete(p, false, false, now)
}

// GetV01 reads p as etcd v0.1.0 did. A plain key is returned with its
// value and TTL; a directory with every direct child, hidden ("_") ones
// included, sorted by key. The event's EtcdIndex is the index of the last
// write that v0.1.0 would count (see lastWrite). Anything that is not
// there, including a path through a plain key, is 100 with the cleaned key
// as cause. TTLs are rendered against now.
func (s *Store) GetV01(p string, now time.Time) (*Event, error) {
	p = cleanPath(p)
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, err := s.readNode(p)
	if err != nil {
		return nil, NewError(EcodeKeyNotFound, p, s.lastWrite)
	}
	ne := &NodeExtern{Key: n.path, ModifiedIndex: n.modifiedIndex, CreatedIndex: n.createdIndex}
	ne.Expiration, ne.TTL = n.expirationAndTTL(now)
	if n.isDir() {
		ne.Dir = true
		for _, c := range n.sortedChildren() {
			ne.Nodes = append(ne.Nodes, c.repr(false, false, now))
		}
	} else {
		v := n.value
		ne.Value = &v
	}
	return &Event{Action: ActionGet, Node: ne, EtcdIndex: s.lastWrite}, nil
}

// expireV01 removes n, a key last written in the etcd 0.1 dialect whose
// TTL ran out at or before cutoff. etcd v0.1.0 expired keys with a timer
// on each member, outside its log: the expiry took no index of its own,
// reached the watchers waiting at that moment as a DELETE labelled with
// the index of the last write, and was not kept for replays (a watch from
// an index after the expired set waits for the next write). Here the
// expiry still comes through the leader's command, so every replica
// removes the key at the same point of the log. Caller holds mu.
func (s *Store) expireV01(n *node, cutoff time.Time) *Event {
	e := &Event{Action: ActionExpire, Node: &NodeExtern{Key: n.path, Dir: n.isDir(), ModifiedIndex: s.lastWrite, CreatedIndex: n.createdIndex}}
	e.PrevNode = n.repr(false, false, cutoff)
	e.noIndex = true
	e.EtcdIndex = s.index
	s.removeNode(n, e)
	s.stats.inc(&s.stats.ExpireCount)
	s.hub.notify(e)
	return e
}
