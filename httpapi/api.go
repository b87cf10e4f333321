package httpapi

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// Node is what the handlers need from the replication layer (the server
// package passes the raft node).
type Node interface {
	// Propose replicates a write and returns its event once applied on
	// this member; failures are *store.Error values or errors that wrap
	// one (code 300 for raft trouble).
	Propose(ctx context.Context, r *store.Request) (*store.Event, error)
	// ReadBarrier returns once a local read would be linearizable.
	ReadBarrier(ctx context.Context) error
	// WaitReady returns once the member may serve local reads: it has
	// caught up with the state it had before a restart, and applied every
	// write it acknowledged (its read fence). It returns nil at once,
	// whatever ctx, when it may serve them now; else an error wrapping a
	// 300 store error ("no leader", "request timed out") when ctx ends
	// first.
	WaitReady(ctx context.Context) error

	ID() uint64
	Name() string
	ClusterID() uint64
	IsLeader() bool
	LeaderID() (uint64, bool)
	State() string
	Cluster() *machines.Cluster
	RaftIndex() uint64
	RaftTerm() uint64

	// Runtime reconfiguration; errors match the machines sentinels
	// (ErrIDExists, ErrPeerURLExists, ErrIDNotFound, ErrIDRemoved,
	// ErrBadURL, ErrStrictReconfig, ErrNotLearner, ErrNotCaughtUp) or
	// wrap a 300 store error for raft trouble.
	AddMember(ctx context.Context, peerURLs []string, learner bool) (*machines.Member, error)
	RemoveMember(ctx context.Context, id uint64) error
	UpdateMember(ctx context.Context, id uint64, peerURLs []string) error
	PromoteMember(ctx context.Context, id uint64) (*machines.Member, error)

	// LeaderStats is the leader's view of its followers (ok=false on a
	// follower); AppendStats is this member's append traffic.
	LeaderStats() (map[uint64]machines.FollowerStats, bool)
	AppendStats() machines.AppendStats
	// LeaderSince is when this member first saw the current leader (zero
	// if none).
	LeaderSince() time.Time
}

// Config configures the client API.
type Config struct {
	Store *store.Store
	Node  Node
	Log   *logrus.Entry
	// Now is the clock used to render remaining TTLs (time.Now).
	Now func() time.Time
	// ServerVersion and ClusterVersion are reported by /version.
	ServerVersion, ClusterVersion string
	// CORS lists allowed origins ("*" for any); empty means no CORS
	// headers at all (etcd 2.x).
	CORS []string
	// Redirect makes followers answer writes with etcd 0.4's 307 to the
	// leader's client URL instead of forwarding them.
	Redirect bool
	// V1Dialect is Dialect04 or Dialect01 (DefaultV1Dialect).
	V1Dialect string
	// ReadyTimeout bounds how long a keys read or watch waits for a
	// restarting member to be ready; then it is answered with the
	// member's error 300 — never from a state older than the one the
	// member had (5s).
	ReadyTimeout time.Duration
	// WatchWriteTimeout bounds each write of a v2 long poll (plus one
	// second per 64 KiB written): a client that stops reading is cut off
	// when it passes (30s).
	WatchWriteTimeout time.Duration
	// StartTime is when the member started (stats).
	StartTime time.Time
	// RaftStats feeds the replication series of /metrics (optional; the
	// raft node's Metrics).
	RaftStats func() machines.RaftStats
	// EnablePprof serves /debug/pprof (etcd's --enable-pprof).
	EnablePprof bool
	// HostWhitelist lists the host names (no port) a request over plain
	// HTTP may name in its Host header; others get etcd 3.4's 421 (see
	// hostcheck.go). Empty, or containing "*", allows every host. Requests
	// over TLS are never checked.
	HostWhitelist []string
	// BcryptCost is the bcrypt cost of stored passwords (etcd's
	// --bcrypt-cost); 0 means bcrypt's default, 10.
	BcryptCost int
	// ClientCertAuth is etcd's --client-cert-auth: with v2 auth enabled,
	// a request without Authorization whose verified client certificate
	// has a user's name as CN acts as that user.
	ClientCertAuth bool
	// Snapshots serves SnapshotPath (snapshot.go); nil answers 404.
	Snapshots Snapshots
	// DisableDashboard turns off the web dashboard at /dashboard/ (the
	// zero value serves it; --enable-dashboard=false sets this).
	DisableDashboard bool
}

// API is the client HTTP API of one member.
type API struct {
	cfg     Config
	log     *logrus.Entry
	handler http.Handler
	metrics *metrics

	stop     chan struct{} // closed by Close: ends long-polls
	stopCtx  context.Context
	stopped  context.CancelFunc // cancels stopCtx, with stop
	stopOnce sync.Once

	cidCache atomic.Value // cidEntry: the cluster ID as text

	creds *credCache // verified passwords (auth_check.go)
}

// New builds the API.
func New(cfg Config) *API {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 5 * time.Second
	}
	if cfg.V1Dialect == "" {
		cfg.V1Dialect = DefaultV1Dialect
	}
	if cfg.StartTime.IsZero() {
		cfg.StartTime = cfg.Now()
	}
	a := &API{cfg: cfg, log: cfg.Log.WithField("component", "httpapi"),
		stop: make(chan struct{}), creds: newCredCache()}
	a.stopCtx, a.stopped = context.WithCancel(context.Background())
	a.metrics = newMetrics(cfg.Store, cfg.RaftStats)
	a.handler = a.checkHost(a.wrap(a.routes()))
	return a
}

// doneCtx is a context that has ended: WaitReady(doneCtx) only looks.
var doneCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// Close ends every long-poll (watches answer with what they have, as a
// stopping etcd does) so that the HTTP server can shut down. Idempotent.
func (a *API) Close() {
	a.stopOnce.Do(func() {
		close(a.stop)
		a.stopped()
	})
}

// waitReady holds a keys read or watch until the member may serve it, at
// most ReadyTimeout (or until the client leaves or the API closes): until
// it is ready after its start, and until it has applied every write it
// acknowledged (a follower answers a forwarded write before applying it;
// its reads wait for it instead). A member that is not ready answers with
// its error (300: no leader, or timed out): etcd answers only once it has
// caught up, never with an older state than it had.
func (a *API) waitReady(r *http.Request) error {
	// Most of the time there is nothing to wait for: WaitReady answers at
	// once, whatever its context.
	if a.cfg.Node.WaitReady(doneCtx) == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.ReadyTimeout)
	defer cancel()
	defer context.AfterFunc(a.stopCtx, cancel)()
	return a.cfg.Node.WaitReady(ctx)
}
