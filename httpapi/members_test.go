package httpapi

import (
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

func TestMembersChanges(t *testing.T) {
	t.Parallel()
	s := newStubServer(t)
	const js = "application/json"
	steps := []struct {
		method, path, ct, body string
		status                 int
		want                   string // prefix of the body
	}{
		{"POST", "/v2/members", "text/plain", `{"peerURLs":["http://127.0.0.1:2480"]}`, 415, `{"message":"Bad Content-Type text/plain, accept application/json"}`},
		{"POST", "/v2/members", js, `{"peerURLs":[]}`, 400, `{"message":"no valid URLs given"}`},
		{"POST", "/v2/members", js, `{"peerURLs":["ftp://x:1"]}`, 400, `{"message":"URL scheme must be http, https, unix, or unixs: ftp://x:1"}`},
		{"POST", "/v2/members", js, `{"peerURLs":["http://nohost"]}`, 400, `{"message":"URL address does not have the form \"host:port\": http://nohost"}`},
		{"POST", "/v2/members", js, `{"peerURLs":`, 400, `{"message":"unexpected EOF"}`},
		{"POST", "/v2/members", js + "; charset=utf-8", `{"peerURLs":["http://127.0.0.1:2480"]}`, 201, `{"id":"`},
		// Same URLs in the same second give the same ID: etcd checks the ID first.
		{"POST", "/v2/members", js, `{"peerURLs":["http://127.0.0.1:2480"]}`, 409, `{"message":"membership: ID exists"}`},
		{"POST", "/v2/members", js, `{"peerURLs":["http://127.0.0.1:2480","http://127.0.0.1:2481"]}`, 409, `{"message":"membership: peerURL exists"}`},
		{"POST", "/v2/members", js, `{"peerURLs":["http://127.0.0.1:2580"],"isLearner":true}`, 201, `{"id":"`},
		{"DELETE", "/v2/members/zzz", "", "", 404, `{"message":"No such member: zzz"}`},
		{"DELETE", "/v2/members/00ff", "", "", 404, `{"message":"No such member: ff"}`},
		{"DELETE", "/v2/members", "", "", 405, ``},
		{"PUT", "/v2/members/ff", js, `{"peerURLs":["http://127.0.0.1:2680"]}`, 404, `{"message":"No such member: ff"}`},
		{"PUT", "/v2/members/1234", js, `{"peerURLs":["http://127.0.0.1:2480"]}`, 409, `{"message":"membership: peerURL exists"}`},
		{"PUT", "/v2/members/1234", js, `{"peerURLs":["http://127.0.0.1:2390"]}`, 204, ``},
		{"POST", "/v2/members/1234/promote", "", "", 400, `{"message":"etcdserver: can only promote a learner member"}`},
		{"PATCH", "/v2/members", "", "", 405, "Method Not Allowed\n"},
	}
	for i, st := range steps {
		r := s.doJSON(t, st.method, st.path, st.ct, st.body)
		if r.status != st.status || !strings.HasPrefix(r.body, st.want) {
			t.Errorf("step %d %s %s %s: got %d %s, want %d %s", i, st.method, st.path, st.body, r.status, r.body, st.status, st.want)
		}
		if st.method != "PATCH" && r.header.Get("X-Etcd-Cluster-Id") != "dc50b8daae93b3e0" {
			t.Errorf("step %d: no cluster ID header", i)
		}
	}
	// The learner shows isLearner; promotion makes it a voter; removal is
	// remembered (410).
	var learner string
	for id, m := range s.node.Cluster().Members {
		if m.IsLearner {
			learner = strings.TrimLeft(strings.ToLower(hex(id)), "0")
		}
	}
	if r := s.do(t, "GET", "/v2/members", ""); !strings.Contains(r.body, `"isLearner":true`) {
		t.Errorf("members list does not show the learner: %s", r.body)
	}
	if r := s.doJSON(t, "POST", "/v2/members/"+learner+"/promote", "", ""); r.status != 200 || strings.Contains(r.body, "isLearner") {
		t.Errorf("promote: %d %s", r.status, r.body)
	}
	if r := s.doJSON(t, "DELETE", "/v2/members/"+learner, "", ""); r.status != 204 {
		t.Errorf("delete: %d %s", r.status, r.body)
	}
	if r := s.doJSON(t, "DELETE", "/v2/members/"+learner, "", ""); r.status != 410 || r.body != `{"message":"Member permanently removed: `+learner+`"}` {
		t.Errorf("second delete: %d %s", r.status, r.body)
	}
}

func hex(v uint64) string {
	const digits = "0123456789abcdef"
	if v == 0 {
		return "0"
	}
	var b []byte
	for v > 0 {
		b = append([]byte{digits[v%16]}, b...)
		v /= 16
	}
	return string(b)
}

func TestStatsSelfAndLeader(t *testing.T) {
	t.Parallel()
	s := newStubServer(t)
	s.doJSON(t, "POST", "/v2/members", "application/json", `{"peerURLs":["http://127.0.0.1:2480"]}`)
	r := s.do(t, "GET", "/v2/stats/self", "")
	want := `{"name":"stub","id":"1234","state":"StateLeader","startTime":"2026-11-21T08:00:00Z","leaderInfo":{"leader":"1234","uptime":"0s","startTime":"2026-11-21T08:00:00Z"},"recvAppendRequestCnt":3,"sendAppendRequestCnt":7,"sendPkgRate":2.5,"sendBandwidthRate":100}`
	if r.status != 200 || r.body != want {
		t.Errorf("stats/self:\ngot  %s\nwant %s", r.body, want)
	}
	r = s.do(t, "GET", "/v2/stats/leader", "")
	if r.status != 200 || !strings.HasPrefix(r.body, `{"leader":"1234","followers":{"`) ||
		!strings.Contains(r.body, `"latency":{"current":0.001,"average":0.002,"standardDeviation":0.0005,"minimum":0.001,"maximum":0.004},"counts":{"fail":1,"success":10}`) {
		t.Errorf("stats/leader: %d %s", r.status, r.body)
	}
	s.node.leader = false
	r = s.do(t, "GET", "/v2/stats/leader", "")
	if r.status != 403 || r.body != `{"message":"not current leader"}` {
		t.Errorf("stats/leader on a follower: %d %s", r.status, r.body)
	}
}

func TestAuthLogAndVars(t *testing.T) {
	t.Parallel()
	s := newStubServer(t)
	steps := []struct {
		method, path, ct, body string
		status                 int
		want                   string
	}{
		{"GET", "/v2/auth/enable", "", "", 200, `{"enabled":false}` + "\n"},
		{"PUT", "/v2/auth/enable", "", "", 409, `{"message":"auth: No root user available, please create one"}`},
		{"PUT", "/config/local/log", "application/json", `{"Level":"DEBUG"}`, 204, ``},
		{"PUT", "/config/local/log", "application/json", `{"Level":"LOUD"}`, 400, `{"message":`},
		{"PUT", "/config/local/log", "application/json", `nope`, 400, `{"message":`},
		{"GET", "/config/local/log", "", "", 405, "Method Not Allowed\n"},
		{"GET", "/debug/vars", "", "", 200, `{`},
	}
	for i, st := range steps {
		r := s.doJSON(t, st.method, st.path, st.ct, st.body)
		if r.status != st.status || !strings.HasPrefix(r.body, st.want) {
			t.Errorf("step %d %s %s: got %d %s, want %d %s", i, st.method, st.path, r.status, r.body, st.status, st.want)
		}
	}
	s.api.log.Logger.SetLevel(logrus.InfoLevel)
}

// Found by differential testing against etcd 3.4 (each case is etcd's
// answer).
func TestMembersEdgeCasesLikeEtcd(t *testing.T) {
	t.Parallel()
	s := newStubServer(t)
	const js = "application/json"
	steps := []struct {
		method, path, ct, body string
		status                 int
		want                   string
		header                 map[string]string
	}{
		{"POST", "/v2/members", js, `{"peerURLs":["http://127.0.0.1:2380/"]}`, 400, `{"message":"URL must not contain a path: http://127.0.0.1:2380/"}`, nil},
		{"POST", "/v2/members", js, `{"peerURLs":[" http://127.0.0.1:2380 "]}`, 409, `{"message":"membership: peerURL exists"}`, nil},
		{"POST", "/v2/members", "APPLICATION/JSON; charset=utf-8", `{"peerURLs":["foo"]}`, 400, `{"message":"URL scheme must be http, https, unix, or unixs: foo"}`, nil},
		{"POST", "/v2/members", "text/plain; charset=utf-8", `{}`, 415, `{"message":"Bad Content-Type text/plain, accept application/json"}`, nil},
		{"POST", "/v2/members", "TEXT/PLAIN; x", `{}`, 415, `{"message":"Bad Content-Type text/plain, accept application/json"}`, nil},
		{"DELETE", "/v2/members/1234/x", "", "", 404, `{"message":"No such member: 1234/x"}`, nil},
		{"PUT", "/v2/members/1234/x", js, `{"peerURLs":["http://127.0.0.1:2380"]}`, 404, `{"message":"No such member: 1234/x"}`, nil},
		{"DELETE", "/v2/members/a/b", "", "", 404, `{"message":"No such member: a/b"}`, nil},
		{"DELETE", "/v2/members", "", "", 405, "Method Not Allowed\n", map[string]string{"Allow": "", "Content-Type": "text/plain; charset=utf-8"}},
		{"PUT", "/v2/members/", js, `{}`, 405, "Method Not Allowed\n", map[string]string{"Allow": ""}},
		{"GET", "/v2/auth/enable", "", "", 200, "{\"enabled\":false}\n", map[string]string{"X-Etcd-Cluster-Id": "dc50b8daae93b3e0"}},
		{"PUT", "/config/local/log", js, `{"Level":"BOGUS"}`, 400, `{"message":"Invalid log level BOGUS"}`, nil},
	}
	for i, st := range steps {
		r := s.doJSON(t, st.method, st.path, st.ct, st.body)
		if r.status != st.status || r.body != st.want {
			t.Errorf("step %d %s %s: got %d %q, want %d %q", i, st.method, st.path, r.status, r.body, st.status, st.want)
		}
		for k, v := range st.header {
			if got := r.header.Get(k); got != v {
				t.Errorf("step %d: header %s = %q, want %q", i, k, got, v)
			}
		}
	}
	if n := len(s.node.Cluster().Members); n != 1 {
		t.Errorf("members after the refused requests: %d, want 1", n)
	}
}
