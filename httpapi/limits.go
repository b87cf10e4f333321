package httpapi

import (
	"errors"
	"net/http"
	"time"
)

// MaxRequestLine is the longest request line ("PUT /v2/keys/... HTTP/1.1",
// without its CRLF) the client port serves. etcd 3.4 reads the first
// request of a connection into a 4096-byte buffer (cmux) and resets the
// connection when the line and its CRLF do not fit, so 4094 bytes is the
// longest line a fresh etcd connection accepts. Keys come from the URL, so
// this is also the effective key limit: at most about 4 KB and 2,000
// levels, far inside the store's own limit (store.MaxKeyLength).
const MaxRequestLine = 4094

// requestLineLen is the length of r's request line as the client sent
// it: method, request target and protocol, separated by spaces.
func requestLineLen(r *http.Request) int {
	return len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto)
}

// refuseLongRequestLine answers a request whose line is over
// MaxRequestLine with 414 and closes the connection; it reports whether
// it answered. etcd 3.4 resets the connection instead (and accepts long
// lines on a connection's later requests, where cmux no longer looks);
// a status says why, and refusing on every request keeps the limit
// independent of connection reuse. The body is plain text in the shape
// Go's server gives its own 431 for headers over MaxHeaderBytes.
func refuseLongRequestLine(w http.ResponseWriter, r *http.Request) bool {
	if requestLineLen(r) <= MaxRequestLine {
		return false
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Connection", "close")
	w.WriteHeader(http.StatusRequestURITooLong)
	_, _ = w.Write([]byte("414 " + http.StatusText(http.StatusRequestURITooLong)))
	return true
}

// defaultWatchWriteTimeout is the default of Config.WatchWriteTimeout.
const defaultWatchWriteTimeout = 30 * time.Second

// watchWriteRate is the slowest rate a watch client may read an event at
// (bytes per second) before its deadline runs out: a 10 MiB event gets
// 160 s on top of the timeout.
const watchWriteRate = 64 << 10

// watchWriter writes a long poll's output, each write bounded by a
// deadline, so a client that stops reading cannot hold its connection,
// goroutine and buffered events forever: when the deadline passes the
// write fails and the handler ends. There is no server-wide WriteTimeout
// (it would end every long poll); this is the watch route's own.
type watchWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (a *API) newWatchWriter(w http.ResponseWriter) *watchWriter {
	t := a.cfg.WatchWriteTimeout
	if t <= 0 {
		t = defaultWatchWriteTimeout
	}
	return &watchWriter{w: w, rc: http.NewResponseController(w), timeout: t}
}

// arm sets the deadline for writing n more bytes. Network deadlines are
// wall-clock times, so this reads the real clock, not Config.Now.
func (ww *watchWriter) arm(n int) {
	d := ww.timeout + time.Duration(n/watchWriteRate)*time.Second
	_ = ww.rc.SetWriteDeadline(time.Now().Add(d))
}

// write sends b and flushes it, within the deadline.
func (ww *watchWriter) write(b []byte) error {
	ww.arm(len(b))
	if _, err := ww.w.Write(b); err != nil {
		return err
	}
	return ww.flushNow()
}

// flush sends what is buffered (the headers), within the deadline.
func (ww *watchWriter) flush() error {
	ww.arm(0)
	return ww.flushNow()
}

// flushNow flushes if the writer can (a test recorder may not).
func (ww *watchWriter) flushNow() error {
	if err := ww.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// done clears the deadline, so a connection kept alive for further
// requests does not inherit it.
func (ww *watchWriter) done() { _ = ww.rc.SetWriteDeadline(time.Time{}) }
