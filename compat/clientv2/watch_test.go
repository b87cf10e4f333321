package clientv2

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/client/v2"
)

// A watcher without AfterIndex waits for the next change (waitIndex=0).
// It must be registered before the write, so the test polls the members'
// watcher count first.
func TestWatchLive(t *testing.T) {
	k := newKeys(t)
	key := dir(t) + "/k"
	mustSet(t, k, key, "old", nil)
	base := watchers(t)

	type result struct {
		r   *client.Response
		err error
	}
	got := make(chan result, 1)
	w := k.Watcher(key, nil)
	go func() {
		r, err := w.Next(ctxT(t))
		got <- result{r, err}
	}()
	waitFor(t, "the watch to register", 10*time.Second, func() bool { return watchers(t) > base })
	s := mustSet(t, k, key, "new", nil)
	res := <-got
	if res.err != nil {
		t.Fatal(res.err)
	}
	wantNode(t, res.r, "set", key, "new")
	if res.r.Node.ModifiedIndex != s.Node.ModifiedIndex || res.r.PrevNode == nil || res.r.PrevNode.Value != "old" {
		t.Errorf("event node %+v prev %+v", res.r.Node, res.r.PrevNode)
	}
	// The answer's X-Etcd-Index is the index when the watch started.
	if res.r.Index >= s.Node.ModifiedIndex {
		t.Errorf("watch answer index %d, want below the event's %d", res.r.Index, s.Node.ModifiedIndex)
	}
}

// AfterIndex replays history: every change after the index, in order,
// each Next continuing after the previous event.
func TestWatchAfterIndex(t *testing.T) {
	k := newKeys(t)
	key := dir(t) + "/k"
	start := currentIndex(t, k)
	var want []uint64
	for _, v := range []string{"a", "b", "c"} {
		want = append(want, mustSet(t, k, key, v, nil).Node.ModifiedIndex)
	}
	d, err := k.Delete(ctxT(t), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, d.Node.ModifiedIndex)

	w := k.Watcher(key, &client.WatcherOptions{AfterIndex: start})
	actions := []string{"set", "set", "set", "delete"}
	values := []string{"a", "b", "c", ""}
	for i := range want {
		ev, err := w.Next(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if ev.Action != actions[i] || ev.Node.ModifiedIndex != want[i] || ev.Node.Value != values[i] {
			t.Errorf("event %d = %s %q@%d, want %s %q@%d", i, ev.Action, ev.Node.Value, ev.Node.ModifiedIndex, actions[i], values[i], want[i])
		}
	}
	// Starting in the middle skips what came before.
	w = k.Watcher(key, &client.WatcherOptions{AfterIndex: want[1]})
	ev, err := w.Next(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Node.Value != "c" {
		t.Errorf("after index %d: %s %q, want the set of c", want[1], ev.Action, ev.Node.Value)
	}
}

// A recursive watcher sees changes below the directory; a plain one on
// the directory does not.
func TestWatchRecursive(t *testing.T) {
	k := newKeys(t)
	d := dir(t)
	mustSet(t, k, d+"/w", "", &client.SetOptions{Dir: true})
	start := currentIndex(t, k)
	mustSet(t, k, d+"/w/a", "1", nil)
	if _, err := k.Update(ctxT(t), d+"/w/a", "2"); err != nil {
		t.Fatal(err)
	}
	mustSet(t, k, d+"/w/sub/deep", "3", nil)
	if _, err := k.Delete(ctxT(t), d+"/w/a", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Delete(ctxT(t), d+"/w", &client.DeleteOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}

	rw := k.Watcher(d+"/w", &client.WatcherOptions{AfterIndex: start, Recursive: true})
	want := []struct{ action, key, value string }{
		{"set", d + "/w/a", "1"},
		{"update", d + "/w/a", "2"},
		{"set", d + "/w/sub/deep", "3"},
		{"delete", d + "/w/a", ""},
		{"delete", d + "/w", ""},
	}
	for i, wnt := range want {
		ev, err := rw.Next(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if ev.Action != wnt.action || ev.Node.Key != wnt.key || ev.Node.Value != wnt.value {
			t.Errorf("recursive event %d = %s %s=%q, want %s %s=%q", i, ev.Action, ev.Node.Key, ev.Node.Value, wnt.action, wnt.key, wnt.value)
		}
	}

	// Non-recursive on the directory: the first event is the directory's
	// own deletion, not any child change.
	pw := k.Watcher(d+"/w", &client.WatcherOptions{AfterIndex: start})
	ev, err := pw.Next(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Action != "delete" || ev.Node.Key != d+"/w" || !ev.Node.Dir {
		t.Errorf("plain watch on a dir: %s %+v, want the dir's delete", ev.Action, ev.Node)
	}
}

// Several concurrent watchers on one key each get the event.
func TestWatchMany(t *testing.T) {
	k := newKeys(t)
	key := dir(t) + "/k"
	start := mustSet(t, k, key, "0", nil).Node.ModifiedIndex
	const n = 5
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		w := newKeys(t).Watcher(key, &client.WatcherOptions{AfterIndex: start})
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev, err := w.Next(ctxT(t))
			if err != nil {
				errs <- err.Error()
				return
			}
			if ev.Node.Value != "1" {
				errs <- "value " + ev.Node.Value
			}
		}()
	}
	mustSet(t, k, key, "1", nil)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// Events older than the last 1000 are gone: error 401 with etcd's cause.
func TestWatchIndexCleared(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 1000 keys")
	}
	k := newKeys(t)
	key := dir(t) + "/k"
	first := mustSet(t, k, key, "first", nil).Node.ModifiedIndex
	// 1000 more writes, spread over a few clients to be quick.
	const writers, each = 10, 100
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		kw := newKeys(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				if _, err := kw.Set(ctxT(t), dir(t)+"/fill", "x", nil); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// The writes went through other members: a quorum read makes this
	// client's member catch up before it is asked about its history.
	currentIndex(t, k)
	w := k.Watcher(key, &client.WatcherOptions{AfterIndex: first - 1})
	_, err := w.Next(ctxT(t))
	ce := wantCode(t, err, client.ErrorCodeEventIndexCleared)
	if ce.Message != "The event in requested index is outdated and cleared" {
		t.Errorf("error = %+v", ce)
	}
	// etcd: "the requested history has been cleared [oldest kept/requested]".
	var oldest, asked uint64
	if _, err := fmt.Sscanf(ce.Cause, "the requested history has been cleared [%d/%d]", &oldest, &asked); err != nil || asked != first || oldest <= first {
		t.Errorf("cause = %q, want [oldest/%d] with oldest > %d", ce.Cause, first, first)
	}
}
