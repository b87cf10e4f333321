package machines

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// Errors of membership changes, matched with errors.Is. Their texts are
// the ones etcd 3.4 returns to /v2/members clients.
var (
	ErrIDExists      = errors.New("membership: ID exists")
	ErrPeerURLExists = errors.New("membership: peerURL exists")
	ErrIDNotFound    = errors.New("membership: member not found")
	ErrIDRemoved     = errors.New("membership: ID removed")
	ErrNameExists    = errors.New("membership: name exists")

	// ErrStrictReconfig wraps the refusals of the strict reconfiguration
	// check; the full message names the numbers.
	ErrStrictReconfig = errors.New("etcdserver: re-configuration failed")
	// ErrNotLearner: promotion was asked for a voting member.
	ErrNotLearner = errors.New("etcdserver: can only promote a learner member")
	// ErrNotCaughtUp: a learner is promoted only once it has the log.
	ErrNotCaughtUp = errors.New("etcdserver: can only promote a learner member which is in sync with leader")
)

// AppendStats are a member's raft append traffic, as /v2/stats/self
// reports it: requests received and sent, and their rates over the last
// second (requests and bytes per second).
type AppendStats struct {
	RecvCount, SendCount       uint64
	RecvPkgRate, RecvBytesRate float64
	SendPkgRate, SendBytesRate float64
}

// RaftStats are a member's replication figures, as /metrics exports them
// (etcd_server_*, etcd_disk_*, etcd_network_*), and whether it refuses
// writes for space (/health): the raft node fills them, the client API
// renders them.
type RaftStats struct {
	HasLeader, IsLeader       bool
	LeaderChanges, Term       uint64
	CommitIndex, AppliedIndex uint64
	ProposalsFailed           uint64
	LogAppends, LogEntries    uint64 // durable appends (fsyncs) and entries
	RecvAppends, SentAppends  uint64
	// NoSpace: the data dir is too full for any write (the full-disk
	// guard refuses them; etcd's NOSPACE alarm): /health answers false.
	NoSpace bool
}

// FollowerStats is what a leader knows of one follower, as
// /v2/stats/leader reports it: round-trip latencies of the leader's
// probes in seconds, and probe counts.
type FollowerStats struct {
	Current, Average, StdDev, Min, Max float64
	Success, Fail                      uint64
}

// Cluster is the replicated membership table. The zero value is an empty,
// not yet initialised cluster (ID 0). Not safe for concurrent use: the FSM
// guards it.
type Cluster struct {
	ID      uint64
	Members map[uint64]*Member
	Removed map[uint64]bool
}

// NewCluster returns an empty table.
func NewCluster() *Cluster {
	return &Cluster{Members: map[uint64]*Member{}, Removed: map[uint64]bool{}}
}

// Clone returns a deep copy, for readers outside the FSM.
func (c *Cluster) Clone() *Cluster {
	n := &Cluster{ID: c.ID, Members: make(map[uint64]*Member, len(c.Members)), Removed: make(map[uint64]bool, len(c.Removed))}
	for id, m := range c.Members {
		n.Members[id] = m.Clone()
	}
	for id := range c.Removed {
		n.Removed[id] = true
	}
	return n
}

// Sorted returns the members ordered by ID.
func (c *Cluster) Sorted() []*Member {
	out := make([]*Member, 0, len(c.Members))
	for _, m := range c.Members {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ByName finds a member by name.
func (c *Cluster) ByName(name string) *Member {
	for _, m := range c.Sorted() {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// ByPeerURL finds the member that owns a peer URL.
func (c *Cluster) ByPeerURL(u string) *Member {
	for _, m := range c.Sorted() {
		for _, p := range m.PeerURLs {
			if p == u {
				return m
			}
		}
	}
	return nil
}

// CheckAdd validates adding m: its ID must be new and never removed, and
// none of its peer URLs may belong to another member.
func (c *Cluster) CheckAdd(m *Member) error {
	if c.Removed[m.ID] {
		return ErrIDRemoved
	}
	if _, ok := c.Members[m.ID]; ok {
		return ErrIDExists
	}
	for _, u := range m.PeerURLs {
		if c.ByPeerURL(u) != nil {
			return ErrPeerURLExists
		}
	}
	return nil
}

// Add inserts m after CheckAdd.
func (c *Cluster) Add(m *Member) error {
	if err := c.CheckAdd(m); err != nil {
		return err
	}
	c.Members[m.ID] = m.Clone()
	return nil
}

// Remove deletes a member and remembers its ID forever.
func (c *Cluster) Remove(id uint64) (*Member, error) {
	m, ok := c.Members[id]
	if !ok {
		if c.Removed[id] {
			return nil, ErrIDRemoved
		}
		return nil, ErrIDNotFound
	}
	delete(c.Members, id)
	c.Removed[id] = true
	return m, nil
}

// UpdatePeerURLs replaces a member's peer URLs.
func (c *Cluster) UpdatePeerURLs(id uint64, urls []string) error {
	m, ok := c.Members[id]
	if !ok {
		if c.Removed[id] {
			return ErrIDRemoved
		}
		return ErrIDNotFound
	}
	for _, u := range urls {
		if o := c.ByPeerURL(u); o != nil && o.ID != id {
			return ErrPeerURLExists
		}
	}
	m.PeerURLs = append([]string(nil), urls...)
	return nil
}

// Publish records the name and client URLs a member announces when it
// starts. It reports whether anything changed.
func (c *Cluster) Publish(id uint64, name string, clientURLs []string) (bool, error) {
	m, ok := c.Members[id]
	if !ok {
		if c.Removed[id] {
			return false, ErrIDRemoved
		}
		return false, ErrIDNotFound
	}
	if o := c.ByName(name); o != nil && o.ID != id {
		return false, fmt.Errorf("%w: %s", ErrNameExists, name)
	}
	if m.Name == name && equal(m.ClientURLs, clientURLs) {
		return false, nil
	}
	m.Name = name
	m.ClientURLs = append([]string(nil), clientURLs...)
	return true, nil
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ClientURLs returns every started member's client URLs, sorted (the
// /v2/machines order).
func (c *Cluster) ClientURLs() []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, m.ClientURLs...)
	}
	sort.Strings(out)
	return out
}

type clusterJSON struct {
	ID      uint64    `json:"id"`
	Members []*Member `json:"members"`
	Removed []uint64  `json:"removed"`
}

// MarshalJSON encodes the table deterministically (members by ID, removed
// IDs ascending), for snapshots.
func (c *Cluster) MarshalJSON() ([]byte, error) {
	j := clusterJSON{ID: c.ID, Members: c.Sorted(), Removed: []uint64{}}
	for id := range c.Removed {
		j.Removed = append(j.Removed, id)
	}
	sort.Slice(j.Removed, func(a, b int) bool { return j.Removed[a] < j.Removed[b] })
	return json.Marshal(j)
}

// UnmarshalJSON decodes what MarshalJSON wrote.
func (c *Cluster) UnmarshalJSON(b []byte) error {
	var j clusterJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*c = *NewCluster()
	c.ID = j.ID
	for _, m := range j.Members {
		c.Members[m.ID] = m
	}
	for _, id := range j.Removed {
		c.Removed[id] = true
	}
	return nil
}
