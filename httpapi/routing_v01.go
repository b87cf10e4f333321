package httpapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/etcd-classic/etcd-classic/machines"
)

// This file holds what etcd v0.1.0's client port did because it was a
// plain Go 1.1 http.ServeMux ("/v1/keys/", "/v1/watch/", "/leader",
// "/machines", "/stats", "/"), and what its key space did not have; it
// applies only with --v1-dialect=0.1.

// cleanRedirect answers a request whose path is not clean with a 301 to
// the cleaned path. With --v1-dialect=0.1 the paths v0.1.0 served answer
// as its ServeMux did (redirect01); everything else as etcd 2.x and 0.4
// did (redirectClean).
func (a *API) cleanRedirect(w http.ResponseWriter, r *http.Request, cleaned string) {
	if a.v01() && served01(cleaned) {
		redirect01(w, r, cleaned)
		return
	}
	redirectClean(w, r, cleaned)
}

// served01 reports whether v0.1.0's ServeMux routed p, a clean path, to
// one of its own handlers; /v2 and the other later endpoints keep their
// own rules in every dialect.
func served01(p string) bool {
	switch p {
	case "/", "/machines", "/leader", "/stats", "/v1/keys", "/v1/watch":
		return true
	}
	return strings.HasPrefix(p, v1KeysPrefix) || strings.HasPrefix(p, v1WatchPrefix)
}

// redirect01 is Go 1.1's http.Redirect to the path target, as v0.1.0's
// ServeMux sent it for an unclean path and for a subtree pattern without
// its slash: Location is the path alone (the query is dropped), a GET
// carries a short HTML note, and the server sniffed the Content-Type of
// every answer but HEAD's, so the note is text/html and an empty body
// text/plain.
//
//	curl -i http://127.0.0.1:4001/v1/keys        # 301, Location: /v1/keys/
func redirect01(w http.ResponseWriter, r *http.Request, target string) {
	h := w.Header()
	h.Set("Location", target)
	switch r.Method {
	case http.MethodGet:
		h.Set("Content-Type", "text/html; charset=utf-8")
	case http.MethodHead:
	default:
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(http.StatusMovedPermanently)
	if r.Method == http.MethodGet {
		fmt.Fprintf(w, "<a href=\"%s\">Moved Permanently</a>.\n\n", htmlEscape01(target))
	}
}

// htmlEscape01 escapes like Go 1.1's htmlEscape.
var htmlEscape01 = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace

// v1Bare serves /v1/keys and /v1/watch without their slash: etcd 0.4's
// router did not route them (404); v0.1.0's ServeMux redirected them to
// the slash form.
func (a *API) v1Bare(w http.ResponseWriter, r *http.Request) {
	if !a.v01() {
		http.NotFound(w, r)
		return
	}
	redirect01(w, r, r.URL.Path+"/")
}

// notIn01 reports whether p (a clean key path) is something etcd v0.1.0
// never had: the /_etcd/config record, which etcd 0.2 added. Its
// registry under /_etcd/machines is shared by both dialects.
func notIn01(p string) bool {
	return p == machines.ConfigKey || strings.HasPrefix(p, machines.ConfigKey+"/")
}
