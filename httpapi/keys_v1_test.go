package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// Expected answers are etcd 0.4.6's, recorded from a 0.4.6 server
// (docs/v1-api.md); each step is the curl command
// `curl -X METHOD http://127.0.0.1:4001PATH -d BODY`.
func TestKeysV1Exact(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		steps []v1Step
	}{
		{"set get delete", []v1Step{
			{method: "GET", path: "/v1/keys/message", status: 404, want: `{"errorCode":100,"message":"Key not found","cause":"/message","index":0}` + "\n", headers: v1Err("0")},
			{method: "POST", path: "/v1/keys/message", body: "value=Hello world", status: 200, want: `{"action":"set","key":"/message","value":"Hello world","newKey":true,"index":1}`, headers: v1OK},
			{method: "GET", path: "/v1/keys/message", status: 200, want: `{"action":"get","key":"/message","value":"Hello world","index":1}`, headers: v1OK},
			{method: "POST", path: "/v1/keys/message", body: "value=Hello etcd", status: 200, want: `{"action":"set","key":"/message","prevValue":"Hello world","value":"Hello etcd","index":2}`},
			{method: "PUT", path: "/v1/keys/message", body: "value=Hello again", status: 200, want: `{"action":"set","key":"/message","prevValue":"Hello etcd","value":"Hello again","index":3}`},
			{method: "HEAD", path: "/v1/keys/message", status: 200, headers: v1HeadOK},
			{method: "DELETE", path: "/v1/keys/message", status: 200, want: `{"action":"delete","key":"/message","prevValue":"Hello again","index":4}`, headers: v1OK},
			{method: "DELETE", path: "/v1/keys/message", status: 404, want: `{"errorCode":100,"message":"Key not found","cause":"/message","index":4}` + "\n", headers: v1Err("4")},
			{method: "HEAD", path: "/v1/keys/message", status: 404, headers: v1Err("4")},
		}},
		{"testAndSet compare-and-swap", []v1Step{
			{method: "POST", path: "/v1/keys/app/db", body: "value=10.0.0.5", status: 200, want: `{"action":"set","key":"/app/db","value":"10.0.0.5","newKey":true,"index":1}`},
			{method: "PUT", path: "/v1/keys/app/db", body: "value=10.0.0.6", status: 200, want: `{"action":"set","key":"/app/db","prevValue":"10.0.0.5","value":"10.0.0.6","index":2}`},
			{method: "POST", path: "/v1/keys/app/db", body: "prevValue=10.0.0.9&value=10.0.0.7", status: 412, want: `{"errorCode":101,"message":"Compare failed","cause":"[10.0.0.9 != 10.0.0.6]","index":2}` + "\n", headers: v1Err("2")},
			{method: "POST", path: "/v1/keys/app/db", body: "prevValue=10.0.0.6&value=10.0.0.7", status: 200, want: `{"action":"testAndSet","key":"/app/db","prevValue":"10.0.0.6","value":"10.0.0.7","index":3}`},
			{method: "POST", path: "/v1/keys/absent", body: "prevValue=x&value=y", status: 404, want: `{"errorCode":100,"message":"Key not found","cause":"/absent","index":3}` + "\n"},
			{method: "POST", path: "/v1/keys/app", body: "prevValue=x&value=y", status: 403, want: `{"errorCode":102,"message":"Not a file","cause":"/app","index":3}` + "\n"},
			{method: "POST", path: "/v1/keys/", body: "prevValue=x&value=y", status: 400, want: `{"errorCode":107,"message":"Root is read only","cause":"/","index":3}` + "\n"},
		}},
		{"testAndSet create if absent", []v1Step{
			{method: "POST", path: "/v1/keys/lock", body: "prevValue=&value=me", status: 200, want: `{"action":"testAndSet","key":"/lock","value":"me","index":1}`},
			{method: "POST", path: "/v1/keys/lock", body: "prevValue=&value=you", status: 412, want: `{"errorCode":105,"message":"Key already exists","cause":"/lock","index":1}` + "\n", headers: v1Err("1")},
			{method: "POST", path: "/v1/keys/d/k", body: "value=1", status: 200},
			{method: "POST", path: "/v1/keys/d", body: "prevValue=&value=x", status: 412, want: `{"errorCode":105,"message":"Key already exists","cause":"/d","index":2}` + "\n"},
			{method: "POST", path: "/v1/keys/d/k/deeper", body: "prevValue=&value=x", status: 400, want: `{"errorCode":104,"message":"Not a directory","cause":"/d/k","index":2}` + "\n"},
			{method: "PUT", path: "/v1/keys/", body: "prevValue=&value=x", status: 400, want: `{"errorCode":107,"message":"Root is read only","cause":"/","index":2}` + "\n"},
			{method: "POST", path: "/v1/keys/new/deep/key", body: "prevValue=&value=x", status: 200, want: `{"action":"testAndSet","key":"/new/deep/key","value":"x","index":3}`},
			{method: "GET", path: "/v1/keys/new", status: 200, want: `[{"action":"get","key":"/new/deep","dir":true,"index":3}]`},
		}},
		{"set failures", []v1Step{
			{method: "POST", path: "/v1/keys/d/k", body: "value=1", status: 200},
			{method: "POST", path: "/v1/keys/d", body: "value=2", status: 403, want: `{"errorCode":102,"message":"Not a file","cause":"/d","index":1}` + "\n", headers: v1Err("1")},
			{method: "POST", path: "/v1/keys/d/k/x", body: "value=2", status: 400, want: `{"errorCode":104,"message":"Not a directory","cause":"/d/k","index":1}` + "\n"},
			{method: "PUT", path: "/v1/keys/", body: "value=2", status: 400, want: `{"errorCode":107,"message":"Root is read only","cause":"/","index":1}` + "\n"},
			{method: "DELETE", path: "/v1/keys/d", status: 403, want: `{"errorCode":102,"message":"Not a file","cause":"/d","index":1}` + "\n"},
			{method: "DELETE", path: "/v1/keys/d?recursive=true", status: 403},
			{method: "DELETE", path: "/v1/keys/", status: 400, want: `{"errorCode":107,"message":"Root is read only","cause":"/","index":1}` + "\n"},
			{method: "GET", path: "/v1/keys/d/k/below", status: 400, want: `{"errorCode":104,"message":"Not a directory","cause":"/d/k","index":1}` + "\n"},
			{method: "GET", path: "/v1/keys/nope/deeper/still", status: 404, want: `{"errorCode":100,"message":"Key not found","cause":"/nope","index":1}` + "\n"},
		}},
		{"ttl", []v1Step{
			{method: "POST", path: "/v1/keys/session", body: "value=abc&ttl=30", status: 200, want: `{"action":"set","key":"/session","value":"abc","newKey":true,"expiration":"2026-11-21T08:00:30Z","ttl":30,"index":1}`},
			{method: "GET", path: "/v1/keys/session", advance: 1500 * time.Millisecond, status: 200, want: `{"action":"get","key":"/session","value":"abc","expiration":"2026-11-21T08:00:30Z","ttl":29,"index":1}`},
			{method: "POST", path: "/v1/keys/session", body: "value=abc&ttl=10", status: 200, want: `{"action":"set","key":"/session","prevValue":"abc","value":"abc","expiration":"2026-11-21T08:00:11.5Z","ttl":10,"index":2}`},
			{method: "POST", path: "/v1/keys/session", body: "prevValue=abc&value=def", status: 200, want: `{"action":"testAndSet","key":"/session","prevValue":"abc","value":"def","index":3}`},
			{method: "PUT", path: "/v1/keys/zero", body: "value=z&ttl=0", status: 200, want: `{"action":"set","key":"/zero","value":"z","newKey":true,"expiration":"2026-11-21T08:00:01.5Z","index":4}`},
			{method: "PUT", path: "/v1/keys/neg", body: "value=n&ttl=-3", status: 200, want: `{"action":"set","key":"/neg","value":"n","newKey":true,"expiration":"2026-11-21T07:59:58.5Z","ttl":-3,"index":5}`},
			{method: "PUT", path: "/v1/keys/empty", body: "value=e&ttl=", status: 200, want: `{"action":"set","key":"/empty","value":"e","newKey":true,"index":6}`},
			{method: "GET", path: "/v1/keys/zero", expire: true, status: 404, want: `{"errorCode":100,"message":"Key not found","cause":"/zero","index":8}` + "\n"},
			// A delete never shows the TTL of what it deleted.
			{method: "POST", path: "/v1/keys/session", body: "value=abc&ttl=10", status: 200},
			{method: "DELETE", path: "/v1/keys/session", status: 200, want: `{"action":"delete","key":"/session","prevValue":"abc","index":10}`},
		}},
		{"directory listings", []v1Step{
			{method: "POST", path: "/v1/keys/dir/a", body: "value=1", status: 200},
			{method: "POST", path: "/v1/keys/dir/sub/b", body: "value=2", status: 200},
			{method: "POST", path: "/v1/keys/dir/_hidden", body: "value=h", status: 200},
			{method: "POST", path: "/v1/keys/dir/ttlkey", body: "value=t&ttl=100", status: 200},
			{method: "POST", path: "/v1/keys/dir/_hdir/x", body: "value=hx", status: 200},
			{method: "PUT", path: "/v2/keys/dir/empty", body: "value=", status: 201},
			{method: "GET", path: "/v1/keys/dir", status: 200, headers: v1OK,
				want: `[{"action":"get","key":"/dir/a","value":"1","index":6},{"action":"get","key":"/dir/empty","value":"","index":6},{"action":"get","key":"/dir/sub","dir":true,"index":6},{"action":"get","key":"/dir/ttlkey","value":"t","index":6}]`},
			{method: "GET", path: "/v1/keys/dir/", status: 200, want: `[{"action":"get","key":"/dir/a","value":"1","index":6},{"action":"get","key":"/dir/empty","value":"","index":6},{"action":"get","key":"/dir/sub","dir":true,"index":6},{"action":"get","key":"/dir/ttlkey","value":"t","index":6}]`},
			{method: "GET", path: "/v1/keys/dir/_hidden", status: 200, want: `{"action":"get","key":"/dir/_hidden","value":"h","index":6}`},
			{method: "GET", path: "/v1/keys/dir/_hdir", status: 200, want: `[{"action":"get","key":"/dir/_hdir/x","value":"hx","index":6}]`},
			{method: "PUT", path: "/v1/keys/_etcd/machines/n1", body: "value=etcd=http%253A%252F%252F127.0.0.1%253A4001%26raft=http%253A%252F%252F127.0.0.1%253A7001", status: 200},
			{method: "GET", path: "/v1/keys/", status: 200, want: `[{"action":"get","key":"/dir","dir":true,"index":7}]`},
			{method: "GET", path: "/v1/keys/_etcd/machines", status: 200, want: `[{"action":"get","key":"/_etcd/machines/n1","value":"etcd=http%3A%2F%2F127.0.0.1%3A4001\u0026raft=http%3A%2F%2F127.0.0.1%3A7001","index":7}]`},
			{method: "DELETE", path: "/v2/keys/dir?recursive=true", status: 200},
			{method: "PUT", path: "/v2/keys/emptydir?dir=true", status: 201},
			{method: "GET", path: "/v1/keys/emptydir", status: 200, want: `[]`},
			{method: "HEAD", path: "/v1/keys/emptydir", status: 200, headers: v1HeadOK},
		}},
		{"form validation order", []v1Step{
			{method: "POST", path: "/v1/keys/x", body: "value=1", status: 200},
			{method: "POST", path: "/v1/keys/a", status: 400, want: `{"errorCode":200,"message":"Value is Required in POST form","cause":"Set","index":1}` + "\n", headers: v1Err("1")},
			{method: "POST", path: "/v1/keys/a", body: "value=", status: 400, want: `{"errorCode":200,"message":"Value is Required in POST form","cause":"Set","index":1}` + "\n"},
			{method: "POST", path: "/v1/keys/a", body: "value", status: 400, want: `{"errorCode":200,"message":"Value is Required in POST form","cause":"Set","index":1}` + "\n"},
			{method: "POST", path: "/v1/keys/a", body: "Value=upper", status: 400, want: `{"errorCode":200,"message":"Value is Required in POST form","cause":"Set","index":1}` + "\n"},
			{method: "POST", path: "/v1/keys/a", body: "ttl=abc&prevValue=x", status: 400, want: `{"errorCode":200,"message":"Value is Required in POST form","cause":"Set","index":1}` + "\n"},
			{method: "PUT", path: "/v1/keys/a", body: "value=1&ttl=abc", status: 400, want: `{"errorCode":202,"message":"The given TTL in POST form is not a number","cause":"Set","index":1}` + "\n"},
			{method: "PUT", path: "/v1/keys/a", body: "value=1&ttl=1.5", status: 400, want: `{"errorCode":202,"message":"The given TTL in POST form is not a number","cause":"Set","index":1}` + "\n"},
			{method: "PUT", path: "/v1/keys/a", body: "value=1&ttl=+5%20", status: 400, want: `{"errorCode":202,"message":"The given TTL in POST form is not a number","cause":"Set","index":1}` + "\n"},
			{method: "PUT", path: "/v1/keys/x", body: "value=2&ttl=abc&prevValue=nope", status: 400, want: `{"errorCode":202,"message":"The given TTL in POST form is not a number","cause":"Set","index":1}` + "\n"},
			{method: "GET", path: "/v1/keys/a", status: 404},
			{method: "POST", path: "/v1/keys/q?value=fromquery&ttl=60", status: 200, want: `{"action":"set","key":"/q","value":"fromquery","newKey":true,"expiration":"2026-11-21T08:01:00Z","ttl":60,"index":2}`},
			{method: "POST", path: "/v1/keys/q?value=fromquery", body: "value=frombody&value=second", status: 200, want: `{"action":"set","key":"/q","prevValue":"fromquery","value":"frombody","index":3}`},
			{method: "POST", path: "/v1/keys/h", body: "value=%3Ca%3E%26", status: 200, want: `{"action":"set","key":"/h","value":"\u003ca\u003e\u0026","newKey":true,"index":4}`},
			{method: "POST", path: "/v1/keys/enc%2Fslash/a%20b", body: "value=x", status: 200, want: `{"action":"set","key":"/enc/slash/a b","value":"x","newKey":true,"index":5}`},
		}},
		{"routing", []v1Step{
			{method: "GET", path: "/v1/keys", status: 404, want: notFoundPage, headers: map[string]string{"Content-Type": "text/plain; charset=utf-8"}},
			{method: "POST", path: "/v1/keys", body: "value=1", status: 404, want: notFoundPage},
			{method: "GET", path: "/v1/watch", status: 404, want: notFoundPage},
			{method: "GET", path: "/v1", status: 404, want: notFoundPage},
			{method: "GET", path: "/v1/nope", status: 404, want: notFoundPage},
			{method: "PATCH", path: "/v1/keys/a", body: "value=1", status: 404, want: notFoundPage},
			{method: "OPTIONS", path: "/v1/keys/a", status: 200, headers: map[string]string{"Content-Type": ""}},
			{method: "PUT", path: "/v1/watch/a", status: 404, want: notFoundPage},
			{method: "GET", path: "/", status: 404, want: notFoundPage},
			{method: "GET", path: "/stats", status: 404, want: notFoundPage},
			{method: "POST", path: "/v1/keys//a", body: "value=1", status: 301, headers: map[string]string{"Location": "/v1/keys/a", "Content-Type": ""}},
			{method: "GET", path: "/v1/keys/a/../b?x=1", status: 301, want: "", headers: map[string]string{"Location": "/v1/keys/b?x=1", "Content-Type": ""}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			newV1Server(t, v1Opts{}).run(t, tc.steps)
		})
	}
}

// A body over Go's 10 MiB form limit reads as no value at all (etcd used
// FormValue, which gives up silently): error 200.
func TestKeysV1BodyTooLarge(t *testing.T) {
	t.Parallel()
	s := newV1Server(t, v1Opts{})
	s.run(t, []v1Step{
		{method: "POST", path: "/v1/keys/big", body: "value=" + strings.Repeat("x", maxFormBody), status: 400,
			want: `{"errorCode":200,"message":"Value is Required in POST form","cause":"Set","index":0}` + "\n"},
		{method: "POST", path: "/v1/keys/two", body: "value=" + strings.Repeat("y", 2<<20), status: 200},
	})
}

// One store, one index: keys written through either API read through the
// other, v2 operations show under v1's names, and both advance the same
// index.
func TestV1V2Interplay(t *testing.T) {
	t.Parallel()
	v2 := map[string]string{"Content-Type": "application/json", "X-Etcd-Index": "1"}
	steps := []v1Step{
		{method: "POST", path: "/v1/keys/a", body: "value=one", status: 200, want: `{"action":"set","key":"/a","value":"one","newKey":true,"index":1}`},
		{method: "GET", path: "/v2/keys/a", status: 200, headers: v2, want: `{"action":"get","node":{"key":"/a","value":"one","modifiedIndex":1,"createdIndex":1}}` + "\n"},
		{method: "PUT", path: "/v2/keys/a", body: "value=two&ttl=100", status: 200},
		{method: "GET", path: "/v1/keys/a", status: 200, want: `{"action":"get","key":"/a","value":"two","expiration":"2026-11-21T08:01:40Z","ttl":100,"index":2}`},
		{method: "POST", path: "/v1/keys/a", body: "prevValue=two&value=three", status: 200, want: `{"action":"testAndSet","key":"/a","prevValue":"two","value":"three","index":3}`},
		{method: "GET", path: "/v2/keys/a", status: 200, want: `{"action":"get","node":{"key":"/a","value":"three","modifiedIndex":3,"createdIndex":2}}` + "\n"},
		{method: "PUT", path: "/v2/keys/a?prevValue=three", body: "value=four", status: 200},
		{method: "POST", path: "/v2/keys/queue", body: "value=job", status: 201},
		{method: "PUT", path: "/v2/keys/a?prevExist=true", body: "value=five", status: 200},
		{method: "DELETE", path: "/v2/keys/a?prevValue=five", status: 200},
		{method: "PUT", path: "/v2/keys/e", body: "value=", status: 201},
		{method: "GET", path: "/v1/keys/e", status: 200, want: `{"action":"get","key":"/e","value":"","index":8}`},
		{method: "POST", path: "/v1/keys/e", body: "value=x", status: 200, want: `{"action":"set","key":"/e","prevValue":"","value":"x","index":9}`},
		// v2 events replayed through a v1 watch, under their v1 names,
		// labelled with the current index.
		{method: "POST", path: "/v1/watch/a", body: "index=4", status: 200, want: `{"action":"testAndSet","key":"/a","prevValue":"three","value":"four","index":9}`},
		{method: "POST", path: "/v1/watch/queue/00000000000000000005", body: "index=5", status: 200, want: `{"action":"testAndSet","key":"/queue/00000000000000000005","value":"job","index":9}`},
		{method: "POST", path: "/v1/watch/a", body: "index=6", status: 200, want: `{"action":"update","key":"/a","prevValue":"four","value":"five","index":9}`},
		{method: "POST", path: "/v1/watch/a", body: "index=7", status: 200, want: `{"action":"compareAndDelete","key":"/a","prevValue":"five","index":9}`},
		{method: "GET", path: "/v2/keys/?recursive=true", status: 200, headers: map[string]string{"X-Etcd-Index": "9"}},
	}
	newV1Server(t, v1Opts{}).run(t, steps)
}

// Writes on a follower are forwarded by default, and with --redirect
// answered with etcd 0.4's 307 to the leader's client URL, path and query
// kept; reads stay local. Raft trouble is error 300 without a cause.
func TestV1LeaderHandling(t *testing.T) {
	t.Parallel()
	leader := &machines.Member{ID: 0x99, Name: "alpha", PeerURLs: []string{"http://10.0.0.1:7001"}, ClientURLs: []string{"https://10.0.0.1:4001"}}
	t.Run("redirect", func(t *testing.T) {
		t.Parallel()
		s := newV1Server(t, v1Opts{redirect: true, node: func(n *stubNode) Node { return &followerNode{stubNode: n, leader: 0x99} }})
		s.addMember(t, leader)
		s.run(t, []v1Step{
			{method: "POST", path: "/v1/keys/a?ttl=5", body: "value=1", status: 307, headers: map[string]string{"Location": "https://10.0.0.1:4001/v1/keys/a?ttl=5", "Content-Type": ""}},
			{method: "DELETE", path: "/v1/keys/a", status: 307, headers: map[string]string{"Location": "https://10.0.0.1:4001/v1/keys/a"}},
			{method: "GET", path: "/v1/keys/a", status: 404},
			// Form errors are found before the write is redirected.
			{method: "POST", path: "/v1/keys/a", status: 400},
		})
	})
	t.Run("redirect 0.1", func(t *testing.T) {
		t.Parallel()
		s := newV1Server(t, v1Opts{dialect: Dialect01, redirect: true, node: func(n *stubNode) Node { return &followerNode{stubNode: n, leader: 0x99} }})
		s.addMember(t, leader)
		s.run(t, []v1Step{
			{method: "POST", path: "/v1/keys/a?ttl=5", body: "value=1", status: 307, headers: map[string]string{"Location": "https://10.0.0.1:4001/v1/keys/a"}},
			{method: "GET", path: "/v1/keys/a", status: 404},
		})
	})
	t.Run("raft errors", func(t *testing.T) {
		t.Parallel()
		for _, d := range []string{Dialect04, Dialect01} {
			s := newV1Server(t, v1Opts{dialect: d})
			s.node.failErr = store.NewError(store.EcodeRaftInternal, "etcdserver: no leader", 0)
			want := map[string]string{
				Dialect04: `{"errorCode":300,"message":"Raft Internal Error","index":0}` + "\n",
				Dialect01: `{"errorCode":300,"message":"Raft Internal Error","cause":"etcdserver: no leader"}`,
			}[d]
			s.run(t, []v1Step{{method: "POST", path: "/v1/keys/a", body: "value=1", status: 500, want: want}})
			s.node.failErr = fmt.Errorf("wrapped: %w", context.Canceled)
			s.run(t, []v1Step{{method: "DELETE", path: "/v1/keys/a", status: 500,
				want: map[string]string{Dialect04: `{"errorCode":300,"message":"Raft Internal Error","index":0}` + "\n", Dialect01: `{"errorCode":300,"message":"Raft Internal Error"}`}[d]}})
		}
	})
}

// TestAndSet races: every round, many clients try to swap the value the
// previous round left; exactly one wins, the others get 412/101 (0.4) or
// 400/101 (0.1). In 0.1 every attempt takes an index.
func TestV1TestAndSetRace(t *testing.T) {
	t.Parallel()
	const clients, rounds = 16, 8
	for _, d := range []string{Dialect04, Dialect01} {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			s := newV1Server(t, v1Opts{dialect: d})
			s.run(t, []v1Step{{method: "POST", path: "/v1/keys/race", body: "value=r0", status: 200}})
			lost := map[string]int{Dialect04: 412, Dialect01: 400}[d]
			prev := "r0"
			for round := 1; round <= rounds; round++ {
				var wg sync.WaitGroup
				results := make([]resp, clients)
				for c := range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						results[c] = s.doNoFatal("POST", "/v1/keys/race", fmt.Sprintf("prevValue=%s&value=r%d-c%d", prev, round, c))
					}()
				}
				wg.Wait()
				winners := 0
				for c, r := range results {
					switch r.status {
					case 200:
						winners++
						prev = fmt.Sprintf("r%d-c%d", round, c)
					case lost:
						if !strings.Contains(r.body, `"errorCode":101`) {
							t.Errorf("round %d client %d: %s", round, c, r.body)
						}
					default:
						t.Errorf("round %d client %d: %d %s", round, c, r.status, r.body)
					}
				}
				if winners != 1 {
					t.Fatalf("round %d: %d winners", round, winners)
				}
			}
			got := s.doNoFatal("GET", "/v1/keys/race", "")
			if !strings.Contains(got.body, `"value":"`+prev+`"`) {
				t.Errorf("final value: %s, want %s", got.body, prev)
			}
			want := map[string]uint64{Dialect04: 1 + rounds, Dialect01: 1 + rounds*clients}[d]
			if s.st.Index() != want {
				t.Errorf("store index %d, want %d", s.st.Index(), want)
			}
		})
	}
}

// Many clients create the same lock with prevValue= (0.4): one wins.
func TestV1CreateRace(t *testing.T) {
	t.Parallel()
	s := newV1Server(t, v1Opts{})
	const clients = 32
	var wg sync.WaitGroup
	codes := make([]int, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[c] = s.doNoFatal(http.MethodPost, "/v1/keys/lock", fmt.Sprintf("prevValue=&value=c%d&ttl=10", c)).status
		}()
	}
	wg.Wait()
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	if count[200] != 1 || count[412] != clients-1 {
		t.Errorf("statuses %v, want one 200 and %d 412", count, clients-1)
	}
}
