package httpapi

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// newDashboardServer is a stub member with the given dashboard setting.
func newDashboardServer(t *testing.T, disable bool) *stubServer {
	t.Helper()
	st := store.New()
	node := newStubNode(st, stubTime)
	api := New(Config{Store: st, Node: node, Now: func() time.Time { return stubTime },
		ServerVersion: "2.3.8", ClusterVersion: "2.3.0", StartTime: stubTime, DisableDashboard: disable})
	srv := httptest.NewServer(api)
	t.Cleanup(func() { api.Close(); srv.Close() })
	return &stubServer{Server: srv, api: api, node: node, st: st}
}

// TestDashboardRoutes: the page and its files, the redirects (etcd 0.4's
// /mod/dashboard/ included) and the refusals, as `curl -i` sees them.
func TestDashboardRoutes(t *testing.T) {
	s := newDashboardServer(t, false)
	cases := []struct {
		name, method, path string
		wantStatus         int
		wantType           string // Content-Type, when the status is 200
		wantLocation       string
		wantBody           string // a part of the body
	}{
		{name: "index", method: "GET", path: "/dashboard/", wantStatus: 200, wantType: "text/html; charset=utf-8", wantBody: `<script type="module" src="app.js">`},
		{name: "index by name", method: "GET", path: "/dashboard/index.html", wantStatus: 200, wantType: "text/html; charset=utf-8", wantBody: "<title>"},
		{name: "script", method: "GET", path: "/dashboard/app.js", wantStatus: 200, wantType: "text/javascript; charset=utf-8", wantBody: "import"},
		{name: "module", method: "GET", path: "/dashboard/api.js", wantStatus: 200, wantType: "text/javascript; charset=utf-8", wantBody: "export async function request"},
		{name: "style", method: "GET", path: "/dashboard/style.css", wantStatus: 200, wantType: "text/css; charset=utf-8", wantBody: "prefers-color-scheme: dark"},
		{name: "icon", method: "GET", path: "/dashboard/favicon.svg", wantStatus: 200, wantType: "image/svg+xml", wantBody: "<svg"},
		{name: "HEAD", method: "HEAD", path: "/dashboard/app.js", wantStatus: 200, wantType: "text/javascript; charset=utf-8"},
		{name: "unknown file", method: "GET", path: "/dashboard/nope.js", wantStatus: 404},
		{name: "directory of the embed", method: "GET", path: "/dashboard/dashboard/index.html", wantStatus: 404},
		{name: "no slash", method: "GET", path: "/dashboard", wantStatus: 301, wantLocation: "/dashboard/"},
		{name: "etcd 0.4 address", method: "GET", path: "/mod/dashboard/", wantStatus: 301, wantLocation: "/dashboard/"},
		{name: "etcd 0.4 without slash", method: "GET", path: "/mod/dashboard", wantStatus: 301, wantLocation: "/dashboard/"},
		{name: "etcd 0.4 asset", method: "GET", path: "/mod/dashboard/index.html", wantStatus: 301, wantLocation: "/dashboard/"},
		{name: "POST", method: "POST", path: "/dashboard/", wantStatus: 405},
		{name: "PUT", method: "PUT", path: "/dashboard/app.js", wantStatus: 405},
		{name: "keys still served", method: "GET", path: "/v2/keys/", wantStatus: 200, wantType: "application/json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(t, tc.method, tc.path, "")
			if r.status != tc.wantStatus {
				t.Fatalf("%s %s: status %d, want %d (body %q)", tc.method, tc.path, r.status, tc.wantStatus, r.body)
			}
			if tc.wantType != "" && r.header.Get("Content-Type") != tc.wantType {
				t.Errorf("Content-Type %q, want %q", r.header.Get("Content-Type"), tc.wantType)
			}
			if tc.wantLocation != "" && r.header.Get("Location") != tc.wantLocation {
				t.Errorf("Location %q, want %q", r.header.Get("Location"), tc.wantLocation)
			}
			if !strings.Contains(r.body, tc.wantBody) {
				t.Errorf("body does not contain %q", tc.wantBody)
			}
			if tc.method == "HEAD" && r.body != "" {
				t.Errorf("HEAD answered a body of %d bytes", len(r.body))
			}
			if tc.wantStatus == 405 && r.header.Get("Allow") != "GET,HEAD" {
				t.Errorf("Allow %q, want GET,HEAD", r.header.Get("Allow"))
			}
		})
	}
}

// TestDashboardCaching: every file carries a content hash ETag and
// no-cache (browsers revalidate, so an upgraded member is seen at once);
// If-None-Match answers 304 without the body.
func TestDashboardCaching(t *testing.T) {
	s := newDashboardServer(t, false)
	for _, p := range []string{"/dashboard/", "/dashboard/app.js", "/dashboard/style.css"} {
		r := s.do(t, "GET", p, "")
		etag := r.header.Get("ETag")
		if !regexp.MustCompile(`^"[0-9a-f]{16}"$`).MatchString(etag) {
			t.Fatalf("%s: ETag %q, want a quoted hash", p, etag)
		}
		if got := r.header.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("%s: Cache-Control %q, want no-cache", p, got)
		}
		if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q, want nosniff", p, got)
		}
		req, _ := http.NewRequest("GET", s.URL+p, nil)
		req.Header.Set("If-None-Match", etag)
		res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotModified {
			t.Errorf("%s with If-None-Match %s: status %d, want 304", p, etag, res.StatusCode)
		}
	}
	// The page itself is locked to its own scripts and cannot be framed.
	r := s.do(t, "GET", "/dashboard/", "")
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	// Two different files never share an ETag.
	a, b := s.do(t, "GET", "/dashboard/app.js", ""), s.do(t, "GET", "/dashboard/api.js", "")
	if a.header.Get("ETag") == b.header.Get("ETag") {
		t.Errorf("app.js and api.js share the ETag %s", a.header.Get("ETag"))
	}
}

// TestDashboardDisabled: with --enable-dashboard=false every dashboard
// path is a plain 404, and the API is unchanged.
func TestDashboardDisabled(t *testing.T) {
	s := newDashboardServer(t, true)
	for _, p := range []string{"/dashboard/", "/dashboard", "/dashboard/app.js", "/mod/dashboard/", "/mod/dashboard"} {
		if r := s.do(t, "GET", p, ""); r.status != http.StatusNotFound {
			t.Errorf("GET %s with the dashboard off: status %d, want 404", p, r.status)
		}
	}
	if r := s.do(t, "PUT", "/v2/keys/k", "value=v"); r.status != http.StatusCreated {
		t.Errorf("PUT /v2/keys/k: status %d", r.status)
	}
}

// TestDashboardFilesComplete: every embedded file has a known content
// type, and every file the page refers to (index.html's src and href, the
// modules' imports) is embedded.
func TestDashboardFilesComplete(t *testing.T) {
	err := fs.WalkDir(dashboardEmbed, "dashboard", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if _, ok := dashboardTypes[path.Ext(p)]; !ok {
			t.Errorf("%s: no content type for %q", p, path.Ext(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"#:]+)"|from '\./([^']+)'`)
	for name, f := range dashboardAssets {
		if name == "" || (path.Ext(name) != ".html" && path.Ext(name) != ".js") {
			continue
		}
		for _, m := range refs.FindAllStringSubmatch(string(f.body), -1) {
			ref := m[1] + m[2]
			if _, ok := dashboardAssets[ref]; !ok {
				t.Errorf("%s refers to %q, which is not embedded", name, ref)
			}
		}
	}
	if len(dashboardAssets) < 5 {
		t.Errorf("only %d embedded files", len(dashboardAssets))
	}
}
