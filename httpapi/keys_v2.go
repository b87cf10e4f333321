package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

const keysPrefix = "/v2/keys"

// keysV2 serves /v2/keys and everything below it.
//
//	curl -X PUT http://127.0.0.1:2379/v2/keys/message -d value=Hello
func (a *API) keysV2(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r.Method, "HEAD", "GET", "PUT", "POST", "DELETE") {
		return
	}
	w.Header()["X-Etcd-Cluster-Id"] = []string{a.clusterIDString()}
	kr, err := parseKeyRequest(r, strings.TrimPrefix(r.URL.Path, keysPrefix))
	if err != nil {
		writeError(w, err)
		return
	}
	// After parsing, as etcd: a bad request is 400 even without access.
	user, ok := a.keyAccess(r, kr.Path, kr.Recursive)
	if !ok {
		writeError(w, errNoAuth())
		return
	}
	kr.User = user
	switch {
	case r.Method == http.MethodGet && kr.Quorum:
		// Checked before wait: ?wait=true&quorum=true is a quorum GET.
		if err := a.cfg.Node.ReadBarrier(r.Context()); err != nil {
			writeError(w, err)
			return
		}
		a.getV2(w, r, kr)
	case r.Method == http.MethodGet && kr.Wait:
		a.watchV2(w, r, kr)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		if err := a.waitReady(r); err != nil {
			writeError(w, err)
			return
		}
		a.getV2(w, r, kr)
	default:
		if a.redirectToLeader(w, r) {
			return
		}
		ev, err := a.cfg.Node.Propose(r.Context(), &kr.Request)
		if err != nil {
			writeError(w, err)
			return
		}
		a.writeEvent(w, ev, kr.NoValueOnSuccess)
	}
}

// writeEvent answers a successful keys operation: 201 for creations, the
// index headers, and the event JSON. With noValueOnSuccess (etcd 3.1+)
// set/create/update/compareAndSwap answer only their action.
func (a *API) writeEvent(w http.ResponseWriter, ev *store.Event, noValueOnSuccess bool) {
	a.setIndexHeaders(w, ev.EtcdIndex)
	status := http.StatusOK
	if ev.IsCreated() {
		status = http.StatusCreated
	}
	if noValueOnSuccess {
		switch ev.Action {
		case store.ActionSet, store.ActionCreate, store.ActionUpdate, store.ActionCompareAndSwap:
			ev = &store.Event{Action: ev.Action}
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(appendEvent(make([]byte, 0, 256), ev))
}

// jsonContentType is shared by every JSON answer (header values are
// never modified once set).
var jsonContentType = []string{"application/json"}

func (a *API) setIndexHeaders(w http.ResponseWriter, etcdIndex uint64) {
	// Canonical keys assigned directly: this runs on every keys request.
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Etcd-Index"] = []string{strconv.FormatUint(etcdIndex, 10)}
	h["X-Raft-Index"] = []string{strconv.FormatUint(a.cfg.Node.RaftIndex(), 10)}
	h["X-Raft-Term"] = []string{strconv.FormatUint(a.cfg.Node.RaftTerm(), 10)}
}

// clusterIDString is the cluster ID in hex, formatted once per ID.
func (a *API) clusterIDString() string {
	id := a.cfg.Node.ClusterID()
	if c, ok := a.cidCache.Load().(cidEntry); ok && c.id == id {
		return c.s
	}
	s := machines.IDString(id)
	a.cidCache.Store(cidEntry{id, s})
	return s
}

type cidEntry struct {
	id uint64
	s  string
}

// watchV2 serves ?wait=true: headers are flushed as soon as the watch is
// registered; then one event (or every event with stream=true) is
// written. It ends when the client goes away, the member stops, or the
// store drops the watcher.
func (a *API) watchV2(w http.ResponseWriter, r *http.Request, kr *keyRequest) {
	if err := a.waitReady(r); err != nil {
		writeError(w, err)
		return
	}
	wa, err := a.cfg.Store.WatchFiltered(kr.Path, kr.Recursive, kr.Stream, kr.WaitIndex, a.readFilter(kr.User, kr.Path, kr.Recursive))
	if err != nil {
		writeError(w, err)
		return
	}
	defer wa.Remove()
	a.setIndexHeaders(w, wa.StartIndex())
	w.WriteHeader(http.StatusOK)
	// Every write has a deadline (watchWriter): a client that stops
	// reading is cut off instead of holding the watcher forever.
	ww := a.newWatchWriter(w)
	defer ww.done()
	if ww.flush() != nil {
		return
	}
	buf := make([]byte, 0, 256)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-a.stop:
			return
		case ev := <-wa.EventChan():
			buf = appendEvent(buf[:0], ev)
			if err := ww.write(buf); err != nil || !kr.Stream {
				return
			}
		case <-wa.Done():
			// Dropped as too slow: hand over what was buffered and end the
			// response, so the client re-watches from its last index.
			for {
				select {
				case ev := <-wa.EventChan():
					if ww.write(appendEvent(buf[:0], ev)) != nil {
						return
					}
				default:
					return
				}
			}
		}
	}
}

// redirectToLeader implements --redirect: a follower answers a write with
// etcd 0.4's 307 to the leader's client URL, path and query preserved.
// It reports whether it answered.
func (a *API) redirectToLeader(w http.ResponseWriter, r *http.Request) bool {
	if !a.cfg.Redirect || a.cfg.Node.IsLeader() {
		return false
	}
	lid, ok := a.cfg.Node.LeaderID()
	if !ok {
		return false // no leader: Propose fails fast with error 300
	}
	m := a.cfg.Node.Cluster().Members[lid]
	if m == nil || len(m.ClientURLs) == 0 {
		return false
	}
	loc := strings.TrimRight(m.ClientURLs[0], "/") + r.URL.Path
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusTemporaryRedirect)
	return true
}
