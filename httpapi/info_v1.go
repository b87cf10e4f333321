package httpapi

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// Version01 is what etcd v0.1.0 answered on "/" (served with
// --v1-dialect=0.1 only).
const Version01 = "etcd v0.1.0"

// machinesV1 serves /v1/machines and /v1/peers: the client URL of every
// member, leader first (go-etcd takes element 0 for the leader), the
// others by name, joined by exactly ", ", no newline (etcd 0.4.6).
//
//	curl -L http://127.0.0.1:4001/v1/machines
func (a *API) machinesV1(w http.ResponseWriter, r *http.Request) {
	if !a.v1Method(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	lid, ok := a.cfg.Node.LeaderID()
	a.writeV1Text(w, r, strings.Join(a.memberClientURLs(lid, ok), ", "))
}

// leaderV1 serves /v1/leader: the leader's peer URL, or 500/301 while
// there is none.
//
//	curl -L http://127.0.0.1:4001/v1/leader
func (a *API) leaderV1(w http.ResponseWriter, r *http.Request) {
	if !a.v1Method(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	a.writeLeader(w, r)
}

// machinesRoot serves /machines: /v1/machines of etcd 0.4.6 in the default
// dialect (0.4.6 itself no longer served it); in v0.1.0's, whatever the
// method, this member first and the URLs joined by ",".
func (a *API) machinesRoot(w http.ResponseWriter, r *http.Request) {
	if !a.v01() {
		a.machinesV1(w, r)
		return
	}
	a.writeV1Text(w, r, strings.Join(a.memberClientURLs(a.cfg.Node.ID(), true), ","))
}

// leaderRoot serves /leader: /v1/leader, with v0.1.0 ignoring the method.
func (a *API) leaderRoot(w http.ResponseWriter, r *http.Request) {
	if !a.v01() {
		a.leaderV1(w, r)
		return
	}
	a.writeLeader(w, r)
}

func (a *API) writeLeader(w http.ResponseWriter, r *http.Request) {
	c := a.cfg.Node.Cluster()
	lid, ok := a.cfg.Node.LeaderID()
	m := c.Members[lid]
	if !ok || m == nil || len(m.PeerURLs) == 0 {
		a.writeV1Error(w, r, store.NewError(store.EcodeLeaderElect, "", 0))
		return
	}
	a.writeV1Text(w, r, m.PeerURLs[0])
}

// memberClientURLs lists the first client URL of every started member:
// member first (when known) first, the others ordered by name.
func (a *API) memberClientURLs(first uint64, known bool) []string {
	c := a.cfg.Node.Cluster()
	var out []string
	if m := c.Members[first]; known && m != nil && len(m.ClientURLs) > 0 {
		out = append(out, m.ClientURLs[0])
	}
	others := c.Sorted()
	sort.SliceStable(others, func(i, j int) bool { return others[i].Name < others[j].Name })
	for _, m := range others {
		if (known && m.ID == first) || len(m.ClientURLs) == 0 {
			continue
		}
		out = append(out, m.ClientURLs[0])
	}
	return out
}

// rootV01 serves "/": v0.1.0's version text in that dialect, 404 in
// etcd 0.4.6's.
func (a *API) rootV01(w http.ResponseWriter, r *http.Request) {
	if !a.v01() {
		http.NotFound(w, r)
		return
	}
	a.writeV1Text(w, r, Version01)
}

// statsV01 serves v0.1.0's /stats: request counters of the store.
func (a *API) statsV01(w http.ResponseWriter, r *http.Request) {
	if !a.v01() {
		http.NotFound(w, r)
		return
	}
	st := a.cfg.Store.Stats()
	b, _ := json.Marshal(struct {
		Gets        uint64 `json:"gets"`
		Sets        uint64 `json:"sets"`
		Deletes     uint64 `json:"deletes"`
		TestAndSets uint64 `json:"testAndSets"`
	}{
		Gets:        st.GetsSuccess.Load() + st.GetsFail.Load(),
		Sets:        st.SetsSuccess.Load() + st.SetsFail.Load(),
		Deletes:     st.DeleteSuccess.Load() + st.DeleteFail.Load(),
		TestAndSets: st.CompareAndSwapSuccess.Load() + st.CompareAndSwapFail.Load(),
	})
	a.writeV1OK(w, r, b)
}

// statsSelfV1 serves /v1/stats/self.
func (a *API) statsSelfV1(w http.ResponseWriter, r *http.Request) {
	if !a.v1Method(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	// etcd 0.4.6's version (server/raft_server_stats.go): names, not IDs,
	// and no id field.
	s := a.selfStatsNow(state04(a.cfg.Node.State()), a.memberName)
	b, _ := json.Marshal(s)
	writeJSON(w, http.StatusOK, b)
}

// state04 names a raft state as etcd 0.4.6's go-raft did.
func state04(s string) string {
	return strings.ToLower(strings.TrimPrefix(s, "State"))
}

func (a *API) memberName(id uint64) string {
	if m := a.cfg.Node.Cluster().Members[id]; m != nil && m.Name != "" {
		return m.Name
	}
	return machines.IDString(id)
}

type latencyV1 struct {
	Current float64 `json:"current"`
	Average float64 `json:"average"`
	StdDev  float64 `json:"standardDeviation"`
	Minimum float64 `json:"minimum"`
	Maximum float64 `json:"maximum"`
}

type followerV1 struct {
	Latency latencyV1 `json:"latency"`
	Counts  struct {
		Fail    uint64 `json:"fail"`
		Success uint64 `json:"success"`
	} `json:"counts"`
}

// statsLeaderV1 serves /v1/stats/leader: the leader's followers by name,
// latencies in milliseconds. A follower answers 307 to the leader's
// client URL with the same path (etcd 0.4.6); without a leader, 300.
func (a *API) statsLeaderV1(w http.ResponseWriter, r *http.Request) {
	if !a.v1Method(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	n := a.cfg.Node
	stats, ok := n.LeaderStats()
	if !ok {
		lid, known := n.LeaderID()
		m := n.Cluster().Members[lid]
		if !known || m == nil || len(m.ClientURLs) == 0 {
			a.writeV1Error(w, r, store.NewError(store.EcodeRaftInternal, "", 0))
			return
		}
		http.Redirect(w, r, strings.TrimRight(m.ClientURLs[0], "/")+r.URL.Path, http.StatusTemporaryRedirect)
		return
	}
	out := struct {
		Leader    string                `json:"leader"`
		Followers map[string]followerV1 `json:"followers"`
	}{Leader: n.Name(), Followers: map[string]followerV1{}}
	for id, st := range stats {
		var f followerV1
		f.Latency = latencyV1{st.Current * 1000, st.Average * 1000, st.StdDev * 1000, st.Min * 1000, st.Max * 1000}
		f.Counts.Fail, f.Counts.Success = st.Fail, st.Success
		out.Followers[a.memberName(id)] = f
	}
	b, _ := json.Marshal(out)
	writeJSON(w, http.StatusOK, b)
}

// statsStoreV1 serves /v1/stats/store: the store counters, as on /v2.
func (a *API) statsStoreV1(w http.ResponseWriter, r *http.Request) {
	if !a.v1Method(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	writeJSON(w, http.StatusOK, a.cfg.Store.Stats().JSON(a.cfg.Store.WatcherCount()))
}
