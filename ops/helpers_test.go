package ops

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestUncovered(t *testing.T) {
	for _, tc := range []struct {
		name     string
		key      string
		prefixes []string
		want     string
	}{
		{"visible key under /", "/a/b", []string{"/"}, ""},
		{"hidden leaf", "/a/_h", []string{"/"}, "/a/_h"},
		{"key in a hidden directory", "/_d/x/y", []string{"/"}, "/_d"},
		{"hidden under a hidden prefix", "/_d/_e/f", []string{"/", "/_d"}, "/_d/_e"},
		{"named exactly", "/a/_h", []string{"/", "/a/_h"}, ""},
		{"below a named hidden directory", "/_d/x", []string{"/_d"}, ""},
		{"outside every prefix", "/b/_h", []string{"/a"}, ""},
		{"prefix boundary", "/ab/_h", []string{"/a"}, ""},
		{"reserved tree", "/_etcd/machines/m1", []string{"/"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := uncovered(tc.key, tc.prefixes); got != tc.want {
				t.Errorf("uncovered(%q, %q) = %q, want %q", tc.key, tc.prefixes, got, tc.want)
			}
		})
	}
}

func TestCleanPrefixes(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    []string
		wantErr string
	}{
		{in: nil, want: []string{"/"}},
		{in: []string{"/a/", "/b//c"}, want: []string{"/a", "/b/c"}},
		{in: []string{"a"}, wantErr: "must start with /"},
		{in: []string{"/_etcd"}, wantErr: "never copied"},
		{in: []string{"/_etcd/machines/x"}, wantErr: "never copied"},
		{in: []string{"/_etcdx"}, want: []string{"/_etcdx"}},
	} {
		got, err := cleanPrefixes(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("cleanPrefixes(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("cleanPrefixes(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestKeyURLEscapesSegments(t *testing.T) {
	c, err := newClient(Endpoint{URL: "http://127.0.0.1:2379/"})
	if err != nil {
		t.Fatal(err)
	}
	got := c.keyURL("/sp ace/q?x#y/100%", url.Values{"wait": {"true"}})
	want := "http://127.0.0.1:2379/v2/keys/sp%20ace/q%3Fx%23y/100%25?wait=true"
	if got != want {
		t.Errorf("keyURL = %s, want %s", got, want)
	}
	if got := c.keyURL("/", nil); got != "http://127.0.0.1:2379/v2/keys/" {
		t.Errorf("root URL = %s", got)
	}
}

func TestDiffTrees(t *testing.T) {
	now := fakeEpoch
	at := func(d time.Duration) time.Time { return now.Add(d) }
	src := []Node{
		{Key: "/a", Dir: true},
		{Key: "/a/b", Value: "1"},
		{Key: "/gone", Value: "x", Deadline: at(500 * time.Millisecond)},
		{Key: "/ttl", Value: "x", Deadline: at(10 * time.Second)},
		{Key: "/tdir", Dir: true, Deadline: at(-time.Second)},
		{Key: "/tdir/k", Value: "permanent, but under an expired directory"},
		{Key: "/v", Value: "source"},
		{Key: "/x", Dir: true},
		{Key: "/failed", Value: "f"},
		{Key: "/failed2", Dir: true},
		{Key: "/failed2/k", Value: "f"},
		{Key: "/missing", Value: "m"},
	}
	dst := []Node{
		{Key: "/a", Dir: true},
		{Key: "/a/b", Value: "1"},
		{Key: "/ttl", Value: "x", Deadline: at(14 * time.Second)},
		{Key: "/v", Value: "target"},
		{Key: "/x", Value: ""},
		{Key: "/extra", Value: "e"},
	}
	skip := map[string]bool{"/failed": true, "/failed2": true}
	want := []string{
		"/v: the value differs (6 bytes at the source, 6 at the target)",
		"/x: a directory at the source, a key at the target",
		"missing at the target: /missing",
		"only at the target: /extra",
	}
	if got := diffTrees(src, dst, now, skip, true); !reflect.DeepEqual(got, want) {
		t.Errorf("diffTrees:\n got %q\nwant %q", got, want)
	}
	// TTL bounds: the copy may not end more than ttlEarly before the
	// source, nor more than ttlLate after it.
	for _, tc := range []struct {
		dst  time.Duration
		want bool
	}{{9 * time.Second, true}, {8 * time.Second, false}, {15 * time.Second, true}, {16 * time.Second, false}} {
		if got := ttlMatches(at(10*time.Second), at(tc.dst)); got != tc.want {
			t.Errorf("ttlMatches(+10s, +%v) = %v, want %v", tc.dst, got, tc.want)
		}
	}
	if ttlMatches(time.Time{}, at(time.Second)) || !ttlMatches(time.Time{}, time.Time{}) {
		t.Error("a TTL against none must differ; none against none must match")
	}
}

func TestInOrderWarnings(t *testing.T) {
	nodes := []Node{
		{Key: "/q", Dir: true},
		{Key: "/q/00000000000000000005"},
		{Key: "/q/00000000000000009000"},
		{Key: "/r/00000000000000000007"},
		{Key: "/s/not-in-order"},
		{Key: "/s/0000000000000000900x"},
	}
	got := inOrderWarnings(nodes, 100)
	if len(got) != 1 || !strings.Contains(got[0], "under /q keep their names (up to 9000) but the target's index is 100") {
		t.Errorf("warnings = %q, want one about /q", got)
	}
	if got := inOrderWarnings(nodes, 9001); len(got) != 0 {
		t.Errorf("warnings with a target index past every name = %q", got)
	}
}

func TestAncestorOutcome(t *testing.T) {
	nw := map[string]outcome{"/a/b": failed, "/x": expired}
	for _, tc := range []struct {
		key  string
		want outcome
		ok   bool
	}{{"/a/b/c", failed, true}, {"/a/b/c/d", failed, true}, {"/a/b", 0, false}, {"/a/bc", 0, false}, {"/x/y", expired, true}, {"/y", 0, false}} {
		got, ok := ancestorOutcome(nw, tc.key)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ancestorOutcome(%q) = %v, %v; want %v, %v", tc.key, got, ok, tc.want, tc.ok)
		}
	}
}
