package raftfsm

import (
	"errors"
	"fmt"

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
