package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// watchCase starts a watch, performs writes once it is registered, and
// expects one answer.
type watchCase struct {
	name         string
	setup        []v1Step
	method, path string // the watch: curl -X method http://...path -d body
	body         string
	then         []v1Step // after the watch is registered
	expire       time.Duration
	status       int
	want         string
	headers      map[string]string
}

func runWatchCases(t *testing.T, dialect string, cases []watchCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newV1Server(t, v1Opts{dialect: dialect})
			s.run(t, tc.setup)
			ch := s.bg(t, tc.method, tc.path, tc.body)
			waitWatchers(t, s.st, 1)
			s.run(t, tc.then)
			if tc.expire != 0 {
				s.advance(tc.expire)
				s.expire()
			}
			r := recv(t, ch)
			if r.status != tc.status || r.body != tc.want {
				t.Errorf("got %d %q\nwant %d %q", r.status, r.body, tc.status, tc.want)
			}
			for k, v := range tc.headers {
				if got := r.header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// etcd 0.4.6: exact key, the current index on the answer.
func TestWatchV1Live(t *testing.T) {
	t.Parallel()
	set := func(k, v string) v1Step {
		return v1Step{method: "POST", path: "/v1/keys/" + k, body: "value=" + v, status: 200}
	}
	runWatchCases(t, Dialect04, []watchCase{
		{name: "next change of exactly the key", setup: []v1Step{set("a", "0"), set("d/x", "0")},
			method: "GET", path: "/v1/watch/a", then: []v1Step{set("ab", "x"), set("d/y", "x"), set("a", "1")},
			status: 200, want: `{"action":"set","key":"/a","prevValue":"0","value":"1","index":5}`, headers: v1OK},
		{name: "a directory watch ignores its children", setup: []v1Step{set("d/x", "0")},
			method: "GET", path: "/v1/watch/d", then: []v1Step{set("d/x", "1"), {method: "DELETE", path: "/v2/keys/d?recursive=true", status: 200}},
			status: 200, want: `[]`},
		{name: "a new key", method: "GET", path: "/v1/watch/new", then: []v1Step{set("new", "n")},
			status: 200, want: `{"action":"set","key":"/new","value":"n","newKey":true,"index":1}`},
		{name: "HEAD waits like GET", method: "HEAD", path: "/v1/watch/h", then: []v1Step{set("h", "1")},
			status: 200, want: "", headers: v1HeadOK},
		{name: "parent directory deleted through v2", setup: []v1Step{set("d/sub/x", "1")},
			method: "GET", path: "/v1/watch/d/sub/x", then: []v1Step{{method: "DELETE", path: "/v2/keys/d?recursive=true", status: 200}},
			status: 200, want: `[]`},
		{name: "expiry", setup: []v1Step{{method: "POST", path: "/v1/keys/t", body: "value=soon&ttl=1", status: 200}},
			method: "GET", path: "/v1/watch/t", expire: time.Second,
			status: 200, want: `{"action":"expire","key":"/t","prevValue":"soon","index":2}`},
		{name: "index=0 waits like GET", setup: []v1Step{set("a", "0")},
			method: "POST", path: "/v1/watch/a", body: "index=0", then: []v1Step{set("a", "1")},
			status: 200, want: `{"action":"set","key":"/a","prevValue":"0","value":"1","index":2}`},
		{name: "index beyond the history waits", setup: []v1Step{set("a", "0")},
			method: "POST", path: "/v1/watch/a", body: "index=3", then: []v1Step{set("a", "1"), set("a", "2")},
			status: 200, want: `{"action":"set","key":"/a","prevValue":"1","value":"2","index":3}`},
		{name: "testAndSet seen by a watcher", setup: []v1Step{set("a", "0")},
			method: "GET", path: "/v1/watch/a", then: []v1Step{{method: "POST", path: "/v1/keys/a", body: "prevValue=0&value=1", status: 200}},
			status: 200, want: `{"action":"testAndSet","key":"/a","prevValue":"0","value":"1","index":2}`},
	})
}

// etcd 0.4.6: POST index=N replays the first event at the key with index
// >= N, labelled with the current index.
func TestWatchV1Replay(t *testing.T) {
	t.Parallel()
	s := newV1Server(t, v1Opts{})
	s.run(t, []v1Step{
		{method: "POST", path: "/v1/keys/a", body: "value=1", status: 200},
		{method: "POST", path: "/v1/keys/b", body: "value=x", status: 200},
		{method: "POST", path: "/v1/keys/a", body: "value=2", status: 200},
		{method: "POST", path: "/v1/keys/a", body: "prevValue=2&value=3", status: 200},
		{method: "POST", path: "/v1/watch/a", body: "index=1", status: 200, want: `{"action":"set","key":"/a","value":"1","newKey":true,"index":4}`, headers: v1OK},
		{method: "POST", path: "/v1/watch/a", body: "index=2", status: 200, want: `{"action":"set","key":"/a","prevValue":"1","value":"2","index":4}`},
		{method: "POST", path: "/v1/watch/a?index=4", status: 200, want: `{"action":"testAndSet","key":"/a","prevValue":"2","value":"3","index":4}`},
		{method: "POST", path: "/v1/watch/b", body: "index=1", status: 200, want: `{"action":"set","key":"/b","value":"x","newKey":true,"index":4}`},
		{method: "DELETE", path: "/v1/keys/a", status: 200},
		{method: "POST", path: "/v1/watch/a", body: "index=5", status: 200, want: `{"action":"delete","key":"/a","prevValue":"3","index":5}`},
		{method: "POST", path: "/v1/watch/a", status: 400, want: `{"errorCode":203,"message":"The given index in POST form is not a number","cause":"Watch From Index","index":5}` + "\n", headers: v1Err("5")},
		{method: "POST", path: "/v1/watch/a", body: "index=-1", status: 400, want: `{"errorCode":203,"message":"The given index in POST form is not a number","cause":"Watch From Index","index":5}` + "\n"},
	})
	// Push the first events out of the 1000-event history.
	for i := range store.HistoryCapacity {
		if _, err := s.st.Apply(&store.Request{Method: store.MethodPut, Path: "/filler", Value: fmt.Sprint(i)}, stubTime); err != nil {
			t.Fatal(err)
		}
	}
	s.run(t, []v1Step{
		{method: "POST", path: "/v1/watch/a/", body: "index=1", status: 400, headers: v1Err("1005"),
			want: `{"errorCode":500,"message":"Client Internal Error","cause":"/a","index":1005}` + "\n"},
	})
}

// A watch ends when its client goes away, and when the member stops.
func TestWatchV1Ends(t *testing.T) {
	t.Parallel()
	s := newV1Server(t, v1Opts{})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/v1/watch/gone", nil)
	done := make(chan error, 1)
	go func() {
		r, err := testClient.Do(req)
		if err == nil {
			r.Body.Close()
		}
		done <- err
	}()
	waitWatchers(t, s.st, 1)
	cancel()
	<-done
	waitWatchers(t, s.st, 0)

	ch := s.bg(t, "GET", "/v1/watch/stop", "")
	waitWatchers(t, s.st, 1)
	s.api.Close()
	if r := recv(t, ch); r.status != 0 {
		t.Errorf("a stopping member answered %d %q; want the connection dropped", r.status, r.body)
	}
	waitWatchers(t, s.st, 0)
}

// A snapshot restore drops every watcher: a v1 watch then answers that
// its watcher was cleared (error 400 in 0.4.6, 500 in v0.1.0).
func TestWatchV1Cleared(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		status int
		want   string
	}{
		Dialect04: {400, `{"errorCode":400,"message":"watcher is cleared due to etcd recovery","cause":"/k","index":1}` + "\n"},
		Dialect01: {500, `{"errorCode":500,"message":"watcher is cleared due to etcd recovery","cause":"/k"}`},
	}
	for d, tc := range cases {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			s := newV1Server(t, v1Opts{dialect: d})
			s.run(t, []v1Step{{method: "POST", path: "/v1/keys/x", body: "value=1", status: 200}})
			var snap bytes.Buffer
			if err := s.st.Save(&snap); err != nil {
				t.Fatal(err)
			}
			ch := s.bg(t, "GET", "/v1/watch/k", "")
			waitWatchers(t, s.st, 1)
			if err := s.st.Restore(&snap); err != nil {
				t.Fatal(err)
			}
			if r := recv(t, ch); r.status != tc.status || r.body != tc.want {
				t.Errorf("got %d %q, want %d %q", r.status, r.body, tc.status, tc.want)
			}
		})
	}
}

// etcd v0.1.0: prefix watches, the event's own index, and history rules.
func TestWatchV01(t *testing.T) {
	t.Parallel()
	set := func(k, v string) v1Step {
		return v1Step{method: "POST", path: "/v1/keys/" + k, body: "value=" + v, status: 200}
	}
	runWatchCases(t, Dialect01, []watchCase{
		{name: "prefix", method: "GET", path: "/v1/watch/foo", then: []v1Step{set("foobar", "no"), set("foo/foo", "barbar")},
			status: 200, want: `{"action":"SET","key":"/foo/foo","value":"barbar","newKey":true,"index":2}`, headers: v01H},
		{name: "the key itself", setup: []v1Step{set("foo", "1")}, method: "GET", path: "/v1/watch/foo", then: []v1Step{{method: "DELETE", path: "/v1/keys/foo", status: 200}},
			status: 200, want: `{"action":"DELETE","key":"/foo","prevValue":"1","index":2}`},
		{name: "index beyond the last event waits for the next", setup: []v1Step{set("a", "1")},
			method: "POST", path: "/v1/watch/a", body: "index=99", then: []v1Step{set("a", "2")},
			status: 200, want: `{"action":"SET","key":"/a","prevValue":"1","value":"2","index":2}`},
		{name: "index=0 waits", setup: []v1Step{set("a", "1")},
			method: "POST", path: "/v1/watch/a", body: "index=0", then: []v1Step{set("a", "2")},
			status: 200, want: `{"action":"SET","key":"/a","prevValue":"1","value":"2","index":2}`},
		{name: "expiry takes no index and is a DELETE", setup: []v1Step{set("x", "1"), {method: "POST", path: "/v1/keys/t", body: "value=soon&ttl=1", status: 200}},
			method: "GET", path: "/v1/watch/t", expire: time.Second,
			status: 200, want: `{"action":"DELETE","key":"/t","prevValue":"soon","expiration":"2026-11-21T08:00:01Z","index":2}`},
	})
	t.Run("replay and index rules", func(t *testing.T) {
		t.Parallel()
		s := newV1Server(t, v1Opts{dialect: Dialect01})
		s.run(t, []v1Step{
			set("d/a", "1"), set("d/b", "2"),
			{method: "POST", path: "/v1/keys/d/a", body: "prevValue=x&value=3", status: 400},
			set("d/a", "4"),
			{method: "POST", path: "/v1/watch/d", body: "index=1", status: 200, want: `{"action":"SET","key":"/d/a","value":"1","newKey":true,"index":1}`},
			{method: "POST", path: "/v1/watch/d", body: "index=2", status: 200, want: `{"action":"SET","key":"/d/b","value":"2","newKey":true,"index":2}`},
			// The failed TestAndSet took index 3 but left no event.
			{method: "POST", path: "/v1/watch/d/a", body: "index=3", status: 200, want: `{"action":"SET","key":"/d/a","prevValue":"1","value":"4","index":4}`},
			{method: "POST", path: "/v1/watch/d", body: "index=x", status: 400, want: `{"errorCode":203,"message":"The given index in POST form is not a number","cause":"Watch From Index"}`, headers: v01H},
			{method: "PUT", path: "/v1/watch/d", body: "index=1", status: 405, want: "", headers: map[string]string{"Content-Type": "", "Allow": ""}},
			{method: "HEAD", path: "/v1/watch/d", status: 405, headers: map[string]string{"Content-Type": ""}},
			{method: "DELETE", path: "/v1/watch/d", status: 405},
			{method: "OPTIONS", path: "/v1/watch/d", status: 405},
		})
		if s.st.WatcherCount() != 0 {
			t.Errorf("%d watchers left", s.st.WatcherCount())
		}
		// An index older than the history waits for the next event.
		for i := range store.HistoryCapacity {
			if _, err := s.st.Apply(&store.Request{Method: store.MethodPut, Path: "/filler", Value: fmt.Sprint(i)}, stubTime); err != nil {
				t.Fatal(err)
			}
		}
		ch := s.bg(t, "POST", "/v1/watch/d", "index=1")
		waitWatchers(t, s.st, 1)
		s.run(t, []v1Step{set("d/c", "5")})
		if r := recv(t, ch); r.body != `{"action":"SET","key":"/d/c","value":"5","newKey":true,"index":1005}` {
			t.Errorf("too old index: got %d %s", r.status, r.body)
		}
	})
}
