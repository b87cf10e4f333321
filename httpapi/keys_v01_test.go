package httpapi

import (
	"testing"
	"time"
)

// Expected answers are etcd v0.1.0's (its README and answers recorded from
// a v0.1.0 server; docs/v1-api.md lists every difference from 0.4.6) for a
// member started with --v1-dialect=0.1.
func TestKeysV01Exact(t *testing.T) {
	t.Parallel()
	notFound := func(cause string) string {
		return `{"errorCode":100,"message":"Key Not Found","cause":"` + cause + `"}`
	}
	m405 := map[string]string{"Content-Type": "", "Allow": ""}
	cases := []struct {
		name  string
		steps []v1Step
	}{
		{"README walkthrough", []v1Step{
			{method: "POST", path: "/v1/keys/message", body: "value=Hello world", status: 200, want: `{"action":"SET","key":"/message","value":"Hello world","newKey":true,"index":1}`, headers: v01H},
			{method: "GET", path: "/v1/keys/message", status: 200, want: `{"action":"GET","key":"/message","value":"Hello world","index":1}`, headers: v01H},
			{method: "POST", path: "/v1/keys/message", body: "value=Hello etcd", status: 200, want: `{"action":"SET","key":"/message","prevValue":"Hello world","value":"Hello etcd","index":2}`},
			{method: "DELETE", path: "/v1/keys/message", status: 200, want: `{"action":"DELETE","key":"/message","prevValue":"Hello etcd","index":3}`},
			{method: "POST", path: "/v1/keys/foo", body: "value=bar&ttl=5", status: 200, want: `{"action":"SET","key":"/foo","value":"bar","newKey":true,"expiration":"2026-11-21T08:00:05Z","ttl":4,"index":4}`},
			{method: "GET", path: "/v1/keys/foo", advance: 1500 * time.Millisecond, status: 200, want: `{"action":"GET","key":"/foo","value":"bar","expiration":"2026-11-21T08:00:05Z","ttl":3,"index":4}`},
			{method: "GET", path: "/v1/keys/foo", advance: 4 * time.Second, expire: true, status: 404, want: notFound("/foo"), headers: v01H},
			{method: "POST", path: "/v1/keys/testAndSet", body: "value=one", status: 200, want: `{"action":"SET","key":"/testAndSet","value":"one","newKey":true,"index":5}`},
			{method: "POST", path: "/v1/keys/testAndSet", body: "prevValue=two&value=three", status: 400, headers: v01H,
				want: `{"errorCode":101,"message":"The given PrevValue is not equal to the value of the key","cause":"TestAndSet: one!=two"}`},
			{method: "POST", path: "/v1/keys/testAndSet", body: "prevValue=one&value=two", status: 200, want: `{"action":"SET","key":"/testAndSet","prevValue":"one","value":"two","index":7}`},
			{method: "GET", path: "/v1/keys/testAndSet", status: 200, want: `{"action":"GET","key":"/testAndSet","value":"two","index":7}`},
			// v0.1.0's DELETE showed the expiration of what it deleted.
			{method: "POST", path: "/v1/keys/t", body: "value=x&ttl=30", status: 200},
			{method: "DELETE", path: "/v1/keys/t", status: 200, want: `{"action":"DELETE","key":"/t","prevValue":"x","expiration":"2026-11-21T08:00:35.5Z","index":9}`},
		}},
		{"every write takes an index; GET shows the last set or delete", []v1Step{
			{method: "POST", path: "/v1/keys/a", body: "value=1", status: 200},
			{method: "POST", path: "/v1/keys/a", body: "prevValue=x&value=2", status: 400},
			{method: "GET", path: "/v1/keys/a", status: 200, want: `{"action":"GET","key":"/a","value":"1","index":1}`},
			{method: "DELETE", path: "/v1/keys/missing", status: 404, want: notFound("/missing")},
			{method: "GET", path: "/v1/keys/a", status: 200, want: `{"action":"GET","key":"/a","value":"1","index":3}`},
			{method: "POST", path: "/v1/keys/b", body: "value=1", status: 200, want: `{"action":"SET","key":"/b","value":"1","newKey":true,"index":4}`},
			// Form errors are answered before anything is proposed.
			{method: "POST", path: "/v1/keys/b", status: 400},
			{method: "POST", path: "/v1/keys/c", body: "value=1", status: 200, want: `{"action":"SET","key":"/c","value":"1","newKey":true,"index":5}`},
		}},
		{"errors", []v1Step{
			{method: "POST", path: "/v1/keys/d/k", body: "value=1", status: 200},
			{method: "POST", path: "/v1/keys/d", body: "value=2", status: 400, want: `{"errorCode":102,"message":"Not A File","cause":"/d"}`, headers: v01H},
			{method: "POST", path: "/v1/keys/d/k/x", body: "value=2", status: 400, want: `{"errorCode":102,"message":"Not A File","cause":"/d/k/x"}`},
			{method: "POST", path: "/v1/keys/c/absent", body: "prevValue=x&value=2", status: 404, want: notFound("c/absent")},
			{method: "POST", path: "/v1/keys/d", body: "prevValue=x&value=2", status: 404, want: notFound("d")},
			{method: "DELETE", path: "/v1/keys/d", status: 404, want: notFound("/d")},
			{method: "DELETE", path: "/v1/keys/d?recursive=true", status: 404, want: notFound("/d")},
			{method: "GET", path: "/v1/keys/d/k/below", status: 404, want: notFound("/d/k/below")},
			{method: "GET", path: "/v1/keys/nope/deeper", status: 404, want: notFound("/nope/deeper")},
			{method: "POST", path: "/v1/keys/v", status: 400, want: `{"errorCode":200,"message":"Value is Required in POST form","cause":"Set"}`},
			{method: "POST", path: "/v1/keys/v", body: "value=1&ttl=x", status: 400, want: `{"errorCode":202,"message":"The given TTL in POST form is not a number","cause":"Set"}`},
		}},
		{"empty prevValue and non-positive ttl", []v1Step{
			{method: "POST", path: "/v1/keys/a", body: "value=1", status: 200},
			// v0.1.0 treated an empty prevValue as none: a plain set.
			{method: "POST", path: "/v1/keys/a", body: "prevValue=&value=2", status: 200, want: `{"action":"SET","key":"/a","prevValue":"1","value":"2","index":2}`},
			// A TTL already past when applied turned the set into a delete.
			{method: "POST", path: "/v1/keys/a", body: "value=3&ttl=0", status: 200, want: `{"action":"DELETE","key":"/a","prevValue":"2","index":3}`},
			{method: "POST", path: "/v1/keys/a", body: "value=3&ttl=-1", status: 404, want: notFound("/a")},
		}},
		{"keywords", []v1Step{
			{method: "POST", path: "/v1/keys/_etcd/foo", body: "value=1", status: 400, headers: v01H,
				want: `{"errorCode":400,"message":"The prefix of the given key is a keyword in etcd","cause":"Set"}`},
			{method: "POST", path: "/v1/keys/_etcd", body: "value=1", status: 400},
			{method: "POST", path: "/v1/keys/_etcd/foo", status: 400, want: `{"errorCode":400,"message":"The prefix of the given key is a keyword in etcd","cause":"Set"}`},
			{method: "POST", path: "/v1/keys/ephemeralNodes/x", body: "value=1&ttl=x", status: 400, want: `{"errorCode":400,"message":"The prefix of the given key is a keyword in etcd","cause":"Set"}`},
			{method: "GET", path: "/v1/keys/_etcd/foo", status: 404, want: notFound("/_etcd/foo")},
			{method: "DELETE", path: "/v1/keys/_etcd/foo", status: 404, want: notFound("/_etcd/foo")},
			// Keyword sets take no index; the failed DELETE took 1.
			{method: "POST", path: "/v1/keys/x/_etcd", body: "value=1", status: 200, want: `{"action":"SET","key":"/x/_etcd","value":"1","newKey":true,"index":2}`},
		}},
		{"listings", []v1Step{
			{method: "POST", path: "/v1/keys/d/only", body: "value=1", status: 200},
			{method: "GET", path: "/v1/keys/d", status: 200, want: `{"action":"GET","key":"/d/only","value":"1","index":1}`},
			{method: "POST", path: "/v1/keys/d/_two", body: "value=2&ttl=10", status: 200},
			{method: "GET", path: "/v1/keys/d/", advance: 500 * time.Millisecond, status: 200,
				want: `[{"action":"GET","key":"/d/_two","value":"2","expiration":"2026-11-21T08:00:10Z","ttl":9,"index":2},{"action":"GET","key":"/d/only","value":"1","index":2}]`},
			{method: "PUT", path: "/v2/keys/d/empty", body: "value=", status: 201},
			{method: "POST", path: "/v1/keys/e/f/g", body: "value=1", status: 200},
			{method: "GET", path: "/v1/keys/e", status: 200, want: `{"action":"GET","key":"/e/f","dir":true,"index":4}`},
			{method: "GET", path: "/v1/keys/", status: 200, want: `[{"action":"GET","key":"/d","dir":true,"index":4},{"action":"GET","key":"/e","dir":true,"index":4}]`},
			{method: "GET", path: "/v1/keys/d", status: 200,
				want: `[{"action":"GET","key":"/d/_two","value":"2","expiration":"2026-11-21T08:00:10Z","ttl":9,"index":4},{"action":"GET","key":"/d/empty","dir":true,"index":4},{"action":"GET","key":"/d/only","value":"1","index":4}]`},
			{method: "DELETE", path: "/v1/keys/e/f/g", status: 200},
			{method: "GET", path: "/v1/keys/e/f", status: 200, want: `[]`},
			{method: "POST", path: "/v1/keys/e/f", body: "value=x", status: 400, want: `{"errorCode":102,"message":"Not A File","cause":"/e/f"}`},
		}},
		{"methods", []v1Step{
			{method: "POST", path: "/v1/keys/a", body: "value=1", status: 200},
			{method: "PUT", path: "/v1/keys/a", body: "value=2", status: 405, want: "", headers: m405},
			{method: "HEAD", path: "/v1/keys/a", status: 405, headers: m405},
			{method: "PATCH", path: "/v1/keys/a", body: "value=2", status: 405, headers: m405},
			{method: "OPTIONS", path: "/v1/keys/a", status: 405, headers: m405},
			{method: "GET", path: "/v1/keys/a", status: 200, want: `{"action":"GET","key":"/a","value":"1","index":1}`},
			// The v2 API keeps etcd 2.x's rules in every dialect.
			{method: "OPTIONS", path: "/v2/keys/a", status: 200},
			{method: "PUT", path: "/v2/keys/a", body: "value=2", status: 200},
		}},
		{"root endpoints", []v1Step{
			{method: "GET", path: "/v1/keys/a", status: 404},
			{method: "POST", path: "/v1/keys/a", body: "value=1", status: 200},
			{method: "POST", path: "/v1/keys/a", body: "prevValue=1&value=2", status: 200},
			{method: "DELETE", path: "/v1/keys/a", status: 200},
			{method: "GET", path: "/", status: 200, want: "etcd v0.1.0", headers: v01H},
			{method: "POST", path: "/stats", status: 200, want: `{"gets":1,"sets":1,"deletes":1,"testAndSets":1}`, headers: v01H},
			{method: "OPTIONS", path: "/", status: 200, want: "etcd v0.1.0"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			newV1Server(t, v1Opts{dialect: Dialect01}).run(t, tc.steps)
		})
	}
}
