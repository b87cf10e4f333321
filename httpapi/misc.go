package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/etcd-classic/etcd-classic/machines"
)

// version serves /version: {"etcdserver":"...","etcdcluster":"..."}.
func (a *API) version(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r.Method, "GET") {
		return
	}
	b, _ := json.Marshal(struct {
		Server  string `json:"etcdserver"`
		Cluster string `json:"etcdcluster"`
	}{a.cfg.ServerVersion, a.cfg.ClusterVersion})
	writeJSON(w, http.StatusOK, b)
}

// health serves /health as etcd 3.4 does: healthy when a linearizable
// read succeeds (so there is a leader and a quorum).
func (a *API) health(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r.Method, "GET") {
		return
	}
	ok := false
	if _, has := a.cfg.Node.LeaderID(); has {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		ok = a.cfg.Node.ReadBarrier(ctx) == nil
		cancel()
	}
	if !ok {
		writeText(w, http.StatusServiceUnavailable, `{"health":"false"}`)
		return
	}
	writeText(w, http.StatusOK, `{"health":"true"}`)
}

// machinesV2 serves /v2/machines: every member's client URLs, sorted,
// joined by ", ".
func (a *API) machinesV2(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r.Method, "GET", "HEAD") {
		return
	}
	writeText(w, http.StatusOK, strings.Join(a.cfg.Node.Cluster().ClientURLs(), ", "))
}

// statsStore serves /v2/stats/store.
func (a *API) statsStore(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r.Method, "GET") {
		return
	}
	writeJSON(w, http.StatusOK, a.cfg.Store.Stats().JSON(a.cfg.Store.WatcherCount()))
}

// selfStats is /v2/stats/self.
type selfStats struct {
	Name       string `json:"name"`
	ID         string `json:"id"`
	State      string `json:"state"`
	StartTime  string `json:"startTime"`
	LeaderInfo struct {
		Leader    string `json:"leader"`
		Uptime    string `json:"uptime"`
		StartTime string `json:"startTime"`
	} `json:"leaderInfo"`
	RecvAppendRequestCnt uint64  `json:"recvAppendRequestCnt"`
	RecvPkgRate          float64 `json:"recvPkgRate,omitempty"`
	RecvBandwidthRate    float64 `json:"recvBandwidthRate,omitempty"`
	SendAppendRequestCnt uint64  `json:"sendAppendRequestCnt"`
	SendPkgRate          float64 `json:"sendPkgRate,omitempty"`
	SendBandwidthRate    float64 `json:"sendBandwidthRate,omitempty"`
}

func (a *API) statsSelf(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r.Method, "GET") {
		return
	}
	n := a.cfg.Node
	s := selfStats{Name: n.Name(), ID: machines.IDString(n.ID()), State: n.State(),
		StartTime: a.cfg.StartTime.Format(time.RFC3339Nano)}
	if lid, ok := n.LeaderID(); ok {
		s.LeaderInfo.Leader = machines.IDString(lid)
	}
	s.LeaderInfo.StartTime = a.cfg.StartTime.Format(time.RFC3339Nano)
	s.LeaderInfo.Uptime = a.cfg.Now().Sub(a.cfg.StartTime).String()
	b, _ := json.Marshal(s)
	writeJSON(w, http.StatusOK, b)
}

// statsLeader serves /v2/stats/leader (leader only: 403 elsewhere).
func (a *API) statsLeader(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r.Method, "GET") {
		return
	}
	n := a.cfg.Node
	if !n.IsLeader() {
		writeJSON(w, http.StatusForbidden, []byte(`{"message":"not current leader"}`))
		return
	}
	var b strings.Builder
	b.WriteString(`{"leader":"`)
	b.WriteString(machines.IDString(n.ID()))
	b.WriteString(`","followers":{`)
	firstF := true
	for _, m := range n.Cluster().Sorted() {
		if m.ID == n.ID() {
			continue
		}
		if !firstF {
			b.WriteByte(',')
		}
		firstF = false
		b.WriteString(strconv.Quote(machines.IDString(m.ID)))
		b.WriteString(`:{"latency":{"current":0,"average":0,"standardDeviation":0,"minimum":0,"maximum":0},"counts":{"fail":0,"success":0}}`)
	}
	b.WriteString("}}")
	writeJSON(w, http.StatusOK, []byte(b.String()))
}
