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
// lets each piece go as soon as it is sent, so a listing of the whole
// store costs at most its own size in memory. A small answer stays in
// one piece that starts at 256 bytes, as before.
type chunkBuffer struct {
	full [][]byte // finished pieces
	cur  []byte   // the piece being rendered into
}

func newChunkBuffer() *chunkBuffer { return &chunkBuffer{cur: make([]byte, 0, 256)} }

// reserve makes room for about n more bytes before a node is rendered:
// when the current piece lacks it, a new piece of at least chunkSize
// starts. A piece below chunkSize grows by appending instead, so a small
// answer stays one small piece. Pieces end on node boundaries; a node
// larger than its estimate (escapes) just grows its piece.
func (b *chunkBuffer) reserve(n int) {
	if cap(b.cur)-len(b.cur) >= n || len(b.cur)+n <= chunkSize {
		return
	}
	b.full = append(b.full, b.cur)
	b.cur = make([]byte, 0, max(chunkSize, n))
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
	for i, p := range b.full {
		b.full[i] = nil
		if _, err := w.Write(p); err != nil {
			return // the client went away; nothing more to do
		}
	}
	_, _ = w.Write(b.cur)
	b.cur = nil
}

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

// getV2 answers a GET (or HEAD) of the keys API. The listing is rendered
// while the store holds its read lock, into memory (never straight to a
// slow client), and written out after the lock is released.
func (a *API) getV2(w http.ResponseWriter, r *http.Request, kr *keyRequest) {
	buf := newChunkBuffer()
	buf.cur = append(buf.cur, `{"action":"get","node":`...)
	index, err := a.cfg.Store.List(kr.Path, kr.Recursive, kr.Sorted, a.cfg.Now(), &jsonLister{buf: buf})
	if err != nil {
		writeError(w, err)
		return
	}
	buf.cur = append(buf.cur, '}', '\n')
	a.setIndexHeaders(w, index)
	w.WriteHeader(http.StatusOK)
	buf.WriteTo(w)
}
