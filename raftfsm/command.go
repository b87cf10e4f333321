package raftfsm

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// commandVersion is the first byte of every command in the raft log. A
// replica refuses entries of a newer version rather than misreading them.
const commandVersion = 1

// cmdType says what a log entry asks the FSM to do. Types with the
// ignorable bit set may be skipped (with a warning) by a replica that does
// not know them; any other unknown type stops the replica, because
// skipping it would let replicas diverge.
type cmdType byte

const ignorableBit cmdType = 0x80

const (
	cmdRequest       cmdType = 1 // a keys-API write (store.Request)
	cmdSync          cmdType = 2 // expire every TTL due at the command time
	cmdInit          cmdType = 3 // first entry of a new cluster: ID, members, config record
	cmdPublish       cmdType = 4 // a member announces its name and client URLs
	cmdMemberAdd     cmdType = 5
	cmdMemberRemove  cmdType = 6
	cmdMemberUpdate  cmdType = 7
	cmdMemberPromote cmdType = 8
	cmdNoop          cmdType = 9 | ignorableBit
	cmdBatch         cmdType = 10 // several keys-API writes, applied in order
)

// command is the decoded form of one log entry.
type command struct {
	Type cmdType
	// Time is the proposing leader's wall clock (Unix ns). The FSM uses
	// the larger of it and the last time it applied, so time never runs
	// backwards across a leader change.
	Time int64
	Req  *store.Request   // cmdRequest
	Reqs []*store.Request // cmdBatch
	// Cluster is the payload of membership commands (JSON).
	Cluster *clusterCmd
}

// clusterCmd carries the data of the membership commands.
type clusterCmd struct {
	ClusterID uint64             `json:"clusterID,omitempty"`
	Members   []*machines.Member `json:"members,omitempty"`
	Member    *machines.Member   `json:"member,omitempty"`
	ID        uint64             `json:"id,omitempty"`
	PeerURLs  []string           `json:"peerURLs,omitempty"`
}

// errCorrupt marks an entry of a known type that cannot be decoded.
var errCorrupt = errors.New("raftfsm: corrupt command")

// errUnknownType marks an entry of a type this version does not know.
var errUnknownType = errors.New("raftfsm: unknown command type")

const (
	methodPut    = 1
	methodPost   = 2
	methodDelete = 3
	// methodAuth is a change of the auth state; its AuthChange follows
	// the common fields as JSON.
	methodAuth = 4
)

const (
	flagDir = 1 << iota
	flagRecursive
	flagRefresh
	flagPrevExistSet
	flagPrevExist
	flagHasTTL
	// flagV01 marks a /v1 write in etcd v0.1.0's dialect (store.Request.V01).
	// Entries written before it existed simply lack the bit.
	flagV01
	// flagUser: the user the write was checked as (store.Request.User)
	// follows the common fields.
	flagUser
)

func encodeCommand(c *command) ([]byte, error) {
	b := make([]byte, 0, 64)
	b = append(b, commandVersion, byte(c.Type))
	b = binary.AppendVarint(b, c.Time)
	switch c.Type {
	case cmdRequest:
		return appendRequest(b, c.Req)
	case cmdBatch:
		// A count, then the requests one after the other (each encoding
		// is self-delimiting).
		b = binary.AppendUvarint(b, uint64(len(c.Reqs)))
		var err error
		for _, r := range c.Reqs {
			if b, err = appendRequest(b, r); err != nil {
				return nil, err
			}
		}
		return b, nil
	case cmdSync, cmdNoop:
		return b, nil
	case cmdInit, cmdPublish, cmdMemberAdd, cmdMemberRemove, cmdMemberUpdate, cmdMemberPromote:
		j, err := json.Marshal(c.Cluster)
		if err != nil {
			return nil, err
		}
		return append(b, j...), nil
	}
	return nil, fmt.Errorf("%w %d", errUnknownType, c.Type)
}

// appendRequest encodes r. A request over the store's limits
// (store.Request.Validate) is refused here, before it can reach the log;
// the error is the *store.Error the client gets.
func appendRequest(b []byte, r *store.Request) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	switch r.Method {
	case store.MethodPut:
		b = append(b, methodPut)
	case store.MethodPost:
		b = append(b, methodPost)
	case store.MethodDelete:
		b = append(b, methodDelete)
	case store.MethodAuth:
		b = append(b, methodAuth)
	default:
		return nil, fmt.Errorf("raftfsm: cannot encode method %q", r.Method)
	}
	var f uint64
	if r.Dir {
		f |= flagDir
	}
	if r.Recursive {
		f |= flagRecursive
	}
	if r.Refresh {
		f |= flagRefresh
	}
	if r.PrevExist != nil {
		f |= flagPrevExistSet
		if *r.PrevExist {
			f |= flagPrevExist
		}
	}
	if r.HasTTL {
		f |= flagHasTTL
	}
	if r.V01 {
		f |= flagV01
	}
	if r.User != "" {
		f |= flagUser
	}
	b = binary.AppendUvarint(b, f)
	b = appendString(b, r.Path)
	b = appendString(b, r.Value)
	b = appendString(b, r.PrevValue)
	b = binary.AppendUvarint(b, r.PrevIndex)
	b = binary.AppendVarint(b, int64(r.TTL))
	if r.User != "" {
		b = appendString(b, r.User)
	}
	if r.Method == store.MethodAuth {
		j, err := json.Marshal(r.Auth)
		if err != nil {
			return nil, err
		}
		b = appendString(b, string(j))
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func decodeCommand(data []byte) (*command, error) {
	if len(data) < 2 {
		return nil, fmt.Errorf("%w: %d bytes", errCorrupt, len(data))
	}
	if data[0] != commandVersion {
		return nil, fmt.Errorf("%w: version %d", errUnknownType, data[0])
	}
	c := &command{Type: cmdType(data[1])}
	d := reader{b: data[2:]}
	c.Time = d.varint()
	switch c.Type {
	case cmdRequest:
		c.Req = d.request()
	case cmdBatch:
		// Every request takes at least 8 bytes, which bounds what a
		// corrupt count can make us allocate.
		count := d.uvarint()
		if count > uint64(len(d.b))/8 {
			d.fail()
			break
		}
		c.Reqs = make([]*store.Request, count)
		for i := range c.Reqs {
			c.Reqs[i] = d.request()
		}
	case cmdSync, cmdNoop:
	case cmdInit, cmdPublish, cmdMemberAdd, cmdMemberRemove, cmdMemberUpdate, cmdMemberPromote:
		if d.err == nil {
			c.Cluster = &clusterCmd{}
			if err := json.Unmarshal(d.b, c.Cluster); err != nil {
				return nil, fmt.Errorf("%w: %v", errCorrupt, err)
			}
		}
	default:
		return c, fmt.Errorf("%w %d", errUnknownType, c.Type)
	}
	if d.err != nil {
		return nil, d.err
	}
	return c, nil
}

// reader decodes varints and strings, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (d *reader) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated", errCorrupt)
	}
	d.b = nil
}

func (d *reader) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *reader) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *reader) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// bytes reads a length-prefixed byte string, pointing into the input.
func (d *reader) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	b := d.b[:n:n]
	d.b = d.b[n:]
	return b
}

func (d *reader) string() string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *reader) request() *store.Request {
	r := &store.Request{}
	switch d.byte() {
	case methodPut:
		r.Method = store.MethodPut
	case methodPost:
		r.Method = store.MethodPost
	case methodDelete:
		r.Method = store.MethodDelete
	case methodAuth:
		r.Method = store.MethodAuth
	default:
		d.fail()
	}
	f := d.uvarint()
	r.Dir = f&flagDir != 0
	r.Recursive = f&flagRecursive != 0
	r.Refresh = f&flagRefresh != 0
	if f&flagPrevExistSet != 0 {
		v := f&flagPrevExist != 0
		r.PrevExist = &v
	}
	r.HasTTL = f&flagHasTTL != 0
	r.V01 = f&flagV01 != 0
	r.Path = d.string()
	r.Value = d.string()
	r.PrevValue = d.string()
	r.PrevIndex = d.uvarint()
	r.TTL = time.Duration(d.varint())
	if f&flagUser != 0 {
		r.User = d.string()
	}
	if r.Method == store.MethodAuth {
		j := d.string()
		if d.err == nil {
			r.Auth = &store.AuthChange{}
			if err := json.Unmarshal([]byte(j), r.Auth); err != nil {
				d.fail()
			}
		}
	}
	return r
}
