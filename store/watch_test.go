package store

import (
	"errors"
	"fmt"
	"testing"
)

// drain returns the events buffered in w without blocking.
func drain(w *Watcher) []*Event {
	var out []*Event
	for {
		select {
		case e := <-w.EventChan():
			out = append(out, e)
		default:
			return out
		}
	}
}

func summary(evs []*Event) string {
	s := ""
	for _, e := range evs {
		s += fmt.Sprintf("%s %s %d;", e.Action, e.Node.Key, e.Index())
	}
	return s
}

func TestLiveWatch(t *testing.T) {
	t.Parallel()
	type watch struct {
		path              string
		recursive, stream bool
		since             uint64
	}
	cases := []struct {
		name  string
		setup []Request
		watch watch
		ops   []Request
		want  string
	}{
		{name: "exact key set", watch: watch{path: "/a"},
			ops:  []Request{{Method: MethodPut, Path: "/a", Value: "1"}, {Method: MethodPut, Path: "/a", Value: "2"}},
			want: "set /a 1;"},
		{name: "non-recursive dir watch ignores children", setup: []Request{{Method: MethodPut, Path: "/d", Dir: true}},
			watch: watch{path: "/d"},
			ops:   []Request{{Method: MethodPut, Path: "/d/x", Value: "1"}, {Method: MethodDelete, Path: "/d", Recursive: true}},
			want:  "delete /d 3;"},
		{name: "recursive sees children", watch: watch{path: "/d", recursive: true},
			ops:  []Request{{Method: MethodPut, Path: "/d/x/y", Value: "1"}},
			want: "set /d/x/y 1;"},
		{name: "recursive does not see sibling prefix", watch: watch{path: "/d", recursive: true},
			ops:  []Request{{Method: MethodPut, Path: "/dx", Value: "1"}, {Method: MethodPut, Path: "/d/a", Value: "1"}},
			want: "set /d/a 2;"},
		{name: "recursive root watch sees everything", watch: watch{path: "/", recursive: true},
			ops:  []Request{{Method: MethodPut, Path: "/q", Value: "1"}},
			want: "set /q 1;"},
		{name: "hidden key below watch is suppressed", watch: watch{path: "/h", recursive: true},
			ops:  []Request{{Method: MethodPut, Path: "/h/_x", Value: "1"}, {Method: MethodPut, Path: "/h/_d/y", Value: "1"}, {Method: MethodPut, Path: "/h/v", Value: "1"}},
			want: "set /h/v 3;"},
		{name: "hidden segment above the watch does not hide", watch: watch{path: "/_h/d", recursive: true},
			ops:  []Request{{Method: MethodPut, Path: "/_h/d/x", Value: "1"}, {Method: MethodPut, Path: "/_h/d/_y", Value: "1"}},
			want: "set /_h/d/x 1;"},
		{name: "hidden segment deep below the watch hides", watch: watch{path: "/", recursive: true},
			ops:  []Request{{Method: MethodPut, Path: "/a/b/_c/d/e", Value: "1"}, {Method: MethodPut, Path: "/a/b/c/d/e", Value: "1"}},
			want: "set /a/b/c/d/e 2;"},
		{name: "hidden key watched directly", watch: watch{path: "/h/_x"},
			ops:  []Request{{Method: MethodPut, Path: "/h/_x", Value: "1"}},
			want: "set /h/_x 1;"},
		{name: "watch under deleted dir gets the dir event", setup: []Request{{Method: MethodPut, Path: "/wd/a/b", Value: "1"}},
			watch: watch{path: "/wd/a/b"},
			ops:   []Request{{Method: MethodDelete, Path: "/wd", Recursive: true}},
			want:  "delete /wd 2;"},
		{name: "watch on missing key under deleted dir", setup: []Request{{Method: MethodPut, Path: "/wd/a/b", Value: "1"}},
			watch: watch{path: "/wd/a/zz"},
			ops:   []Request{{Method: MethodDelete, Path: "/wd", Recursive: true}, {Method: MethodPut, Path: "/wd/a/zz", Value: "1"}},
			want:  "set /wd/a/zz 3;"},
		{name: "refresh wakes nobody", setup: []Request{withTTL(Request{Method: MethodPut, Path: "/rw", Value: "v"}, 10)},
			watch: watch{path: "/rw"},
			ops:   []Request{withTTL(Request{Method: MethodPut, Path: "/rw", Refresh: true, PrevExist: boolp(true)}, 10), {Method: MethodPut, Path: "/rw", Value: "x"}},
			want:  "set /rw 3;"},
		{name: "future waitIndex skips earlier events", watch: watch{path: "/f", since: 3},
			ops:  []Request{{Method: MethodPut, Path: "/f", Value: "1"}, {Method: MethodPut, Path: "/f", Value: "2"}, {Method: MethodPut, Path: "/f", Value: "3"}},
			want: "set /f 3;"},
		{name: "stream gets every event", watch: watch{path: "/s", stream: true},
			ops:  []Request{{Method: MethodPut, Path: "/s", Value: "1"}, {Method: MethodPut, Path: "/s", Value: "2"}},
			want: "set /s 1;set /s 2;"},
		{name: "stream at deleted node gets it twice", setup: []Request{{Method: MethodPut, Path: "/s", Value: "1"}},
			watch: watch{path: "/s", stream: true},
			ops:   []Request{{Method: MethodDelete, Path: "/s"}},
			want:  "delete /s 2;delete /s 2;"},
		{name: "recursive stream on ancestor gets a delete once", setup: []Request{{Method: MethodPut, Path: "/p/s", Value: "1"}},
			watch: watch{path: "/p", recursive: true, stream: true},
			ops:   []Request{{Method: MethodDelete, Path: "/p/s"}},
			want:  "delete /p/s 2;"},
		{name: "compareAndDelete notifies", setup: []Request{{Method: MethodPut, Path: "/c", Value: "1"}},
			watch: watch{path: "/c"},
			ops:   []Request{{Method: MethodDelete, Path: "/c", PrevValue: "1"}},
			want:  "compareAndDelete /c 2;"},
		{name: "failed ops notify nobody", setup: []Request{{Method: MethodPut, Path: "/c", Value: "1"}},
			watch: watch{path: "/c"},
			ops:   []Request{{Method: MethodDelete, Path: "/c", PrevValue: "2"}, {Method: MethodPut, Path: "/c", PrevExist: boolp(false)}},
			want:  ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := New()
			for _, r := range tc.setup {
				mustApply(t, s, r, t0)
			}
			w := mustWatch(t, s, tc.watch.path, tc.watch.recursive, tc.watch.stream, tc.watch.since)
			for _, r := range tc.ops {
				_, _ = s.Apply(&r, t0)
			}
			if got := summary(drain(w)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHistoryWatch(t *testing.T) {
	t.Parallel()
	s := New()
	for _, r := range []Request{
		{Method: MethodPut, Path: "/k", Value: "1"},                           // 1
		{Method: MethodPut, Path: "/wd/x", Value: "1"},                        // 2
		{Method: MethodPut, Path: "/hw/_h", Value: "1"},                       // 3
		{Method: MethodDelete, Path: "/wd", Recursive: true},                  // 4
		withTTL(Request{Method: MethodPut, Path: "/k", Refresh: true}, 5),     // 5 refresh
		{Method: MethodPut, Path: "/k", Value: "3"},                           // 6
		{Method: MethodPut, Path: "/rb/a", Value: "1"},                        // 7
		{Method: MethodPut, Path: "/rb", Value: "x", PrevExist: boolp(false)}, // fails
	} {
		_, _ = s.Apply(&r, t0)
	}
	cases := []struct {
		name      string
		path      string
		recursive bool
		since     uint64
		want      string
	}{
		{"exact from start", "/k", false, 1, "set /k 1;"},
		{"refresh is skipped", "/k", false, 2, "set /k 6;"},
		{"hidden keys not filtered in history", "/hw", true, 1, "set /hw/_h 3;"},
		{"deleted dir prefix quirk", "/wdx", false, 1, "delete /wd 4;"},
		{"child of deleted dir", "/wd/x/y", false, 3, "delete /wd 4;"},
		{"recursive sees key itself", "/rb", true, 7, "set /rb/a 7;"},
		{"beyond history registers live", "/k", false, 9, ""},
		{"no match registers live", "/nothing", true, 1, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := mustWatch(t, s, tc.path, tc.recursive, false, tc.since)
			evs := drain(w)
			if got := summary(evs); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			for _, e := range evs {
				if e.EtcdIndex != s.Index() {
					t.Errorf("history event EtcdIndex %d, want current index %d", e.EtcdIndex, s.Index())
				}
			}
		})
	}
}

func TestHistoryCleared(t *testing.T) {
	t.Parallel()
	s := New()
	for i := 0; i < HistoryCapacity+188; i++ {
		mustApply(t, s, Request{Method: MethodPut, Path: "/wk", Value: "v"}, t0)
	}
	_, err := s.Watch("/wk", false, false, 8)
	var se *Error
	if !errors.As(err, &se) {
		t.Fatalf("watch from a cleared index: got %v, want a store error", err)
	}
	want := `{"errorCode":401,"message":"The event in requested index is outdated and cleared","cause":"the requested history has been cleared [189/8]","index":1188}`
	if got := string(se.JSON()); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	w := mustWatch(t, s, "/wk", false, false, 189)
	if got := summary(drain(w)); got != "set /wk 189;" {
		t.Errorf("oldest event: got %q", got)
	}
}

func TestSlowWatcherDropped(t *testing.T) {
	t.Parallel()
	s := New()
	w := mustWatch(t, s, "/s", false, true, 0)
	for i := 0; i < watcherBuffer+1; i++ {
		mustApply(t, s, Request{Method: MethodPut, Path: "/s", Value: "v"}, t0)
	}
	select {
	case <-w.Done():
	default:
		t.Fatal("watcher with a full buffer was not dropped")
	}
	if got := len(drain(w)); got != watcherBuffer {
		t.Errorf("buffered events: got %d, want %d", got, watcherBuffer)
	}
	if c := s.WatcherCount(); c != 0 {
		t.Errorf("watcher count %d after drop", c)
	}
}

func TestWatcherCount(t *testing.T) {
	t.Parallel()
	s := New()
	w1 := mustWatch(t, s, "/a", false, false, 0)
	_ = mustWatch(t, s, "/a", true, true, 0)
	if c := s.WatcherCount(); c != 2 {
		t.Fatalf("count %d, want 2", c)
	}
	mustApply(t, s, Request{Method: MethodPut, Path: "/a", Value: "v"}, t0) // w1 fires and goes
	if c := s.WatcherCount(); c != 1 {
		t.Fatalf("count %d after non-stream delivery, want 1", c)
	}
	w1.Remove()
	w1.Remove()
	if c := s.WatcherCount(); c != 1 {
		t.Fatalf("count %d after double Remove, want 1", c)
	}
}

// TestWatchIndexPruned: the watcher index keeps no path once its
// watchers are gone, however they went (removed, fired, dropped).
func TestWatchIndexPruned(t *testing.T) {
	t.Parallel()
	s := New()
	w1 := mustWatch(t, s, "/a/b/c", false, false, 0)
	w2 := mustWatch(t, s, "/a/b", true, true, 0)
	w3 := mustWatch(t, s, "/a/x/y/z", false, false, 0)
	mustApply(t, s, Request{Method: MethodPut, Path: "/a/b/c", Value: "v"}, t0) // w1 fires
	w2.Remove()
	w3.Remove()
	s.hub.mu.Lock()
	left := len(s.hub.root.children)
	s.hub.mu.Unlock()
	if left != 0 || s.WatcherCount() != 0 {
		t.Fatalf("index keeps %d top-level paths and %d watchers after every watcher left", left, s.WatcherCount())
	}
	if len(drain(w1)) != 1 {
		t.Fatal("w1 did not get its event")
	}
}
