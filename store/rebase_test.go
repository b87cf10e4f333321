package store

import (
	"bytes"
	"testing"
	"time"
)

// ShiftExpirations keeps every TTL's remaining time as of a moment d
// earlier: nothing expires at the old deadlines, everything at the new
// ones, in the same order (ties by path); no index is spent; a capture
// taken before keeps the old deadlines. Census counts what a snapshot
// holds, hidden nodes included.
func TestShiftExpirations(t *testing.T) {
	t.Parallel()
	s := New()
	t0 := time.Unix(1_700_000_000, 0)
	mustSet := func(p string, dir bool, expire time.Time) {
		t.Helper()
		if _, err := s.Set(p, dir, "v", expire, false, t0); err != nil {
			t.Fatal(err)
		}
	}
	mustSet("/a", false, t0.Add(10*time.Second))
	mustSet("/b", false, t0.Add(10*time.Second))
	mustSet("/dir", true, t0.Add(20*time.Second))
	mustSet("/dir/_hidden", false, time.Time{})
	mustSet("/keep", false, time.Time{})
	before := s.Capture()
	idx := s.Index()

	s.ShiftExpirations(time.Hour)
	s.ShiftExpirations(-time.Hour) // ignored
	if s.Index() != idx {
		t.Errorf("index %d after the shift, want %d", s.Index(), idx)
	}
	later := t0.Add(time.Hour)
	ev, err := s.Get("/a", false, false, later)
	if err != nil || ev.Node.TTL != 10 {
		t.Fatalf("/a an hour later: %+v %v, want ttl 10", ev, err)
	}
	if got := s.DeleteExpiredKeys(t0.Add(30 * time.Second)); len(got) != 0 {
		t.Errorf("%d keys expired at their old deadlines", len(got))
	}
	got := s.DeleteExpiredKeys(later.Add(20 * time.Second))
	var keys []string
	for _, e := range got {
		keys = append(keys, e.Node.Key)
	}
	if len(keys) != 3 || keys[0] != "/a" || keys[1] != "/b" || keys[2] != "/dir" {
		t.Errorf("expired %v, want /a /b /dir in that order", keys)
	}

	var old bytes.Buffer
	if _, err := before.WriteTo(&old); err != nil {
		t.Fatal(err)
	}
	r := New()
	if err := r.Restore(&old); err != nil {
		t.Fatal(err)
	}
	if next, ok := r.HasTTLKeys(); !ok || !next.Equal(t0.Add(10*time.Second)) {
		t.Errorf("capture taken before the shift: next expiry %v, want %v", next, t0.Add(10*time.Second))
	}
	if dirs, keys := r.Census(); dirs != 1 || keys != 4 {
		t.Errorf("census of the capture: %d dirs %d keys, want 1 and 4", dirs, keys)
	}
	if dirs, keys := s.Census(); dirs != 0 || keys != 1 {
		t.Errorf("census after expiry: %d dirs %d keys, want 0 and 1", dirs, keys)
	}
}
