package ops

import (
	"bytes"
	"context"
	"errors"
	"net"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// fixedClock is the copier's clock in unit tests: the fake members'
// epoch, so that deadlines read through HTTP equal the stores' own.
func fixedClock() time.Time { return fakeEpoch }

// fillSource builds the tree most tests copy: nested directories, an
// empty one, a TTL key, a TTL directory, hidden nodes and in-order keys.
func fillSource(t *testing.T) *fakeMember {
	f := newFakeMember(t)
	f.mustPut("/a/b", false, "1", 0)
	f.mustPut("/a/_h", false, "hidden", 0)
	f.mustPut("/a/c/d", false, "2", 0)
	f.mustPut("/empty", true, "", 0)
	f.mustPut("/t", false, "x", 10*time.Second)
	f.mustPut("/dirttl", true, "", 20*time.Second)
	f.mustPut("/dirttl/k", false, "y", 0)
	f.mustPut("/_top", false, "t", 0)
	f.mustPut("/q/00000000000000000005", false, "first", 0)
	f.mustPut("/q/00000000000000000011", false, "second", 0)
	return f
}

func keysOf(nodes []Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Key)
	}
	return out
}

func TestWalk(t *testing.T) {
	src := fillSource(t)
	visible := []string{"/a", "/a/b", "/a/c", "/a/c/d", "/dirttl", "/dirttl/k", "/empty",
		"/q", "/q/00000000000000000005", "/q/00000000000000000011", "/t"}
	for _, tc := range []struct {
		name     string
		prefixes []string
		want     []string
		wantCode int
	}{
		{name: "whole tree hides hidden nodes", prefixes: []string{"/"}, want: visible},
		{name: "hidden nodes named as prefixes", prefixes: []string{"/", "/a/_h", "/_top"},
			want: []string{"/_top", "/a", "/a/_h", "/a/b", "/a/c", "/a/c/d", "/dirttl", "/dirttl/k", "/empty",
				"/q", "/q/00000000000000000005", "/q/00000000000000000011", "/t"}},
		{name: "a subtree", prefixes: []string{"/a/c"}, want: []string{"/a/c", "/a/c/d"}},
		{name: "a single key", prefixes: []string{"/a/b"}, want: []string{"/a/b"}},
		{name: "overlapping prefixes read once", prefixes: []string{"/a", "/a/c"}, want: []string{"/a", "/a/b", "/a/c", "/a/c/d"}},
		{name: "missing prefix", prefixes: []string{"/nope"}, wantCode: store.EcodeKeyNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := newClient(Endpoint{URL: src.srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			w := &walker{c: c, now: fixedClock, workers: 3}
			res, err := w.walk(context.Background(), tc.prefixes)
			if tc.wantCode != 0 {
				if etcdCode(err) != tc.wantCode {
					t.Fatalf("walk error = %v, want etcd code %d", err, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := keysOf(res.nodes); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("keys = %q\nwant %q", got, tc.want)
			}
			if res.lowIdx == 0 || res.lowIdx != res.highIdx {
				t.Errorf("index range = %d..%d, want one non-zero index", res.lowIdx, res.highIdx)
			}
		})
	}
}

func TestWalkValuesAndTTLs(t *testing.T) {
	src := fillSource(t)
	src.mustPut("/gone", false, "z", time.Second)
	src.advance(1500 * time.Millisecond) // /gone is due but not swept
	c, _ := newClient(Endpoint{URL: src.srv.URL})
	w := &walker{c: c, now: fixedClock, workers: 2}
	res, err := w.walk(context.Background(), []string{"/"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Node{}
	for _, n := range res.nodes {
		got[n.Key] = n
	}
	// /t has 8.5 s left on the source's clock, shown as ttl 9: the
	// deadline is the walker's clock plus 9 s, never earlier than real.
	want := map[string]Node{
		"/t":      {Key: "/t", Value: "x", Deadline: fakeEpoch.Add(9 * time.Second)},
		"/dirttl": {Key: "/dirttl", Dir: true, Deadline: fakeEpoch.Add(19 * time.Second)},
		"/a/b":    {Key: "/a/b", Value: "1"},
		"/empty":  {Key: "/empty", Dir: true},
	}
	for k, wn := range want {
		if got[k] != wn {
			t.Errorf("%s = %+v, want %+v", k, got[k], wn)
		}
	}
	if _, ok := got["/gone"]; ok || res.expired != 1 {
		t.Errorf("/gone read (%v), expired = %d; want skipped and counted", ok, res.expired)
	}
}

// copyCfg is a Config between two fake members with a fixed clock.
func copyCfg(src, dst *fakeMember, out, progress *bytes.Buffer) Config {
	return Config{
		From: Endpoint{URL: src.srv.URL}, To: Endpoint{URL: dst.srv.URL},
		Now: fixedClock, Concurrency: 4, Out: out, Progress: progress,
	}
}

func TestCopyWholeTree(t *testing.T) {
	src, dst := fillSource(t), newFakeMember(t)
	var out, progress bytes.Buffer
	cfg := copyCfg(src, dst, &out, &progress)
	cfg.Prefixes = []string{"/", "/a/_h", "/_top"}
	cfg.Verify = true
	rep, err := Copy(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Copy: %v\n%s", err, progress.String())
	}
	if rep.Dirs != 5 || rep.Keys != 8 || len(rep.Failed) != 0 || len(rep.Differences) != 0 {
		t.Errorf("report = %+v, want 5 dirs, 8 keys, no failures or differences", rep)
	}
	if got, want := dst.tree(t, "/a/_h", "/_top"), src.tree(t, "/a/_h", "/_top"); !reflect.DeepEqual(got, want) {
		t.Errorf("target tree differs:\n got %+v\nwant %+v", got, want)
	}
	if !strings.Contains(progress.String(), "copy: wrote 13/13 nodes") {
		t.Errorf("progress lacks the final count:\n%s", progress.String())
	}
}

func TestCopyDryRunWritesNothing(t *testing.T) {
	src, dst := fillSource(t), newFakeMember(t)
	var out, progress bytes.Buffer
	cfg := copyCfg(src, dst, &out, &progress)
	cfg.DryRun = true
	before := dst.st.Index()
	rep, err := Copy(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n := dst.writes.Load(); n != 0 || dst.st.Index() != before {
		t.Fatalf("dry run wrote %d times (index %d → %d)", n, before, dst.st.Index())
	}
	want := `mkdir /a
set /a/b (1 bytes)
mkdir /a/c
set /a/c/d (1 bytes)
mkdir /dirttl ttl=20
set /dirttl/k (1 bytes)
mkdir /empty
mkdir /q
set /q/00000000000000000005 (5 bytes)
set /q/00000000000000000011 (6 bytes)
set /t (1 bytes) ttl=10
dry run: would create 5 directories and 6 keys on ` + dst.srv.URL + `; nothing was written
`
	if out.String() != want {
		t.Errorf("plan:\n%s\nwant:\n%s", out.String(), want)
	}
	if rep.Dirs != 5 || rep.Keys != 6 {
		t.Errorf("report = %+v", rep)
	}
}

func TestCopyRefusesNonEmptyTarget(t *testing.T) {
	src, dst := fillSource(t), newFakeMember(t)
	dst.mustPut("/other", false, "mine", 0)
	var out, progress bytes.Buffer
	_, err := Copy(context.Background(), copyCfg(src, dst, &out, &progress))
	if !errors.Is(err, ErrTargetNotEmpty) {
		t.Fatalf("err = %v, want ErrTargetNotEmpty", err)
	}
	if n := dst.writes.Load(); n != 0 {
		t.Errorf("%d writes to a target that was refused", n)
	}
	// An empty directory at the prefix is not "keys": accepted.
	dst2 := newFakeMember(t)
	dst2.mustPut("/a", true, "", 0)
	cfg := copyCfg(src, dst2, &out, &progress)
	cfg.Prefixes = []string{"/a"}
	if rep, err := Copy(context.Background(), cfg); err != nil || rep.Keys != 2 || len(rep.Failed) != 0 {
		t.Errorf("copy into an empty directory: %+v, %v", rep, err)
	}
}

func TestCopyOverwriteAndConflicts(t *testing.T) {
	src, dst := fillSource(t), newFakeMember(t)
	dst.mustPut("/a/b", false, "old", 0)   // replaced with --overwrite
	dst.mustPut("/a/c", false, "a key", 0) // the source has a directory: conflict
	dst.mustPut("/t", true, "", 0)         // the source has a key: conflict
	dst.mustPut("/dirttl", true, "", 0)    // exists without the source's TTL: replaced
	dst.mustPut("/keep", false, "mine", 0) // not in the source: kept
	var out, progress bytes.Buffer
	cfg := copyCfg(src, dst, &out, &progress)
	cfg.Overwrite = true
	rep, err := Copy(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, f := range rep.Failed {
		failed = append(failed, f.Key)
	}
	sort.Strings(failed)
	if want := []string{"/a/c", "/a/c/d", "/t"}; !reflect.DeepEqual(failed, want) {
		t.Errorf("failed = %q, want %q\n%s", failed, want, progress.String())
	}
	tree := dst.tree(t)
	if tree["/a/b"].Value != "1" || tree["/keep"].Value != "mine" || tree["/a/c"].Value != "a key" {
		t.Errorf("after overwrite: %+v", tree)
	}
	if got := tree["/dirttl"].Deadline; !got.Equal(fakeEpoch.Add(20 * time.Second)) {
		t.Errorf("/dirttl deadline = %v, want the source's", got)
	}
}

func TestWriteNodeCreateOnlyAndTTL(t *testing.T) {
	dst := newFakeMember(t)
	dst.mustPut("/exists", false, "theirs", 0)
	cp, err := newCopier(Config{From: Endpoint{URL: dst.srv.URL}, To: Endpoint{URL: dst.srv.URL}, Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := cp.writeNode(ctx, Node{Key: "/exists", Value: "ours"})
	if r.out != failed || etcdCode(r.err) != store.EcodeNodeExist {
		t.Errorf("write over an existing key: %+v, want a 105 failure", r)
	}
	// 2.3 s left is written as ttl=3: never shorter than the original.
	r = cp.writeNode(ctx, Node{Key: "/ttl", Value: "v", Deadline: fakeEpoch.Add(2300 * time.Millisecond)})
	ev, err := dst.st.Get("/ttl", false, false, fakeEpoch)
	if r.out != written || err != nil || !ev.Node.Expiration.Equal(fakeEpoch.Add(3*time.Second)) {
		t.Errorf("ttl write: %+v; stored %+v, %v; want expiry at +3s", r, ev, err)
	}
	before := dst.writes.Load()
	r = cp.writeNode(ctx, Node{Key: "/late", Value: "v", Deadline: fakeEpoch.Add(-time.Millisecond)})
	if r.out != expired || dst.writes.Load() != before {
		t.Errorf("expired node: %+v, %d writes; want expired without a write", r, dst.writes.Load()-before)
	}
}

func TestCopyUnreachableSource(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "http://" + ln.Addr().String()
	ln.Close()
	dst := newFakeMember(t)
	cfg := Config{From: Endpoint{URL: gone, Timeout: 5 * time.Second}, To: Endpoint{URL: dst.srv.URL}}
	if _, err := Copy(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "source "+gone) {
		t.Errorf("err = %v, want a source error naming %s", err, gone)
	}
	if n := dst.writes.Load(); n != 0 {
		t.Errorf("%d writes after the source failed", n)
	}
}

func TestCopyWarnsAboutHiddenKeysInHistory(t *testing.T) {
	src := fillSource(t)
	src.mustPut("/a/_gone", false, "deleted later", 0)
	if _, err := src.st.Delete("/a/_gone", false, false, fakeEpoch); err != nil {
		t.Fatal(err)
	}
	src.mustPut("/_x/y", false, "in a hidden directory", 0)
	for _, tc := range []struct {
		name     string
		prefixes []string
		want     []string
	}{
		{name: "whole tree", prefixes: nil, want: []string{"/_top", "/_x", "/a/_h"}},
		{name: "only /a", prefixes: []string{"/a"}, want: []string{"/a/_h"}},
		{name: "all named", prefixes: []string{"/", "/a/_h", "/_top", "/_x"}, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, progress bytes.Buffer
			cfg := copyCfg(src, newFakeMember(t), &out, &progress)
			cfg.Prefixes, cfg.DryRun = tc.prefixes, true
			rep, err := Copy(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range rep.Warnings {
				if i := strings.Index(w, "add --prefix "); i >= 0 {
					got = append(got, strings.Fields(w[i+len("add --prefix "):])[0])
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("suggested prefixes = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestResponseBound(t *testing.T) {
	src := fillSource(t)
	c, _ := newClient(Endpoint{URL: src.srv.URL, MaxResponseBytes: 64})
	if _, err := c.get(context.Background(), "/"); !errors.Is(err, errBodyTooLarge) {
		t.Errorf("err = %v, want errBodyTooLarge", err)
	}
}

// A directory whose TTL ran out before it was written takes its subtree
// with it: writing a child would recreate the directory without a TTL.
func TestWriteSkipsUnderExpiredDirectory(t *testing.T) {
	dst := newFakeMember(t)
	cp, err := newCopier(Config{From: Endpoint{URL: dst.srv.URL}, To: Endpoint{URL: dst.srv.URL}, Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	nodes := []Node{
		{Key: "/d", Dir: true, Deadline: fakeEpoch.Add(-time.Second)},
		{Key: "/d/e", Dir: true},
		{Key: "/d/e/k", Value: "permanent"},
		{Key: "/live", Value: "v"},
	}
	cp.write(context.Background(), nodes)
	if cp.rep.Expired != 3 || cp.rep.Keys != 1 || len(cp.rep.Failed) != 0 {
		t.Errorf("report = %+v, want 3 expired, 1 key", cp.rep)
	}
	if tree := dst.tree(t); len(tree) != 1 || tree["/live"].Value != "v" {
		t.Errorf("target = %+v, want only /live", tree)
	}
}

func TestCopyUnreachableTarget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "http://" + ln.Addr().String()
	ln.Close()
	src := fillSource(t)
	cfg := Config{From: Endpoint{URL: src.srv.URL}, To: Endpoint{URL: gone, Timeout: 5 * time.Second}}
	if _, err := Copy(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "target "+gone) {
		t.Errorf("err = %v, want a target error naming %s", err, gone)
	}
}
