package raftfsm

import (
	"errors"
	"fmt"
	"strings"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// Sentinel errors of the package, compared with errors.Is. Each one that
// reaches a client also wraps a *store.Error with code 300 (Raft Internal
// Error) and etcd's cause text (wireErrors), so the HTTP layer can render
// it without knowing raft.
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

// errNotLeader: this member is not the leader (nothing was enqueued, so
// the request may be sent elsewhere). It never leaves the package: the
// leader-or-forward routine (route.go) retries on it.
var errNotLeader = errors.New("raftfsm: not the leader")

// wireErrors is every error that crosses the cluster RPC by name, and the
// store error a client gets for it. The answering member sends the name
// of the first entry its error matches (errors.Is) with the error's text;
// the caller gets the same sentinel back. Entries with a cause are raft
// trouble: the client sees etcd's error 300 with that cause (apiError).
// The others keep the answering member's text (the membership errors,
// which httpapi maps to their HTTP answers by sentinel).
var wireErrors = []struct {
	name  string
	err   error
	cause string // etcd 2.x's cause of the error 300; "" for the others
}{
	{"noleader", ErrNoLeader, "etcdserver: no leader"},
	{"timeout", ErrTimeout, "etcdserver: request timed out"},
	{"lost", ErrLeadershipLost, "etcdserver: request timed out, possibly due to previous leader failure"},
	{"stopped", ErrStopped, "etcdserver: server stopped"},
	{"nospace", ErrNoSpace, "etcdserver: mvcc: database space exceeded"},
	{"notleader", errNotLeader, ""},
	{"joinrefused", ErrJoinRefused, ""},
	{"idexists", machines.ErrIDExists, ""},
	{"peerexists", machines.ErrPeerURLExists, ""},
	{"notfound", machines.ErrIDNotFound, ""},
	{"removed", machines.ErrIDRemoved, ""},
	{"strict", machines.ErrStrictReconfig, ""},
	{"notcaught", machines.ErrNotCaughtUp, ""},
	{"notlearner", machines.ErrNotLearner, ""},
	{"badurl", machines.ErrBadURL, ""},
}

// apiError wraps a sentinel with the etcd error a client should see.
func apiError(sentinel error) error {
	cause := ""
	for _, w := range wireErrors {
		if w.err == sentinel {
			cause = w.cause
		}
	}
	return fmt.Errorf("%w%w", sentinel, &wireErr{store.NewError(store.EcodeRaftInternal, cause, 0)})
}

// wireErr hides the store error's message from %w formatting so that the
// sentinel's text is what logs show, while errors.As still finds it.
type wireErr struct{ e *store.Error }

func (w *wireErr) Error() string { return "" }
func (w *wireErr) Unwrap() error { return w.e }

// errRemote marks every error another member answered with (as opposed
// to a call that failed on the way).
var errRemote = errors.New("raftfsm: remote error")

// remoteErr is an error another member answered with: its text, the
// sentinel it matched there (nil for none), and errRemote.
type remoteErr struct {
	kind error
	msg  string
}

func (e *remoteErr) Error() string { return e.msg }

func (e *remoteErr) Unwrap() []error {
	if e.kind == nil {
		return []error{errRemote}
	}
	return []error{e.kind, errRemote}
}

// encodeRPCError is the payload of an error answer: "S", the name of the
// wireErrors entry the error matches, a newline and its text; or "M" and
// the text alone.
func encodeRPCError(err error) []byte {
	for _, w := range wireErrors {
		if errors.Is(err, w.err) {
			return []byte("S" + w.name + "\n" + err.Error())
		}
	}
	return []byte("M" + err.Error())
}

// decodeRPCError turns an error answer back into an error: the sentinel
// it named (as apiError for raft trouble) or the remote text, always
// matching errRemote.
func decodeRPCError(b []byte) error {
	if len(b) == 0 {
		return &remoteErr{msg: "raftfsm: empty error answer"}
	}
	kind, text := b[0], string(b[1:])
	if kind == 'S' {
		name, msg, _ := strings.Cut(text, "\n")
		for _, w := range wireErrors {
			if w.name != name {
				continue
			}
			if w.cause != "" {
				return &remoteErr{kind: apiError(w.err), msg: w.err.Error()}
			}
			return &remoteErr{kind: w.err, msg: msg}
		}
		text = msg
	}
	return &remoteErr{msg: text}
}

// isRefusal reports whether err is another member's refusal of a
// membership request (a membership sentinel), which asking elsewhere
// would not change, rather than trouble worth another try.
func isRefusal(err error) bool {
	var re *remoteErr
	if !errors.As(err, &re) || re.kind == nil {
		return false
	}
	for _, w := range wireErrors {
		if w.cause == "" && w.err != errNotLeader && re.kind == w.err {
			return true
		}
	}
	return false
}
