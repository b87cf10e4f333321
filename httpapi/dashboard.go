package httpapi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gorilla/mux"
)

// The web dashboard (issue 15): a few static files embedded in the binary
// and served at /dashboard/ on the client URLs, beside the keys API and
// under the same TLS. The page only calls the public API (/v2/keys,
// /v2/members, /v2/stats/*, /health, /metrics, GET /v2/auth/enable), with
// the Basic credentials of the user who logged in when v2 auth is on, so
// the member checks it like any client; nothing here reads the store or
// the node. docs/dashboard.md describes the page.

//go:embed dashboard
var dashboardEmbed embed.FS

// dashboardPrefix is where the page lives; etcd 0.4 served its dashboard
// at /mod/dashboard/, which now redirects here.
const dashboardPrefix = "/dashboard/"

// dashboardCSP keeps the page to its own files. connect-src is open to
// http and https because the page may switch to another member's client
// URL when the member that served it stops answering.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self' http: https:; base-uri 'none'; frame-ancestors 'none'"

// dashAsset is one embedded file, ready to serve.
type dashAsset struct {
	name  string
	body  []byte
	ctype string
	etag  string
}

// dashboardTypes are the content types of the files the page is made of;
// a file with another extension is served as application/octet-stream
// (a unit test keeps the directory to known types).
var dashboardTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// dashboardAssets maps a path below /dashboard/ ("" for the index) to
// its file; built once, read-only afterwards.
var dashboardAssets = loadDashboardAssets(dashboardEmbed)

func loadDashboardAssets(fsys fs.FS) map[string]*dashAsset {
	out := map[string]*dashAsset{}
	_ = fs.WalkDir(fsys, "dashboard", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ctype, ok := dashboardTypes[path.Ext(p)]
		if !ok {
			ctype = "application/octet-stream"
		}
		name := strings.TrimPrefix(p, "dashboard/")
		out[name] = &dashAsset{name: name, body: body, ctype: ctype, etag: fmt.Sprintf(`"%x"`, sum[:8])}
		return nil
	})
	if idx, ok := out["index.html"]; ok {
		out[""] = idx
	}
	return out
}

// dashboardRoutes adds the dashboard's routes, unless Config.DisableDashboard
// is set (then those paths are 404 like any unknown path). They come after
// the keys routes, so a keys request never looks at them.
func (a *API) dashboardRoutes(r *mux.Router) {
	if a.cfg.DisableDashboard {
		return
	}
	r.Path("/dashboard").HandlerFunc(redirectToDashboard)
	r.PathPrefix(dashboardPrefix).HandlerFunc(serveDashboard)
	r.Path("/mod/dashboard").HandlerFunc(redirectToDashboard)
	r.PathPrefix("/mod/dashboard/").HandlerFunc(redirectToDashboard)
}

// redirectToDashboard answers 301 to /dashboard/: the slash-less path, and
// every etcd 0.4 /mod/dashboard/ address people have bookmarked (0.4's own
// asset paths do not exist here, so they all land on the page itself).
func redirectToDashboard(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, dashboardPrefix, http.StatusMovedPermanently)
}

// serveDashboard serves one embedded file. The files change only with the
// binary, so browsers may keep them but must revalidate (no-cache): the
// ETag turns a reload into 304s, and an upgraded member is seen at once.
func serveDashboard(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r.Method, "GET", "HEAD") {
		return
	}
	f, ok := dashboardAssets[strings.TrimPrefix(r.URL.Path, dashboardPrefix)]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	if f.ctype == dashboardTypes[".html"] {
		h.Set("Content-Security-Policy", dashboardCSP)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
	}
	// ServeContent answers If-None-Match with 304, HEAD and ranges.
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
}
