package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// The v2 auth API as etcd 3.4.23 serves it (etcdserver/api/v2http
// client_auth.go), the shape etcdctl v2 and client/v2's AuthUserAPI and
// AuthRoleAPI read: /v2/auth/enable, /v2/auth/users[/<name>],
// /v2/auth/roles[/<name>]. Reads come from the local auth state; changes
// are proposed as MethodAuth requests, decided during apply with etcd's
// rules (store/auth_apply.go), and answered once every running member
// has applied them.
//
//	curl -XPUT localhost:2379/v2/auth/users/root -d '{"user":"root","password":"pw"}'
//	curl -XPUT localhost:2379/v2/auth/enable
//	curl -u root:pw localhost:2379/v2/auth/roles

const authPrefix = "/v2/auth"

// maxAuthBody bounds the JSON body of a user or role change.
const maxAuthBody = 1 << 20

// settler is implemented by a Node that can wait until every running
// member has applied what it has (raftfsm.Node.Settle).
type settler interface {
	Settle(ctx context.Context, within time.Duration)
}

// authSettleTime bounds the wait for other members after an auth change.
const authSettleTime = 5 * time.Second

// writeAuthJSON answers v with etcd's encoder: compact, then a newline.
func writeAuthJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// authHeaders are set on every answer that passed the access check.
func (a *API) authHeaders(w http.ResponseWriter) {
	h := w.Header()
	h["X-Etcd-Cluster-Id"] = []string{a.clusterIDString()}
	h["Content-Type"] = jsonContentType
}

// writeAuthError renders a failed auth change: etcd's {"message": ...}
// with the status it chose, or a keys-style error for raft trouble.
func writeAuthError(w http.ResponseWriter, err error) {
	var se *store.Error
	if errors.As(err, &se) {
		if st, ok := se.AuthStatus(); ok {
			writeMembersError(w, st, se.Message)
			return
		}
	}
	writeError(w, err)
}

// authChange proposes a change, waits until the other running members
// have applied it, so that the next request anywhere sees it, and answers
// the request with the outcome.
func (a *API) authChange(w http.ResponseWriter, r *http.Request, c *store.AuthChange) {
	ev, err := a.cfg.Node.Propose(r.Context(), &store.Request{Method: store.MethodAuth, Auth: c})
	if err != nil {
		writeAuthError(w, err)
		return
	}
	if s, ok := a.cfg.Node.(settler); ok {
		s.Settle(r.Context(), authSettleTime)
	}
	writeAuthChange(w, ev)
}

// writeAuthChange answers a successful change: 201 when etcd does, and
// the JSON etcd answers (nothing for enable, disable and deletes).
func writeAuthChange(w http.ResponseWriter, ev *store.Event) {
	status := http.StatusOK
	if ev.Action == store.ActionCreate {
		status = http.StatusCreated
	}
	w.WriteHeader(status)
	if ev.Node != nil && ev.Node.Value != nil {
		_, _ = w.Write(append([]byte(*ev.Node.Value), '\n'))
	}
}

// authEnable serves /v2/auth/enable: GET for anyone, PUT (enable) and
// DELETE (disable) for root once auth is on.
func (a *API) authEnable(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r.Method, "GET", "PUT", "DELETE") {
		return
	}
	if !a.writeRootAccess(r) {
		writeNoAuth(w)
		return
	}
	a.authHeaders(w)
	kind := store.AuthEnable
	switch r.Method {
	case http.MethodGet:
		writeAuthJSON(w, http.StatusOK, struct {
			Enabled bool `json:"enabled"`
		}{a.cfg.Store.Auth().Enabled()})
		return
	case http.MethodDelete:
		kind = store.AuthDisable
	}
	a.authChange(w, r, &store.AuthChange{Kind: kind})
}

// authSubject splits /v2/auth/users[/<name>] (or roles) as etcd does:
// after path.Clean, no name lists, one name addresses it, more is 400.
func authSubject(w http.ResponseWriter, r *http.Request) (name string, list, ok bool) {
	pieces := strings.Split(path.Clean(strings.TrimPrefix(r.URL.Path, authPrefix)), "/")
	switch len(pieces) {
	case 2:
		return "", true, true
	case 3:
		return pieces[2], false, true
	}
	writeMembersError(w, http.StatusBadRequest, "Invalid path")
	return "", false, false
}

// authResource does what every request to /v2/auth/users[/<name>] and
// /v2/auth/roles[/<name>] does first, in etcd's order: split the path,
// check the method (a list is GET only), check root access, set the
// headers. It answers the request itself when ok is false.
func (a *API) authResource(w http.ResponseWriter, r *http.Request) (name string, list bool, st *store.AuthState, ok bool) {
	name, list, ok = authSubject(w, r)
	if !ok {
		return "", false, nil, false
	}
	allowed := []string{"GET", "PUT", "DELETE"}
	if list {
		allowed = []string{"GET"}
	}
	if !allowMethod(w, r.Method, allowed...) {
		return "", false, nil, false
	}
	if !a.rootAccess(r) {
		writeNoAuth(w)
		return "", false, nil, false
	}
	a.authHeaders(w)
	return name, list, a.cfg.Store.Auth(), true
}

// userWithRoles is a user as the auth API lists it: roles expanded.
type userWithRoles struct {
	User  string        `json:"user"`
	Roles []*store.Role `json:"roles,omitempty"`
}

// authUsers serves /v2/auth/users and /v2/auth/users/<name>.
func (a *API) authUsers(w http.ResponseWriter, r *http.Request) {
	name, list, st, ok := a.authResource(w, r)
	if !ok {
		return
	}
	switch {
	case list:
		var out struct {
			Users []userWithRoles `json:"users"`
		}
		for _, n := range st.UserNames() {
			u, _ := st.User(n)
			uw := userWithRoles{User: u.User}
			for _, rn := range u.Roles {
				if role, ok := st.Role(rn); ok { // a deleted role is left out
					uw.Roles = append(uw.Roles, role)
				}
			}
			out.Users = append(out.Users, uw)
		}
		writeAuthJSON(w, http.StatusOK, out)
	case r.Method == http.MethodGet:
		u, ok := st.User(name)
		if !ok {
			writeMembersError(w, http.StatusNotFound, "auth: User "+name+" does not exist.")
			return
		}
		uw := userWithRoles{User: u.User}
		for _, rn := range u.Roles {
			role, ok := st.Role(rn)
			if !ok {
				writeMembersError(w, http.StatusNotFound, "auth: Role "+rn+" does not exist.")
				return
			}
			uw.Roles = append(uw.Roles, role)
		}
		writeAuthJSON(w, http.StatusOK, uw)
	case r.Method == http.MethodPut:
		a.putUser(w, r, name)
	default:
		a.authChange(w, r, &store.AuthChange{Kind: store.AuthDeleteUser, Name: name})
	}
}

// userRequest is the body of PUT /v2/auth/users/<name>.
type userRequest struct {
	User     string   `json:"user"`
	Password string   `json:"password"`
	Roles    []string `json:"roles"`
	Grant    []string `json:"grant"`
	Revoke   []string `json:"revoke"`
}

// putUser creates a user, changes its password, or grants and revokes
// roles, choosing as etcd does: grant/revoke → update; roles → create;
// neither → create or update.
func (a *API) putUser(w http.ResponseWriter, r *http.Request, name string) {
	var in userRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAuthBody)).Decode(&in); err != nil {
		writeMembersError(w, http.StatusBadRequest, "Invalid JSON in request body.")
		return
	}
	if in.User != name {
		writeMembersError(w, http.StatusBadRequest, "User JSON name does not match the name in the URL")
		return
	}
	c := &store.AuthChange{Name: name, Roles: in.Roles, Grant: in.Grant, Revoke: in.Revoke}
	switch {
	case len(in.Grant) == 0 && len(in.Revoke) == 0 && len(in.Roles) != 0:
		c.Kind = store.AuthCreateUser
	case len(in.Grant) == 0 && len(in.Revoke) == 0:
		c.Kind = store.AuthPutUser
	case len(in.Roles) != 0:
		writeMembersError(w, http.StatusBadRequest, "User JSON contains both roles and grant/revoke")
		return
	default:
		c.Kind = store.AuthUpdateUser
	}
	if in.Password != "" {
		h, err := a.hashPassword(in.Password)
		if err != nil {
			writeMembersError(w, http.StatusInternalServerError, err.Error())
			return
		}
		c.PasswordHash = h
	}
	a.authChange(w, r, c)
}

// authRoles serves /v2/auth/roles and /v2/auth/roles/<name>.
func (a *API) authRoles(w http.ResponseWriter, r *http.Request) {
	name, list, st, ok := a.authResource(w, r)
	if !ok {
		return
	}
	switch {
	case list:
		var out struct {
			Roles []*store.Role `json:"roles"`
		}
		for _, n := range st.RoleNames() {
			role, _ := st.Role(n)
			out.Roles = append(out.Roles, role)
		}
		writeAuthJSON(w, http.StatusOK, out)
	case r.Method == http.MethodGet:
		role, ok := st.Role(name)
		if !ok {
			writeMembersError(w, http.StatusNotFound, "auth: Role "+name+" does not exist.")
			return
		}
		writeAuthJSON(w, http.StatusOK, role)
	case r.Method == http.MethodPut:
		a.putRole(w, r, name)
	default:
		a.authChange(w, r, &store.AuthChange{Kind: store.AuthDeleteRole, Name: name})
	}
}

// putRole creates a role (no grant or revoke: stored as sent) or applies
// a grant and/or revoke to it.
func (a *API) putRole(w http.ResponseWriter, r *http.Request, name string) {
	var in store.Role
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAuthBody)).Decode(&in); err != nil {
		writeMembersError(w, http.StatusBadRequest, "Invalid JSON in request body.")
		return
	}
	if in.Role != name {
		writeMembersError(w, http.StatusBadRequest, "Role JSON name does not match the name in the URL")
		return
	}
	c := &store.AuthChange{Kind: store.AuthCreateRole, Name: name, Role: &in}
	if !in.Grant.IsEmpty() || !in.Revoke.IsEmpty() {
		if !in.Permissions.IsEmpty() {
			writeMembersError(w, http.StatusBadRequest, "Role JSON contains both permissions and grant/revoke")
			return
		}
		c.Kind = store.AuthUpdateRole
	}
	a.authChange(w, r, c)
}
