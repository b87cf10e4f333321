package raftfsm

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// Sentinel errors of the package, compared with errors.Is. Each one that
// reaches a client also wraps a *store.Error with code 300 (Raft Internal
// Error) and etcd's cause text, so the HTTP layer can render it without
// knowing raft.
var (
	// ErrNoLeader: no leader is known (election in progress, or no
	// quorum). Nothing was proposed.
	ErrNoLeader = errors.New("raftfsm: no leader")
	// ErrTimeout: the request did not complete in time; it may still be
	// applied later.
	ErrTimeout = errors.New("raftfsm: request timed out")
	// ErrLeadershipLost: leadership changed while the entry was in
	// flight; the outcome is unknown and must not be retried blindly.
	ErrLeadershipLost = errors.New("raftfsm: leadership lost")
	// ErrStopped: the node is shutting down.
	ErrStopped = errors.New("raftfsm: server stopped")
)

// etcd 2.x cause strings for the corresponding 300 errors.
var causes = map[error]string{
	ErrNoLeader:       "etcdserver: no leader",
	ErrTimeout:        "etcdserver: request timed out",
	ErrLeadershipLost: "etcdserver: request timed out, possibly due to previous leader failure",
	ErrStopped:        "etcdserver: server stopped",
}

// apiError wraps a sentinel with the etcd error a client should see.
func apiError(sentinel error) error {
	return fmt.Errorf("%w%w", sentinel, &wireErr{store.NewError(store.EcodeRaftInternal, causes[sentinel], 0)})
}

// wireErr hides the store error's message from %w formatting so that the
// sentinel's text is what logs show, while errors.As still finds it.
type wireErr struct{ e *store.Error }

func (w *wireErr) Error() string { return "" }
func (w *wireErr) Unwrap() error { return w.e }

// Member errors that cross the wire by kind.
var memberErrKinds = map[string]error{
	"idexists":   machines.ErrIDExists,
	"peerexists": machines.ErrPeerURLExists,
	"notfound":   machines.ErrIDNotFound,
	"removed":    machines.ErrIDRemoved,
	"strict":     machines.ErrStrictReconfig,
	"notcaught":  machines.ErrNotCaughtUp,
	"notlearner": machines.ErrNotLearner,
	"badurl":     machines.ErrBadURL,
}

func memberErrReply(err error) ([]byte, error) {
	for k, e := range memberErrKinds {
		if errors.Is(err, e) {
			return json.Marshal(memberReply{Kind: k, Msg: err.Error()})
		}
	}
	return nil, err
}

// remoteErr is a membership error reported by the leader: its text, and
// the sentinel it matches.
type remoteErr struct {
	kind error
	msg  string
}

func (e *remoteErr) Error() string { return e.msg }

func (e *remoteErr) Unwrap() error { return e.kind }

// rpcError is an error that crossed the wire: a sentinel of this package
// (by name) or a plain message.
func encodeRPCError(err error) []byte {
	for kind, sentinel := range sentinelsByName {
		if errors.Is(err, sentinel) {
			return []byte("S" + kind)
		}
	}
	return []byte("M" + err.Error())
}

var sentinelsByName = map[string]error{
	"noleader": ErrNoLeader,
	"timeout":  ErrTimeout,
	"lost":     ErrLeadershipLost,
	"stopped":  ErrStopped,
}

// errRemote is a failure reported by the remote member.
var errRemote = errors.New("raftfsm: remote error")

func decodeRPCError(b []byte) error {
	if len(b) > 0 && b[0] == 'S' {
		if s, ok := sentinelsByName[string(b[1:])]; ok {
			return apiError(s)
		}
	}
	if len(b) > 0 {
		b = b[1:]
	}
	return fmt.Errorf("%w: %s", errRemote, b)
}
