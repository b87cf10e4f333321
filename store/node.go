package store

import (
	"sort"
	"strings"
	"time"
)

// minExpireTime is the earliest expiration a set or create accepts; an
// earlier one (produced by etcd's wrapping TTL arithmetic for huge TTLs)
// means "permanent". Update and compareAndSwap do not apply this guard.
var minExpireTime = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)

// node is one entry of the tree. A node is a directory iff children is not
// nil. ttl is nil for permanent nodes (most of them: the expiration and
// heap position live apart so that a permanent node is 96 bytes, not
// 128).
//
// path is the node's full key, but its bytes are shared: the directories
// a write creates on its way down all point into the one key string of
// that write (walkCreate), and Restore builds one string per chain of
// nodes (assignPaths). A key d levels deep therefore costs O(len(key)),
// not O(d*len(key)); see DESIGN.md "Key limits and cost".
//
// path, name and createdIndex never change once the node is in the
// tree: a Capture and a Listing read them later without the lock
// (capture.go, listing.go).
type node struct {
	path          string
	name          string
	createdIndex  uint64
	modifiedIndex uint64
	value         string
	children      map[string]*node
	parent        *node
	ttl           *nodeTTL
	// v01 marks a key last written by an etcd 0.1 dialect request
	// (Request.V01): its expiry takes no index.
	v01 bool
}

// nodeTTL is the expiration of a node that has one, and its position in
// the TTL heap (-1 when not in it). expire never changes: a new
// expiration is a new nodeTTL (updateTTL), so that a Capture can share
// this one.
type nodeTTL struct {
	expire    time.Time
	heapIndex int
}

// newTTL is the ttl field for expire (nil for the zero Time: permanent).
func newTTL(expire time.Time) *nodeTTL {
	if expire.IsZero() {
		return nil
	}
	return &nodeTTL{expire: expire, heapIndex: -1}
}

// newFile and newDir make a node at p. p must be clean; the name is a
// substring of it (no copy).
func newFile(p, value string, index uint64, parent *node, expire time.Time) *node {
	return &node{path: p, name: baseName(p), createdIndex: index, modifiedIndex: index,
		value: value, parent: parent, ttl: newTTL(expire)}
}

func newDir(p string, index uint64, parent *node, expire time.Time) *node {
	return &node{path: p, name: baseName(p), createdIndex: index, modifiedIndex: index,
		children: make(map[string]*node), parent: parent, ttl: newTTL(expire)}
}

// baseName is the last segment of the clean path p ("/" for the root).
func baseName(p string) string {
	if p == "/" {
		return p
	}
	return p[strings.LastIndexByte(p, '/')+1:]
}

func (n *node) isDir() bool       { return n.children != nil }
func (n *node) isPermanent() bool { return n.ttl == nil }

// expireTime is the node's expiration, the zero Time when permanent.
func (n *node) expireTime() time.Time {
	if n.ttl == nil {
		return time.Time{}
	}
	return n.ttl.expire
}

// isHidden reports whether the node's own name starts with "_".
func (n *node) isHidden() bool { return len(n.name) > 0 && n.name[0] == '_' }

// sortedChildren returns the children ordered by name, which is also the
// byte-wise order of their full keys (they share the parent prefix).
func (n *node) sortedChildren() []*node {
	out := make([]*node, 0, len(n.children))
	for _, c := range n.children {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// expirationAndTTL renders the TTL fields against now.
func (n *node) expirationAndTTL(now time.Time) (*time.Time, int64) {
	if n.isPermanent() {
		return nil, 0
	}
	t := n.ttl.expire.UTC()
	return &t, remainingTTL(n.ttl.expire, now)
}

// repr renders the node. Directories list their visible children only when
// recursive is set; sorted orders every listing by key (listings are always
// sorted here, which is one valid instance of etcd's random order, but the
// flag is kept so that callers state what they need).
func (n *node) repr(recursive, sorted bool, now time.Time) *NodeExtern {
	ne := &NodeExtern{Key: n.path, ModifiedIndex: n.modifiedIndex, CreatedIndex: n.createdIndex}
	ne.Expiration, ne.TTL = n.expirationAndTTL(now)
	if !n.isDir() {
		v := n.value
		ne.Value = &v
		return ne
	}
	ne.Dir = true
	if recursive {
		ne.Nodes = n.listChildren(recursive, sorted, now)
	}
	return ne
}

// listChildren renders the visible children of a directory.
func (n *node) listChildren(recursive, sorted bool, now time.Time) []*NodeExtern {
	if len(n.children) == 0 {
		return nil
	}
	kids := n.sortedChildren()
	out := make([]*NodeExtern, 0, len(kids))
	for _, c := range kids {
		if c.isHidden() {
			continue
		}
		out = append(out, c.repr(recursive, sorted, now))
	}
	return out
}

// compare checks prevValue ("" = no check) and prevIndex (0 = no check)
// and, on mismatch, returns etcd's cause text.
func (n *node) compare(prevValue string, prevIndex uint64) (bool, string) {
	valueOK := prevValue == "" || n.value == prevValue
	indexOK := prevIndex == 0 || n.modifiedIndex == prevIndex
	switch {
	case valueOK && indexOK:
		return true, ""
	case valueOK:
		return false, "[" + uitoa(prevIndex) + " != " + uitoa(n.modifiedIndex) + "]"
	case indexOK:
		return false, "[" + prevValue + " != " + n.value + "]"
	default:
		return false, "[" + prevValue + " != " + n.value + "] [" + uitoa(prevIndex) + " != " + uitoa(n.modifiedIndex) + "]"
	}
}
