package httpapi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// manyParams is a form of n throw-away parameters.
func manyParams(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte('&')
		}
		fmt.Fprintf(&b, "p%d=x", i)
	}
	return b.String()
}

// TestManyFormParamsStored: more than 10,000 form parameters are parsed
// as etcd 3.4 (built with Go 1.19) parses them, and the value is stored;
// Go 1.24+'s url.ParseQuery refuses the whole form, which answered 210.
//
//	curl -X PUT http://127.0.0.1:2379/v2/keys/many -d "value=hello&p0=x&...&p10000=x"
func TestManyFormParamsStored(t *testing.T) {
	t.Parallel()
	body := "value=hello&" + manyParams(10001)
	t.Run("v2", func(t *testing.T) {
		t.Parallel()
		s := newStubServer(t)
		r := s.do(t, "PUT", "/v2/keys/many", body)
		want := `{"action":"set","node":{"key":"/many","value":"hello","modifiedIndex":1,"createdIndex":1}}` + "\n"
		if r.status != 201 || r.body != want {
			t.Fatalf("got %d %s, want 201 %s", r.status, r.body, want)
		}
	})
	for _, dialect := range []string{"", "0.1"} {
		t.Run("v1 dialect "+dialect, func(t *testing.T) {
			t.Parallel()
			s := newV1Server(t, v1Opts{dialect: dialect})
			r := s.do(t, "POST", "/v1/keys/many", body)
			if r.status != 200 || !strings.Contains(r.body, `"value":"hello"`) {
				t.Fatalf("got %d %s", r.status, r.body)
			}
			if ev, err := s.st.Get("/many", false, false, stubTime); err != nil || *ev.Node.Value != "hello" {
				t.Fatalf("stored: %v", err)
			}
		})
	}
	t.Run("query", func(t *testing.T) {
		t.Parallel()
		// A query this long cannot pass the client port's request line
		// limit; the parser itself takes it all the same.
		r := httptest.NewRequest("PUT", "/v2/keys/q?value=fromquery&"+manyParams(10001), nil)
		f, err := parseForm(r)
		if err != nil || f.Get("value") != "fromquery" || len(f) != 10002 {
			t.Fatalf("parseForm: %v, value %q, %d names", err, f.Get("value"), len(f))
		}
	})
}

// TestParseFormMatchesGo: below Go's parameter limit, parseForm gives the
// values and the error text of Go's own Request.ParseForm.
func TestParseFormMatchesGo(t *testing.T) {
	t.Parallel()
	cases := []struct{ method, query, ct, body string }{
		{"PUT", "value=q&ttl=5", "application/x-www-form-urlencoded", "value=b&value=c"},
		{"POST", "", "application/x-www-form-urlencoded; charset=utf-8", "a=1&&b=%20&c"},
		{"PUT", "x=1;y=2", "application/x-www-form-urlencoded", "value=1"},
		{"PUT", "", "application/x-www-form-urlencoded", "a=%zz&b=1;c&d=%y"},
		{"PUT", "a=%zz", "application/x-www-form-urlencoded", "b=%q"},
		{"PUT", "value=q", "", "value=b"},
		{"PUT", "value=q", "text/plain", "value=b"},
		{"PUT", "value=q", "application/x-www-form-urlencoded; =bad", "value=b"},
		{"PUT", "value=q", ";;", "value=b"},
		{"DELETE", "recursive=true", "application/x-www-form-urlencoded", "value=b"},
		{"GET", "wait=true&waitIndex=3", "", ""},
		{"PATCH", "", "application/x-www-form-urlencoded", "value=p"},
	}
	for _, tc := range cases {
		mk := func() *http.Request {
			r := httptest.NewRequest(tc.method, "/v2/keys/k?"+tc.query, strings.NewReader(tc.body))
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			return r
		}
		ours, goReq := mk(), mk()
		f, err := parseForm(ours)
		gerr := goReq.ParseForm()
		if fmt.Sprint(err) != fmt.Sprint(gerr) || !reflect.DeepEqual(f, goReq.Form) || !reflect.DeepEqual(ours.PostForm, goReq.PostForm) {
			t.Errorf("%s ?%s %q %q:\ngot  %v %v %v\nwant %v %v %v", tc.method, tc.query, tc.ct, tc.body,
				f, ours.PostForm, err, goReq.Form, goReq.PostForm, gerr)
		}
	}
}

// TestFormBodyLimit: a body of exactly 10 MiB is read (the value, 10 MiB
// minus "value=", is stored); one byte more is 210 "http: POST too
// large", as in etcd 3.4.
func TestFormBodyLimit(t *testing.T) {
	t.Parallel()
	s := newStubServer(t)
	r := s.do(t, "PUT", "/v2/keys/big", "value="+strings.Repeat("x", maxFormBody-len("value=")))
	if r.status != 201 {
		t.Fatalf("10 MiB body: status %d %.200s", r.status, r.body)
	}
	if ev, err := s.st.Get("/big", false, false, stubTime); err != nil || len(*ev.Node.Value) != maxFormBody-6 {
		t.Fatalf("10 MiB body: stored value wrong (%v)", err)
	}
	r = s.do(t, "PUT", "/v2/keys/big2", "value="+strings.Repeat("x", maxFormBody-len("value=")+1))
	want := `{"errorCode":210,"message":"Invalid POST form","cause":"http: POST too large","index":0}` + "\n"
	if r.status != 400 || r.body != want {
		t.Fatalf("10 MiB + 1 body: got %d %s, want 400 %s", r.status, r.body, want)
	}
}

// rawRequest sends one request over a fresh connection and returns the
// status line and the whole answer.
func rawRequest(t *testing.T, addr, req string) (string, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	status, _, _ := strings.Cut(string(b), "\r\n")
	return status, string(b)
}

// TestRequestLineLimit: a request line of up to 4094 bytes is served (the
// longest etcd 3.4 accepts on a fresh connection); longer ones are 414
// and the connection is closed, on /v2 and /v1, without touching the
// store — among them the 80 KB URL of a 40,000-level key (issue 17).
func TestRequestLineLimit(t *testing.T) {
	t.Parallel()
	s := newStubServer(t)
	addr := strings.TrimPrefix(s.URL, "http://")
	// line is a request line of n bytes: method, prefix, a key of "k"s.
	line := func(method, prefix string, n int) string {
		fixed := len(method) + 1 + len(prefix) + len(" HTTP/1.1")
		return method + " " + prefix + strings.Repeat("k", n-fixed) + " HTTP/1.1"
	}
	get := "\r\nHost: x\r\nConnection: close\r\n\r\n"
	form := "\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\nConnection: close\r\n\r\nvalue=v"
	cases := []struct {
		name, req, status string
	}{
		{"v2 get at the limit", line("GET", "/v2/keys/", MaxRequestLine) + get, "HTTP/1.1 404 Not Found"},
		{"v2 put at the limit", line("PUT", "/v2/keys/", MaxRequestLine) + form, "HTTP/1.1 201 Created"},
		{"v2 get one over", line("GET", "/v2/keys/", MaxRequestLine+1) + get, "HTTP/1.1 414 Request URI Too Long"},
		{"v2 put one over", line("PUT", "/v2/keys/", MaxRequestLine+1) + form, "HTTP/1.1 414 Request URI Too Long"},
		{"v1 put one over", line("PUT", "/v1/keys/", MaxRequestLine+1) + form, "HTTP/1.1 414 Request URI Too Long"},
		{"40,000-level key", "PUT /v2/keys" + strings.Repeat("/a", 40000) + " HTTP/1.1" + form, "HTTP/1.1 414 Request URI Too Long"},
		{"long query", "GET /v2/keys/a?" + manyParams(10001) + " HTTP/1.1" + get, "HTTP/1.1 414 Request URI Too Long"},
	}
	for _, tc := range cases {
		before := s.st.Index()
		status, all := rawRequest(t, addr, tc.req)
		if status != tc.status {
			t.Errorf("%s: got %q, want %q", tc.name, status, tc.status)
			continue
		}
		if strings.Contains(tc.status, "414") {
			if !strings.Contains(all, "\r\nConnection: close\r\n") || !strings.HasSuffix(all, "\r\n\r\n414 Request URI Too Long") {
				t.Errorf("%s: answer %q", tc.name, all)
			}
			if s.st.Index() != before {
				t.Errorf("%s: a refused request changed the store", tc.name)
			}
		}
	}
}

// TestDeepKeyUnderLineLimitStored: the deepest key that fits the request
// line (about 2,000 levels) is stored and read back.
func TestDeepKeyUnderLineLimitStored(t *testing.T) {
	t.Parallel()
	s := newStubServer(t)
	depth := (MaxRequestLine - len("PUT /v2/keys HTTP/1.1")) / 2
	key := strings.Repeat("/a", depth)
	if r := s.do(t, "PUT", "/v2/keys"+key, "value=deep"); r.status != 201 {
		t.Fatalf("put of a %d-level key: %d %s", depth, r.status, r.body)
	}
	if r := s.do(t, "GET", "/v2/keys"+key, ""); r.status != 200 || !strings.Contains(r.body, `"value":"deep"`) {
		t.Fatalf("get: %d", r.status)
	}
}

// TestStalledStreamWatcherEnds: a stream watcher whose client never reads
// is cut off once a write has waited WatchWriteTimeout, instead of holding
// its connection, goroutine and buffered events forever; the store's
// watcher is gone too.
func TestStalledStreamWatcherEnds(t *testing.T) {
	t.Parallel()
	st := store.New()
	node := newStubNode(st, stubTime)
	api := New(Config{Store: st, Node: node, Now: func() time.Time { return stubTime },
		ServerVersion: "2.3.8", ClusterVersion: "2.3.0", StartTime: stubTime,
		WatchWriteTimeout: 200 * time.Millisecond})
	var active atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		active.Add(1)
		defer active.Add(-1)
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { api.Close(); srv.Close() })

	c, err := net.DialTimeout("tcp", strings.TrimPrefix(srv.URL, "http://"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /v2/keys/s?wait=true&stream=true&recursive=true HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitWatchers(t, st, 1)
	// Enough to fill both socket buffers and then the watcher's own
	// buffer, which makes the store drop it.
	value := strings.Repeat("v", 32<<10)
	for i := 0; i < 4000 && st.WatcherCount() > 0; i++ {
		if _, err := st.Set("/s/k", false, value, time.Time{}, false, stubTime); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for active.Load() != 0 || st.WatcherCount() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("stalled watch still served after 20s: %d handlers, %d watchers", active.Load(), st.WatcherCount())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The client, reading at last, finds the response cut short.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, bufio.NewReader(c)); err != nil {
		t.Fatalf("the server did not close the stalled connection: %v", err)
	}
}
