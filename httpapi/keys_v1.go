package httpapi

import (
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

const (
	v1KeysPrefix  = "/v1/keys/"
	v1WatchPrefix = "/v1/watch/"
)

// keysV1 serves /v1/keys/<key> (etcd 0.4.6 server/v1; with
// --v1-dialect=0.1, etcd v0.1.0's etcd_handlers.go).
//
//	curl -L http://127.0.0.1:4001/v1/keys/foo -d value=bar
//	curl -L http://127.0.0.1:4001/v1/keys/foo -d prevValue=bar -d value=baz
//	curl -L http://127.0.0.1:4001/v1/keys/foo -X DELETE
func (a *API) keysV1(w http.ResponseWriter, r *http.Request) {
	if a.v01() {
		a.keysV01(w, r)
		return
	}
	key := "/" + trimKey(r, v1KeysPrefix)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if _, ok := a.v1Access(w, r, key, false); !ok {
			return
		}
		if err := a.waitReady(r); err != nil {
			a.writeV1Error(w, r, err)
			return
		}
		a.getV1(w, r, key, listInline)
	case http.MethodPost, http.MethodPut:
		req, err := a.parseV1Set(r, key, false)
		if err != nil {
			a.writeV1Error(w, r, err)
			return
		}
		a.proposeV1(w, r, req)
	case http.MethodDelete:
		// etcd 0.4.6's v1 delete takes no parameters: never recursive,
		// never conditional.
		a.proposeV1(w, r, &store.Request{Method: store.MethodDelete, Path: key})
	default:
		a.v1NotRouted(w, r)
	}
}

// keysV01 is keysV1 in etcd v0.1.0's dialect: GET, POST and DELETE only;
// sets under the /_etcd and /ephemeralNodes keywords are refused first.
func (a *API) keysV01(w http.ResponseWriter, r *http.Request) {
	raw := trimKey(r, v1KeysPrefix)
	switch r.Method {
	case http.MethodGet:
		if _, ok := a.v1Access(w, r, "/"+raw, false); !ok {
			return
		}
		if err := a.waitReady(r); err != nil {
			a.writeV1Error(w, r, err)
			return
		}
		a.getV1(w, r, raw, listInline)
	case http.MethodPost:
		if isKeyword01(raw) {
			a.writeV1Error(w, r, store.NewError(ecodeKeyword01, "Set", 0))
			return
		}
		req, err := a.parseV1Set(r, raw, true)
		if err != nil {
			a.writeV1Error(w, r, err)
			return
		}
		a.proposeV1(w, r, req)
	case http.MethodDelete:
		// v0.1.0 read no form on DELETE.
		a.proposeV1(w, r, &store.Request{Method: store.MethodDelete, Path: raw, V01: true})
	default:
		a.v1NotRouted(w, r)
	}
}

// proposeV1 sends a v1 write through the leader (or answers the 307 of
// --redirect) and renders its event at the write's own index.
func (a *API) proposeV1(w http.ResponseWriter, r *http.Request, req *store.Request) {
	key := req.Path
	if req.V01 {
		key = "/" + key
	}
	user, ok := a.v1Access(w, r, key, false)
	if !ok {
		return
	}
	req.User = user
	rr := r
	if a.v01() {
		// v0.1.0 redirected to the leader's URL with the path only.
		rr = r.Clone(r.Context())
		rr.URL.RawQuery = ""
	}
	if a.redirectToLeader(w, rr) {
		return
	}
	ev, err := a.cfg.Node.Propose(r.Context(), req)
	if err != nil {
		a.writeV1Error(w, r, err)
		return
	}
	a.writeV1Event(w, r, ev, ev.EtcdIndex)
}

// v1Access checks a /v1 request on key as /v2/keys would check it (etcd
// 0.4 had no auth; its keys are the same keys), answering the 401 in the
// dialect's error shape.
func (a *API) v1Access(w http.ResponseWriter, r *http.Request, key string, recursive bool) (string, bool) {
	user, ok := a.keyAccess(r, key, recursive)
	if !ok {
		a.writeV1Error(w, r, errNoAuth())
	}
	return user, ok
}

// parseV1Set validates a v1 set in etcd's order — value (200), then ttl
// (202), both with cause "Set" — and builds the store request.
//
// etcd 0.4.6 picks the operation from prevValue: absent is a set, present
// but empty creates the key only if nothing is there, anything else is a
// compare-and-swap. In v0.1.0 (v01) an empty prevValue is no prevValue,
// and the store applies v0.1.0's rules (store.Request.V01).
func (a *API) parseV1Set(r *http.Request, key string, v01 bool) (*store.Request, error) {
	f, err := parseForm(r)
	if err != nil {
		// Go's form parser gave up (a body over 10 MiB): etcd, which
		// used FormValue, then saw no value at all.
		f = url.Values{}
	}
	req := &store.Request{Method: store.MethodPut, Path: key, Value: first(f, "value"), V01: v01}
	if req.Value == "" {
		return nil, a.v1FormError(store.EcodeValueRequired, "Set")
	}
	if s := first(f, "ttl"); s != "" {
		ttl, err := strconv.Atoi(s)
		if err != nil {
			return nil, a.v1FormError(store.EcodeTTLNaN, "Set")
		}
		// Negative and zero TTLs are accepted: the key is born expired.
		req.HasTTL, req.TTL = true, time.Duration(ttl)*time.Second
	}
	prev, has := f["prevValue"]
	switch {
	case !has:
	case v01 || prev[0] != "":
		req.PrevValue = prev[0]
	default:
		create := false
		req.PrevExist = &create
	}
	return req, nil
}

// parseV1WatchIndex reads the index of a POST /v1/watch (0 for GET):
// a missing or non-numeric one is 203 "Watch From Index".
func (a *API) parseV1WatchIndex(r *http.Request) (uint64, error) {
	if r.Method != http.MethodPost {
		return 0, nil
	}
	f, err := parseForm(r)
	if err != nil {
		f = url.Values{}
	}
	since, err := strconv.ParseUint(first(f, "index"), 10, 64)
	if err != nil {
		return 0, a.v1FormError(store.EcodeIndexNaN, "Watch From Index")
	}
	return since, nil
}

// trimKey returns the part of the URL path after prefix ("/v1/keys/"),
// percent-decoded.
func trimKey(r *http.Request, prefix string) string {
	return strings.TrimPrefix(r.URL.Path, prefix)
}

// isKeyword01 reports whether v0.1.0 refused sets at key: its first path
// segment is one of the keywords _etcd and ephemeralNodes
// (v0.1.0 store/keywords.go).
func isKeyword01(key string) bool {
	p := path.Clean("/" + key)
	first, _, _ := strings.Cut(p[1:], "/")
	return first == "_etcd" || first == "ephemeralNodes"
}
