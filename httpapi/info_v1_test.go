package httpapi

import (
	"testing"

	"github.com/etcd-classic/etcd-classic/machines"
)

// addPeers gives the stub cluster two started members and one that never
// started.
func addPeers(t *testing.T, s *v1Server) {
	t.Helper()
	s.addMember(t, &machines.Member{ID: 0x99, Name: "alpha", PeerURLs: []string{"http://10.0.0.1:7001"}, ClientURLs: []string{"http://10.0.0.1:4001", "http://10.0.0.1:2379"}})
	s.addMember(t, &machines.Member{ID: 0x5, Name: "zeta", PeerURLs: []string{"http://10.0.0.3:7001"}, ClientURLs: []string{"http://10.0.0.3:4001"}})
	s.addMember(t, &machines.Member{ID: 0x7, PeerURLs: []string{"http://10.0.0.4:7001"}})
}

func leaderIs(id uint64) func(*stubNode) Node {
	return func(n *stubNode) Node { return &followerNode{stubNode: n, leader: id} }
}

// Expected answers are etcd 0.4.6's and v0.1.0's (docs/v1-api.md); each
// step is `curl -X METHOD http://127.0.0.1:4001PATH`.
func TestInfoV1(t *testing.T) {
	t.Parallel()
	text := map[string]string{"Content-Type": "text/plain; charset=utf-8", "X-Etcd-Index": ""}
	jsonH := map[string]string{"Content-Type": "application/json"}
	cases := []struct {
		name  string
		opts  v1Opts
		steps []v1Step
	}{
		{"leader here", v1Opts{}, []v1Step{
			{method: "GET", path: "/v1/machines", status: 200, want: "http://127.0.0.1:2379, http://10.0.0.1:4001, http://10.0.0.3:4001", headers: text},
			{method: "GET", path: "/v1/peers", status: 200, want: "http://127.0.0.1:2379, http://10.0.0.1:4001, http://10.0.0.3:4001"},
			{method: "GET", path: "/machines", status: 200, want: "http://127.0.0.1:2379, http://10.0.0.1:4001, http://10.0.0.3:4001", headers: text},
			{method: "GET", path: "/v1/leader", status: 200, want: "http://127.0.0.1:2380", headers: text},
			{method: "GET", path: "/leader", status: 200, want: "http://127.0.0.1:2380"},
			{method: "HEAD", path: "/v1/machines", status: 200, headers: v1HeadOK},
			{method: "HEAD", path: "/v1/leader", status: 200, headers: v1HeadOK},
			{method: "POST", path: "/v1/machines", status: 404, want: notFoundPage},
			{method: "PUT", path: "/v1/leader", body: "value=x", status: 404, want: notFoundPage},
			{method: "DELETE", path: "/machines", status: 404, want: notFoundPage},
			{method: "OPTIONS", path: "/v1/machines", status: 200, headers: map[string]string{"Content-Type": ""}},
			{method: "GET", path: "/v1/stats/self", status: 200, headers: jsonH,
				want: `{"name":"stub","state":"leader","startTime":"2026-11-21T08:00:00Z","leaderInfo":{"leader":"stub","uptime":"0s","startTime":"2026-11-21T08:00:00Z"},"recvAppendRequestCnt":3,"sendAppendRequestCnt":7,"sendPkgRate":2.5,"sendBandwidthRate":100}`},
			{method: "GET", path: "/v1/stats/leader", status: 200, headers: jsonH,
				want: `{"leader":"stub","followers":{"7":{"latency":{"current":1,"average":2,"standardDeviation":0.5,"minimum":1,"maximum":4},"counts":{"fail":1,"success":10}},` +
					`"alpha":{"latency":{"current":1,"average":2,"standardDeviation":0.5,"minimum":1,"maximum":4},"counts":{"fail":1,"success":10}},` +
					`"zeta":{"latency":{"current":1,"average":2,"standardDeviation":0.5,"minimum":1,"maximum":4},"counts":{"fail":1,"success":10}}}}`},
			{method: "GET", path: "/v1/keys/nope", status: 404},
			{method: "GET", path: "/v1/stats/store", status: 200, headers: jsonH,
				want: `{"getsSuccess":0,"getsFail":1,"setsSuccess":0,"setsFail":0,"deleteSuccess":0,"deleteFail":0,"updateSuccess":0,"updateFail":0,"createSuccess":0,"createFail":0,"compareAndSwapSuccess":0,"compareAndSwapFail":0,"compareAndDeleteSuccess":0,"compareAndDeleteFail":0,"expireCount":0,"watchers":0}`},
			{method: "POST", path: "/v1/stats/store", status: 404},
		}},
		{"follower", v1Opts{node: leaderIs(0x99)}, []v1Step{
			{method: "GET", path: "/v1/machines", status: 200, want: "http://10.0.0.1:4001, http://127.0.0.1:2379, http://10.0.0.3:4001"},
			{method: "GET", path: "/v1/leader", status: 200, want: "http://10.0.0.1:7001"},
			{method: "GET", path: "/v1/stats/leader", status: 307, headers: map[string]string{"Location": "http://10.0.0.1:4001/v1/stats/leader", "Content-Type": "text/html; charset=utf-8"}},
			{method: "GET", path: "/v1/stats/self", status: 200,
				want: `{"name":"stub","state":"follower","startTime":"2026-11-21T08:00:00Z","leaderInfo":{"leader":"alpha","uptime":"0s","startTime":"2026-11-21T08:00:00Z"},"recvAppendRequestCnt":3,"sendAppendRequestCnt":7,"sendPkgRate":2.5,"sendBandwidthRate":100}`},
		}},
		{"no leader", v1Opts{node: leaderIs(0)}, []v1Step{
			{method: "GET", path: "/v1/leader", status: 500, want: `{"errorCode":301,"message":"During Leader Election","index":0}` + "\n", headers: v1Err("0")},
			{method: "GET", path: "/leader", status: 500, want: `{"errorCode":301,"message":"During Leader Election","index":0}` + "\n"},
			{method: "GET", path: "/v1/machines", status: 200, want: "http://10.0.0.1:4001, http://127.0.0.1:2379, http://10.0.0.3:4001"},
			{method: "GET", path: "/v1/stats/leader", status: 500, want: `{"errorCode":300,"message":"Raft Internal Error","index":0}` + "\n"},
		}},
		{"v0.1.0 root endpoints", v1Opts{dialect: Dialect01, node: leaderIs(0x99)}, []v1Step{
			{method: "GET", path: "/machines", status: 200, want: "http://127.0.0.1:2379,http://10.0.0.1:4001,http://10.0.0.3:4001", headers: v01H},
			{method: "POST", path: "/machines", status: 200, want: "http://127.0.0.1:2379,http://10.0.0.1:4001,http://10.0.0.3:4001"},
			{method: "HEAD", path: "/machines", status: 200, headers: v01H},
			{method: "GET", path: "/leader", status: 200, want: "http://10.0.0.1:7001", headers: v01H},
			{method: "DELETE", path: "/leader", status: 200, want: "http://10.0.0.1:7001"},
			{method: "HEAD", path: "/leader", status: 200, headers: v01H},
			{method: "OPTIONS", path: "/leader", status: 200, want: "http://10.0.0.1:7001"},
			// The 0.1.2+ forms stay available.
			{method: "GET", path: "/v1/machines", status: 200, want: "http://10.0.0.1:4001, http://127.0.0.1:2379, http://10.0.0.3:4001"},
			{method: "GET", path: "/v1/leader", status: 200, want: "http://10.0.0.1:7001"},
			{method: "POST", path: "/v1/leader", status: 405, headers: map[string]string{"Content-Type": ""}},
		}},
		{"v0.1.0 without a leader", v1Opts{dialect: Dialect01, node: leaderIs(0)}, []v1Step{
			{method: "GET", path: "/leader", status: 500, want: `{"errorCode":301,"message":"During Leader Election"}`, headers: v01H},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newV1Server(t, tc.opts)
			addPeers(t, s)
			s.run(t, tc.steps)
		})
	}
}
