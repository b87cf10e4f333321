package store

import (
	"bytes"
	"testing"
	"time"
)

// The expiry of a key written in the etcd 0.1 dialect reaches the watchers
// waiting at that moment, labelled with the index of the last write (a
// failed TestAndSet after it does not count, as on a 0.1 GET), and is not
// in the history: a replay from an index after the expired set waits for
// the next write instead of answering the expiry.
func TestExpireV01NotReplayed(t *testing.T) {
	t.Parallel()
	s := New()
	mustApply(t, s, withTTL01(set01("/k", "v"), 1), t0) // 1: the set that will expire
	mustApply(t, s, set01("/other", "x"), t0)           // 2
	// A failed 0.1 TestAndSet takes index 3 but is not "the last write".
	if _, err := s.Apply(&Request{Method: MethodPut, Path: "/other", Value: "y", PrevValue: "nope", V01: true}, t0); err == nil {
		t.Fatal("the TestAndSet should fail")
	}
	live := mustWatch(t, s, "/k", false, false, 0)
	liveParent := mustWatch(t, s, "/", true, false, 0)
	evs := s.DeleteExpiredKeys(t0.Add(2 * time.Second))
	if got, want := summary(evs), "expire /k 2;"; got != want {
		t.Fatalf("expiry: %q, want %q", got, want)
	}
	if s.Index() != 3 {
		t.Errorf("index after the expiry: %d, want 3 (no index of its own)", s.Index())
	}
	for name, w := range map[string]*Watcher{"exact": live, "recursive parent": liveParent} {
		if got := summary(drain(w)); got != "expire /k 2;" {
			t.Errorf("live %s watcher got %q, want the expiry at the last write's index", name, got)
		}
	}
	// Replays from every index after the expired set find nothing: the
	// watch waits, and the next write to /k answers it.
	for since := uint64(2); since <= 4; since++ {
		w := mustWatch(t, s, "/k", false, false, since)
		if got := summary(drain(w)); got != "" {
			t.Errorf("watch /k from %d replayed %q, want a wait", since, got)
		}
		w.Remove()
	}
	waiting := mustWatch(t, s, "/k", false, false, 2)
	mustApply(t, s, set01("/k", "again"), t0.Add(3*time.Second)) // 4
	if got := summary(drain(waiting)); got != "set /k 4;" {
		t.Errorf("the waiting replay got %q, want the next write", got)
	}
	for _, e := range s.hub.history.list() {
		if e.Action == ActionExpire {
			t.Errorf("the history holds the expiry %s@%d", e.Node.Key, e.Index())
		}
	}
}

// Replicas that apply the same log reach the same bytes, whether or not
// watchers were waiting for the expiry.
func TestExpireV01Deterministic(t *testing.T) {
	t.Parallel()
	var snaps [2][]byte
	for i := range snaps {
		s := New()
		if i == 1 {
			mustWatch(t, s, "/", true, true, 0)
		}
		mustApply(t, s, withTTL01(set01("/a", "1"), 1), t0)
		mustApply(t, s, withTTL01(set01("/b", "2"), 1), t0)
		s.DeleteExpiredKeys(t0.Add(time.Second))
		mustApply(t, s, set01("/c", "3"), t0.Add(time.Second))
		var buf bytes.Buffer
		if err := s.Save(&buf); err != nil {
			t.Fatal(err)
		}
		snaps[i] = buf.Bytes()
	}
	if !bytes.Equal(snaps[0], snaps[1]) {
		t.Error("two replicas of the same log saved different snapshots")
	}
}
