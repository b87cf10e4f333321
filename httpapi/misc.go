package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

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

// healthTimeout bounds /health's linearizable read, as etcd 3.4 bounds
// its QGET by one second.
const healthTimeout = time.Second

// health serves /health as etcd 3.4 does: healthy when no alarm is
// raised (here: the data dir has room for writes, RaftStats.NoSpace), a
// leader is known and a linearizable read succeeds within healthTimeout
// (so there is a quorum); otherwise 503 {"health":"false"} — at once on
// a full disk or without a leader, after healthTimeout when the leader
// cannot confirm its term.
func (a *API) health(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r.Method, "GET") {
		return
	}
	// etcd 3.4: an alarm makes the member unhealthy.
	alarm := a.cfg.RaftStats != nil && a.cfg.RaftStats().NoSpace
	ok := false
	if _, has := a.cfg.Node.LeaderID(); has && !alarm {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		ok = a.cfg.Node.ReadBarrier(ctx) == nil
		cancel()
	}
	if !ok {
		// etcd 3.4 answers through http.Error: a trailing newline and
		// X-Content-Type-Options: nosniff, which the 200 has not.
		http.Error(w, `{"health":"false"}`, http.StatusServiceUnavailable)
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

// selfStats is /v2/stats/self and, without the ID, etcd 0.4.6's
// /v1/stats/self.
type selfStats struct {
	Name       string `json:"name"`
	ID         string `json:"id,omitempty"`
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
	s := a.selfStatsNow(n.State(), machines.IDString)
	s.ID = machines.IDString(n.ID())
	b, _ := json.Marshal(s)
	writeJSON(w, http.StatusOK, b)
}

// selfStatsNow fills what /v2/stats/self and /v1/stats/self both report;
// state is the raft state as the version names it, leader names the
// leader (its ID in v2, its name in 0.4).
func (a *API) selfStatsNow(state string, leader func(uint64) string) selfStats {
	n := a.cfg.Node
	s := selfStats{Name: n.Name(), State: state, StartTime: a.cfg.StartTime.Format(time.RFC3339Nano)}
	if lid, ok := n.LeaderID(); ok {
		s.LeaderInfo.Leader = leader(lid)
	}
	since := a.leaderSince()
	s.LeaderInfo.StartTime = since.Format(time.RFC3339Nano)
	s.LeaderInfo.Uptime = a.cfg.Now().Sub(since).String()
	s.fillAppends(n.AppendStats())
	return s
}

// fillAppends copies the member's append traffic into the stats.
func (s *selfStats) fillAppends(as machines.AppendStats) {
	s.RecvAppendRequestCnt, s.SendAppendRequestCnt = as.RecvCount, as.SendCount
	s.RecvPkgRate, s.RecvBandwidthRate = as.RecvPkgRate, as.RecvBytesRate
	s.SendPkgRate, s.SendBandwidthRate = as.SendPkgRate, as.SendBytesRate
}

// leaderSince is when this member first saw the current leader (its
// start time until it has seen one).
func (a *API) leaderSince() time.Time {
	if t := a.cfg.Node.LeaderSince(); !t.IsZero() {
		return t
	}
	return a.cfg.StartTime
}

type latencyJSON struct {
	Current float64 `json:"current"`
	Average float64 `json:"average"`
	StdDev  float64 `json:"standardDeviation"`
	Minimum float64 `json:"minimum"`
	Maximum float64 `json:"maximum"`
}

type followerJSON struct {
	Latency latencyJSON `json:"latency"`
	Counts  struct {
		Fail    uint64 `json:"fail"`
		Success uint64 `json:"success"`
	} `json:"counts"`
}

// statsLeader serves /v2/stats/leader (leader only: 403 elsewhere).
func (a *API) statsLeader(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r.Method, "GET") {
		return
	}
	n := a.cfg.Node
	stats, ok := n.LeaderStats()
	if !ok {
		writeJSON(w, http.StatusForbidden, []byte(`{"message":"not current leader"}`))
		return
	}
	out := struct {
		Leader    string                  `json:"leader"`
		Followers map[string]followerJSON `json:"followers"`
	}{Leader: machines.IDString(n.ID()), Followers: map[string]followerJSON{}}
	for id, st := range stats {
		var f followerJSON
		f.Latency = latencyJSON{st.Current, st.Average, st.StdDev, st.Min, st.Max}
		f.Counts.Fail, f.Counts.Success = st.Fail, st.Success
		out.Followers[machines.IDString(id)] = f
	}
	b, _ := json.Marshal(out)
	writeJSON(w, http.StatusOK, b)
}

// configLocalLog serves PUT /config/local/log {"Level":"DEBUG"}: change
// this member's log level at run time (etcd 2.x).
func (a *API) configLocalLog(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r.Method, "PUT") {
		return
	}
	// etcd leaves this open even with auth on; changing how a member
	// logs is an administrator's act, so here it needs root then.
	if !a.rootAccess(r) {
		writeNoAuth(w)
		return
	}
	var body struct{ Level string }
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&body); err != nil {
		writeMembersError(w, http.StatusBadRequest, err.Error())
		return
	}
	lvl, err := logrus.ParseLevel(strings.ToLower(body.Level))
	if err != nil {
		writeMembersError(w, http.StatusBadRequest, "Invalid log level "+body.Level)
		return
	}
	a.log.Logger.SetLevel(lvl)
	a.log.WithField("level", lvl.String()).Info("log level changed")
	w.WriteHeader(http.StatusNoContent)
}
