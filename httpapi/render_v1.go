package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// This file is the one renderer of the v1 API, for both dialects: etcd
// 0.4.6 (the default) and etcd v0.1.0 (--v1-dialect=0.1). Handlers hand it
// store events and errors; it alone decides action names, field order and
// omission, index, TTL rounding, error shape, status and headers.

// Dialects of the /v1 API (Config.V1Dialect).
const (
	Dialect04 = "0.4"
	Dialect01 = "0.1"
	// DefaultV1Dialect is the dialect of a zero Config: etcd 0.4.6's.
	DefaultV1Dialect = Dialect04
)

// v01 reports whether /v1 speaks etcd v0.1.0's dialect.
func (a *API) v01() bool { return a.cfg.V1Dialect == Dialect01 }

// v1Resp is the v1 node object: etcd 0.4.6 store/response_v1.go, and
// v0.1.0's store.Response, whose fields have the same names and order.
// Value and PrevValue are pointers because 0.4.6 keeps an empty string
// where 0.1.0 left it out.
type v1Resp struct {
	Action     string
	Key        string
	Dir        bool
	PrevValue  *string
	Value      *string
	NewKey     bool
	Expiration *time.Time
	TTL        int64
	Index      uint64
}

// appendV1Resp renders r as Go's encoding/json did for those structs:
// compact, in field order, HTML characters escaped.
func appendV1Resp(b []byte, r *v1Resp) []byte {
	b = append(b, `{"action":`...)
	b = appendString(b, r.Action)
	b = append(b, `,"key":`...)
	b = appendString(b, r.Key)
	if r.Dir {
		b = append(b, `,"dir":true`...)
	}
	if r.PrevValue != nil {
		b = append(b, `,"prevValue":`...)
		b = appendString(b, *r.PrevValue)
	}
	if r.Value != nil {
		b = append(b, `,"value":`...)
		b = appendString(b, *r.Value)
	}
	if r.NewKey {
		b = append(b, `,"newKey":true`...)
	}
	if r.Expiration != nil {
		b = append(b, `,"expiration":`...)
		b = appendTime(b, *r.Expiration)
	}
	if r.TTL != 0 {
		b = append(b, `,"ttl":`...)
		b = strconv.AppendInt(b, r.TTL, 10)
	}
	b = append(b, `,"index":`...)
	b = strconv.AppendUint(b, r.Index, 10)
	return append(b, '}')
}

// appendV1Body renders one object, or an array when asArray is set.
func appendV1Body(b []byte, rs []v1Resp, asArray bool) []byte {
	if !asArray {
		return appendV1Resp(b, &rs[0])
	}
	b = append(b, '[')
	for i := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendV1Resp(b, &rs[i])
	}
	return append(b, ']')
}

// v1Resps04 converts an event as etcd 0.4.6's Event.Response did: a
// directory (a listing, or an event on a directory) becomes an array of
// its direct children carrying only action, key, dir, value and index; a
// key becomes one object. Every index is the given one. compareAndSwap and
// create are called testAndSet; other actions pass through.
func v1Resps04(ev *store.Event, index uint64, loc *time.Location) ([]v1Resp, bool) {
	action := ev.Action
	if action == store.ActionCompareAndSwap || action == store.ActionCreate {
		action = "testAndSet"
	}
	n := ev.Node
	if n.Dir {
		out := make([]v1Resp, 0, len(n.Nodes))
		for _, c := range n.Nodes {
			out = append(out, v1Resp{Action: action, Key: c.Key, Dir: c.Dir, Value: c.Value, Index: index})
		}
		return out, true
	}
	r := v1Resp{Action: action, Key: n.Key, Value: n.Value, TTL: n.TTL, Index: index,
		Expiration: inZone(n.Expiration, loc)}
	if ev.PrevNode != nil {
		r.PrevValue = ev.PrevNode.Value
	}
	r.NewKey = ev.Action == store.ActionSet && r.PrevValue == nil
	return []v1Resp{r}, false
}

// v1Resps01 converts an event as etcd v0.1.0 rendered its responses:
// upper-case actions (a successful TestAndSet is a SET, an expiry a
// DELETE), empty strings left out, a deleted key's expiration kept, TTLs
// rounded down. A directory read lists every child (a child without a
// value counts as a directory, as in v0.1.0's tree) and a listing of
// exactly one child is that child's bare object.
func v1Resps01(ev *store.Event, index uint64, loc *time.Location) ([]v1Resp, bool) {
	action := action01(ev.Action)
	n := ev.Node
	if ev.Action == store.ActionGet && n.Dir {
		out := make([]v1Resp, 0, len(n.Nodes))
		for _, c := range n.Nodes {
			r := v1Resp{Action: action, Key: c.Key, Value: nonEmpty(c.Value), Index: index}
			r.Dir = r.Value == nil
			if c.Expiration != nil {
				r.Expiration, r.TTL = inZone(c.Expiration, loc), ttl01(c.TTL)
			}
			out = append(out, r)
		}
		return out, len(out) != 1
	}
	r := v1Resp{Action: action, Key: n.Key, Dir: n.Dir, Index: index}
	if action == "DELETE" {
		if p := ev.PrevNode; p != nil {
			r.PrevValue, r.Expiration = nonEmpty(p.Value), inZone(p.Expiration, loc)
		}
		return []v1Resp{r}, false
	}
	r.Value = nonEmpty(n.Value)
	if ev.PrevNode != nil {
		r.PrevValue = nonEmpty(ev.PrevNode.Value)
	}
	r.NewKey = ev.Action == store.ActionSet && ev.PrevNode == nil
	if n.Expiration != nil {
		r.Expiration, r.TTL = inZone(n.Expiration, loc), ttl01(n.TTL)
	}
	return []v1Resp{r}, false
}

func action01(action string) string {
	switch action {
	case store.ActionGet:
		return "GET"
	case store.ActionDelete, store.ActionCompareAndDelete, store.ActionExpire:
		return "DELETE"
	default:
		return "SET"
	}
}

// ttl01 turns etcd 0.4's remaining TTL (the ceiling of the seconds left)
// into v0.1.0's, which truncated the time left when the answer was
// written, always a moment after the write: a fresh ttl=5 showed 4, ttl=1
// showed 0 (no ttl field), ttl=-3 showed -3.
func ttl01(ttl int64) int64 {
	if ttl > 0 {
		return ttl - 1
	}
	return ttl
}

func nonEmpty(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
}

// inZone shows an expiration in the zone of the server clock, as etcd
// rendered it (UTC under a UTC clock).
func inZone(t *time.Time, loc *time.Location) *time.Time {
	if t == nil {
		return nil
	}
	v := t.In(loc)
	return &v
}

// writeV1Event answers a successful v1 keys or watch request with ev
// rendered at index.
func (a *API) writeV1Event(w http.ResponseWriter, r *http.Request, ev *store.Event, index uint64) {
	loc := a.cfg.Now().Location()
	var (
		rs      []v1Resp
		asArray bool
	)
	if a.v01() {
		rs, asArray = v1Resps01(ev, index, loc)
	} else {
		rs, asArray = v1Resps04(ev, index, loc)
	}
	a.writeV1OK(w, r, appendV1Body(make([]byte, 0, 256), rs, asArray))
}

// writeV1OK answers 200 with a v1 body and no index headers.
func (a *API) writeV1OK(w http.ResponseWriter, r *http.Request, body []byte) {
	if a.writeV1Head(w, r) {
		_, _ = w.Write(body)
	}
}

// writeV1Head writes the status and headers of a 200 v1 answer and
// reports whether its body is to follow (not for HEAD). etcd set no
// Content-Type: Go's sniffing named the body text/plain. A 0.4.6 HEAD
// wrote no body, so it had none; v0.1.0 ignored the method and had one.
func (a *API) writeV1Head(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodHead || a.v01() {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(http.StatusOK)
	return r.Method != http.MethodHead
}

// v1Error01 is v0.1.0's error body: no index.
type v1Error01 struct {
	Code    int    `json:"errorCode"`
	Message string `json:"message"`
	Cause   string `json:"cause,omitempty"`
}

// messages01 are v0.1.0's error messages (error.go), where they differ
// from etcd 0.4's; code 400 is the keyword error there and 500 the
// cleared watcher.
var messages01 = map[int]string{
	store.EcodeKeyNotFound:       "Key Not Found",
	store.EcodeTestFailed:        "The given PrevValue is not equal to the value of the key",
	store.EcodeNotFile:           "Not A File",
	store.EcodeNoMorePeer:        "Reached the max number of machines in the cluster",
	store.EcodeWatcherCleared:    "The prefix of the given key is a keyword in etcd",
	store.EcodeClientInternal:    "watcher is cleared due to etcd recovery",
	store.EcodeLeaderElect:       "During Leader Election",
	store.EcodeRaftInternal:      "Raft Internal Error",
	store.EcodeValueRequired:     "Value is Required in POST form",
	store.EcodeTTLNaN:            "The given TTL in POST form is not a number",
	store.EcodeIndexNaN:          "The given index in POST form is not a number",
	store.EcodePrevValueRequired: "PrevValue is Required in POST form",
}

// Error codes that only the v0.1.0 dialect uses with its own meaning.
const (
	ecodeKeyword01        = store.EcodeWatcherCleared // 400: a set under /_etcd
	ecodeWatcherCleared01 = store.EcodeClientInternal // 500
)

// status01 is v0.1.0's HTTP status for an error code.
func status01(code int) int {
	switch {
	case code == store.EcodeKeyNotFound:
		return http.StatusNotFound
	case code >= 300 && code < 400, code >= 500:
		return http.StatusInternalServerError
	default:
		return http.StatusBadRequest
	}
}

// writeV1Error renders any error of a v1 request. Store errors keep their
// code and cause; anything else (raft trouble, no leader) is error 300.
//
// 0.4.6: {"errorCode","message","cause"?,"index"} and a newline,
// application/json, X-Etcd-Index, status by code (100 → 404, 101/105 →
// 412, 102/108 → 403, 3xx → 500, else 400). 3xx errors carry no cause on
// /v1, and index is the current store index when the error has none.
//
// v0.1.0: {"errorCode","message","cause"}, v0.1.0's message texts, no
// index anywhere, text/plain by sniffing, 404 for 100, 500 for 3xx, else
// 400.
func (a *API) writeV1Error(w http.ResponseWriter, r *http.Request, err error) {
	var se *store.Error
	if !errors.As(err, &se) {
		se = store.NewError(store.EcodeRaftInternal, "", 0)
	}
	var (
		body   []byte
		status int
	)
	h := w.Header()
	if a.v01() {
		msg, ok := messages01[se.Code]
		if !ok {
			msg = store.Message(se.Code)
		}
		body, _ = json.Marshal(v1Error01{Code: se.Code, Message: msg, Cause: se.Cause})
		status = status01(se.Code)
		h.Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		e := *se
		if e.Code >= 300 && e.Code < 400 {
			e.Cause = ""
		}
		if e.Index == 0 {
			e.Index = a.cfg.Store.Index()
		}
		body = append(e.JSON(), '\n')
		status = e.StatusCode()
		h.Set("Content-Type", "application/json")
		h.Set("X-Etcd-Index", strconv.FormatUint(e.Index, 10))
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// v1FormError is a request-validation error of the v1 API; in 0.4.6 it
// carries the current store index.
func (a *API) v1FormError(code int, cause string) error {
	return store.NewError(code, cause, a.cfg.Store.Index())
}

// writeV1Text answers a plain-text info body (/v1/machines, /v1/leader,
// /machines, /leader, v0.1.0's /): no trailing newline.
func (a *API) writeV1Text(w http.ResponseWriter, r *http.Request, text string) {
	a.writeV1OK(w, r, []byte(text))
}

// v1NotRouted answers a method the router of the dialect did not list:
// etcd 0.4.6's gorilla router said 404 with Go's plain page, v0.1.0's
// handlers said 405 with nothing at all.
func (a *API) v1NotRouted(w http.ResponseWriter, r *http.Request) {
	if a.v01() {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	http.NotFound(w, r)
}

// v1Method reports whether r's method is one of allowed, answering with
// v1NotRouted otherwise.
func (a *API) v1Method(w http.ResponseWriter, r *http.Request, allowed ...string) bool {
	for _, m := range allowed {
		if r.Method == m {
			return true
		}
	}
	a.v1NotRouted(w, r)
	return false
}
