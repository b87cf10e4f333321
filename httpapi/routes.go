package httpapi

import (
	"expvar"
	"net/http"
	"net/http/pprof"

	"github.com/gorilla/mux"
)

// routes declares the whole client API surface. Method checks happen in
// the handlers: etcd 2.x answers 405 with an Allow header, etcd 0.4's
// router answered 404 for a method it did not list.
func (a *API) routes() http.Handler {
	r := mux.NewRouter()
	// Paths are cleaned (with etcd's own 301 rules) before routing.
	r.SkipClean(true)
	r.NotFoundHandler = http.HandlerFunc(http.NotFound)

	// v2 keys API and its cluster endpoints.
	r.Path("/v2/keys").HandlerFunc(a.keysV2)
	r.PathPrefix("/v2/keys/").HandlerFunc(a.keysV2)
	r.Path("/v2/members").HandlerFunc(a.membersV2)
	r.PathPrefix("/v2/members/").HandlerFunc(a.membersV2)
	r.Path("/v2/machines").HandlerFunc(a.machinesV2)
	r.Path("/v2/stats/self").HandlerFunc(a.statsSelf)
	r.Path("/v2/stats/leader").HandlerFunc(a.statsLeader)
	r.Path("/v2/stats/store").HandlerFunc(a.statsStore)
	r.Path("/version").HandlerFunc(a.version)
	r.Path("/health").HandlerFunc(a.health)
	r.Path("/metrics").Handler(a.metrics.handler())
	r.Path("/debug/vars").Handler(expvar.Handler())
	r.Path("/config/local/log").HandlerFunc(a.configLocalLog)
	r.Path(SnapshotPath).HandlerFunc(a.snapshot) // snapshot.go: etcd-classic snapshot save
	// v2 authentication (auth.go); every other handler checks access
	// through auth_check.go.
	r.Path("/v2/auth/enable").HandlerFunc(a.authEnable)
	r.Path("/v2/auth/users").HandlerFunc(a.authUsers)
	r.PathPrefix("/v2/auth/users/").HandlerFunc(a.authUsers)
	r.Path("/v2/auth/roles").HandlerFunc(a.authRoles)
	r.PathPrefix("/v2/auth/roles/").HandlerFunc(a.authRoles)
	if a.cfg.EnablePprof {
		// mux tries routes in order: the fixed paths before the prefix.
		r.Path("/debug/pprof/cmdline").HandlerFunc(pprof.Cmdline)
		r.Path("/debug/pprof/profile").HandlerFunc(pprof.Profile)
		r.Path("/debug/pprof/symbol").HandlerFunc(pprof.Symbol)
		r.Path("/debug/pprof/trace").HandlerFunc(pprof.Trace)
		r.PathPrefix("/debug/pprof/").HandlerFunc(pprofIndex)
	}

	// v1 keys API and the etcd 0.x info endpoints, in the dialect of
	// --v1-dialect (keys_v1.go, watch_v1.go, info_v1.go). "/v1/keys" and
	// "/v1/watch" without the slash are 404 as in 0.4.6, or v0.1.0's 301
	// to the slash (routing_v01.go).
	r.PathPrefix(v1KeysPrefix).HandlerFunc(a.keysV1)
	r.PathPrefix(v1WatchPrefix).HandlerFunc(a.watchV1)
	r.Path("/v1/keys").HandlerFunc(a.v1Bare)
	r.Path("/v1/watch").HandlerFunc(a.v1Bare)
	r.Path("/v1/machines").HandlerFunc(a.machinesV1)
	r.Path("/v1/peers").HandlerFunc(a.machinesV1)
	r.Path("/v1/leader").HandlerFunc(a.leaderV1)
	r.Path("/v1/stats/self").HandlerFunc(a.statsSelfV1)
	r.Path("/v1/stats/leader").HandlerFunc(a.statsLeaderV1)
	r.Path("/v1/stats/store").HandlerFunc(a.statsStoreV1)
	// etcd v0.1.0's root endpoints: /machines and /leader in every
	// dialect (old scripts use them); "/" and /stats only with 0.1.
	r.Path("/machines").HandlerFunc(a.machinesRoot)
	r.Path("/leader").HandlerFunc(a.leaderRoot)
	r.Path("/").HandlerFunc(a.rootV01)
	r.Path("/stats").HandlerFunc(a.statsV01)
	a.dashboardRoutes(r) // /dashboard/ and etcd 0.4's /mod/dashboard/ (dashboard.go)
	return r
}

// pprofIndex serves /debug/pprof/ and the named profiles under it.
func pprofIndex(w http.ResponseWriter, r *http.Request) { pprof.Index(w, r) }

// MetricsHandler serves only /metrics and /health (--listen-metrics-urls).
func (a *API) MetricsHandler() http.Handler {
	m := http.NewServeMux()
	m.Handle("/metrics", a.metrics.handler())
	m.HandleFunc("/health", a.health)
	return m
}
