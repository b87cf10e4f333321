package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
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
	// Membership changes need root once auth is on (etcd 3.4).
	if !a.writeRootAccess(r) {
		writeNoAuth(w)
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

// maxMemberBody bounds the JSON body of member requests.
const maxMemberBody = 1 << 20

// memberRequestBody is the JSON of POST and PUT /v2/members.
type memberRequestBody struct {
	PeerURLs  []string `json:"peerURLs"`
	IsLearner bool     `json:"isLearner"`
}

// readMemberBody enforces etcd's content type and parses the body; it
// answers the error itself and returns nil on failure.
func readMemberBody(w http.ResponseWriter, r *http.Request) *memberRequestBody {
	// etcd 3.4 compares the media type alone, trimmed and lower-cased
	// when parameters follow it, and names only that in its 415.
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = strings.ToLower(strings.TrimSpace(ct[:i]))
	}
	if ct != "application/json" {
		writeMembersError(w, http.StatusUnsupportedMediaType, "Bad Content-Type "+ct+", accept application/json")
		return nil
	}
	var body memberRequestBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxMemberBody))
	if err := dec.Decode(&body); err != nil {
		writeMembersError(w, http.StatusBadRequest, err.Error())
		return nil
	}
	body.PeerURLs = machines.TrimURLs(body.PeerURLs)
	if err := machines.ValidateURLs(body.PeerURLs); err != nil {
		writeMembersError(w, http.StatusBadRequest, err.Error())
		return nil
	}
	return &body
}

// changeMembers handles POST (add, and /<id>/promote), PUT (update peer
// URLs) and DELETE (remove).
func (a *API) changeMembers(w http.ResponseWriter, r *http.Request, rest string) {
	idStr, action, _ := strings.Cut(rest, "/")
	if action != "promote" {
		// Only POST /v2/members/<id>/promote has a suffix; anything else
		// after an ID names no member ("No such member: a/b").
		idStr = rest
	}
	switch {
	case r.Method == http.MethodPost && action == "promote":
		id, ok := a.memberID(w, idStr)
		if !ok {
			return
		}
		m, err := a.cfg.Node.PromoteMember(r.Context(), id)
		if err != nil {
			a.memberError(w, err, idStr)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(toMemberJSON(m))
	case r.Method == http.MethodPost:
		// etcd ignores any path suffix on POST.
		body := readMemberBody(w, r)
		if body == nil {
			return
		}
		m, err := a.cfg.Node.AddMember(r.Context(), body.PeerURLs, body.IsLearner)
		if err != nil {
			a.memberError(w, err, "")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(toMemberJSON(m))
	case idStr == "":
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
	case r.Method == http.MethodPut:
		id, ok := a.memberID(w, idStr)
		if !ok {
			return
		}
		body := readMemberBody(w, r)
		if body == nil {
			return
		}
		if err := a.cfg.Node.UpdateMember(r.Context(), id, body.PeerURLs); err != nil {
			a.memberError(w, err, machines.IDString(id))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodDelete:
		id, ok := a.memberID(w, idStr)
		if !ok {
			return
		}
		if err := a.cfg.Node.RemoveMember(r.Context(), id); err != nil {
			a.memberError(w, err, machines.IDString(id))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// memberID parses a hex member ID; a non-hex one is "No such member",
// echoing the raw text as etcd does.
func (a *API) memberID(w http.ResponseWriter, s string) (uint64, bool) {
	id, err := machines.ParseID(s)
	if err != nil || strings.Contains(s, "/") {
		writeMembersError(w, http.StatusNotFound, "No such member: "+s)
		return 0, false
	}
	return id, true
}

// memberError maps membership failures to etcd's statuses. Strict
// reconfiguration refusals keep etcd's 500 but say why.
func (a *API) memberError(w http.ResponseWriter, err error, id string) {
	switch {
	case errors.Is(err, machines.ErrIDNotFound):
		writeMembersError(w, http.StatusNotFound, "No such member: "+id)
	case errors.Is(err, machines.ErrIDRemoved):
		writeMembersError(w, http.StatusGone, "Member permanently removed: "+id)
	case errors.Is(err, machines.ErrIDExists), errors.Is(err, machines.ErrPeerURLExists):
		writeMembersError(w, http.StatusConflict, err.Error())
	case errors.Is(err, machines.ErrBadURL), errors.Is(err, machines.ErrNotLearner):
		writeMembersError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, machines.ErrNotCaughtUp):
		writeMembersError(w, http.StatusPreconditionFailed, err.Error())
	default:
		var se *store.Error
		if errors.As(err, &se) && se.Cause != "" {
			writeMembersError(w, http.StatusInternalServerError, se.Cause)
			return
		}
		writeMembersError(w, http.StatusInternalServerError, err.Error())
	}
}
