package httpapi

import (
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// wrap adds what etcd does before routing: refuse over-long request
// lines (limits.go), answer OPTIONS on any path, add CORS headers for
// allowed origins, and redirect unclean paths.
func (a *API) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuseLongRequestLine(w, r) {
			return
		}
		a.cors(w, r)
		if r.Method == http.MethodOptions && !a.optionsRouted01(r.URL.Path) {
			w.WriteHeader(http.StatusOK)
			return
		}
		if cp := cleanURLPath(r.URL.Path); cp != r.URL.Path {
			a.cleanRedirect(w, r, cp)
			return
		}
		if !isKeysPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(rec, r)
		a.metrics.observe(r.Method, rec.status, start, strings.Contains(r.URL.RawQuery, "wait=") || strings.HasPrefix(r.URL.Path, "/v1/watch/"))
	})
}

// isKeysPath reports whether p is served by a keys API (the requests
// etcd's HTTP metrics count).
func isKeysPath(p string) bool {
	return strings.HasPrefix(p, "/v2/keys") || strings.HasPrefix(p, "/v1/keys/") || strings.HasPrefix(p, "/v1/watch/")
}

// statusRecorder remembers the status a handler wrote; it keeps the
// Flusher that watches need.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// optionsRouted01 reports whether OPTIONS on p goes to the handler: etcd
// v0.1.0 had no CORS wrapper, so its /v1 handlers answered 405 and its
// root endpoints ignored the method.
func (a *API) optionsRouted01(p string) bool {
	if !a.v01() {
		return false
	}
	switch p {
	case "/", "/machines", "/leader", "/stats":
		return true
	}
	return strings.HasPrefix(p, v1KeysPrefix) || strings.HasPrefix(p, v1WatchPrefix)
}

// cors adds etcd's CORS headers when the origin is allowed.
func (a *API) cors(w http.ResponseWriter, r *http.Request) {
	if len(a.cfg.CORS) == 0 {
		return
	}
	origin := r.Header.Get("Origin")
	allowed := ""
	for _, o := range a.cfg.CORS {
		if o == "*" {
			allowed = "*"
			break
		}
		if o == origin && origin != "" {
			allowed = origin
		}
	}
	if allowed == "" {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE")
	h.Set("Access-Control-Allow-Origin", allowed)
	h.Set("Access-Control-Allow-Headers", "accept, content-type, authorization")
}

// cleanURLPath is Go's ServeMux rule: path.Clean, keeping one trailing
// slash.
func cleanURLPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// redirectClean answers 301 to the cleaned path, query kept. The v2 API
// (etcd 2.x/3.x used Go's ServeMux) gets Go's redirect, with a small HTML
// body for GET; the v1 API (etcd 0.4's gorilla router) gets no body.
func redirectClean(w http.ResponseWriter, r *http.Request, cleaned string) {
	u := url.URL{Path: cleaned, RawQuery: r.URL.RawQuery}
	if strings.HasPrefix(cleaned, "/v1/") {
		w.Header().Set("Location", u.String())
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	http.Redirect(w, r, u.String(), http.StatusMovedPermanently)
}
