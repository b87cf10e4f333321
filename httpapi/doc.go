// Package httpapi serves etcd's client HTTP API: the v2 keys API with its
// watches, /v2/members, /v2/machines, /v2/stats, /version and /health, and
// the v1 keys API and 0.x info endpoints beside it, all from one store,
// and etcd 2.x's v2 authentication (/v2/auth, checked on every keys path;
// auth.go, auth_check.go).
// /v1 speaks etcd 0.4.6's dialect, or etcd v0.1.0's with
// Config.V1Dialect "0.1" (render_v1.go says what differs); /v2 is the
// same in both. It also serves the web dashboard at /dashboard/
// (dashboard.go), a page that is only a client of that API.
//
// Handlers are thin: parse and validate the request, call the store (for
// local reads and watches) or the Node interface (for writes, quorum reads
// and cluster facts), and hand the result to one renderer. The package
// must not import raftfsm or touch raft types (only its tests start real
// members); it declares the small interfaces it needs and the server
// package passes the raft node in. All routes are in routes.go.
package httpapi
