package clientv2

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/v2"
)

// Set, Get, overwrite: actions, prevNode, indexes and the cluster ID
// (etcd: PUT /v2/keys/k value=v → 201 "set"; again → 200 "set" + prevNode).
func TestSetGet(t *testing.T) {
	k := newKeys(t)
	key := dir(t) + "/k"

	r := mustSet(t, k, key, "one", nil)
	wantNode(t, r, "set", key, "one")
	if r.PrevNode != nil {
		t.Errorf("first set has prevNode %v", r.PrevNode)
	}
	if r.Node.CreatedIndex == 0 || r.Node.CreatedIndex != r.Node.ModifiedIndex {
		t.Errorf("indexes created=%d modified=%d, want equal and non-zero", r.Node.CreatedIndex, r.Node.ModifiedIndex)
	}
	if r.Index < r.Node.ModifiedIndex {
		t.Errorf("X-Etcd-Index %d < modifiedIndex %d", r.Index, r.Node.ModifiedIndex)
	}
	if r.ClusterID == "" {
		t.Error("no X-Etcd-Cluster-Id header")
	}
	first := r.Node.ModifiedIndex

	g := mustGet(t, k, key, nil)
	wantNode(t, g, "get", key, "one")
	if g.Node.ModifiedIndex != first || g.ClusterID != r.ClusterID {
		t.Errorf("get: modifiedIndex %d cluster %q, want %d %q", g.Node.ModifiedIndex, g.ClusterID, first, r.ClusterID)
	}

	r = mustSet(t, k, key, "two", nil)
	wantNode(t, r, "set", key, "two")
	if r.PrevNode == nil || r.PrevNode.Value != "one" || r.PrevNode.ModifiedIndex != first {
		t.Errorf("prevNode = %v, want one@%d", r.PrevNode, first)
	}
	// A plain set replaces the node: a new createdIndex.
	if r.Node.CreatedIndex != r.Node.ModifiedIndex || r.Node.ModifiedIndex <= first {
		t.Errorf("overwrite: created=%d modified=%d (first %d)", r.Node.CreatedIndex, r.Node.ModifiedIndex, first)
	}

	// Empty values and values that look like JSON or flags are kept as is.
	for _, v := range []string{"", `{"a":1}`, "-x", "with space & ünïcode\n"} {
		mustSet(t, k, key, v, nil)
		if got := mustGet(t, k, key, nil).Node.Value; got != v {
			t.Errorf("value %q read back as %q", v, got)
		}
	}

	_, err := k.Get(ctxT(t), dir(t)+"/missing", nil)
	ce := wantCode(t, err, client.ErrorCodeKeyNotFound)
	if ce.Message != "Key not found" || ce.Cause != dir(t)+"/missing" || ce.Index == 0 {
		t.Errorf("error = %+v", ce)
	}
}

// Create is prevExist=false: "create", then 105 Key already exists.
func TestCreate(t *testing.T) {
	k := newKeys(t)
	key := dir(t) + "/k"
	r, err := k.Create(ctxT(t), key, "v")
	if err != nil {
		t.Fatal(err)
	}
	wantNode(t, r, "create", key, "v")
	_, err = k.Create(ctxT(t), key, "w")
	ce := wantCode(t, err, client.ErrorCodeNodeExist)
	if ce.Message != "Key already exists" || ce.Cause != key {
		t.Errorf("error = %+v", ce)
	}
	if got := mustGet(t, k, key, nil).Node.Value; got != "v" {
		t.Errorf("value after failed create = %q", got)
	}
}

// Update is prevExist=true: 100 on a missing key, "update" keeps
// createdIndex.
func TestUpdate(t *testing.T) {
	k := newKeys(t)
	key := dir(t) + "/k"
	_, err := k.Update(ctxT(t), key, "x")
	wantCode(t, err, client.ErrorCodeKeyNotFound)

	c := mustSet(t, k, key, "v1", nil)
	r, err := k.Update(ctxT(t), key, "v2")
	if err != nil {
		t.Fatal(err)
	}
	wantNode(t, r, "update", key, "v2")
	if r.Node.CreatedIndex != c.Node.CreatedIndex || r.Node.ModifiedIndex <= c.Node.ModifiedIndex {
		t.Errorf("update indexes created=%d modified=%d, set was %d", r.Node.CreatedIndex, r.Node.ModifiedIndex, c.Node.ModifiedIndex)
	}
	if r.PrevNode == nil || r.PrevNode.Value != "v1" {
		t.Errorf("prevNode = %v", r.PrevNode)
	}
}

// CompareAndSwap through Set with PrevValue and PrevIndex.
func TestCompareAndSwap(t *testing.T) {
	k := newKeys(t)
	key := dir(t) + "/k"
	s := mustSet(t, k, key, "one", nil)

	r := mustSet(t, k, key, "two", &client.SetOptions{PrevValue: "one"})
	wantNode(t, r, "compareAndSwap", key, "two")
	if r.Node.CreatedIndex != s.Node.CreatedIndex || r.PrevNode == nil || r.PrevNode.Value != "one" {
		t.Errorf("cas by value: node %v prevNode %v", r.Node, r.PrevNode)
	}

	_, err := k.Set(ctxT(t), key, "three", &client.SetOptions{PrevValue: "wrong"})
	ce := wantCode(t, err, client.ErrorCodeTestFailed)
	if ce.Message != "Compare failed" || ce.Cause != "[wrong != two]" {
		t.Errorf("error = %+v", ce)
	}

	idx := r.Node.ModifiedIndex
	r = mustSet(t, k, key, "three", &client.SetOptions{PrevIndex: idx})
	wantNode(t, r, "compareAndSwap", key, "three")

	_, err = k.Set(ctxT(t), key, "four", &client.SetOptions{PrevIndex: idx})
	ce = wantCode(t, err, client.ErrorCodeTestFailed)
	if want := fmt.Sprintf("[%d != %d]", idx, r.Node.ModifiedIndex); ce.Cause != want {
		t.Errorf("cause = %q, want %q", ce.Cause, want)
	}

	// Both conditions: the value is reported when it is the one that fails.
	_, err = k.Set(ctxT(t), key, "four", &client.SetOptions{PrevIndex: r.Node.ModifiedIndex, PrevValue: "nope"})
	ce = wantCode(t, err, client.ErrorCodeTestFailed)
	if ce.Cause != "[nope != three]" {
		t.Errorf("cause = %q, want [nope != three]", ce.Cause)
	}
	r = mustSet(t, k, key, "four", &client.SetOptions{PrevIndex: r.Node.ModifiedIndex, PrevValue: "three"})
	wantNode(t, r, "compareAndSwap", key, "four")

	// A compare on a missing key is "not found", not "compare failed".
	_, err = k.Set(ctxT(t), dir(t)+"/missing", "x", &client.SetOptions{PrevValue: "x"})
	wantCode(t, err, client.ErrorCodeKeyNotFound)
	// prevExist=true with prevValue.
	r = mustSet(t, k, key, "five", &client.SetOptions{PrevExist: client.PrevExist, PrevValue: "four"})
	wantNode(t, r, "compareAndSwap", key, "five")
}

// Delete: files, dirs (Dir, Recursive), compare-and-delete, root.
func TestDelete(t *testing.T) {
	k := newKeys(t)
	d := dir(t)
	s := mustSet(t, k, d+"/f", "v", nil)
	r, err := k.Delete(ctxT(t), d+"/f", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Action != "delete" || r.Node.Key != d+"/f" || r.Node.Value != "" || r.Node.CreatedIndex != s.Node.CreatedIndex {
		t.Errorf("delete: %s %v", r.Action, r.Node)
	}
	if r.PrevNode == nil || r.PrevNode.Value != "v" {
		t.Errorf("delete prevNode = %v", r.PrevNode)
	}
	_, err = k.Delete(ctxT(t), d+"/f", nil)
	wantCode(t, err, client.ErrorCodeKeyNotFound)

	mustSet(t, k, d+"/tree/a/b", "1", nil)
	mustSet(t, k, d+"/tree/c", "2", nil)
	_, err = k.Delete(ctxT(t), d+"/tree", nil)
	wantCode(t, err, client.ErrorCodeNotFile)
	_, err = k.Delete(ctxT(t), d+"/tree", &client.DeleteOptions{Dir: true})
	wantCode(t, err, client.ErrorCodeDirNotEmpty)
	r, err = k.Delete(ctxT(t), d+"/tree", &client.DeleteOptions{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Action != "delete" || !r.Node.Dir || r.PrevNode == nil || !r.PrevNode.Dir {
		t.Errorf("recursive delete: %s node %+v prev %+v", r.Action, r.Node, r.PrevNode)
	}
	_, err = k.Get(ctxT(t), d+"/tree/a/b", nil)
	wantCode(t, err, client.ErrorCodeKeyNotFound)

	mustSet(t, k, d+"/empty", "", &client.SetOptions{Dir: true})
	if _, err := k.Delete(ctxT(t), d+"/empty", &client.DeleteOptions{Dir: true}); err != nil {
		t.Errorf("delete empty dir: %v", err)
	}

	// CompareAndDelete.
	c := mustSet(t, k, d+"/cad", "v", nil)
	_, err = k.Delete(ctxT(t), d+"/cad", &client.DeleteOptions{PrevValue: "w"})
	ce := wantCode(t, err, client.ErrorCodeTestFailed)
	if ce.Cause != "[w != v]" {
		t.Errorf("cause = %q", ce.Cause)
	}
	_, err = k.Delete(ctxT(t), d+"/cad", &client.DeleteOptions{PrevIndex: c.Node.ModifiedIndex + 1000})
	wantCode(t, err, client.ErrorCodeTestFailed)
	r, err = k.Delete(ctxT(t), d+"/cad", &client.DeleteOptions{PrevIndex: c.Node.ModifiedIndex})
	if err != nil {
		t.Fatal(err)
	}
	if r.Action != "compareAndDelete" || r.PrevNode == nil || r.PrevNode.Value != "v" {
		t.Errorf("compareAndDelete by index: %s prev %v", r.Action, r.PrevNode)
	}
	mustSet(t, k, d+"/cad", "v", nil)
	r, err = k.Delete(ctxT(t), d+"/cad", &client.DeleteOptions{PrevValue: "v"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Action != "compareAndDelete" {
		t.Errorf("compareAndDelete by value: action %s", r.Action)
	}
	_, err = k.Delete(ctxT(t), d+"/cad", &client.DeleteOptions{PrevValue: "v"})
	wantCode(t, err, client.ErrorCodeKeyNotFound)

	// The root is read-only.
	_, err = k.Delete(ctxT(t), "/", &client.DeleteOptions{Recursive: true})
	ce = wantCode(t, err, client.ErrorCodeRootROnly)
	if ce.Message != "Root is read only" {
		t.Errorf("root delete: %+v", ce)
	}
}

// Directories: creation, files vs dirs errors.
func TestDirectories(t *testing.T) {
	k := newKeys(t)
	d := dir(t)
	r := mustSet(t, k, d+"/dir", "", &client.SetOptions{Dir: true})
	if r.Action != "set" || !r.Node.Dir || r.Node.Key != d+"/dir" {
		t.Errorf("mkdir: %s %+v", r.Action, r.Node)
	}
	_, err := k.Set(ctxT(t), d+"/dir", "", &client.SetOptions{Dir: true, PrevExist: client.PrevNoExist})
	wantCode(t, err, client.ErrorCodeNodeExist)
	_, err = k.Set(ctxT(t), d+"/dir", "", &client.SetOptions{Dir: true})
	wantCode(t, err, client.ErrorCodeNotFile)
	_, err = k.Set(ctxT(t), d+"/dir", "x", nil)
	wantCode(t, err, client.ErrorCodeNotFile)
	_, err = k.Update(ctxT(t), d+"/dir", "x")
	wantCode(t, err, client.ErrorCodeNotFile)

	mustSet(t, k, d+"/file", "x", nil)
	_, err = k.Set(ctxT(t), d+"/file/child", "y", nil)
	ce := wantCode(t, err, client.ErrorCodeNotDir)
	if ce.Cause != d+"/file" {
		t.Errorf("not a directory cause = %q", ce.Cause)
	}
	// A dir over an existing file replaces it (etcd 3.4 setdir).
	r = mustSet(t, k, d+"/file", "", &client.SetOptions{Dir: true})
	if !r.Node.Dir || r.PrevNode == nil || r.PrevNode.Value != "x" {
		t.Errorf("setdir over file: %+v prev %+v", r.Node, r.PrevNode)
	}
	// Intermediate directories are created by a deep set.
	mustSet(t, k, d+"/a/b/c", "deep", nil)
	g := mustGet(t, k, d+"/a/b", nil)
	if !g.Node.Dir || len(g.Node.Nodes) != 1 || g.Node.Nodes[0].Value != "deep" {
		t.Errorf("get intermediate dir: %+v", g.Node)
	}
}

// Get with Recursive and Sort; hidden keys are left out of listings.
func TestGetRecursiveSorted(t *testing.T) {
	k := newKeys(t)
	d := dir(t)
	for _, key := range []string{"b/y", "a", "c/z/1", "b/x", "c/z/0", "_hidden"} {
		mustSet(t, k, d+"/"+key, key, nil)
	}
	mustSet(t, k, d+"/empty", "", &client.SetOptions{Dir: true})

	r := mustGet(t, k, d, &client.GetOptions{Recursive: true, Sort: true})
	var got []string
	var walk func(ns client.Nodes, depth int)
	walk = func(ns client.Nodes, depth int) {
		for _, n := range ns {
			got = append(got, fmt.Sprintf("%s%s dir=%v %q", strings.Repeat(" ", depth), strings.TrimPrefix(n.Key, d), n.Dir, n.Value))
			walk(n.Nodes, depth+1)
		}
	}
	walk(r.Node.Nodes, 0)
	want := []string{
		`/a dir=false "a"`,
		`/b dir=true ""`,
		` /b/x dir=false "b/x"`,
		` /b/y dir=false "b/y"`,
		`/c dir=true ""`,
		` /c/z dir=true ""`,
		`  /c/z/0 dir=false "c/z/0"`,
		`  /c/z/1 dir=false "c/z/1"`,
		`/empty dir=true ""`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("recursive sorted listing:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Non-recursive: one level, sub-directories without their children.
	r = mustGet(t, k, d, &client.GetOptions{Sort: true})
	got = nil
	for _, n := range r.Node.Nodes {
		got = append(got, fmt.Sprintf("%s:%d", strings.TrimPrefix(n.Key, d), len(n.Nodes)))
	}
	if g, w := strings.Join(got, " "), "/a:0 /b:0 /c:0 /empty:0"; g != w {
		t.Errorf("one-level listing = %s, want %s", g, w)
	}

	// Unsorted: same set of keys in any order.
	r = mustGet(t, k, d, nil)
	got = nil
	for _, n := range r.Node.Nodes {
		got = append(got, n.Key)
	}
	sort.Strings(got)
	if len(got) != 4 || got[0] != d+"/a" {
		t.Errorf("unsorted listing keys = %v", got)
	}

	// Hidden keys are readable by name.
	if v := mustGet(t, k, d+"/_hidden", nil).Node.Value; v != "_hidden" {
		t.Errorf("hidden key value = %q", v)
	}
	// Quorum reads give the same answer.
	if q := mustGet(t, k, d+"/a", &client.GetOptions{Quorum: true}); q.Node.Value != "a" {
		t.Errorf("quorum get = %+v", q.Node)
	}
}

// TTLs: the answer carries ttl and expiration, refresh keeps the value
// and wakes no watcher, and the key expires with an "expire" event.
func TestTTL(t *testing.T) {
	k := newKeys(t)
	d := dir(t)
	r := mustSet(t, k, d+"/ttl", "v", &client.SetOptions{TTL: 100 * time.Second})
	if r.Node.TTL < 98 || r.Node.TTL > 100 || r.Node.Expiration == nil {
		t.Errorf("ttl=%d expiration=%v, want ~100 and set", r.Node.TTL, r.Node.Expiration)
	} else if left := time.Until(*r.Node.Expiration); left < 90*time.Second || left > 110*time.Second {
		t.Errorf("expiration %v is %v away, want ~100s (clocks are shared here)", r.Node.Expiration, left)
	}
	if g := mustGet(t, k, d+"/ttl", nil); g.Node.TTL < 95 || g.Node.TTL > 100 {
		t.Errorf("get ttl = %d", g.Node.TTL)
	}

	// Refresh: value kept, TTL reset, no event for watchers.
	before := currentIndex(t, k)
	rr := mustSet(t, k, d+"/ttl", "", &client.SetOptions{Refresh: true, TTL: 200 * time.Second, PrevExist: client.PrevExist})
	if rr.Action != "update" || rr.Node.Value != "v" || rr.Node.TTL < 198 || rr.Node.CreatedIndex != r.Node.CreatedIndex {
		t.Errorf("refresh: %s %+v value %q", rr.Action, rr.Node, rr.Node.Value)
	}
	mustSet(t, k, d+"/ttl", "after-refresh", &client.SetOptions{PrevExist: client.PrevExist, TTL: 100 * time.Second})
	w := k.Watcher(d+"/ttl", &client.WatcherOptions{AfterIndex: before})
	ev, err := w.Next(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Node.Value != "after-refresh" {
		t.Errorf("first event after a refresh = %s %q, want the update that followed (refresh must not notify)", ev.Action, ev.Node.Value)
	}
	// Refresh errors.
	_, err = k.Set(ctxT(t), d+"/ttl", "x", &client.SetOptions{Refresh: true, TTL: time.Minute, PrevExist: client.PrevExist})
	wantCode(t, err, 211) // Value provided on refresh
	_, err = k.Set(ctxT(t), d+"/ttl", "", &client.SetOptions{Refresh: true, PrevExist: client.PrevExist})
	wantCode(t, err, 212) // A TTL must be provided on refresh

	// A set without a ttl makes the key permanent again.
	p := mustSet(t, k, d+"/ttl", "permanent", nil)
	if p.Node.TTL != 0 || p.Node.Expiration != nil {
		t.Errorf("set without ttl: ttl=%d expiration=%v", p.Node.TTL, p.Node.Expiration)
	}

	// Expiry, seen by a watcher and by a get.
	e := mustSet(t, k, d+"/short", "bye", &client.SetOptions{TTL: time.Second})
	w = k.Watcher(d+"/short", &client.WatcherOptions{AfterIndex: e.Node.ModifiedIndex})
	ev, err = w.Next(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Action != "expire" || ev.Node.Key != d+"/short" || ev.PrevNode == nil || ev.PrevNode.Value != "bye" {
		t.Errorf("expire event: %s %+v prev %+v", ev.Action, ev.Node, ev.PrevNode)
	}
	_, err = k.Get(ctxT(t), d+"/short", &client.GetOptions{Quorum: true})
	wantCode(t, err, client.ErrorCodeKeyNotFound)

	// A directory with a TTL expires with its children.
	mustSet(t, k, d+"/tdir", "", &client.SetOptions{Dir: true, TTL: time.Second})
	c := mustSet(t, k, d+"/tdir/child", "c", nil)
	w = k.Watcher(d+"/tdir", &client.WatcherOptions{AfterIndex: c.Node.ModifiedIndex, Recursive: true})
	ev, err = w.Next(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Action != "expire" || ev.Node.Key != d+"/tdir" {
		t.Errorf("dir expire event: %s %+v", ev.Action, ev.Node)
	}
	_, err = k.Get(ctxT(t), d+"/tdir/child", &client.GetOptions{Quorum: true})
	wantCode(t, err, client.ErrorCodeKeyNotFound)

	// CreateInOrder with a TTL.
	o, err := k.CreateInOrder(ctxT(t), d+"/q", "job", &client.CreateInOrderOptions{TTL: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if o.Node.TTL < 58 || o.Node.TTL > 60 {
		t.Errorf("in-order ttl = %d", o.Node.TTL)
	}
}

// Form errors come back as client.Error with etcd's 2xx codes.
func TestFormErrors(t *testing.T) {
	k := newKeys(t)
	d := dir(t)
	mustSet(t, k, d+"/k", "v", nil)
	// An explicitly empty prevValue cannot be sent through SetOptions;
	// a refresh without a TTL is the form error the client can produce.
	_, err := k.Set(ctxT(t), d+"/k", "", &client.SetOptions{Refresh: true})
	ce := wantCode(t, err, 212)
	if ce.Message != "A TTL must be provided on refresh" || ce.Index != 0 {
		t.Errorf("error = %+v (etcd: index 0 on form errors)", ce)
	}
}
