package raftfsm

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
)

// How a process that is not a member yet gets in:
//
//   - etcd 0.x -C/-peers (Node.Join): the new member first lists the
//     cluster (anonymous "list") and remembers its ID and members, so that
//     it accepts their connections; then it asks to join with a fresh
//     random nonce. Before adding it, the leader dials the peer URL the
//     joiner advertises and asks who is there (opIdentify): the answer
//     must carry the joiner's ID and nonce. A join for a dead address, for
//     another process's address or replayed by a stranger is refused
//     (ErrJoinRefused) and logged.
//   - etcd 2.x --initial-cluster-state=existing (LookupMember): the
//     member was added through /v2/members; the anonymous lookup returns
//     its ID, the cluster ID and the members (passed back to New as
//     Config.ClusterID and Config.KnownMembers) and lets the leader put the
//     member into raft's configuration. A lookup can only start a member
//     an administrator added, at the address the administrator gave.
//   - proxies (ListMembers): the anonymous "list".

// ErrJoinRefused means the leader could not verify that the process asking
// to join runs at the peer URL it advertises.
var ErrJoinRefused = errors.New("raftfsm: join refused")

func init() { memberErrKinds["joinrefused"] = ErrJoinRefused }

// joinVerifyTimeout bounds the leader's call back to a joining member.
const joinVerifyTimeout = 5 * time.Second

// identifyReply answers opIdentify.
type identifyReply struct {
	ID    uint64 `json:"id"`
	Nonce string `json:"nonce,omitempty"` // the join this member waits for
}

// JoinResult is what the cluster told a joining member.
type JoinResult struct {
	Member    *machines.Member
	ClusterID uint64
	// Members are the cluster's members when it answered; a member
	// started after a lookup passes them to New (Config.KnownMembers).
	Members []*machines.Member
}

// LookupMember asks the members at peers which member owns peerURLs
// (etcd 2.x: a member started with --initial-cluster-state=existing finds
// its ID this way). It tries each peer in turn until ctx ends.
func LookupMember(ctx context.Context, peers []string, peerURLs []string, peerTLS *tls.Config) (*JoinResult, error) {
	pool := newRPCPoolIdle(dialer{tls: peerTLS, proto: protoCluster}, rpcClientIdleAnonymous)
	defer pool.Close()
	rep, err := askCluster(ctx, pool, peers, &memberRequest{Op: "lookup", PeerURLs: peerURLs})
	if err != nil {
		return nil, err
	}
	return &JoinResult{Member: rep.Member, ClusterID: rep.ClusterID, Members: rep.Members}, nil
}

// Join asks the cluster reachable at peers to add this (already running,
// not bootstrapped) member, and waits until it has caught up with the
// membership table. etcd 0.x scripted joins (-peers / -C) use it.
func (n *Node) Join(ctx context.Context, peers []string) (*JoinResult, error) {
	pool := newRPCPoolIdle(dialer{tls: n.cfg.PeerTLS, proto: protoCluster}, rpcClientIdleAnonymous)
	defer pool.Close()
	// Learn the cluster first: the leader calls back, and raft connects,
	// as soon as it adds us, and we accept only members we know of.
	var list *memberReply
	// (A member that restarted moments ago may not have replayed its
	// table yet: ask again.)
	for list == nil || list.ClusterID == 0 || len(list.Members) == 0 {
		var err error
		if list, err = askCluster(ctx, pool, peers, &memberRequest{Op: "list"}); err != nil {
			return nil, err
		}
		if (list.ClusterID == 0 || len(list.Members) == 0) && !n.pause(ctx, 100*time.Millisecond) {
			return nil, fmt.Errorf("raftfsm: the cluster at %v has not recorded its ID yet: %w", peers, ctx.Err())
		}
	}
	if err := n.learned.learn(list.ClusterID, list.Members); err != nil {
		return nil, err
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	nonce := hex.EncodeToString(raw[:])
	n.joinNonce.Store(nonce)
	defer n.joinNonce.Store("")
	self := &machines.Member{ID: n.cfg.ID, Name: n.cfg.Name, PeerURLs: n.cfg.PeerURLs, ClientURLs: n.cfg.ClientURLs}
	rep, err := askCluster(ctx, pool, peers, &memberRequest{Op: "join", Member: self, Nonce: nonce})
	if err != nil {
		return nil, err
	}
	if rep.Member == nil || rep.Member.ID != n.cfg.ID {
		return nil, fmt.Errorf("raftfsm: the cluster did not add this member as %s", machines.IDString(n.cfg.ID))
	}
	if err := n.learned.learn(rep.ClusterID, rep.Members); err != nil {
		return nil, err
	}
	// Wait until the log has reached us with our own membership entry.
	for {
		if _, ok := n.fsm.Cluster().Members[n.cfg.ID]; ok {
			return &JoinResult{Member: rep.Member, ClusterID: rep.ClusterID, Members: rep.Members}, nil
		}
		if !n.pause(ctx, 20*time.Millisecond) {
			return nil, fmt.Errorf("raftfsm: joined, but the cluster's log did not arrive: %w", ctx.Err())
		}
	}
}

// ListMembers asks the members at peers (peer host:port addresses) for
// the cluster's membership, trying each once until one answers.
func ListMembers(ctx context.Context, peers []string, peerTLS *tls.Config) (uint64, []*machines.Member, error) {
	pool := newRPCPoolIdle(dialer{tls: peerTLS, proto: protoCluster}, rpcClientIdleAnonymous)
	defer pool.Close()
	payload, _ := json.Marshal(&memberRequest{Op: "list"})
	var lastErr error
	for _, p := range peers {
		b, err := pool.call(ctx, p, opJoin, payload)
		if err != nil {
			lastErr = fmt.Errorf("%s: %w", p, err)
			continue
		}
		var rep memberReply
		if err := json.Unmarshal(b, &rep); err != nil {
			lastErr = err
			continue
		}
		return rep.ClusterID, rep.Members, nil
	}
	if lastErr == nil {
		lastErr = errors.New("no peers given")
	}
	return 0, nil, lastErr
}

// askCluster sends req (an opJoin call) to each of peers in turn, again and
// again, until one answers or ctx ends. A refusal by the cluster (a member
// error) ends it at once.
func askCluster(ctx context.Context, pool *rpcPool, peers []string, req *memberRequest) (*memberReply, error) {
	payload, _ := json.Marshal(req)
	var lastErr error
	for {
		for _, p := range peers {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			b, err := pool.call(cctx, p, opJoin, payload)
			cancel()
			if err != nil {
				lastErr = fmt.Errorf("%s: %w", p, err)
				continue
			}
			var rep memberReply
			if err := json.Unmarshal(b, &rep); err != nil {
				lastErr = err
				continue
			}
			if rep.Kind != "" {
				return nil, &remoteErr{kind: memberErrKinds[rep.Kind], msg: rep.Msg}
			}
			return &rep, nil
		}
		t := time.NewTimer(500 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("raftfsm: no member reachable at %v: %w", peers, lastErr)
		case <-t.C:
		}
	}
}

// verifyJoiner checks, on the leader, that the process asking to join as
// m runs at m's peer URL and is the one asking: called there, it must
// answer with m's ID and the nonce of the request.
func (n *Node) verifyJoiner(ctx context.Context, m *machines.Member, nonce string) error {
	addr := m.PeerAddr()
	if addr == "" {
		return fmt.Errorf("%w: the joining member advertises no peer URL", ErrJoinRefused)
	}
	if nonce == "" {
		return fmt.Errorf("%w: the join request carries no nonce (a member of an earlier build?)", ErrJoinRefused)
	}
	ctx, cancel := context.WithTimeout(ctx, joinVerifyTimeout)
	defer cancel()
	b, err := n.peers.call(ctx, addr, opIdentify, nil)
	if err != nil {
		return fmt.Errorf("%w: no joining member answers at its advertised peer URL %s (%v)", ErrJoinRefused, m.PeerURLs[0], err)
	}
	var rep identifyReply
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%w: bad answer from %s: %v", ErrJoinRefused, m.PeerURLs[0], err)
	}
	if rep.ID != m.ID {
		return fmt.Errorf("%w: the member at %s is %s, not %s", ErrJoinRefused, m.PeerURLs[0], machines.IDString(rep.ID), machines.IDString(m.ID))
	}
	if subtle.ConstantTimeCompare([]byte(rep.Nonce), []byte(nonce)) != 1 {
		return fmt.Errorf("%w: the member at %s is not the one asking to join", ErrJoinRefused, m.PeerURLs[0])
	}
	return nil
}

// checkJoin runs verifyJoiner for a join request and logs a refusal.
func (n *Node) checkJoin(ctx context.Context, m *machines.Member, nonce string) error {
	err := n.verifyJoiner(ctx, m, nonce)
	if err != nil {
		n.log.WithFields(logrus.Fields{"id": machines.IDString(m.ID), "peer_urls": m.PeerURLs, "err": err}).Warn("join refused")
	}
	return err
}

// identify answers opIdentify.
func (n *Node) identify() ([]byte, error) {
	nonce, _ := n.joinNonce.Load().(string)
	return json.Marshal(identifyReply{ID: n.cfg.ID, Nonce: nonce})
}
