package httpapi

import (
	"testing"
	"time"
)

// Under the 0.1 dialect a key's expiry reaches the waiting watchers as a
// DELETE labelled with the index of the last write (a failed TestAndSet
// after it does not count), takes no index, and is not replayed: a watch
// from an index after the expired set waits for the next write.
//
//	curl -L http://127.0.0.1:4001/v1/keys/t -d value=soon -d ttl=1
//	curl -L http://127.0.0.1:4001/v1/watch/t                # DELETE at the last write's index
//	curl -L http://127.0.0.1:4001/v1/watch/t -d index=2     # waits for the next write
func TestExpiryWatch01(t *testing.T) {
	t.Parallel()
	s := newV1Server(t, v1Opts{dialect: Dialect01})
	s.run(t, []v1Step{
		{method: "POST", path: "/v1/keys/t", body: "value=soon&ttl=1", status: 200}, // 1
		{method: "POST", path: "/v1/keys/x", body: "value=1", status: 200},          // 2
		// A failed TestAndSet takes index 3 but is not a write GET shows.
		{method: "POST", path: "/v1/keys/x", body: "prevValue=nope&value=2", status: 400},
		{method: "GET", path: "/v1/keys/x", status: 200, want: `{"action":"GET","key":"/x","value":"1","index":2}`},
	})
	live := s.bg(t, "GET", "/v1/watch/t", "")
	prefix := s.bg(t, "GET", "/v1/watch/", "")
	waitWatchers(t, s.st, 2)
	s.advance(time.Second)
	s.expire()
	want := `{"action":"DELETE","key":"/t","prevValue":"soon","expiration":"2026-11-21T08:00:01Z","index":2}`
	for name, ch := range map[string]<-chan resp{"GET /v1/watch/t": live, "GET /v1/watch/": prefix} {
		if r := recv(t, ch); r.status != 200 || r.body != want {
			t.Errorf("%s: %d %s\nwant 200 %s", name, r.status, r.body, want)
		}
	}
	// Replays from after the expired set: nothing to answer yet.
	replay := s.bg(t, "POST", "/v1/watch/t", "index=2")
	replayLater := s.bg(t, "POST", "/v1/watch/t", "index=4")
	waitWatchers(t, s.st, 2)
	s.run(t, []v1Step{{method: "POST", path: "/v1/keys/t", body: "value=back", status: 200, want: `{"action":"SET","key":"/t","value":"back","newKey":true,"index":4}`}})
	for name, ch := range map[string]<-chan resp{"index=2": replay, "index=4": replayLater} {
		if r := recv(t, ch); r.body != `{"action":"SET","key":"/t","value":"back","newKey":true,"index":4}` {
			t.Errorf("POST /v1/watch/t %s: %d %s, want the next write", name, r.status, r.body)
		}
	}
}
