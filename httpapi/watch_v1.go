package httpapi

import (
	"errors"
	"net/http"
	"path"

	"github.com/etcd-classic/etcd-classic/store"
)

// watchV1 serves /v1/watch/<key>: a long poll that answers one event.
// GET waits for the next change; POST with index=N first looks in the
// history for a change at or after N. Nothing, not even headers, is sent
// before the event (etcd 0.4.6 server/v1/watch_key_handler.go).
//
//	curl -L http://127.0.0.1:4001/v1/watch/foo
//	curl -L http://127.0.0.1:4001/v1/watch/foo -d index=7
//
// etcd 0.4.6 (default): the exact key only (and a deleted directory above
// it, answered as []); the answer's index is the current store index; an
// index older than the history is 400 with error 500, cause the key.
//
// etcd v0.1.0: every key below the path (a prefix watch); the answer's
// index is the event's own; an index older than the history, or beyond
// the last event, waits for the next change; HEAD is not routed.
func (a *API) watchV1(w http.ResponseWriter, r *http.Request) {
	allowed := []string{http.MethodGet, http.MethodHead, http.MethodPost}
	if a.v01() {
		allowed = []string{http.MethodGet, http.MethodPost}
	}
	if !a.v1Method(w, r, allowed...) {
		return
	}
	key := path.Clean("/" + trimKey(r, v1WatchPrefix))
	since, err := a.parseV1WatchIndex(r)
	if err != nil {
		a.writeV1Error(w, r, err)
		return
	}
	// 0.4.6 watches one key, v0.1.0 a prefix.
	user, ok := a.v1Access(w, r, key, a.v01())
	if !ok {
		return
	}
	if err := a.waitReady(r); err != nil {
		a.writeV1Error(w, r, err)
		return
	}
	wa, err := a.watchStoreV1(key, since, a.readFilter(user, key, a.v01()))
	if err != nil {
		a.writeV1Error(w, r, err)
		return
	}
	defer wa.Remove()
	select {
	case <-r.Context().Done():
	case <-a.stop:
		// The member is stopping: drop the connection as a stopping etcd
		// did; old clients re-issue their watch elsewhere.
		panic(http.ErrAbortHandler)
	case ev := <-wa.EventChan():
		a.writeV1WatchEvent(w, r, ev)
	case <-wa.Done():
		// Dropped by a snapshot restore: hand over an event that made it
		// in time, or say the watcher was cleared.
		select {
		case ev := <-wa.EventChan():
			a.writeV1WatchEvent(w, r, ev)
		default:
			code := store.EcodeWatcherCleared
			if a.v01() {
				code = ecodeWatcherCleared01
			}
			a.writeV1Error(w, r, store.NewError(code, key, a.cfg.Store.Index()))
		}
	}
}

// watchStoreV1 registers the watch with the dialect's matching rules.
func (a *API) watchStoreV1(key string, since uint64, allow func(*store.Event) bool) (*store.Watcher, error) {
	if !a.v01() {
		wa, err := a.cfg.Store.WatchFiltered(key, false, false, since, allow)
		if err != nil {
			// etcd 0.4.6's v1 handler replaced the store's 401 with 500
			// "Client Internal Error", cause the key.
			return nil, store.NewError(store.EcodeClientInternal, key, a.cfg.Store.Index())
		}
		return wa, nil
	}
	if since > a.cfg.Store.Index()+1 {
		// v0.1.0 delivered the next change whatever its index.
		since = 0
	}
	wa, err := a.cfg.Store.WatchFiltered(key, true, false, since, allow)
	var se *store.Error
	if errors.As(err, &se) && se.Code == store.EcodeEventIndexCleared {
		// Older than the history: v0.1.0 silently waited for the next.
		wa, err = a.cfg.Store.WatchFiltered(key, true, false, 0, allow)
	}
	return wa, err
}

// writeV1WatchEvent answers a watch: 0.4.6 labels the event with the
// current store index, v0.1.0 with its own.
func (a *API) writeV1WatchEvent(w http.ResponseWriter, r *http.Request, ev *store.Event) {
	index := a.cfg.Store.Index()
	if a.v01() {
		index = ev.Index()
	}
	a.writeV1Event(w, r, ev, index)
}
