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
	"net"
	"slices"
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

// ErrJoinGaveUp means no member answered in the rounds JoinRetry allows.
var ErrJoinGaveUp = errors.New("raftfsm: cannot join the cluster")

// JoinRetry is how often a process that is not a member goes through its
// peer list (etcd 0.4 -max-retry-attempts and -retry-interval). A refusal
// by the cluster or a TLS rejection ends the attempts at once: asking
// again would not change the answer.
type JoinRetry struct {
	// Rounds is how many times each peer is tried; 0 tries until the
	// context ends.
	Rounds int
	// Interval is the pause between rounds (default 500 ms).
	Interval time.Duration
	// Log, when set and Rounds are counted, gets a Warn line for each
	// round that failed (etcd 0.4 logs one).
	Log *logrus.Entry
}

// JoinWithRetry is Node.Join going through peers as r says.
func JoinWithRetry(ctx context.Context, n *Node, peers []string, r JoinRetry) (*JoinResult, error) {
	return n.members.joinRetry(ctx, peers, r)
}

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
	rep, err := askCluster(ctx, pool, peers, opLookup, &memberRequest{PeerURLs: peerURLs}, JoinRetry{})
	if err != nil {
		return nil, err
	}
	return &JoinResult{Member: rep.Member, ClusterID: rep.ClusterID, Members: rep.Members}, nil
}

// joinCluster is Node.Join: it tries until ctx ends.
func (ms *membership) joinCluster(ctx context.Context, peers []string) (*JoinResult, error) {
	return ms.joinRetry(ctx, peers, JoinRetry{})
}

// joinRetry is JoinWithRetry.
func (ms *membership) joinRetry(ctx context.Context, peers []string, r JoinRetry) (*JoinResult, error) {
	pool := newRPCPoolIdle(dialer{tls: ms.cfg.PeerTLS, proto: protoCluster}, rpcClientIdleAnonymous)
	defer pool.Close()
	// Learn the cluster first: the leader calls back, and raft connects,
	// as soon as it adds us, and we accept only members we know of.
	var list *memberReply
	// (A member that restarted moments ago may not have replayed its
	// table yet: ask again.)
	for list == nil || list.ClusterID == 0 || len(list.Members) == 0 {
		var err error
		if list, err = askCluster(ctx, pool, peers, opList, &memberRequest{}, r); err != nil {
			return nil, err
		}
		if list.ClusterID == 0 || len(list.Members) == 0 {
			if !ms.pause(ctx, 100*time.Millisecond) {
				return nil, fmt.Errorf("raftfsm: the cluster at %v has not recorded its ID yet: %w", peers, ctx.Err())
			}
			// The peer that answered may itself be joining (peers found
			// by etcd 0.4 discovery): ask the next one first next time.
			peers = append(slices.Clone(peers[1:]), peers[0])
		}
	}
	if err := ms.learned.learn(list.ClusterID, list.Members); err != nil {
		return nil, err
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	nonce := hex.EncodeToString(raw[:])
	ms.joinNonce.Store(nonce)
	defer ms.joinNonce.Store("")
	self := &machines.Member{ID: ms.cfg.ID, Name: ms.cfg.Name, PeerURLs: ms.cfg.PeerURLs, ClientURLs: ms.cfg.ClientURLs}
	rep, err := askCluster(ctx, pool, peers, opJoin, &memberRequest{Member: self, Nonce: nonce}, r)
	if err != nil {
		return nil, err
	}
	if rep.Member == nil || rep.Member.ID != ms.cfg.ID {
		return nil, fmt.Errorf("raftfsm: the cluster did not add this member as %s", machines.IDString(ms.cfg.ID))
	}
	if err := ms.learned.learn(rep.ClusterID, rep.Members); err != nil {
		return nil, err
	}
	// Wait until the log has reached us with our own membership entry.
	for {
		if _, ok := ms.fsm.member(ms.cfg.ID); ok {
			return &JoinResult{Member: rep.Member, ClusterID: rep.ClusterID, Members: rep.Members}, nil
		}
		if !ms.pause(ctx, 20*time.Millisecond) {
			return nil, fmt.Errorf("raftfsm: joined, but the cluster's log did not arrive: %w", ctx.Err())
		}
	}
}

// ListMembers asks the members at peers (peer host:port addresses) for
// the cluster's membership, trying each once until one answers.
func ListMembers(ctx context.Context, peers []string, peerTLS *tls.Config) (uint64, []*machines.Member, error) {
	pool := newRPCPoolIdle(dialer{tls: peerTLS, proto: protoCluster}, rpcClientIdleAnonymous)
	defer pool.Close()
	rep, err := askCluster(ctx, pool, peers, opList, &memberRequest{}, JoinRetry{Rounds: 1})
	if err != nil {
		return 0, nil, err
	}
	return rep.ClusterID, rep.Members, nil
}

// askCluster makes the call op (one a process that is not a member may
// make) to each of peers in turn until one answers, round after round as
// r says. A refusal by the cluster (a member error) or a TLS rejection
// ends it at once.
func askCluster(ctx context.Context, pool *rpcPool, peers []string, op byte, req *memberRequest, r JoinRetry) (*memberReply, error) {
	payload, _ := json.Marshal(req)
	lastErr := errors.New("no peers given")
	if r.Interval <= 0 {
		r.Interval = 500 * time.Millisecond
	}
	for round := 1; ; round++ {
		for _, p := range peers {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			b, err := pool.call(cctx, p, op, payload)
			cancel()
			if isRefusal(err) {
				return nil, err
			}
			if tlsRejected(err) {
				return nil, fmt.Errorf("%s: TLS rejected: %w", p, err)
			}
			if err != nil {
				lastErr = fmt.Errorf("%s: %w", p, err)
				continue
			}
			var rep memberReply
			if err := json.Unmarshal(b, &rep); err != nil {
				lastErr = err
				continue
			}
			return &rep, nil
		}
		if r.Rounds > 0 && round >= r.Rounds {
			if r.Rounds == 1 {
				return nil, lastErr
			}
			return nil, fmt.Errorf("%w via the peers %v after %d rounds: %w", ErrJoinGaveUp, peers, round, lastErr)
		}
		if r.Log != nil && r.Rounds > 0 {
			r.Log.WithFields(logrus.Fields{"peers": peers, "round": round, "err": lastErr}).
				Warnf("no member answered; retrying in %v", r.Interval)
		}
		t := time.NewTimer(r.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("raftfsm: no member reachable at %v: %w", peers, lastErr)
		case <-t.C:
		}
	}
}

// tlsRejected reports whether a call failed because one side refused the
// other's certificate (or the other side does not speak TLS), which
// asking again would not change.
func tlsRejected(err error) bool {
	var verr *tls.CertificateVerificationError
	var rerr tls.RecordHeaderError
	var oerr *net.OpError
	return errors.As(err, &verr) || errors.As(err, &rerr) ||
		(errors.As(err, &oerr) && oerr.Op == "remote error")
}

// checkJoiner checks, on the leader, that the process asking to join as
// m runs at m's peer URL and is the one asking: called there, it must
// answer with m's ID and the nonce of the request.
func (ms *membership) checkJoiner(ctx context.Context, m *machines.Member, nonce string) error {
	addr := m.PeerAddr()
	if addr == "" {
		return fmt.Errorf("%w: the joining member advertises no peer URL", ErrJoinRefused)
	}
	if nonce == "" {
		return fmt.Errorf("%w: the join request carries no nonce", ErrJoinRefused)
	}
	ctx, cancel := context.WithTimeout(ctx, joinVerifyTimeout)
	defer cancel()
	b, err := ms.peers.call(ctx, addr, opIdentify, nil)
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

// verifyJoiner runs checkJoiner for a join request and logs a refusal.
func (ms *membership) verifyJoiner(ctx context.Context, m *machines.Member, nonce string) error {
	err := ms.checkJoiner(ctx, m, nonce)
	if err != nil {
		ms.log.WithFields(logrus.Fields{"id": machines.IDString(m.ID), "peer_urls": m.PeerURLs, "err": err}).Warn("join refused")
	}
	return err
}

// identify answers opIdentify.
func (ms *membership) identify() ([]byte, error) {
	nonce, _ := ms.joinNonce.Load().(string)
	return json.Marshal(identifyReply{ID: ms.cfg.ID, Nonce: nonce})
}
