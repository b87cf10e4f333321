package store

import (
	"bytes"
	"testing"
	"time"
)

func set01(p, v string) Request {
	return Request{Method: MethodPut, Path: p, Value: v, V01: true}
}

func tas01(p, prev, v string) Request {
	return Request{Method: MethodPut, Path: p, Value: v, PrevValue: prev, V01: true}
}

func del01(p string) Request { return Request{Method: MethodDelete, Path: p, V01: true} }

// TestApplyV01 checks etcd v0.1.0's write rules: outcomes, error codes and
// causes, and which indexes a write takes (wantIdx: the store index after
// it; wantLast: the index a 0.1 GET shows).
func TestApplyV01(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		setup    []Request
		do       Request
		want     string
		wantIdx  uint64
		wantLast uint64
	}{
		{name: "set new key", do: set01("/a", "1"),
			want:    `{"action":"set","node":{"key":"/a","value":"1","modifiedIndex":1,"createdIndex":1}}`,
			wantIdx: 1, wantLast: 1},
		{name: "set over key shows the old one", setup: []Request{set01("/a", "1")}, do: set01("a/", "2"),
			want:    `{"action":"set","node":{"key":"/a","value":"2","modifiedIndex":2,"createdIndex":2},"prevNode":{"key":"/a","value":"1","modifiedIndex":1,"createdIndex":1}}`,
			wantIdx: 2, wantLast: 2},
		{name: "set onto a directory is Not A File and takes an index", setup: []Request{set01("/d/x", "1")}, do: set01("/d", "2"),
			want:    `{"errorCode":102,"message":"Not a file","cause":"/d","index":2}`,
			wantIdx: 2, wantLast: 2},
		{name: "set through a key is Not A File for the whole key", setup: []Request{set01("/f", "1")}, do: set01("/f/g/h", "2"),
			want:    `{"errorCode":102,"message":"Not a file","cause":"/f/g/h","index":2}`,
			wantIdx: 2, wantLast: 2},
		{name: "set root", do: set01("/", "x"),
			want:    `{"errorCode":102,"message":"Not a file","cause":"/","index":1}`,
			wantIdx: 1, wantLast: 1},
		{name: "testAndSet success is a set", setup: []Request{set01("/a", "1")}, do: tas01("/a", "1", "2"),
			want:    `{"action":"set","node":{"key":"/a","value":"2","modifiedIndex":2,"createdIndex":2},"prevNode":{"key":"/a","value":"1","modifiedIndex":1,"createdIndex":1}}`,
			wantIdx: 2, wantLast: 2},
		{name: "testAndSet mismatch takes an index but not the GET index", setup: []Request{set01("/a", "1")}, do: tas01("/a", "x", "2"),
			want:    `{"errorCode":101,"message":"Compare failed","cause":"TestAndSet: 1!=x","index":2}`,
			wantIdx: 2, wantLast: 1},
		{name: "testAndSet on a missing key: cause without the leading slash", do: tas01("/c/absent", "x", "2"),
			want:    `{"errorCode":100,"message":"Key not found","cause":"c/absent","index":1}`,
			wantIdx: 1, wantLast: 0},
		{name: "testAndSet cause is the key as sent", do: tas01("c/absent/", "x", "2"),
			want:    `{"errorCode":100,"message":"Key not found","cause":"c/absent/","index":1}`,
			wantIdx: 1, wantLast: 0},
		{name: "testAndSet on a directory is not found", setup: []Request{set01("/d/x", "1")}, do: tas01("/d", "x", "2"),
			want:    `{"errorCode":100,"message":"Key not found","cause":"d","index":2}`,
			wantIdx: 2, wantLast: 1},
		{name: "delete", setup: []Request{set01("/a", "1")}, do: del01("/a"),
			want:    `{"action":"delete","node":{"key":"/a","modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/a","value":"1","modifiedIndex":1,"createdIndex":1}}`,
			wantIdx: 2, wantLast: 2},
		{name: "delete of a missing key takes an index", do: del01("/a/"),
			want:    `{"errorCode":100,"message":"Key not found","cause":"/a","index":1}`,
			wantIdx: 1, wantLast: 1},
		{name: "delete of a directory is not found", setup: []Request{set01("/d/x", "1")}, do: del01("/d"),
			want:    `{"errorCode":100,"message":"Key not found","cause":"/d","index":2}`,
			wantIdx: 2, wantLast: 2},
		{name: "set with ttl=0 deletes the key", setup: []Request{set01("/a", "1")}, do: withTTL01(set01("/a", "2"), 0),
			want:    `{"action":"delete","node":{"key":"/a","modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/a","value":"1","modifiedIndex":1,"createdIndex":1}}`,
			wantIdx: 2, wantLast: 2},
		{name: "set with negative ttl on a missing key is not found", do: withTTL01(set01("/a", "2"), -3),
			want:    `{"errorCode":100,"message":"Key not found","cause":"/a","index":1}`,
			wantIdx: 1, wantLast: 1},
		{name: "testAndSet with ttl=0 compares, then deletes", setup: []Request{set01("/a", "1")}, do: withTTL01(tas01("/a", "1", "2"), 0),
			want:    `{"action":"delete","node":{"key":"/a","modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/a","value":"1","modifiedIndex":1,"createdIndex":1}}`,
			wantIdx: 2, wantLast: 2},
		{name: "set with ttl", do: withTTL01(set01("/a", "1"), 5),
			want:    `{"action":"set","node":{"key":"/a","value":"1","expiration":"2026-11-21T08:00:05Z","ttl":5,"modifiedIndex":1,"createdIndex":1}}`,
			wantIdx: 1, wantLast: 1},
		{name: "a failed TestAndSet after a v2 write", setup: []Request{{Method: MethodPut, Path: "/a", Value: "1"}}, do: tas01("/a", "2", "3"),
			want:    `{"errorCode":101,"message":"Compare failed","cause":"TestAndSet: 1!=2","index":2}`,
			wantIdx: 2, wantLast: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := New()
			for _, r := range tc.setup {
				mustApply(t, s, r, t0)
			}
			r := tc.do
			e, err := s.Apply(&r, t0)
			var got string
			if err != nil {
				got = js(t, err)
			} else {
				got = js(t, e)
			}
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if s.Index() != tc.wantIdx {
				t.Errorf("index: got %d, want %d", s.Index(), tc.wantIdx)
			}
			if g, _ := s.GetV01("/", t0); g.EtcdIndex != tc.wantLast {
				t.Errorf("GET index: got %d, want %d", g.EtcdIndex, tc.wantLast)
			}
		})
	}
}

func withTTL01(r Request, secs int64) Request {
	r.HasTTL, r.TTL = true, time.Duration(secs)*time.Second
	return r
}

func TestGetV01(t *testing.T) {
	t.Parallel()
	s := New()
	mustApply(t, s, set01("/d/b", "2"), t0)
	mustApply(t, s, set01("/d/_h", "h"), t0)
	mustApply(t, s, Request{Method: MethodPut, Path: "/d/e", Value: ""}, t0)
	mustApply(t, s, withTTL01(set01("/d/a", "1"), 10), t0)
	mustApply(t, s, set01("/d/sub/x", "3"), t0)
	_, _ = s.Apply(&Request{Method: MethodPut, Path: "/d/b", Value: "9", PrevValue: "nope", V01: true}, t0)
	// TTLs are etcd 0.4's (the ceiling, 9 for 8.5 s left); httpapi turns
	// them into v0.1.0's when rendering.
	cases := []struct {
		name, path string
		want       string
	}{
		{name: "directory lists every child, hidden too, sorted", path: "d/",
			want: `{"action":"get","node":{"key":"/d","dir":true,"nodes":[` +
				`{"key":"/d/_h","value":"h","modifiedIndex":2,"createdIndex":2},` +
				`{"key":"/d/a","value":"1","expiration":"2026-11-21T08:00:10Z","ttl":9,"modifiedIndex":4,"createdIndex":4},` +
				`{"key":"/d/b","value":"2","modifiedIndex":1,"createdIndex":1},` +
				`{"key":"/d/e","value":"","modifiedIndex":3,"createdIndex":3},` +
				`{"key":"/d/sub","dir":true,"modifiedIndex":5,"createdIndex":5}],"modifiedIndex":1,"createdIndex":1}}`},
		{name: "key", path: "/d/a",
			want: `{"action":"get","node":{"key":"/d/a","value":"1","expiration":"2026-11-21T08:00:10Z","ttl":9,"modifiedIndex":4,"createdIndex":4}}`},
		{name: "missing: cause is the whole key", path: "/nope/deeper",
			want: `{"errorCode":100,"message":"Key not found","cause":"/nope/deeper","index":5}`},
		{name: "through a key: not found", path: "/d/a/b",
			want: `{"errorCode":100,"message":"Key not found","cause":"/d/a/b","index":5}`},
	}
	for _, tc := range cases {
		e, err := s.GetV01(tc.path, t0.Add(1500*time.Millisecond))
		var got string
		if err != nil {
			got = js(t, err)
		} else {
			got = js(t, e)
			// The failed TestAndSet (index 6) is not the GET index.
			if e.EtcdIndex != 5 {
				t.Errorf("%s: index %d, want 5", tc.name, e.EtcdIndex)
			}
		}
		if got != tc.want {
			t.Errorf("%s:\ngot  %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

// TestExpireV01 checks that keys written in the 0.1 dialect expire without
// taking an index, that live watchers still hear of it, and that v2 keys
// keep etcd 0.4's rule.
func TestExpireV01(t *testing.T) {
	t.Parallel()
	s := New()
	mustApply(t, s, withTTL01(set01("/a", "1"), 1), t0)                                 // 1
	mustApply(t, s, withTTL(Request{Method: MethodPut, Path: "/b", Value: "2"}, 1), t0) // 2
	mustApply(t, s, withTTL01(set01("/c", "3"), 5), t0)                                 // 3
	// A v2 update makes /c a v2 key again.
	mustApply(t, s, withTTL(Request{Method: MethodPut, Path: "/c", Value: "4", PrevExist: boolp(true)}, 1), t0) // 4
	wa := mustWatch(t, s, "/", true, true, 0)
	wexact := mustWatch(t, s, "/a", false, false, 0)
	evs := s.DeleteExpiredKeys(t0.Add(time.Second))
	got := summary(evs)
	if want := "expire /a 4;expire /b 5;expire /c 6;"; got != want {
		t.Errorf("expiries: got %q, want %q", got, want)
	}
	if s.Index() != 6 {
		t.Errorf("index after expiry: %d, want 6", s.Index())
	}
	if got := summary(drain(wa)); got != "expire /a 4;expire /b 5;expire /c 6;" {
		t.Errorf("recursive stream watcher got %q", got)
	}
	if got := summary(drain(wexact)); got != "expire /a 4;" {
		t.Errorf("exact watcher got %q", got)
	}
	// A watcher that asks for what follows index 4 does not get the
	// expiry of /a replayed from the history.
	w5 := mustWatch(t, s, "/a", false, false, 5)
	if got := summary(drain(w5)); got != "" {
		t.Errorf("watch from 5 replayed %q", got)
	}
}

func TestSnapshotV01(t *testing.T) {
	t.Parallel()
	s := New()
	mustApply(t, s, withTTL01(set01("/a", "1"), 10), t0)
	mustApply(t, s, set01("/b", "2"), t0)
	_, _ = s.Apply(&Request{Method: MethodPut, Path: "/b", Value: "3", PrevValue: "x", V01: true}, t0)
	var buf bytes.Buffer
	if err := s.Save(&buf); err != nil {
		t.Fatal(err)
	}
	r := New()
	if err := r.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	var buf2 bytes.Buffer
	if err := r.Save(&buf2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), buf2.Bytes()) {
		t.Fatal("save → restore → save changed the bytes")
	}
	if g, _ := r.GetV01("/", t0); r.Index() != 3 || g.EtcdIndex != 2 {
		t.Errorf("restored index %d, GET index %d; want 3 and 2", r.Index(), g.EtcdIndex)
	}
	// The 0.1 mark survives: the expiry takes no index.
	if evs := r.DeleteExpiredKeys(t0.Add(time.Minute)); len(evs) != 1 || r.Index() != 3 {
		t.Errorf("restored expiry: %s, index %d (want one event, index 3)", summary(evs), r.Index())
	}
	// A snapshot written before the dialect existed has no trailer: the
	// GET index is then the store index.
	old := buf.Bytes()[:buf.Len()-1]
	o := New()
	if err := o.Restore(bytes.NewReader(old)); err != nil {
		t.Fatalf("restore without trailer: %v", err)
	}
	if g, _ := o.GetV01("/", t0); g.EtcdIndex != 3 {
		t.Errorf("GET index without trailer: %d, want 3", g.EtcdIndex)
	}
}
