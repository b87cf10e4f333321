package raftfsm

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// The leader's answer to a forwarded proposal (opPropose), in binary:
// decoding it as JSON was a tenth of a follower's CPU when clients spread
// their writes over the members.
//
//	version byte (1) | flags uvarint | index | term | etcdIndex (uvarints)
//	[error: code varint | message | cause | index]
//	[event: action | node | prevNode]
//
// A node is a presence byte, then flags uvarint, key, [value],
// [expiration: Unix ns varint, zone offset varint], ttl varint,
// modifiedIndex, createdIndex, child count and the children. Strings
// are a uvarint length and the bytes.
const replyVersion = 1

const (
	replyHasEvent = 1 << iota
	replyHasErr
	replyRefresh
)

const (
	nodeHasValue = 1 << iota
	nodeDir
	nodeHasExpiration
)

func encodeProposeReply(r *proposeReply) []byte {
	b := make([]byte, 0, 128)
	b = append(b, replyVersion)
	var f uint64
	if r.Event != nil {
		f |= replyHasEvent
	}
	if r.Err != nil {
		f |= replyHasErr
	}
	if r.Refresh {
		f |= replyRefresh
	}
	b = binary.AppendUvarint(b, f)
	b = binary.AppendUvarint(b, r.Index)
	b = binary.AppendUvarint(b, r.Term)
	b = binary.AppendUvarint(b, r.EtcdIndex)
	if r.Err != nil {
		b = binary.AppendVarint(b, int64(r.Err.Code))
		b = appendString(b, r.Err.Message)
		b = appendString(b, r.Err.Cause)
		b = binary.AppendUvarint(b, r.Err.Index)
	}
	if r.Event != nil {
		b = appendString(b, r.Event.Action)
		b = appendNodeExtern(b, r.Event.Node)
		b = appendNodeExtern(b, r.Event.PrevNode)
	}
	return b
}

func appendNodeExtern(b []byte, n *store.NodeExtern) []byte {
	if n == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	var f uint64
	if n.Value != nil {
		f |= nodeHasValue
	}
	if n.Dir {
		f |= nodeDir
	}
	if n.Expiration != nil {
		f |= nodeHasExpiration
	}
	b = binary.AppendUvarint(b, f)
	b = appendString(b, n.Key)
	if n.Value != nil {
		b = appendString(b, *n.Value)
	}
	if n.Expiration != nil {
		_, off := n.Expiration.Zone()
		b = binary.AppendVarint(b, n.Expiration.UnixNano())
		b = binary.AppendVarint(b, int64(off))
	}
	b = binary.AppendVarint(b, n.TTL)
	b = binary.AppendUvarint(b, n.ModifiedIndex)
	b = binary.AppendUvarint(b, n.CreatedIndex)
	b = binary.AppendUvarint(b, uint64(len(n.Nodes)))
	for _, c := range n.Nodes {
		b = appendNodeExtern(b, c)
	}
	return b
}

func decodeProposeReply(data []byte) (*proposeReply, error) {
	if len(data) == 0 || data[0] != replyVersion {
		return nil, fmt.Errorf("raftfsm: propose reply of an unknown version")
	}
	d := reader{b: data[1:]}
	r := &proposeReply{}
	f := d.uvarint()
	r.Index, r.Term, r.EtcdIndex = d.uvarint(), d.uvarint(), d.uvarint()
	r.Refresh = f&replyRefresh != 0
	if f&replyHasErr != 0 {
		r.Err = &store.Error{Code: int(d.varint()), Message: d.string(), Cause: d.string(), Index: d.uvarint()}
	}
	if f&replyHasEvent != 0 {
		r.Event = &store.Event{Action: d.string()}
		r.Event.Node = d.nodeExtern(0)
		r.Event.PrevNode = d.nodeExtern(0)
	}
	if d.err != nil {
		return nil, fmt.Errorf("raftfsm: bad propose reply: %w", d.err)
	}
	return r, nil
}

// nodeExtern reads a node written by appendNodeExtern; depth bounds the
// recursion on corrupt input.
func (d *reader) nodeExtern(depth int) *store.NodeExtern {
	if depth > 1000 {
		d.fail()
	}
	if d.err != nil || d.byte() == 0 {
		return nil // absent, or unreadable (d.err says which)
	}
	n := &store.NodeExtern{}
	f := d.uvarint()
	n.Key = d.string()
	if f&nodeHasValue != 0 {
		v := d.string()
		n.Value = &v
	}
	n.Dir = f&nodeDir != 0
	if f&nodeHasExpiration != 0 {
		ns, off := d.varint(), d.varint()
		t := time.Unix(0, ns).UTC()
		if off != 0 {
			t = t.In(time.FixedZone("", int(off)))
		}
		n.Expiration = &t
	}
	n.TTL = d.varint()
	n.ModifiedIndex = d.uvarint()
	n.CreatedIndex = d.uvarint()
	count := d.uvarint()
	if count > uint64(len(d.b)) { // every child takes at least a byte
		d.fail()
		return nil
	}
	for i := uint64(0); i < count && d.err == nil; i++ {
		n.Nodes = append(n.Nodes, d.nodeExtern(depth+1))
	}
	return n
}
