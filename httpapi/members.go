package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/etcd-classic/etcd-classic/machines"
)

// memberJSON is a member as /v2/members renders it; clientURLs is [] for
// a member that has not started.
type memberJSON struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	IsLearner  bool     `json:"isLearner,omitempty"`
}

func toMemberJSON(m *machines.Member) memberJSON {
	j := memberJSON{ID: machines.IDString(m.ID), Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.IsLearner}
	if j.PeerURLs == nil {
		j.PeerURLs = []string{}
	}
	if j.ClientURLs == nil {
		j.ClientURLs = []string{}
	}
	return j
}

// writeMembersError is the /v2/members error shape: {"message":...}
// without a trailing newline.
func writeMembersError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{msg})
	writeJSON(w, status, b)
}

// membersV2 serves /v2/members and /v2/members/<id>.
func (a *API) membersV2(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r.Method, "GET", "POST", "DELETE", "PUT") {
		return
	}
	w.Header().Set("X-Etcd-Cluster-Id", machines.IDString(a.cfg.Node.ClusterID()))
	rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/v2/members"), "/")
	switch r.Method {
	case http.MethodGet:
		switch rest {
		case "":
			list := []memberJSON{}
			for _, m := range a.cfg.Node.Cluster().Sorted() {
				list = append(list, toMemberJSON(m))
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(struct {
				Members []memberJSON `json:"members"`
			}{list})
		case "leader":
			lid, ok := a.cfg.Node.LeaderID()
			m := a.cfg.Node.Cluster().Members[lid]
			if !ok || m == nil {
				writeMembersError(w, http.StatusServiceUnavailable, "During election")
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(toMemberJSON(m))
		default:
			writeMembersError(w, http.StatusNotFound, "Not found")
		}
	default:
		a.changeMembers(w, r, rest)
	}
}

// changeMembers handles POST, PUT and DELETE (runtime reconfiguration).
func (a *API) changeMembers(w http.ResponseWriter, r *http.Request, rest string) {
	writeMembersError(w, http.StatusInternalServerError, "membership changes are not supported by this member yet")
}
