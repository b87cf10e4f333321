package httpapi

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// Expected bodies below are etcd 3.4.23's, started with --enable-v2 (try
// any of them against `etcd --enable-v2`); the equivalent curl command is
// the step itself.
func TestKeysV2Exact(t *testing.T) {
	t.Parallel()
	type step struct {
		method, path, body string
		status             int
		want               string
		headers            map[string]string // "" value = must be absent
	}
	ok := map[string]string{"Content-Type": "application/json", "X-Raft-Term": "2", "X-Etcd-Cluster-Id": "dc50b8daae93b3e0"}
	errH := map[string]string{"Content-Type": "application/json", "X-Raft-Index": "", "X-Raft-Term": "", "X-Etcd-Cluster-Id": "dc50b8daae93b3e0"}
	cases := []struct {
		name  string
		steps []step
	}{
		{"set get update", []step{
			{"PUT", "/v2/keys/message", "value=Hello", 201, `{"action":"set","node":{"key":"/message","value":"Hello","modifiedIndex":1,"createdIndex":1}}` + "\n", merge(ok, "X-Etcd-Index", "1")},
			{"PUT", "/v2/keys/message", "value=Hello2", 200, `{"action":"set","node":{"key":"/message","value":"Hello2","modifiedIndex":2,"createdIndex":2},"prevNode":{"key":"/message","value":"Hello","modifiedIndex":1,"createdIndex":1}}` + "\n", merge(ok, "X-Etcd-Index", "2")},
			{"GET", "/v2/keys/message", "", 200, `{"action":"get","node":{"key":"/message","value":"Hello2","modifiedIndex":2,"createdIndex":2}}` + "\n", merge(ok, "X-Etcd-Index", "2")},
			{"GET", "/v2/keys/missing", "", 404, `{"errorCode":100,"message":"Key not found","cause":"/missing","index":2}` + "\n", merge(errH, "X-Etcd-Index", "2")},
			{"HEAD", "/v2/keys/missing", "", 404, "", merge(errH, "X-Etcd-Index", "2")},
			{"GET", "/v2/keys", "", 200, `{"action":"get","node":{"dir":true,"nodes":[{"key":"/message","value":"Hello2","modifiedIndex":2,"createdIndex":2}]}}` + "\n", ok},
			{"PUT", "/v2/keys/message?prevExist=true", "value=v3", 200, `{"action":"update","node":{"key":"/message","value":"v3","modifiedIndex":3,"createdIndex":2},"prevNode":{"key":"/message","value":"Hello2","modifiedIndex":2,"createdIndex":2}}` + "\n", ok},
			{"PUT", "/v2/keys/message?noValueOnSuccess=true", "value=v4", 200, `{"action":"set"}` + "\n", ok},
		}},
		{"body beats query, first value wins", []step{
			{"PUT", "/v2/keys/q?value=fromquery", "value=frombody&value=second", 201, `{"action":"set","node":{"key":"/q","value":"frombody","modifiedIndex":1,"createdIndex":1}}` + "\n", ok},
		}},
		{"html escaping", []step{
			{"PUT", "/v2/keys/h", "value=%3Ca%3E%26", 201, `{"action":"set","node":{"key":"/h","value":"\u003ca\u003e\u0026","modifiedIndex":1,"createdIndex":1}}` + "\n", ok},
		}},
		{"encoded slash makes a directory", []step{
			{"PUT", "/v2/keys/enc%2Fslash", "value=x", 201, `{"action":"set","node":{"key":"/enc/slash","value":"x","modifiedIndex":1,"createdIndex":1}}` + "\n", ok},
		}},
		{"ttl", []step{
			{"PUT", "/v2/keys/ttlkey", "value=v&ttl=100", 201, `{"action":"set","node":{"key":"/ttlkey","value":"v","expiration":"2026-11-21T08:01:40Z","ttl":100,"modifiedIndex":1,"createdIndex":1}}` + "\n", ok},
			{"PUT", "/v2/keys/ttlkey?prevExist=true", "value=v2&ttl=", 200, `{"action":"update","node":{"key":"/ttlkey","value":"v2","modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/ttlkey","value":"v","expiration":"2026-11-21T08:01:40Z","ttl":100,"modifiedIndex":1,"createdIndex":1}}` + "\n", ok},
		}},
		{"in-order keys", []step{
			{"POST", "/v2/keys/queue", "value=Job1", 201, `{"action":"create","node":{"key":"/queue/00000000000000000001","value":"Job1","modifiedIndex":1,"createdIndex":1}}` + "\n", ok},
		}},
		{"delete dir recursive", []step{
			{"PUT", "/v2/keys/d/a", "value=1", 201, "", ok},
			{"DELETE", "/v2/keys/d?recursive=true", "", 200, `{"action":"delete","node":{"key":"/d","dir":true,"modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/d","dir":true,"modifiedIndex":1,"createdIndex":1}}` + "\n", ok},
		}},
		{"compare failed", []step{
			{"PUT", "/v2/keys/cas", "value=upd", 201, "", ok},
			{"PUT", "/v2/keys/cas?prevIndex=7&prevValue=wrong", "value=three", 412, `{"errorCode":101,"message":"Compare failed","cause":"[wrong != upd] [7 != 1]","index":1}` + "\n", merge(errH, "X-Etcd-Index", "1")},
		}},
		{"405 before cluster id", []step{
			{"PATCH", "/v2/keys/a", "value=1", 405, "Method Not Allowed\n", map[string]string{"Allow": "HEAD,GET,PUT,POST,DELETE", "Content-Type": "text/plain; charset=utf-8", "X-Etcd-Cluster-Id": ""}},
		}},
		{"unclean paths redirect", []step{
			{"PUT", "/v2/keys//a", "value=1", 301, "", map[string]string{"Location": "/v2/keys/a", "Content-Type": ""}},
			{"GET", "/v2/keys/x/../y?recursive=true", "", 301, "", map[string]string{"Location": "/v2/keys/y?recursive=true", "Content-Type": "text/html; charset=utf-8"}},
		}},
		{"options and unknown paths", []step{
			{"OPTIONS", "/anything", "", 200, "", nil},
			{"GET", "/v2/nope", "", 404, "404 page not found\n", map[string]string{"Content-Type": "text/plain; charset=utf-8"}},
			{"GET", "/v2", "", 404, "404 page not found\n", nil},
		}},
		{"version and health", []step{
			{"GET", "/version", "", 200, `{"etcdserver":"2.3.8","etcdcluster":"2.3.0"}`, map[string]string{"Content-Type": "application/json"}},
			{"POST", "/version", "", 405, "Method Not Allowed\n", map[string]string{"Allow": "GET"}},
			{"GET", "/health", "", 200, `{"health":"true"}`, map[string]string{"Content-Type": "text/plain; charset=utf-8"}},
		}},
		{"machines and members", []step{
			{"GET", "/v2/machines", "", 200, "http://127.0.0.1:2379", nil},
			{"POST", "/v2/machines", "", 405, "Method Not Allowed\n", map[string]string{"Allow": "GET,HEAD"}},
			{"GET", "/v2/members", "", 200, `{"members":[{"id":"1234","name":"stub","peerURLs":["http://127.0.0.1:2380"],"clientURLs":["http://127.0.0.1:2379"]}]}` + "\n", map[string]string{"Content-Type": "application/json"}},
			{"GET", "/v2/members/leader", "", 200, `{"id":"1234","name":"stub","peerURLs":["http://127.0.0.1:2380"],"clientURLs":["http://127.0.0.1:2379"]}` + "\n", nil},
			{"GET", "/v2/members/zz", "", 404, `{"message":"Not found"}`, nil},
		}},
		{"store stats", []step{
			{"GET", "/v2/keys/nope", "", 404, "", nil},
			{"GET", "/v2/stats/store", "", 200, `{"getsSuccess":0,"getsFail":1,"setsSuccess":0,"setsFail":0,"deleteSuccess":0,"deleteFail":0,"updateSuccess":0,"updateFail":0,"createSuccess":0,"createFail":0,"compareAndSwapSuccess":0,"compareAndSwapFail":0,"compareAndDeleteSuccess":0,"compareAndDeleteFail":0,"expireCount":0,"watchers":0}`, map[string]string{"Content-Type": "application/json"}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStubServer(t)
			for i, st := range tc.steps {
				r := s.do(t, st.method, st.path, st.body)
				if r.status != st.status {
					t.Fatalf("step %d %s %s: status %d, want %d (body %s)", i, st.method, st.path, r.status, st.status, r.body)
				}
				if st.want != "" && r.body != st.want {
					t.Errorf("step %d %s %s:\ngot  %q\nwant %q", i, st.method, st.path, r.body, st.want)
				}
				for k, v := range st.headers {
					if got := r.header.Get(k); got != v {
						t.Errorf("step %d %s %s: header %s = %q, want %q", i, st.method, st.path, k, got, v)
					}
				}
			}
		})
	}
}

func merge(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for a, b := range m {
		if a != k {
			out[a] = b
		}
	}
	return out
}

// Every malformed parameter gets etcd's code, message, cause and index 0.
func TestKeysV2ParamErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		method, path, body string
		want               string
	}{
		{"PUT", "/v2/keys/a?prevIndex=x", "value=1", `{"errorCode":203,"message":"The given index in POST form is not a number","cause":"invalid value for \"prevIndex\"","index":0}`},
		{"PUT", "/v2/keys/a?prevIndex=", "value=1", `{"errorCode":203,"message":"The given index in POST form is not a number","cause":"invalid value for \"prevIndex\"","index":0}`},
		{"GET", "/v2/keys/a?wait=true&waitIndex=-1", "", `{"errorCode":203,"message":"The given index in POST form is not a number","cause":"invalid value for \"waitIndex\"","index":0}`},
		{"GET", "/v2/keys/a?recursive=yes", "", `{"errorCode":209,"message":"Invalid field","cause":"invalid value for \"recursive\"","index":0}`},
		{"GET", "/v2/keys/a?sorted=", "", `{"errorCode":209,"message":"Invalid field","cause":"invalid value for \"sorted\"","index":0}`},
		{"PUT", "/v2/keys/a?dir=maybe", "", `{"errorCode":209,"message":"Invalid field","cause":"invalid value for \"dir\"","index":0}`},
		{"GET", "/v2/keys/a?quorum=2", "", `{"errorCode":209,"message":"Invalid field","cause":"invalid value for \"quorum\"","index":0}`},
		{"GET", "/v2/keys/a?wait=true&stream=x", "", `{"errorCode":209,"message":"Invalid field","cause":"invalid value for \"stream\"","index":0}`},
		{"PUT", "/v2/keys/a?wait=true", "value=1", `{"errorCode":209,"message":"Invalid field","cause":"\"wait\" can only be used with GET requests","index":0}`},
		{"HEAD", "/v2/keys/a?wait=true", "", ``},
		{"PUT", "/v2/keys/a?prevValue=", "value=1", `{"errorCode":201,"message":"PrevValue is Required in POST form","cause":"\"prevValue\" cannot be empty","index":0}`},
		{"PUT", "/v2/keys/a", "value=1&ttl=abc", `{"errorCode":202,"message":"The given TTL in POST form is not a number","cause":"invalid value for \"ttl\"","index":0}`},
		{"PUT", "/v2/keys/a", "value=1&ttl=-1", `{"errorCode":202,"message":"The given TTL in POST form is not a number","cause":"invalid value for \"ttl\"","index":0}`},
		{"PUT", "/v2/keys/a", "value=1&ttl=1.5", `{"errorCode":202,"message":"The given TTL in POST form is not a number","cause":"invalid value for \"ttl\"","index":0}`},
		{"PUT", "/v2/keys/a", "value=1&ttl=18446744073709551616", `{"errorCode":202,"message":"The given TTL in POST form is not a number","cause":"invalid value for \"ttl\"","index":0}`},
		{"PUT", "/v2/keys/a?prevExist=nope", "value=1", `{"errorCode":209,"message":"Invalid field","cause":"invalid value for prevExist","index":0}`},
		{"PUT", "/v2/keys/a?refresh=nope", "ttl=5", `{"errorCode":209,"message":"Invalid field","cause":"invalid value for refresh","index":0}`},
		{"PUT", "/v2/keys/a?refresh=true", "value=x&ttl=5", `{"errorCode":211,"message":"Value provided on refresh","cause":"A value was provided on a refresh","index":0}`},
		{"PUT", "/v2/keys/a?refresh=true", "", `{"errorCode":212,"message":"A TTL must be provided on refresh","cause":"No TTL value set","index":0}`},
		{"PUT", "/v2/keys/a?noValueOnSuccess=x", "value=1", `{"errorCode":209,"message":"Invalid field","cause":"invalid value for \"noValueOnSuccess\"","index":0}`},
		{"PUT", "/v2/keys/a", "value=%zz", `{"errorCode":210,"message":"Invalid POST form","cause":"invalid URL escape \"%zz\"","index":0}`},
		// Order: prevIndex is checked before everything else.
		{"PUT", "/v2/keys/a?prevIndex=x&ttl=y&dir=z", "", `{"errorCode":203,"message":"The given index in POST form is not a number","cause":"invalid value for \"prevIndex\"","index":0}`},
		{"PUT", "/v2/keys/a?dir=z&ttl=y", "", `{"errorCode":209,"message":"Invalid field","cause":"invalid value for \"dir\"","index":0}`},
	}
	s := newStubServer(t)
	for _, tc := range cases {
		r := s.do(t, tc.method, tc.path, tc.body)
		if r.status != http.StatusBadRequest {
			t.Errorf("%s %s %s: status %d, want 400", tc.method, tc.path, tc.body, r.status)
		}
		if tc.want != "" && r.body != tc.want+"\n" {
			t.Errorf("%s %s %s:\ngot  %s\nwant %s", tc.method, tc.path, tc.body, r.body, tc.want)
		}
		if r.header.Get("X-Etcd-Index") != "0" {
			t.Errorf("%s %s: X-Etcd-Index %q, want 0", tc.method, tc.path, r.header.Get("X-Etcd-Index"))
		}
	}
	if got := s.st.Index(); got != 0 {
		t.Errorf("a rejected request changed the store: index %d", got)
	}
}

// A body above Go's 10 MiB form limit is error 210, not a partial write.
func TestKeysV2BodyTooLarge(t *testing.T) {
	t.Parallel()
	s := newStubServer(t)
	big := "value=" + strings.Repeat("x", maxFormBody)
	r := s.do(t, "PUT", "/v2/keys/big", big)
	want := `{"errorCode":210,"message":"Invalid POST form","cause":"http: POST too large","index":0}` + "\n"
	if r.status != 400 || r.body != want {
		t.Errorf("got %d %s, want 400 %s", r.status, r.body, want)
	}
	// 2 MiB is fine.
	r = s.do(t, "PUT", "/v2/keys/two", "value="+strings.Repeat("y", 2<<20))
	if r.status != 201 {
		t.Errorf("2 MiB value: status %d", r.status)
	}
}

func TestRaftErrorsAre300(t *testing.T) {
	t.Parallel()
	s := newStubServer(t)
	s.node.failErr = store.NewError(store.EcodeRaftInternal, "etcdserver: request timed out", 0)
	r := s.do(t, "PUT", "/v2/keys/a", "value=1")
	want := `{"errorCode":300,"message":"Raft Internal Error","cause":"etcdserver: request timed out","index":0}` + "\n"
	if r.status != 500 || r.body != want {
		t.Errorf("got %d %s", r.status, r.body)
	}
	r = s.do(t, "GET", "/health", "")
	if r.status != 503 || r.body != `{"health":"false"}`+"\n" || r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("health with a failing read barrier: %d %s", r.status, r.body)
	}
}

// Watches flush their headers before any event, deliver one event (or
// every event with stream=true), and end when the client goes away.
func TestWatchV2(t *testing.T) {
	t.Parallel()
	s := newStubServer(t)
	s.do(t, "PUT", "/v2/keys/w", "value=0")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/v2/keys/w?wait=true&stream=true", nil)
	r, err := testClient.Do(req) // returns once headers arrived
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if r.StatusCode != 200 || r.Header.Get("X-Etcd-Index") != "1" || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("watch headers: %d %v", r.StatusCode, r.Header)
	}
	br := bufio.NewReader(r.Body)
	s.do(t, "PUT", "/v2/keys/w", "value=1")
	s.do(t, "PUT", "/v2/keys/w?refresh=true&prevExist=true", "ttl=50") // wakes nobody
	s.do(t, "PUT", "/v2/keys/w", "value=2")
	for i, want := range []string{
		`{"action":"set","node":{"key":"/w","value":"1","modifiedIndex":2,"createdIndex":2},"prevNode":{"key":"/w","value":"0","modifiedIndex":1,"createdIndex":1}}`,
		`{"action":"set","node":{"key":"/w","value":"2","modifiedIndex":4,"createdIndex":4},"prevNode":{"key":"/w","value":"1","expiration":"2026-11-21T08:00:50Z","ttl":50,"modifiedIndex":3,"createdIndex":2}}`,
	} {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if strings.TrimSuffix(line, "\n") != want {
			t.Errorf("event %d:\ngot  %s\nwant %s", i, line, want)
		}
	}
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for s.st.WatcherCount() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("watcher not removed after the client went away")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// History: an old waitIndex answers at once, X-Etcd-Index is current.
	h := s.do(t, "GET", "/v2/keys/w?wait=true&waitIndex=2", "")
	if h.header.Get("X-Etcd-Index") != "4" || !strings.HasPrefix(h.body, `{"action":"set","node":{"key":"/w","value":"1"`) {
		t.Errorf("history watch: %v %s", h.header, h.body)
	}
	// wait=true&quorum=true is a quorum GET, not a watch.
	q := s.do(t, "GET", "/v2/keys/w?wait=true&quorum=true", "")
	if q.status != 200 || !strings.HasPrefix(q.body, `{"action":"get"`) {
		t.Errorf("wait+quorum: %d %s", q.status, q.body)
	}
}

// Closing the API ends long-polls with an empty 200, as a stopping etcd.
func TestWatchEndsOnClose(t *testing.T) {
	t.Parallel()
	s := newStubServer(t)
	req, _ := http.NewRequest("GET", s.URL+"/v2/keys/x?wait=true", nil)
	r, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	s.api.Close()
	b := make([]byte, 10)
	n, _ := r.Body.Read(b)
	if n != 0 {
		t.Errorf("watch ended with %q, want an empty body", b[:n])
	}
}

func TestHistoryClearedIs401(t *testing.T) {
	t.Parallel()
	s := newStubServer(t)
	for i := 0; i < store.HistoryCapacity+5; i++ {
		if _, err := s.node.Propose(context.Background(), &store.Request{Method: "PUT", Path: "/k", Value: "v"}); err != nil {
			t.Fatal(err)
		}
	}
	r := s.do(t, "GET", "/v2/keys/k?wait=true&waitIndex=1", "")
	want := `{"errorCode":401,"message":"The event in requested index is outdated and cleared","cause":"the requested history has been cleared [6/1]","index":1005}` + "\n"
	if r.status != 400 || r.body != want || r.header.Get("X-Etcd-Index") != "1005" {
		t.Errorf("got %d %s %v", r.status, r.body, r.header)
	}
}
