package httpapi

import (
	"net/http"

	"github.com/etcd-classic/etcd-classic/store"
)

// chunkSize is the size of the pieces a large answer is rendered into.
const chunkSize = 64 << 10

// chunkBuffer holds a rendered answer as a list of pieces of about
// chunkSize bytes. Unlike one growing []byte it never copies what it
// holds to grow (which would briefly need twice the answer), and WriteTo
// lets each piece go as soon as it is sent. A small answer stays in one
// piece that starts at 256 bytes, as before. Once stream is called it
// holds one piece only: each piece is written to the client as soon as
// the next node does not fit, and the piece is reused.
type chunkBuffer struct {
	full [][]byte // finished pieces
	cur  []byte   // the piece being rendered into
	out  *pieceWriter
}

func newChunkBuffer() *chunkBuffer { return &chunkBuffer{cur: make([]byte, 0, 256)} }

// reserve makes room for about n more bytes before a node is rendered:
// when the current piece lacks it, a new piece of at least chunkSize
// starts (or, streaming, the piece is written out and reused). A piece
// below chunkSize grows by appending instead, so a small answer stays
// one small piece. Pieces end on node boundaries; a node larger than its
// estimate (escapes) just grows its piece.
func (b *chunkBuffer) reserve(n int) {
	if cap(b.cur)-len(b.cur) >= n || len(b.cur)+n <= chunkSize {
		return
	}
	if b.out != nil {
		b.out.write(b.cur)
		b.cur = b.cur[:0]
		if cap(b.cur) < n {
			b.cur = make([]byte, 0, n)
		}
		return
	}
	b.full = append(b.full, b.cur)
	b.cur = make([]byte, 0, max(chunkSize, n))
}

// stream makes b write its pieces to out as they fill, from now on,
// starting with the pieces it holds.
func (b *chunkBuffer) stream(out *pieceWriter) {
	for _, p := range b.full {
		out.write(p)
	}
	b.full = nil
	piece := make([]byte, 0, max(chunkSize, len(b.cur)))
	b.cur = append(piece, b.cur...)
	b.out = out
}

// nodeEstimate is about the rendered size of n without its children.
func nodeEstimate(n *store.NodeExtern) int {
	e := len(n.Key) + 192
	if n.Value != nil {
		e += len(*n.Value)
	}
	return e
}

// WriteTo writes every piece to w in order, dropping each once written.
func (b *chunkBuffer) WriteTo(w http.ResponseWriter) {
	if b.out != nil {
		b.out.write(b.cur)
		b.out.done()
		b.cur = nil
		return
	}
	for i, p := range b.full {
		b.full[i] = nil
		if _, err := w.Write(p); err != nil {
			return // the client went away; nothing more to do
		}
	}
	_, _ = w.Write(b.cur)
	b.cur = nil
}

// pieceWriter writes the pieces of a streamed listing, each within a
// deadline (the watch route's: Config.WatchWriteTimeout plus a second
// per 64 KiB), so a client that stops reading cannot hold the handler
// and its frozen listing forever. After a failed write it writes
// nothing more.
type pieceWriter struct {
	ww  *watchWriter
	err error
}

func (p *pieceWriter) write(b []byte) {
	if p.err != nil {
		return // the client went away or stalled; nothing more to do
	}
	p.ww.arm(len(b))
	_, p.err = p.ww.w.Write(b)
}

// done clears the deadline (see watchWriter.done).
func (p *pieceWriter) done() { p.ww.done() }

// jsonLister renders a store listing (store.ListWriter) into a
// chunkBuffer with exactly appendNode's bytes. first[i] tells whether
// the directory open at depth i has had no child rendered yet.
type jsonLister struct {
	buf   *chunkBuffer
	first []bool
}

// sep writes the comma between siblings.
func (l *jsonLister) sep() {
	if n := len(l.first); n > 0 {
		if !l.first[n-1] {
			l.buf.cur = append(l.buf.cur, ',')
		}
		l.first[n-1] = false
	}
}

func (l *jsonLister) Leaf(n *store.NodeExtern) {
	l.buf.reserve(nodeEstimate(n))
	l.sep()
	l.buf.cur = appendNode(l.buf.cur, n)
}

func (l *jsonLister) Open(n *store.NodeExtern) {
	l.buf.reserve(nodeEstimate(n))
	l.sep()
	b, first := appendNodeHead(l.buf.cur, n)
	l.buf.cur = append(appendField(b, first, "nodes"), '[')
	l.first = append(l.first, true)
}

func (l *jsonLister) Close(n *store.NodeExtern) {
	l.first = l.first[:len(l.first)-1]
	l.buf.reserve(64)
	l.buf.cur = appendNodeTail(append(l.buf.cur, ']'), n, false)
}

// listInline is the largest listing, by the store's estimate, that is
// rendered under the store's read lock straight into memory and written
// afterwards (store.ListOrFreeze): it fits in one piece, so streaming it
// would hold as much memory (that piece) and cost a copy of its nodes
// and a second pass besides. A larger listing is frozen under the lock
// (48 bytes a node, less than any node's rendering) and rendered from
// the copy after the lock is released, streamed to the client a piece at
// a time, so at its peak a listing holds its copy and one piece, never
// its whole answer. A GET of a file always takes the first way.
const listInline = chunkSize

// getV2 answers a GET (or HEAD) of the keys API. A small listing is
// rendered while the store holds its read lock, into memory (never
// straight to a slow client), and written out after the lock is
// released; a large one is rendered from a frozen copy with no lock
// held, and streamed.
func (a *API) getV2(w http.ResponseWriter, r *http.Request, kr *keyRequest) {
	buf := newChunkBuffer()
	buf.cur = append(buf.cur, `{"action":"get","node":`...)
	now := a.cfg.Now()
	lister := &jsonLister{buf: buf}
	frozen, index, err := a.cfg.Store.ListOrFreeze(kr.Path, kr.Recursive, kr.Sorted, listInline, now, lister)
	if err != nil {
		writeError(w, err)
		return
	}
	a.setIndexHeaders(w, index)
	w.WriteHeader(http.StatusOK)
	if frozen != nil {
		buf.stream(&pieceWriter{ww: a.newWatchWriter(w)})
		frozen.Walk(now, lister)
	}
	buf.cur = append(buf.cur, '}', '\n')
	buf.WriteTo(w)
}
