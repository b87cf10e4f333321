package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// t0 is the fixed "command time" of these tests: the store never reads the
// clock, so every expectation below is exact.
var t0 = time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)

func js(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func boolp(b bool) *bool { return &b }

// op is one store call; it returns the event or error of the call.
type op func(s *Store) (*Event, error)

func put(p, v string) op {
	return func(s *Store) (*Event, error) {
		return s.Apply(&Request{Method: MethodPut, Path: p, Value: v}, t0)
	}
}

func req(r Request) op {
	return func(s *Store) (*Event, error) { return s.Apply(&r, t0) }
}

func get(p string, recursive, sorted bool) op {
	return func(s *Store) (*Event, error) { return s.Get(p, recursive, sorted, t0) }
}

func getAt(p string, at time.Time) op {
	return func(s *Store) (*Event, error) { return s.Get(p, false, false, at) }
}

func withTTL(r Request, secs uint64) Request {
	r.HasTTL, r.TTL = true, TTLDuration(secs)
	return r
}

func TestOperations(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		setup   []op
		do      op
		want    string // event JSON, or error JSON
		wantIdx uint64 // store index after do
	}{
		{name: "set new key",
			do:   put("/message", "Hello"),
			want: `{"action":"set","node":{"key":"/message","value":"Hello","modifiedIndex":1,"createdIndex":1}}`, wantIdx: 1},
		{name: "set over key recreates it", setup: []op{put("/message", "Hello")},
			do:   put("/message", "Hello2"),
			want: `{"action":"set","node":{"key":"/message","value":"Hello2","modifiedIndex":2,"createdIndex":2},"prevNode":{"key":"/message","value":"Hello","modifiedIndex":1,"createdIndex":1}}`, wantIdx: 2},
		{name: "set empty value keeps value field",
			do:   put("/e", ""),
			want: `{"action":"set","node":{"key":"/e","value":"","modifiedIndex":1,"createdIndex":1}}`, wantIdx: 1},
		{name: "set root is read only",
			do:   put("/", "x"),
			want: `{"errorCode":107,"message":"Root is read only","cause":"/","index":0}`},
		{name: "set over directory is not a file", setup: []op{put("/d/a", "1")},
			do:   put("/d", "x"),
			want: `{"errorCode":102,"message":"Not a file","cause":"/d","index":1}`, wantIdx: 1},
		{name: "set dir over directory is not a file", setup: []op{put("/d/a", "1")},
			do:   req(Request{Method: MethodPut, Path: "/d", Dir: true}),
			want: `{"errorCode":102,"message":"Not a file","cause":"/d","index":1}`, wantIdx: 1},
		{name: "set dir replaces file", setup: []op{put("/f", "1")},
			do:   req(Request{Method: MethodPut, Path: "/f", Dir: true, Value: "ignored"}),
			want: `{"action":"set","node":{"key":"/f","dir":true,"modifiedIndex":2,"createdIndex":2},"prevNode":{"key":"/f","value":"1","modifiedIndex":1,"createdIndex":1}}`, wantIdx: 2},
		{name: "set through a file is not a directory", setup: []op{put("/f", "1")},
			do:   put("/f/x/y", "2"),
			want: `{"errorCode":104,"message":"Not a directory","cause":"/f","index":1}`, wantIdx: 1},
		{name: "set creates parents with the same index", setup: []op{put("/z", "1")},
			do:   put("/a/b/c", "v"),
			want: `{"action":"set","node":{"key":"/a/b/c","value":"v","modifiedIndex":2,"createdIndex":2}}`, wantIdx: 2},
		{name: "set with ttl",
			do:   req(withTTL(Request{Method: MethodPut, Path: "/t", Value: "v"}, 100)),
			want: `{"action":"set","node":{"key":"/t","value":"v","expiration":"2026-11-21T08:01:40Z","ttl":100,"modifiedIndex":1,"createdIndex":1}}`, wantIdx: 1},
		{name: "set with ttl 0 shows expiration without ttl",
			do:   req(withTTL(Request{Method: MethodPut, Path: "/t", Value: "v"}, 0)),
			want: `{"action":"set","node":{"key":"/t","value":"v","expiration":"2026-11-21T08:00:00Z","modifiedIndex":1,"createdIndex":1}}`, wantIdx: 1},
		{name: "set with huge ttl wraps to permanent",
			do:   req(withTTL(Request{Method: MethodPut, Path: "/t", Value: "v"}, 9223372036)),
			want: `{"action":"set","node":{"key":"/t","value":"v","modifiedIndex":1,"createdIndex":1}}`, wantIdx: 1},
		{name: "set with max uint64 ttl is already expired",
			do:   req(withTTL(Request{Method: MethodPut, Path: "/t", Value: "v"}, 18446744073709551615)),
			want: `{"action":"set","node":{"key":"/t","value":"v","expiration":"2026-11-21T07:59:59Z","ttl":-1,"modifiedIndex":1,"createdIndex":1}}`, wantIdx: 1},
		{name: "create", do: req(Request{Method: MethodPut, Path: "/c", Value: "v", PrevExist: boolp(false)}),
			want: `{"action":"create","node":{"key":"/c","value":"v","modifiedIndex":1,"createdIndex":1}}`, wantIdx: 1},
		{name: "create existing", setup: []op{put("/c", "v")},
			do:   req(Request{Method: MethodPut, Path: "/c", Value: "v", PrevExist: boolp(false)}),
			want: `{"errorCode":105,"message":"Key already exists","cause":"/c","index":1}`, wantIdx: 1},
		{name: "create ignores prevValue", setup: []op{},
			do:   req(Request{Method: MethodPut, Path: "/c", Value: "v", PrevExist: boolp(false), PrevValue: "zz"}),
			want: `{"action":"create","node":{"key":"/c","value":"v","modifiedIndex":1,"createdIndex":1}}`, wantIdx: 1},
		{name: "create with refresh creates empty key",
			do:   req(withTTL(Request{Method: MethodPut, Path: "/c", PrevExist: boolp(false), Refresh: true}, 10)),
			want: `{"action":"create","node":{"key":"/c","value":"","expiration":"2026-11-21T08:00:10Z","ttl":10,"modifiedIndex":1,"createdIndex":1}}`, wantIdx: 1},
		{name: "post in order", setup: []op{put("/q/x", "1")},
			do:   req(Request{Method: MethodPost, Path: "/q", Value: "Job1"}),
			want: `{"action":"create","node":{"key":"/q/00000000000000000002","value":"Job1","modifiedIndex":2,"createdIndex":2}}`, wantIdx: 2},
		{name: "post on root",
			do:   req(Request{Method: MethodPost, Path: "/", Value: "r"}),
			want: `{"action":"create","node":{"key":"/00000000000000000001","value":"r","modifiedIndex":1,"createdIndex":1}}`, wantIdx: 1},
		{name: "post dir",
			do:   req(Request{Method: MethodPost, Path: "/q", Dir: true}),
			want: `{"action":"create","node":{"key":"/q/00000000000000000001","dir":true,"modifiedIndex":1,"createdIndex":1}}`, wantIdx: 1},
		{name: "post onto a file", setup: []op{put("/f", "1")},
			do:   req(Request{Method: MethodPost, Path: "/f", Value: "x"}),
			want: `{"errorCode":104,"message":"Not a directory","cause":"/f","index":1}`, wantIdx: 1},
		{name: "update", setup: []op{put("/u", "1")},
			do:   req(Request{Method: MethodPut, Path: "/u", Value: "2", PrevExist: boolp(true)}),
			want: `{"action":"update","node":{"key":"/u","value":"2","modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/u","value":"1","modifiedIndex":1,"createdIndex":1}}`, wantIdx: 2},
		{name: "update without value blanks it", setup: []op{put("/u", "1")},
			do:   req(withTTL(Request{Method: MethodPut, Path: "/u", PrevExist: boolp(true)}, 5)),
			want: `{"action":"update","node":{"key":"/u","value":"","expiration":"2026-11-21T08:00:05Z","ttl":5,"modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/u","value":"1","modifiedIndex":1,"createdIndex":1}}`, wantIdx: 2},
		{name: "update missing", do: req(Request{Method: MethodPut, Path: "/a/b", Value: "2", PrevExist: boolp(true)}),
			want: `{"errorCode":100,"message":"Key not found","cause":"/a","index":0}`},
		{name: "update root", do: req(Request{Method: MethodPut, Path: "/", PrevExist: boolp(true)}),
			want: `{"errorCode":107,"message":"Root is read only","cause":"/","index":0}`},
		{name: "update dir with value", setup: []op{put("/d/a", "1")},
			do:   req(Request{Method: MethodPut, Path: "/d", Value: "x", PrevExist: boolp(true)}),
			want: `{"errorCode":102,"message":"Not a file","cause":"/d","index":1}`, wantIdx: 1},
		{name: "update dir ttl shows new index", setup: []op{put("/d/a", "1"), put("/z", "z")},
			do:   req(withTTL(Request{Method: MethodPut, Path: "/d", PrevExist: boolp(true)}, 30)),
			want: `{"action":"update","node":{"key":"/d","dir":true,"expiration":"2026-11-21T08:00:30Z","ttl":30,"modifiedIndex":3,"createdIndex":1},"prevNode":{"key":"/d","dir":true,"modifiedIndex":1,"createdIndex":1}}`, wantIdx: 3},
		{name: "update dir ttl keeps stored index", setup: []op{put("/d/a", "1"), req(withTTL(Request{Method: MethodPut, Path: "/d", PrevExist: boolp(true)}, 30))},
			do:   get("/d", false, false),
			want: `{"action":"get","node":{"key":"/d","dir":true,"expiration":"2026-11-21T08:00:30Z","ttl":30,"nodes":[{"key":"/d/a","value":"1","modifiedIndex":1,"createdIndex":1}],"modifiedIndex":1,"createdIndex":1}}`, wantIdx: 2},
		{name: "update removes ttl", setup: []op{req(withTTL(Request{Method: MethodPut, Path: "/u", Value: "v"}, 100))},
			do:   req(Request{Method: MethodPut, Path: "/u", Value: "v2", PrevExist: boolp(true)}),
			want: `{"action":"update","node":{"key":"/u","value":"v2","modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/u","value":"v","expiration":"2026-11-21T08:01:40Z","ttl":100,"modifiedIndex":1,"createdIndex":1}}`, wantIdx: 2},
		{name: "update with huge ttl has no 2000 guard", setup: []op{put("/u", "v")},
			do:   req(withTTL(Request{Method: MethodPut, Path: "/u", Value: "v", PrevExist: boolp(true)}, 9300000000)),
			want: `{"action":"update","node":{"key":"/u","value":"v","expiration":"1737-01-15T05:45:26.290448384Z","ttl":-9146744073,"modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/u","value":"v","modifiedIndex":1,"createdIndex":1}}`, wantIdx: 2},
		{name: "cas by value", setup: []op{put("/k", "one")},
			do:   req(Request{Method: MethodPut, Path: "/k", Value: "two", PrevValue: "one"}),
			want: `{"action":"compareAndSwap","node":{"key":"/k","value":"two","modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/k","value":"one","modifiedIndex":1,"createdIndex":1}}`, wantIdx: 2},
		{name: "cas by index", setup: []op{put("/k", "one")},
			do:   req(Request{Method: MethodPut, Path: "/k", Value: "two", PrevIndex: 1}),
			want: `{"action":"compareAndSwap","node":{"key":"/k","value":"two","modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/k","value":"one","modifiedIndex":1,"createdIndex":1}}`, wantIdx: 2},
		{name: "cas value mismatch", setup: []op{put("/k", "one")},
			do:   req(Request{Method: MethodPut, Path: "/k", Value: "two", PrevValue: "three"}),
			want: `{"errorCode":101,"message":"Compare failed","cause":"[three != one]","index":1}`, wantIdx: 1},
		{name: "cas index mismatch", setup: []op{put("/k", "one")},
			do:   req(Request{Method: MethodPut, Path: "/k", Value: "two", PrevIndex: 7}),
			want: `{"errorCode":101,"message":"Compare failed","cause":"[7 != 1]","index":1}`, wantIdx: 1},
		{name: "cas both mismatch", setup: []op{put("/k", "one")},
			do:   req(Request{Method: MethodPut, Path: "/k", Value: "two", PrevIndex: 7, PrevValue: "x"}),
			want: `{"errorCode":101,"message":"Compare failed","cause":"[x != one] [7 != 1]","index":1}`, wantIdx: 1},
		{name: "cas prevExist true with compare", setup: []op{put("/k", "one")},
			do:   req(Request{Method: MethodPut, Path: "/k", Value: "two", PrevValue: "one", PrevExist: boolp(true)}),
			want: `{"action":"compareAndSwap","node":{"key":"/k","value":"two","modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/k","value":"one","modifiedIndex":1,"createdIndex":1}}`, wantIdx: 2},
		{name: "cas missing", do: req(Request{Method: MethodPut, Path: "/k", Value: "two", PrevValue: "one"}),
			want: `{"errorCode":100,"message":"Key not found","cause":"/k","index":0}`},
		{name: "cas dir", setup: []op{put("/d/a", "1")},
			do:   req(Request{Method: MethodPut, Path: "/d", Value: "two", PrevValue: "one"}),
			want: `{"errorCode":102,"message":"Not a file","cause":"/d","index":1}`, wantIdx: 1},
		{name: "cas root", do: req(Request{Method: MethodPut, Path: "/", Value: "two", PrevValue: "one"}),
			want: `{"errorCode":107,"message":"Root is read only","cause":"/","index":0}`},
		{name: "delete file", setup: []op{put("/k", "v")},
			do:   req(Request{Method: MethodDelete, Path: "/k"}),
			want: `{"action":"delete","node":{"key":"/k","modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/k","value":"v","modifiedIndex":1,"createdIndex":1}}`, wantIdx: 2},
		{name: "delete file with ttl has no ttl in node", setup: []op{req(withTTL(Request{Method: MethodPut, Path: "/k", Value: "v"}, 9))},
			do:   req(Request{Method: MethodDelete, Path: "/k", Recursive: true}),
			want: `{"action":"delete","node":{"key":"/k","modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/k","value":"v","expiration":"2026-11-21T08:00:09Z","ttl":9,"modifiedIndex":1,"createdIndex":1}}`, wantIdx: 2},
		{name: "delete dir without dir", setup: []op{put("/d/a", "1")},
			do:   req(Request{Method: MethodDelete, Path: "/d"}),
			want: `{"errorCode":102,"message":"Not a file","cause":"/d","index":1}`, wantIdx: 1},
		{name: "delete non-empty dir with dir", setup: []op{put("/d/a", "1")},
			do:   req(Request{Method: MethodDelete, Path: "/d", Dir: true}),
			want: `{"errorCode":108,"message":"Directory not empty","cause":"/d","index":1}`, wantIdx: 1},
		{name: "delete empty dir", setup: []op{req(Request{Method: MethodPut, Path: "/d", Dir: true})},
			do:   req(Request{Method: MethodDelete, Path: "/d", Dir: true}),
			want: `{"action":"delete","node":{"key":"/d","dir":true,"modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/d","dir":true,"modifiedIndex":1,"createdIndex":1}}`, wantIdx: 2},
		{name: "delete recursive", setup: []op{put("/d/a/b", "1"), put("/d/c", "2")},
			do:   req(Request{Method: MethodDelete, Path: "/d", Recursive: true}),
			want: `{"action":"delete","node":{"key":"/d","dir":true,"modifiedIndex":3,"createdIndex":1},"prevNode":{"key":"/d","dir":true,"modifiedIndex":1,"createdIndex":1}}`, wantIdx: 3},
		{name: "delete root", do: req(Request{Method: MethodDelete, Path: "/", Recursive: true}),
			want: `{"errorCode":107,"message":"Root is read only","cause":"/","index":0}`},
		{name: "delete missing", do: req(Request{Method: MethodDelete, Path: "/nope/x"}),
			want: `{"errorCode":100,"message":"Key not found","cause":"/nope","index":0}`},
		{name: "cad by value", setup: []op{put("/k", "v")},
			do:   req(Request{Method: MethodDelete, Path: "/k", PrevValue: "v"}),
			want: `{"action":"compareAndDelete","node":{"key":"/k","modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/k","value":"v","modifiedIndex":1,"createdIndex":1}}`, wantIdx: 2},
		{name: "cad index mismatch", setup: []op{put("/k", "v")},
			do:   req(Request{Method: MethodDelete, Path: "/k", PrevIndex: 9}),
			want: `{"errorCode":101,"message":"Compare failed","cause":"[9 != 1]","index":1}`, wantIdx: 1},
		{name: "cad dir", setup: []op{put("/d/a", "1")},
			do:   req(Request{Method: MethodDelete, Path: "/d", PrevValue: "x"}),
			want: `{"errorCode":102,"message":"Not a file","cause":"/d","index":1}`, wantIdx: 1},
		{name: "cad root has no cause",
			do:   req(Request{Method: MethodDelete, Path: "/", PrevValue: "x"}),
			want: `{"errorCode":102,"message":"Not a file","index":0}`},
		{name: "get root", do: get("/", false, false), want: `{"action":"get","node":{"dir":true}}`},
		{name: "get missing deep", do: get("/a/b/c", false, false),
			want: `{"errorCode":100,"message":"Key not found","cause":"/a","index":0}`},
		{name: "get through file", setup: []op{put("/rb", "1")}, do: get("/rb/x", false, false),
			want: `{"errorCode":104,"message":"Not a directory","cause":"/rb","index":1}`, wantIdx: 1},
		{name: "get dir lists one level, hides hidden", setup: []op{put("/d/a", "1"), put("/d/s/x", "2"), put("/d/_h", "3"), req(Request{Method: MethodPut, Path: "/d/e", Dir: true})},
			do:   get("/d", false, true),
			want: `{"action":"get","node":{"key":"/d","dir":true,"nodes":[{"key":"/d/a","value":"1","modifiedIndex":1,"createdIndex":1},{"key":"/d/e","dir":true,"modifiedIndex":4,"createdIndex":4},{"key":"/d/s","dir":true,"modifiedIndex":2,"createdIndex":2}],"modifiedIndex":1,"createdIndex":1}}`, wantIdx: 4},
		{name: "get dir recursive", setup: []op{put("/d/a", "1"), put("/d/s/x", "2"), put("/d/s/_y", "3")},
			do:   get("/d", true, true),
			want: `{"action":"get","node":{"key":"/d","dir":true,"nodes":[{"key":"/d/a","value":"1","modifiedIndex":1,"createdIndex":1},{"key":"/d/s","dir":true,"nodes":[{"key":"/d/s/x","value":"2","modifiedIndex":2,"createdIndex":2}],"modifiedIndex":2,"createdIndex":2}],"modifiedIndex":1,"createdIndex":1}}`, wantIdx: 3},
		{name: "get hidden key directly", setup: []op{put("/_h", "v")}, do: get("/_h", false, false),
			want: `{"action":"get","node":{"key":"/_h","value":"v","modifiedIndex":1,"createdIndex":1}}`, wantIdx: 1},
		{name: "get ttl rounds up", setup: []op{req(withTTL(Request{Method: MethodPut, Path: "/t", Value: "v"}, 100))},
			do:   getAt("/t", t0.Add(600*time.Millisecond)),
			want: `{"action":"get","node":{"key":"/t","value":"v","expiration":"2026-11-21T08:01:40Z","ttl":100,"modifiedIndex":1,"createdIndex":1}}`, wantIdx: 1},
		{name: "get ttl negative when late", setup: []op{req(withTTL(Request{Method: MethodPut, Path: "/t", Value: "v"}, 1))},
			do:   getAt("/t", t0.Add(81200*time.Millisecond)),
			want: `{"action":"get","node":{"key":"/t","value":"v","expiration":"2026-11-21T08:00:01Z","ttl":-80,"modifiedIndex":1,"createdIndex":1}}`, wantIdx: 1},
		{name: "refresh via set recreates node", setup: []op{req(withTTL(Request{Method: MethodPut, Path: "/r", Value: "keep"}, 5))},
			do:   req(withTTL(Request{Method: MethodPut, Path: "/r", Refresh: true}, 50)),
			want: `{"action":"set","node":{"key":"/r","value":"keep","expiration":"2026-11-21T08:00:50Z","ttl":50,"modifiedIndex":2,"createdIndex":2},"prevNode":{"key":"/r","value":"keep","expiration":"2026-11-21T08:00:05Z","ttl":5,"modifiedIndex":1,"createdIndex":1}}`, wantIdx: 2},
		{name: "refresh via set on missing key",
			do:   req(withTTL(Request{Method: MethodPut, Path: "/r", Refresh: true}, 50)),
			want: `{"errorCode":100,"message":"Key not found","cause":"/r","index":0}`},
		{name: "refresh via update keeps value and createdIndex", setup: []op{req(withTTL(Request{Method: MethodPut, Path: "/r", Value: "keep"}, 5))},
			do:   req(withTTL(Request{Method: MethodPut, Path: "/r", Refresh: true, PrevExist: boolp(true)}, 50)),
			want: `{"action":"update","node":{"key":"/r","value":"keep","expiration":"2026-11-21T08:00:50Z","ttl":50,"modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/r","value":"keep","expiration":"2026-11-21T08:00:05Z","ttl":5,"modifiedIndex":1,"createdIndex":1}}`, wantIdx: 2},
		{name: "refresh via cas", setup: []op{req(withTTL(Request{Method: MethodPut, Path: "/r", Value: "keep"}, 5))},
			do:   req(withTTL(Request{Method: MethodPut, Path: "/r", Refresh: true, PrevValue: "keep"}, 50)),
			want: `{"action":"compareAndSwap","node":{"key":"/r","value":"keep","expiration":"2026-11-21T08:00:50Z","ttl":50,"modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/r","value":"keep","expiration":"2026-11-21T08:00:05Z","ttl":5,"modifiedIndex":1,"createdIndex":1}}`, wantIdx: 2},
		{name: "refresh on a directory", setup: []op{put("/d/a", "1")},
			do:   req(withTTL(Request{Method: MethodPut, Path: "/d", Refresh: true}, 50)),
			want: `{"errorCode":102,"message":"Not a file","cause":"/d","index":1}`, wantIdx: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := New()
			for i, o := range tc.setup {
				if _, err := o(s); err != nil {
					t.Fatalf("setup step %d: %v", i, err)
				}
			}
			e, err := tc.do(s)
			var got string
			if err != nil {
				var se *Error
				if !errors.As(err, &se) {
					t.Fatalf("error %v is not a *store.Error", err)
				}
				got = string(se.JSON())
			} else {
				got = js(t, e)
			}
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if idx := s.Index(); idx != tc.wantIdx {
				t.Errorf("index: got %d, want %d", idx, tc.wantIdx)
			}
		})
	}
}

func TestErrorStatus(t *testing.T) {
	t.Parallel()
	cases := []struct{ code, status int }{
		{100, 404}, {101, 412}, {102, 403}, {104, 400}, {105, 412}, {107, 400}, {108, 403},
		{110, 401}, {201, 400}, {209, 400}, {300, 500}, {301, 500}, {401, 400}, {500, 400},
	}
	for _, tc := range cases {
		if got := StatusForCode(tc.code); got != tc.status {
			t.Errorf("code %d: got %d, want %d", tc.code, got, tc.status)
		}
	}
	if got := NewError(EcodeEventIndexCleared, "c", 3).Message; got != "The event in requested index is outdated and cleared" {
		t.Errorf("401 message: %q", got)
	}
}

func TestIsCreated(t *testing.T) {
	t.Parallel()
	s := New()
	e1, _ := s.Apply(&Request{Method: MethodPut, Path: "/a", Value: "1"}, t0)
	e2, _ := s.Apply(&Request{Method: MethodPut, Path: "/a", Value: "2"}, t0)
	e3, _ := s.Apply(&Request{Method: MethodPost, Path: "/q"}, t0)
	e4, _ := s.Apply(&Request{Method: MethodPut, Path: "/a", Value: "3", PrevExist: boolp(true)}, t0)
	for i, tc := range []struct {
		e    *Event
		want bool
	}{{e1, true}, {e2, false}, {e3, true}, {e4, false}} {
		if got := tc.e.IsCreated(); got != tc.want {
			t.Errorf("%d (%s): got %v, want %v", i, tc.e.Action, got, tc.want)
		}
	}
}

func TestExpire(t *testing.T) {
	t.Parallel()
	s := New()
	mustApply(t, s, withTTL(Request{Method: MethodPut, Path: "/b", Value: "b"}, 2), t0)
	mustApply(t, s, withTTL(Request{Method: MethodPut, Path: "/a", Value: "a"}, 2), t0)
	mustApply(t, s, withTTL(Request{Method: MethodPut, Path: "/c", Value: "c"}, 1), t0)
	mustApply(t, s, withTTL(Request{Method: MethodPut, Path: "/d/x", Dir: false, Value: "x"}, 1), t0)
	mustApply(t, s, withTTL(Request{Method: MethodPut, Path: "/d", PrevExist: boolp(true)}, 1), t0)
	mustApply(t, s, Request{Method: MethodPut, Path: "/p", Value: "p"}, t0)
	w := mustWatch(t, s, "/d/x", false, false, 0)
	if ev := s.DeleteExpiredKeys(t0.Add(999 * time.Millisecond)); len(ev) != 0 {
		t.Fatalf("expired too early: %s", js(t, ev))
	}
	ev := s.DeleteExpiredKeys(t0.Add(2 * time.Second))
	got := js(t, ev)
	want := `[{"action":"expire","node":{"key":"/c","modifiedIndex":7,"createdIndex":3},"prevNode":{"key":"/c","value":"c","expiration":"2026-11-21T08:00:01Z","ttl":-1,"modifiedIndex":3,"createdIndex":3}},` +
		`{"action":"expire","node":{"key":"/d","dir":true,"modifiedIndex":8,"createdIndex":4},"prevNode":{"key":"/d","dir":true,"expiration":"2026-11-21T08:00:01Z","ttl":-1,"modifiedIndex":4,"createdIndex":4}},` +
		`{"action":"expire","node":{"key":"/a","modifiedIndex":9,"createdIndex":2},"prevNode":{"key":"/a","value":"a","expiration":"2026-11-21T08:00:02Z","modifiedIndex":2,"createdIndex":2}},` +
		`{"action":"expire","node":{"key":"/b","modifiedIndex":10,"createdIndex":1},"prevNode":{"key":"/b","value":"b","expiration":"2026-11-21T08:00:02Z","modifiedIndex":1,"createdIndex":1}}]`
	if got != want {
		t.Errorf("expire events:\ngot  %s\nwant %s", got, want)
	}
	select {
	case e := <-w.EventChan():
		if e.Action != ActionExpire || e.Node.Key != "/d" {
			t.Errorf("watch on /d/x got %s, want the expiry of /d", js(t, e))
		}
	default:
		t.Error("watch on /d/x was not told about the expiry of /d")
	}
	if _, ok := s.HasTTLKeys(); ok {
		t.Error("TTL heap still has nodes after every TTL key expired")
	}
	if e, err := s.Get("/p", false, false, t0); err != nil || *e.Node.Value != "p" {
		t.Errorf("permanent key lost: %v", err)
	}
}

func mustApply(t *testing.T, s *Store, r Request, now time.Time) *Event {
	t.Helper()
	e, err := s.Apply(&r, now)
	if err != nil {
		t.Fatalf("apply %+v: %v", r, err)
	}
	return e
}

func mustWatch(t *testing.T, s *Store, p string, recursive, stream bool, since uint64) *Watcher {
	t.Helper()
	w, err := s.Watch(p, recursive, stream, since)
	if err != nil {
		t.Fatalf("watch %s: %v", p, err)
	}
	t.Cleanup(w.Remove)
	return w
}

func TestSnapshotRoundTrip(t *testing.T) {
	t.Parallel()
	s := New()
	mustApply(t, s, Request{Method: MethodPut, Path: "/a/b", Value: "1"}, t0)
	mustApply(t, s, withTTL(Request{Method: MethodPut, Path: "/t", Value: "ttl"}, 30), t0)
	mustApply(t, s, withTTL(Request{Method: MethodPut, Path: "/d", Dir: true}, 40), t0)
	mustApply(t, s, Request{Method: MethodPost, Path: "/q", Value: "job"}, t0)
	mustApply(t, s, Request{Method: MethodPut, Path: "/_hidden", Value: ""}, t0)
	mustApply(t, s, withTTL(Request{Method: MethodPut, Path: "/t", Refresh: true, PrevExist: boolp(true)}, 60), t0)
	mustApply(t, s, Request{Method: MethodDelete, Path: "/a", Recursive: true}, t0)
	mustApply(t, s, withTTL(Request{Method: MethodPut, Path: "/old", Value: "x", PrevExist: boolp(false)}, 9300000000), t0)

	var buf bytes.Buffer
	if err := s.Save(&buf); err != nil {
		t.Fatal(err)
	}
	r := New()
	w := mustWatch(t, r, "/x", false, false, 0)
	if err := r.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Done():
	default:
		t.Error("restore did not drop the registered watcher")
	}
	var buf2 bytes.Buffer
	if err := r.Save(&buf2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), buf2.Bytes()) {
		t.Fatal("save → restore → save changed the bytes")
	}
	for _, p := range []string{"/", "/t", "/d", "/q", "/_hidden"} {
		a, _ := s.Get(p, true, true, t0)
		b, _ := r.Get(p, true, true, t0)
		if js(t, a) != js(t, b) {
			t.Errorf("%s: original %s, restored %s", p, js(t, a), js(t, b))
		}
	}
	if s.Index() != r.Index() {
		t.Errorf("index: %d vs %d", s.Index(), r.Index())
	}
	// History survives: a watch from index 1 replays the first event.
	hw := mustWatch(t, r, "/a/b", false, false, 1)
	if e := <-hw.EventChan(); e.Action != ActionSet || e.Node.Key != "/a/b" {
		t.Errorf("history replay got %s", js(t, e))
	}
	// TTLs survive: both TTL keys expire on the restored store.
	if ev := r.DeleteExpiredKeys(t0.Add(time.Minute)); len(ev) != 2 {
		t.Errorf("restored store expired %d keys, want 2 (/d, /t)", len(ev))
	}
	for _, bad := range [][]byte{nil, []byte("nope"), buf.Bytes()[:len(buf.Bytes())/2]} {
		if err := New().Restore(bytes.NewReader(bad)); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("restore of %d bad bytes: got %v, want ErrBadSnapshot", len(bad), err)
		}
	}
}

func TestStatsJSON(t *testing.T) {
	t.Parallel()
	s := New()
	mustApply(t, s, Request{Method: MethodPut, Path: "/a", Value: "1"}, t0)
	_, _ = s.Get("/a", false, false, t0)
	_, _ = s.Get("/b", false, false, t0)
	_, _ = s.Apply(&Request{Method: MethodPut, Path: "/a/x", Value: "1"}, t0)
	// A create that fails walking the parents counts as a failed set
	// too (etcd's stats quirk).
	_, _ = s.Apply(&Request{Method: MethodPost, Path: "/a/x", Value: "1"}, t0)
	want := `{"getsSuccess":1,"getsFail":1,"setsSuccess":1,"setsFail":2,"deleteSuccess":0,"deleteFail":0,"updateSuccess":0,"updateFail":0,"createSuccess":0,"createFail":1,"compareAndSwapSuccess":0,"compareAndSwapFail":0,"compareAndDeleteSuccess":0,"compareAndDeleteFail":0,"expireCount":0,"watchers":0}`
	if got := string(s.Stats().JSON(s.WatcherCount())); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
