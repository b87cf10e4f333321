package httpapi

import (
	"net/http"
	"path"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// getV1 answers a GET (or, in etcd 0.4's dialect, a HEAD) of
// /v1/keys/<key> the way getV2 answers /v2/keys: the store hands the
// read to a v1Lister through ListOrFreeze (ListOrFreezeV01 in v0.1.0's
// dialect), under its read lock into memory when the listing is small,
// from a frozen copy with no lock held and streamed a piece at a time
// when it is large. The bytes, status and headers are those writeV1Event
// writes for the event of Store.Get(key, false, true, now) (of GetV01),
// which the store's read matches node for node. key is the path after
// /v1/keys/ ("/" and that path in 0.4's dialect, the path alone in
// v0.1.0's); inline is ListOrFreeze's budget, listInline (tests force
// either way with 0 or a huge one).
func (a *API) getV1(w http.ResponseWriter, r *http.Request, key string, inline int) {
	now := a.cfg.Now()
	l := &v1Lister{buf: newChunkBuffer(), v01: a.v01(), loc: now.Location()}
	var lw store.ListWriter = l
	if r.Method == http.MethodHead {
		// No body: the read only has to find the node (and count in
		// the stats). Freezing, never walked, is its cheapest way.
		lw, inline = discardLister{}, 0
	}
	frozen, err := a.listV1(key, inline, now, lw)
	if err != nil {
		a.writeV1Error(w, r, err)
		return
	}
	if !a.writeV1Head(w, r) {
		return
	}
	if frozen != nil {
		l.buf.stream(&pieceWriter{ww: a.newWatchWriter(w)})
		frozen.Walk(now, l)
	}
	l.buf.WriteTo(w)
}

// listV1 reads key for getV1 in the API's dialect. In v0.1.0's,
// /_etcd/config, which etcd 0.2 added, is not found (and not listed,
// see v1Lister.child).
func (a *API) listV1(key string, inline int, now time.Time, lw store.ListWriter) (*store.Listing, error) {
	if !a.v01() {
		frozen, _, err := a.cfg.Store.ListOrFreeze(key, false, true, inline, now, lw)
		return frozen, err
	}
	if p := path.Clean("/" + key); notIn01(p) {
		return nil, store.NewError(store.EcodeKeyNotFound, p, 0)
	}
	frozen, _, err := a.cfg.Store.ListOrFreezeV01(key, inline, now, lw)
	return frozen, err
}

// discardLister is a store.ListWriter that keeps nothing.
type discardLister struct{}

func (discardLister) Leaf(*store.NodeExtern)  {}
func (discardLister) Open(*store.NodeExtern)  {}
func (discardLister) Close(*store.NodeExtern) {}

// v1Lister renders a one-level /v1 read handed over by the store (a
// store.IndexListWriter) into a chunkBuffer with exactly the bytes of
// appendV1Body for v1Resps04 (v1Resps01 with v01) of the read's event:
//
//   - a file read is one object (a Leaf outside any directory);
//   - a directory read is an array of its children's objects (Leaf
//     each, between Open and Close) and an empty one, which the store
//     hands as a single Leaf with Dir set, is [];
//   - in v0.1.0's dialect a listing of exactly one child is that
//     child's bare object, so the first child is held (rendered) until
//     a second one or Close tells which; /_etcd/config is left out.
//
// Every object carries the index the store hands with ListIndex before
// the first node.
type v1Lister struct {
	buf   *chunkBuffer
	v01   bool
	loc   *time.Location // the zone expirations are shown in
	index uint64
	open  bool   // between Open and Close
	kids  int    // children rendered in the directory open
	held  []byte // v01: the first child until the second or Close
	r     v1Resp // reused for each node
	exp   time.Time
}

// ListIndex takes the index every object carries.
func (l *v1Lister) ListIndex(index uint64) { l.index = index }

// Leaf renders the file read, an empty directory read, or a child.
func (l *v1Lister) Leaf(n *store.NodeExtern) {
	switch {
	case l.open:
		l.child(n)
	case n.Dir:
		l.buf.cur = append(l.buf.cur, "[]"...)
	default:
		l.buf.reserve(nodeEstimate(n))
		l.buf.cur = appendV1Resp(l.buf.cur, l.resp(n, false))
	}
}

// Open starts the listing of the directory read. etcd 0.4 always
// answers an array; v0.1.0 only once a second child shows it is one.
func (l *v1Lister) Open(*store.NodeExtern) {
	l.open, l.kids = true, 0
	if !l.v01 {
		l.buf.cur = append(l.buf.cur, '[')
	}
}

// Close ends the listing: in v0.1.0's dialect a single child goes out
// bare, and a listing whose every child was left out is [].
func (l *v1Lister) Close(*store.NodeExtern) {
	l.open = false
	l.buf.reserve(len(l.held) + 2)
	switch {
	case !l.v01 || l.kids > 1:
		l.buf.cur = append(l.buf.cur, ']')
	case l.kids == 1:
		l.buf.cur = append(l.buf.cur, l.held...)
	default:
		l.buf.cur = append(l.buf.cur, "[]"...)
	}
	l.held = nil
}

// child renders n, a child of the directory read, after a comma when it
// is not the first.
func (l *v1Lister) child(n *store.NodeExtern) {
	if l.v01 && notIn01(n.Key) {
		return
	}
	l.kids++
	r := l.resp(n, true)
	if l.v01 && l.kids == 1 {
		l.held = appendV1Resp(l.held[:0], r)
		return
	}
	l.buf.reserve(len(l.held) + nodeEstimate(n))
	if l.v01 && l.kids == 2 {
		l.buf.cur = append(append(l.buf.cur, '['), l.held...)
		l.held = l.held[:0]
	}
	if l.kids > 1 {
		l.buf.cur = append(l.buf.cur, ',')
	}
	l.buf.cur = appendV1Resp(l.buf.cur, r)
}

// resp is what v1Resps04 (v1Resps01) makes of n, the file read or (with
// child) a child of the directory read, for a get. It reuses l.r and
// l.exp: render it before the next call.
func (l *v1Lister) resp(n *store.NodeExtern, child bool) *v1Resp {
	r := &l.r
	*r = v1Resp{Key: n.Key, Index: l.index}
	if !l.v01 {
		r.Action, r.Value = store.ActionGet, n.Value
		if child {
			r.Dir = n.Dir // 0.4.6 showed only action, key, dir, value, index
			return r
		}
		r.TTL, r.Expiration = n.TTL, l.inZone(n.Expiration)
		return r
	}
	r.Action, r.Value = action01(store.ActionGet), nonEmpty(n.Value)
	if child {
		r.Dir = r.Value == nil // v0.1.0: a child without a value is a directory
	}
	if n.Expiration != nil {
		r.Expiration, r.TTL = l.inZone(n.Expiration), ttl01(n.TTL)
	}
	return r
}

// inZone is inZone into l.exp, which spares an allocation per node.
func (l *v1Lister) inZone(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	l.exp = t.In(l.loc)
	return &l.exp
}
