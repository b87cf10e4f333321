package raftfsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
)

// Every peer connection, raft's and the cluster RPCs', opens with a hello
// right after the protocol byte (and after TLS when peer TLS is on), before
// the acceptor acts on any frame:
//
//	hello:  magic "ECLP" | version byte | cluster ID uint64 | member ID uint64
//	answer: status byte (0 accept, 1 refuse) | reason length byte | reason
//
// A member sends its cluster and member IDs. A process that is not a
// member yet — a new member joining with -C/-peers, a 2.x member looking
// itself up, a proxy listing the members — sends member ID 0 (anonymous),
// and may then only ask for a join, a lookup or the member list. Without
// peer TLS the IDs are not secrets (anyone who can list the members learns
// them): the hello keeps strangers and misconfigured members out; it does
// not stand up to an attacker who can reach the peer port. That takes peer
// TLS with client certificates (DESIGN.md, "Threat model").
const (
	helloMagic   = "ECLP"
	helloVersion = 2 // 2: the op table of rpcops.go
	helloSize    = len(helloMagic) + 1 + 8 + 8

	helloAccept byte = 0
	helloRefuse byte = 1
)

// hello is what a dialer says about itself.
type hello struct {
	Version   byte
	ClusterID uint64 // 0: not known (an anonymous dialer that has not asked yet)
	MemberID  uint64 // 0: anonymous
}

// anonymousHello is the hello of a process that is not a member.
var anonymousHello = hello{Version: helloVersion}

// encode returns the protocol byte followed by the hello, ready to write.
func (h hello) encode(proto byte) []byte {
	b := make([]byte, 0, 1+helloSize)
	b = append(b, proto)
	b = append(b, helloMagic...)
	b = append(b, h.Version)
	b = binary.BigEndian.AppendUint64(b, h.ClusterID)
	return binary.BigEndian.AppendUint64(b, h.MemberID)
}

// decodeHello parses a hello of exactly helloSize bytes.
func decodeHello(b []byte) (hello, error) {
	if len(b) != helloSize || string(b[:len(helloMagic)]) != helloMagic {
		return hello{}, errors.New("not a peer hello (another program, or an earlier build of this server)")
	}
	h := hello{Version: b[4], ClusterID: binary.BigEndian.Uint64(b[5:13]), MemberID: binary.BigEndian.Uint64(b[13:21])}
	if h.Version != helloVersion {
		return h, fmt.Errorf("peer protocol version %d, this member speaks %d", h.Version, helloVersion)
	}
	return h, nil
}

// ErrPeerRefused means the member dialled refused this connection (wrong
// cluster, unknown or removed member, or too many connections); the error
// text carries its reason.
var ErrPeerRefused = errors.New("raftfsm: peer refused the connection")

// dialHello sends the protocol byte and the hello on a new connection and
// waits for the acceptor's answer, all before deadline.
func dialHello(c net.Conn, proto byte, h hello, deadline time.Time) error {
	_ = c.SetDeadline(deadline)
	if _, err := c.Write(h.encode(proto)); err != nil {
		return err
	}
	var ans [2]byte
	if _, err := io.ReadFull(c, ans[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: closed during the handshake (connection limit reached, or not a member of this build)", ErrPeerRefused)
		}
		return err
	}
	if ans[0] == helloAccept {
		_ = c.SetDeadline(time.Time{})
		return nil
	}
	reason := make([]byte, ans[1]) // at most 255 bytes
	if _, err := io.ReadFull(c, reason); err != nil {
		return fmt.Errorf("%w (no reason given)", ErrPeerRefused)
	}
	return fmt.Errorf("%w: %s", ErrPeerRefused, reason)
}

// answerHello writes the acceptor's answer: accept when reason is nil.
func answerHello(w io.Writer, reason error) error {
	if reason == nil {
		_, err := w.Write([]byte{helloAccept, 0})
		return err
	}
	msg := reason.Error()
	if len(msg) > 255 {
		msg = msg[:255]
	}
	_, err := w.Write(append([]byte{helloRefuse, byte(len(msg))}, msg...))
	return err
}

// peerIdentity is what the acceptor established about a connection.
type peerIdentity struct {
	Member  uint64 // 0: anonymous
	Cluster uint64
	Remote  string
}

// anonymous reports whether the connection carries no member identity.
func (p peerIdentity) anonymous() bool { return p.Member == 0 }

// identityOf returns the identity the mux attached to c (anonymous for a
// connection that did not come through the mux).
func identityOf(c net.Conn) peerIdentity {
	if pc, ok := c.(*peerConn); ok {
		return pc.from
	}
	return peerIdentity{Remote: c.RemoteAddr().String()}
}

// localHello is the hello this member sends when it dials.
func (n *raftNode) localHello() hello {
	return hello{Version: helloVersion, ClusterID: n.clusterID(), MemberID: n.cfg.ID}
}

// checkHello decides whether a peer may use this connection: anonymous
// dialers only the cluster RPCs (and only their join/lookup/list calls,
// enforced per call), members if they claim this cluster and a member
// this member knows and that was not removed.
func (n *raftNode) checkHello(proto byte, h hello) error {
	mine := n.clusterID()
	if h.MemberID == 0 {
		if proto != protoCluster {
			return errors.New("raft connections need a member identity")
		}
		if h.ClusterID != 0 && mine != 0 && h.ClusterID != mine {
			return fmt.Errorf("cluster ID mismatch: this member is in cluster %s, the peer names %s", machines.IDString(mine), machines.IDString(h.ClusterID))
		}
		return nil
	}
	if mine == 0 {
		return errors.New("this member does not belong to a cluster yet")
	}
	if h.ClusterID != mine {
		return fmt.Errorf("cluster ID mismatch: this member is in cluster %s, the peer names %s", machines.IDString(mine), machines.IDString(h.ClusterID))
	}
	if h.MemberID == n.cfg.ID {
		return fmt.Errorf("the peer claims this member's own ID %s", machines.IDString(h.MemberID))
	}
	known, removed := n.knownPeer(h.MemberID)
	if removed {
		return fmt.Errorf("member %s was removed from the cluster", machines.IDString(h.MemberID))
	}
	if !known {
		return fmt.Errorf("%s is not a member of cluster %s", machines.IDString(h.MemberID), machines.IDString(mine))
	}
	return nil
}

// knownPeer reports whether id is a member this member knows of: in the
// replicated table, in raft's configuration (which a restarted member has
// before it replays its log), among the initial members it bootstrapped
// with, or learned from the cluster when it joined. removed is true for a
// member the table lists as removed, whatever the other sources say.
func (n *raftNode) knownPeer(id uint64) (known, removed bool) {
	if n.recovery.removes(id) {
		return false, true // lost in a forced new cluster (recover.go)
	}
	known, removed = n.fsm.memberState(id)
	if removed || known {
		return known && !removed, removed
	}
	for _, m := range n.cfg.InitialMembers {
		if m.ID == id {
			return true, false
		}
	}
	if n.learned.has(id) {
		return true, false
	}
	sid := raft.ServerID(machines.IDString(id))
	for _, s := range n.raft.GetConfiguration().Configuration().Servers {
		if s.ID == sid {
			return true, false
		}
	}
	return false, false
}

// refusalLog logs refused peers at Warn, at most refusalBurst a second, so
// that a flood of strangers cannot flood the log; the next line logged
// says how many were left out.
type refusalLog struct {
	log     *logrus.Entry
	mu      sync.Mutex
	window  time.Time
	count   int
	dropped int
}

const refusalBurst = 20

func (r *refusalLog) warn(fields logrus.Fields, msg string) {
	r.mu.Lock()
	now := time.Now()
	if now.Sub(r.window) >= time.Second {
		r.window, r.count = now, 0
	}
	r.count++
	if r.count > refusalBurst {
		r.dropped++
		r.mu.Unlock()
		return
	}
	dropped := r.dropped
	r.dropped = 0
	r.mu.Unlock()
	if dropped > 0 {
		fields["not_logged"] = dropped
	}
	r.log.WithFields(fields).Warn(msg)
}

// idField renders a claimed ID for the log ("" for none).
func idField(id uint64) string {
	if id == 0 {
		return ""
	}
	return machines.IDString(id)
}
