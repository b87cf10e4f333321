package httpapi

import (
	"net/http"

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
	return r
}
