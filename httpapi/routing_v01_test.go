package httpapi

import (
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/machines"
)

// etcd v0.1.0's client port was a Go 1.1 ServeMux: a subtree pattern
// without its slash and an unclean path answer 301 through Go 1.1's
// http.Redirect (the path alone, a short HTML note on GET, a sniffed
// Content-Type on everything but HEAD). etcd 0.4.6 answers 404 for the
// bare /v1/keys and 301 without a body for unclean /v1 paths.
//
//	curl -i http://127.0.0.1:4001/v1/keys
//	curl -i 'http://127.0.0.1:4001/v1/keys//a?x=1'
func TestRedirects01(t *testing.T) {
	t.Parallel()
	note := func(to string) string { return `<a href="` + to + `">Moved Permanently</a>.` + "\n\n" }
	html := func(to string) map[string]string {
		return map[string]string{"Location": to, "Content-Type": "text/html; charset=utf-8", "X-Etcd-Index": ""}
	}
	plain := func(to string) map[string]string {
		return map[string]string{"Location": to, "Content-Type": "text/plain; charset=utf-8"}
	}
	cases := []struct {
		name    string
		dialect string
		steps   []v1Step
	}{
		{"0.1: subtree patterns without their slash", Dialect01, []v1Step{
			{method: "GET", path: "/v1/keys", status: 301, want: note("/v1/keys/"), headers: html("/v1/keys/")},
			{method: "GET", path: "/v1/keys?x=1", status: 301, want: note("/v1/keys/"), headers: html("/v1/keys/")},
			{method: "POST", path: "/v1/keys", body: "value=1", status: 301, headers: plain("/v1/keys/")},
			{method: "GET", path: "/v1/watch", status: 301, want: note("/v1/watch/"), headers: html("/v1/watch/")},
			{method: "HEAD", path: "/v1/keys", status: 301, headers: map[string]string{"Location": "/v1/keys/", "Content-Type": ""}},
		}},
		{"0.1: unclean paths", Dialect01, []v1Step{
			{method: "GET", path: "/v1/keys//a?x=1", status: 301, want: note("/v1/keys/a"), headers: html("/v1/keys/a")},
			{method: "POST", path: "/v1/keys/a/../b", body: "value=1", status: 301, headers: plain("/v1/keys/b")},
			{method: "DELETE", path: "/v1/watch/./a", status: 301, headers: plain("/v1/watch/a")},
			{method: "GET", path: "//machines", status: 301, want: note("/machines"), headers: html("/machines")},
			{method: "GET", path: "/v1/keys/a&b//", status: 301, want: note("/v1/keys/a&amp;b/"), headers: html("/v1/keys/a&b/")},
			// /v2 keeps etcd 2.x's rules in every dialect.
			{method: "PUT", path: "/v2/keys//a", body: "value=1", status: 301, headers: map[string]string{"Location": "/v2/keys/a", "Content-Type": ""}},
		}},
		{"0.4: no redirect to the slash, no body on unclean paths", Dialect04, []v1Step{
			{method: "GET", path: "/v1/keys", status: 404, want: notFoundPage},
			{method: "GET", path: "/v1/watch", status: 404, want: notFoundPage},
			{method: "GET", path: "/v1/keys//a?x=1", status: 301, want: "", headers: map[string]string{"Location": "/v1/keys/a?x=1", "Content-Type": ""}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			newV1Server(t, v1Opts{dialect: tc.dialect}).run(t, tc.steps)
		})
	}
}

// etcd v0.1.0 had no /_etcd/config (etcd 0.2 added it): under the 0.1
// dialect /v1/keys/_etcd lists only machines — one child, so a bare
// object — and the record itself is not found. 0.4.6 reads it as usual.
//
//	curl -L http://127.0.0.1:4001/v1/keys/_etcd
func TestNoConfigRecord01(t *testing.T) {
	t.Parallel()
	for _, d := range []string{Dialect01, Dialect04} {
		s := newV1Server(t, v1Opts{dialect: d})
		// What a member's bootstrap writes: its registration (1) and the
		// cluster record (2).
		if _, err := s.st.Set("/_etcd/machines/node1", false, "etcd=x\u0026raft=y", time.Time{}, false, stubTime); err != nil {
			t.Fatal(err)
		}
		if _, err := s.st.Set(machines.ConfigKey, false, machines.ConfigValue, time.Time{}, false, stubTime); err != nil {
			t.Fatal(err)
		}
		var steps []v1Step
		if d == Dialect01 {
			steps = []v1Step{
				{method: "GET", path: "/v1/keys/_etcd", status: 200, want: `{"action":"GET","key":"/_etcd/machines","dir":true,"index":2}`, headers: v01H},
				{method: "GET", path: "/v1/keys/_etcd/config", status: 404, want: `{"errorCode":100,"message":"Key Not Found","cause":"/_etcd/config"}`, headers: v01H},
				{method: "GET", path: "/v1/keys/_etcd/config/x", status: 404, want: `{"errorCode":100,"message":"Key Not Found","cause":"/_etcd/config/x"}`},
				{method: "GET", path: "/v1/keys/_etcd/machines", status: 200, want: `{"action":"GET","key":"/_etcd/machines/node1","value":"etcd=x\u0026raft=y","index":2}`},
				{method: "GET", path: "/v1/keys/", status: 200, want: `{"action":"GET","key":"/_etcd","dir":true,"index":2}`},
			}
		} else {
			steps = []v1Step{
				{method: "GET", path: "/v1/keys/_etcd/config", status: 200},
			}
		}
		t.Run(d, func(t *testing.T) { s.run(t, steps) })
	}
}
