package store

import "time"

// Actions carried by events, as etcd 2.x names them on the wire.
const (
	ActionGet              = "get"
	ActionCreate           = "create"
	ActionSet              = "set"
	ActionUpdate           = "update"
	ActionDelete           = "delete"
	ActionCompareAndSwap   = "compareAndSwap"
	ActionCompareAndDelete = "compareAndDelete"
	ActionExpire           = "expire"
)

// NodeExtern is the external (rendered) form of a node, in etcd's wire
// field order. Value is a pointer because a file always carries a value,
// even the empty string, while a directory never does. Expiration and TTL
// are set only for nodes with a TTL; TTL was computed against the time the
// NodeExtern was produced (the command time for events, the read time for
// GETs) and is not recomputed afterwards.
type NodeExtern struct {
	Key           string        `json:"key,omitempty"`
	Value         *string       `json:"value,omitempty"`
	Dir           bool          `json:"dir,omitempty"`
	Expiration    *time.Time    `json:"expiration,omitempty"`
	TTL           int64         `json:"ttl,omitempty"`
	Nodes         []*NodeExtern `json:"nodes,omitempty"`
	ModifiedIndex uint64        `json:"modifiedIndex,omitempty"`
	CreatedIndex  uint64        `json:"createdIndex,omitempty"`
}

// Event is the outcome of one store operation: what was done (Action), the
// node after it and the node before it. EtcdIndex is the store index right
// after the operation (for reads: the current index). Refresh marks a TTL
// refresh, which is recorded in the history but never wakes watchers and is
// never rendered.
//
// Events handed out by the store are shared with the history and with
// watchers: callers must treat them as read-only. Use Clone to change one.
type Event struct {
	Action    string      `json:"action"`
	Node      *NodeExtern `json:"node,omitempty"`
	PrevNode  *NodeExtern `json:"prevNode,omitempty"`
	EtcdIndex uint64      `json:"-"`
	Refresh   bool        `json:"-"`
	// noIndex marks the expiry of a 0.1-dialect key, which took no index
	// of its own (expireV01): its Index is that of the last write before
	// it, live watchers order it just after the current index, and the
	// history does not record it.
	noIndex bool
	// internal marks an event of an auth change (auth_apply.go): it is
	// in the history, taking room as in etcd, but matches no watch.
	internal bool
}

// Index is the index of the event itself: the modifiedIndex of its node.
func (e *Event) Index() uint64 { return e.Node.ModifiedIndex }

// watchIndex is the index a live watcher compares with its sinceIndex: an
// event that took no index comes just after the store index current when
// it happened.
func (e *Event) watchIndex() uint64 {
	if e.noIndex {
		return e.EtcdIndex + 1
	}
	return e.Index()
}

// IsCreated reports whether the operation brought a node into existence
// (create, or set where nothing existed): etcd answers those with 201.
func (e *Event) IsCreated() bool {
	if e.Action == ActionCreate {
		return true
	}
	return e.Action == ActionSet && e.PrevNode == nil
}

// Clone returns a shallow copy whose top-level fields may be changed.
func (e *Event) Clone() *Event {
	c := *e
	return &c
}

// remainingTTL is etcd's rounding: the ceiling of the remaining time in
// whole seconds, computed in integer nanoseconds (negative when past due).
func remainingTTL(expire, now time.Time) int64 {
	d := expire.Sub(now)
	ttl := d / time.Second
	if d%time.Second > 0 {
		ttl++
	}
	return int64(ttl)
}
