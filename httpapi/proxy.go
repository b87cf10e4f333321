package httpapi

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// ProxyConfig configures proxy mode (etcd 2.x --proxy=on|readonly): a
// member that holds no data and passes client requests to the cluster.
type ProxyConfig struct {
	// Endpoints returns the cluster's current client URLs.
	Endpoints func() []string
	// ReadOnly refuses everything but GET and HEAD (501).
	ReadOnly bool
	// Transport reaches the members (http.DefaultTransport).
	Transport http.RoundTripper
	Log       *logrus.Entry
}

// Proxy forwards client requests to cluster members, trying the next
// member when one cannot be reached. Watches stream through.
type Proxy struct {
	cfg  ProxyConfig
	next atomic.Uint64
}

// NewProxy builds a proxy handler.
func NewProxy(cfg ProxyConfig) *Proxy {
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	if cfg.Log == nil {
		cfg.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	cfg.Log = cfg.Log.WithField("component", "proxy")
	return &Proxy{cfg: cfg}
}

// hopHeaders are not forwarded (RFC 7230 §6.1).
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.cfg.ReadOnly && r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "Not Implemented", http.StatusNotImplemented)
		return
	}
	eps := p.cfg.Endpoints()
	if len(eps) == 0 {
		// etcd 3.4's proxy: 503 {"message":"httpproxy: zero endpoints currently available"}
		writeMembersError(w, http.StatusServiceUnavailable, "httpproxy: zero endpoints currently available")
		return
	}
	// The body is kept so the request can be retried on another member;
	// it is bounded like every body etcd reads.
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, maxFormBody+1))
		if err != nil {
			http.Error(w, "proxy: reading the request: "+err.Error(), http.StatusBadRequest)
			return
		}
		body = b
	}
	start := int(p.next.Add(1))
	for i := range eps {
		ep := strings.TrimRight(eps[(start+i)%len(eps)], "/")
		var rd io.Reader = http.NoBody
		if len(body) > 0 {
			rd = bytes.NewReader(body)
		}
		out, err := http.NewRequestWithContext(r.Context(), r.Method, ep+r.URL.RequestURI(), rd)
		if err != nil {
			continue
		}
		out.Header = r.Header.Clone()
		for _, h := range hopHeaders {
			out.Header.Del(h)
		}
		out.ContentLength = int64(len(body))
		resp, err := p.cfg.Transport.RoundTrip(out)
		if err != nil {
			if r.Context().Err() != nil {
				return
			}
			p.cfg.Log.WithFields(logrus.Fields{"endpoint": ep, "err": err}).Warn("member unreachable, trying the next")
			continue
		}
		p.copyResponse(w, resp)
		return
	}
	http.Error(w, "proxy: no member could be reached", http.StatusBadGateway)
}

// copyResponse relays status, headers and body, flushing as data comes
// (long-poll watches and streams).
func (p *Proxy) copyResponse(w http.ResponseWriter, resp *http.Response) {
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	for _, h := range hopHeaders {
		w.Header().Del(h)
	}
	w.WriteHeader(resp.StatusCode)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}

// EndpointsRefresher keeps a list of client URLs up to date by calling
// fetch every interval; it starts with initial. While the list is empty
// it asks every emptyRetry instead (etcd 3.4's proxy retries each
// second), so a proxy started with its cluster finds it at once.
type EndpointsRefresher struct {
	v      atomic.Value // []string
	cancel context.CancelFunc
	done   chan struct{} // closed when the refreshing goroutine ends
}

// emptyRetry is how soon a refresher without endpoints asks again.
const emptyRetry = 200 * time.Millisecond

// NewEndpointsRefresher starts refreshing, with a first fetch at once
// unless initial lists endpoints; Close stops it. fetch must honour its
// context.
func NewEndpointsRefresher(initial []string, interval time.Duration, fetch func(ctx context.Context) ([]string, error), log *logrus.Entry) *EndpointsRefresher {
	ctx, cancel := context.WithCancel(context.Background())
	e := &EndpointsRefresher{cancel: cancel, done: make(chan struct{})}
	e.v.Store(initial)
	go func() {
		defer close(e.done)
		wait := interval
		if len(initial) == 0 {
			wait = 0
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			urls, err := fetch(ctx)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil || len(urls) == 0:
				log.WithField("err", err).Debug("proxy: could not retrieve the member list")
			default:
				e.v.Store(urls)
			}
			wait = interval
			if len(e.Endpoints()) == 0 {
				wait = emptyRetry
			}
			t.Reset(wait)
		}
	}()
	return e
}

// Endpoints returns the current client URLs.
func (e *EndpointsRefresher) Endpoints() []string { return e.v.Load().([]string) }

// Close stops refreshing and waits for the refreshing goroutine. It is
// idempotent.
func (e *EndpointsRefresher) Close() {
	e.cancel()
	<-e.done
}
