package store

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
)

// Kinds of AuthChange, one per operation of etcd 2.x's auth store
// (etcdserver/api/v2auth).
const (
	AuthEnable     = "enable"     // EnableAuth
	AuthDisable    = "disable"    // DisableAuth
	AuthPutUser    = "putUser"    // CreateOrUpdateUser: PUT without roles, grant or revoke
	AuthCreateUser = "createUser" // CreateUser: PUT with roles
	AuthUpdateUser = "updateUser" // UpdateUser: PUT with grant and/or revoke
	AuthDeleteUser = "deleteUser" // DeleteUser
	AuthCreateRole = "createRole" // CreateRole: PUT without grant or revoke
	AuthUpdateRole = "updateRole" // UpdateRole: PUT with grant and/or revoke
	AuthDeleteRole = "deleteRole" // DeleteRole
)

// AuthChange is the body of a MethodAuth request: one change of the
// authentication state, decided at apply time from the state it meets,
// so concurrent changes compose and every replica decides alike.
type AuthChange struct {
	Kind string `json:"kind"`
	// Name is the user or role.
	Name string `json:"name,omitempty"`
	// PasswordHash is the bcrypt hash of the new password ("" = none
	// given). It is computed before proposing, by the member that
	// received the request: bcrypt salts at random, so hashing during
	// apply would give every replica a different hash.
	PasswordHash string `json:"passwordHash,omitempty"`
	// Roles of a created user (createUser). Grant and Revoke are role
	// names for updateUser.
	Roles  []string `json:"roles,omitempty"`
	Grant  []string `json:"grant,omitempty"`
	Revoke []string `json:"revoke,omitempty"`
	// Role is the role as sent (createRole: stored as is; updateRole:
	// its Grant and Revoke are applied).
	Role *Role `json:"role,omitempty"`
}

// Auth failures are not etcd key errors: etcd's auth API answers
// {"message": ...} with an HTTP status. They travel as *Error values
// (so that they cross the cluster RPC like any apply failure) whose code
// is ecodeAuthBase plus the HTTP status and whose Message is etcd's text.
const ecodeAuthBase = 10000

// authErr builds an auth failure with etcd's "auth: " prefix.
func authErr(status int, format string, args ...any) *Error {
	return &Error{Code: ecodeAuthBase + status, Message: "auth: " + fmt.Sprintf(format, args...)}
}

// AuthStatus reports whether e is an auth API failure, and its HTTP
// status; Message is then the text etcd answers.
func (e *Error) AuthStatus() (int, bool) {
	if e.Code > ecodeAuthBase && e.Code < ecodeAuthBase+600 {
		return e.Code - ecodeAuthBase, true
	}
	return 0, false
}

// applyAuth performs an auth change. It returns an event whose Action is
// ActionCreate when the answer is etcd's 201, ActionSet otherwise, and
// whose Node.Value is the JSON body etcd answers (empty for enable,
// disable and deletes); EtcdIndex is the store index after the change.
// Every write etcd would make takes one store index, exactly as in etcd
// 3.4 (the first auth write of the cluster takes four more), and a
// failure changes nothing.
func (s *Store) applyAuth(c *AuthChange) (*Event, error) {
	if c == nil {
		return nil, NewError(EcodeRaftInternal, "auth request without a change", 0)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &authTxn{st: s.auth.Load()}
	body, err := t.run(c)
	// etcd's auth store is not transactional: writes made before a
	// failure stay. The only such writes are the bookkeeping nodes that
	// the first delete or create of a cluster makes before it finds out
	// that it fails.
	next := t.commit(s)
	if err != nil {
		return nil, err
	}
	if len(t.events) == 0 {
		return nil, NewError(EcodeRaftInternal, "auth change made no write", 0)
	}
	action := ActionSet
	if t.created {
		action = ActionCreate
	}
	ev := &Event{Action: action, Node: &NodeExtern{Key: "/2/" + c.Kind}, EtcdIndex: next}
	if body != nil {
		v := string(body)
		ev.Node.Value = &v
	}
	return ev, nil
}

// commit gives each write its store index, records it in the history and
// installs the new state; it returns the store index. Caller holds s.mu.
func (t *authTxn) commit(s *Store) uint64 {
	if len(t.events) == 0 {
		return s.index
	}
	next := s.index
	for _, e := range t.events {
		// Kept in the history, where they take room as etcd's writes
		// under its internal /2 directory do; no watcher matches them.
		next++
		e.Node.ModifiedIndex, e.Node.CreatedIndex, e.EtcdIndex = next, next, next
		e.internal = true
		s.hub.add(e)
	}
	s.advance(next)
	s.auth.Store(t.st)
	return next
}

// authTxn is one auth change in progress: st is the state being built
// (copied before its first change), events the writes etcd would make.
type authTxn struct {
	st      *AuthState
	copied  bool
	events  []*Event
	created bool
}

// write records one of etcd's writes under /2; ensure creates etcd's
// bookkeeping nodes first, as its setResource and deleteResource do.
func (t *authTxn) write(action, key string) {
	t.ensure()
	t.events = append(t.events, &Event{Action: action, Node: &NodeExtern{Key: key}})
}

func (t *authTxn) ensure() {
	if t.st.dirs {
		return
	}
	t.mutable().dirs = true
	for _, k := range []string{"/2", "/2/users", "/2/roles", "/2/enabled"} {
		t.events = append(t.events, &Event{Action: ActionCreate, Node: &NodeExtern{Key: k}})
	}
}

// mutable returns a private copy of the state to change.
func (t *authTxn) mutable() *AuthState {
	if !t.copied {
		n := &AuthState{enabled: t.st.enabled, dirs: t.st.dirs,
			users: make(map[string]*User, len(t.st.users)+1), roles: make(map[string]*Role, len(t.st.roles)+1)}
		for k, v := range t.st.users {
			n.users[k] = v
		}
		for k, v := range t.st.roles {
			n.roles[k] = v
		}
		t.st, t.copied = n, true
	}
	return t.st
}

func (t *authTxn) run(c *AuthChange) ([]byte, error) {
	switch c.Kind {
	case AuthEnable:
		return nil, t.enable()
	case AuthDisable:
		if !t.st.enabled {
			return nil, authErr(http.StatusConflict, "already disabled")
		}
		t.write(ActionUpdate, "/2/enabled")
		t.mutable().enabled = false
		return nil, nil
	case AuthPutUser:
		if _, ok := t.st.users[c.Name]; ok {
			return t.updateUser(c)
		}
		t.created = true
		return t.createUser(c)
	case AuthCreateUser:
		return t.createUser(c)
	case AuthUpdateUser:
		return t.updateUser(c)
	case AuthDeleteUser:
		if t.st.enabled && c.Name == RootUser {
			return nil, authErr(http.StatusForbidden, "Cannot delete root user while auth is enabled.")
		}
		t.ensure()
		if _, ok := t.st.users[c.Name]; !ok {
			return nil, authErr(http.StatusNotFound, "User %s does not exist", c.Name)
		}
		t.write(ActionDelete, "/2/users/"+c.Name)
		delete(t.mutable().users, c.Name)
		return nil, nil
	case AuthCreateRole:
		if c.Role == nil {
			return nil, NewError(EcodeRaftInternal, "createRole without a role", 0)
		}
		t.created = true
		return t.createRole(cloneRole(c.Role))
	case AuthUpdateRole:
		return t.updateRole(c)
	case AuthDeleteRole:
		if c.Name == RootRole {
			return nil, authErr(http.StatusForbidden, "Cannot modify role %s: is root role.", c.Name)
		}
		t.ensure()
		if _, ok := t.st.roles[c.Name]; !ok {
			return nil, authErr(http.StatusNotFound, "Role %s doesn't exist.", c.Name)
		}
		t.write(ActionDelete, "/2/roles/"+c.Name)
		delete(t.mutable().roles, c.Name)
		return nil, nil
	}
	return nil, NewError(EcodeRaftInternal, "unknown auth change "+c.Kind, 0)
}

// enable is etcd's EnableAuth: a root user first, then the guest role
// with full access unless one exists, then the flag.
func (t *authTxn) enable() error {
	if t.st.enabled {
		return authErr(http.StatusConflict, "already enabled")
	}
	if _, ok := t.st.users[RootUser]; !ok {
		return authErr(http.StatusConflict, "No root user available, please create one")
	}
	if _, ok := t.st.roles[GuestRole]; !ok {
		guest := &Role{Role: GuestRole, Permissions: Permissions{KV: RWPermission{Read: []string{"/*"}, Write: []string{"/*"}}}}
		if _, err := t.createRole(guest); err != nil {
			return err
		}
	}
	t.write(ActionUpdate, "/2/enabled")
	t.mutable().enabled = true
	return nil
}

// createUser is etcd's CreateUser: the root user gets the root role; an
// empty password is refused before anything is written.
func (t *authTxn) createUser(c *AuthChange) ([]byte, error) {
	u := &User{User: c.Name, Password: c.PasswordHash, Roles: cloneStrings(c.Roles)}
	if c.Kind == AuthPutUser {
		u.Roles = nil // CreateOrUpdateUser is only reached without roles
	}
	if u.User == RootUser && !contains(u.Roles, RootRole) {
		u.Roles = append(u.Roles, RootRole)
	}
	if u.Password == "" {
		return nil, authErr(http.StatusBadRequest, "Cannot create user %s with an empty password", u.User)
	}
	t.ensure()
	if _, ok := t.st.users[u.User]; ok {
		return nil, authErr(http.StatusConflict, "User %s already exists.", u.User)
	}
	t.write(ActionCreate, "/2/users/"+u.User)
	t.mutable().users[u.User] = u
	return userBody(u), nil
}

// updateUser is etcd's UpdateUser: grants, then revokes, on the role set
// (which comes out sorted and without duplicates); a new password if one
// was given; an update that changes nothing is refused.
func (t *authTxn) updateUser(c *AuthChange) ([]byte, error) {
	old, ok := t.st.User(c.Name)
	if !ok {
		return nil, authErr(http.StatusNotFound, "User %s does not exist.", c.Name)
	}
	set := map[string]bool{}
	for _, r := range old.Roles {
		set[r] = true
	}
	for _, g := range c.Grant {
		if set[g] {
			return nil, authErr(http.StatusConflict, "Granting duplicate role %s for user %s", g, c.Name)
		}
		set[g] = true
	}
	for _, r := range c.Revoke {
		if !set[r] {
			return nil, authErr(http.StatusConflict, "Revoking ungranted role %s for user %s", r, c.Name)
		}
		delete(set, r)
	}
	nu := &User{User: c.Name, Password: old.Password, Roles: sortedSet(set)}
	if c.PasswordHash != "" {
		nu.Password = c.PasswordHash
	}
	if nu.Password == old.Password && sameStrings(nu.Roles, old.Roles) {
		return nil, authErr(http.StatusBadRequest, "User not updated. Use grant/revoke/password to update the user.")
	}
	t.write(ActionUpdate, "/2/users/"+c.Name)
	t.mutable().users[c.Name] = nu
	return userBody(nu), nil
}

// createRole is etcd's CreateRole: the role is stored exactly as sent.
func (t *authTxn) createRole(r *Role) ([]byte, error) {
	if r.Role == RootRole {
		return nil, authErr(http.StatusForbidden, "Cannot modify role %s: is root role.", r.Role)
	}
	t.ensure()
	if _, ok := t.st.roles[r.Role]; ok {
		return nil, authErr(http.StatusConflict, "Role %s already exists.", r.Role)
	}
	t.write(ActionCreate, "/2/roles/"+r.Role)
	t.mutable().roles[r.Role] = r
	return roleBody(r), nil
}

// updateRole is etcd's UpdateRole: grants (a duplicate is refused), then
// revokes (an ungranted permission is ignored); each list given comes out
// sorted and without duplicates, a list not touched stays as it was.
func (t *authTxn) updateRole(c *AuthChange) ([]byte, error) {
	if c.Name == RootRole {
		return nil, authErr(http.StatusForbidden, "Cannot modify role %s: is root role.", c.Name)
	}
	old, ok := t.st.roles[c.Name]
	if !ok {
		return nil, authErr(http.StatusNotFound, "Role %s does not exist.", c.Name)
	}
	var grant, revoke *Permissions
	if c.Role != nil {
		grant, revoke = c.Role.Grant, c.Role.Revoke
	}
	nr := &Role{Role: old.Role, Permissions: *clonePerms(&old.Permissions)}
	if grant != nil {
		read, err := mergePatterns(nr.Permissions.KV.Read, grant.KV.Read, true, "read")
		if err != nil {
			return nil, err
		}
		write, err := mergePatterns(nr.Permissions.KV.Write, grant.KV.Write, true, "write")
		if err != nil {
			return nil, err
		}
		nr.Permissions.KV = RWPermission{Read: read, Write: write}
	}
	if revoke != nil {
		read, _ := mergePatterns(nr.Permissions.KV.Read, revoke.KV.Read, false, "read")
		write, _ := mergePatterns(nr.Permissions.KV.Write, revoke.KV.Write, false, "write")
		nr.Permissions.KV = RWPermission{Read: read, Write: write}
	}
	if sameRole(nr, old) {
		return nil, authErr(http.StatusBadRequest, "Role not updated. Use grant/revoke to update the role.")
	}
	t.write(ActionUpdate, "/2/roles/"+c.Name)
	t.mutable().roles[c.Name] = nr
	return roleBody(nr), nil
}

// mergePatterns adds (grant) or removes patterns from a list, giving a
// sorted list without duplicates (never nil, as etcd's sets give).
func mergePatterns(cur, change []string, grant bool, kind string) ([]string, error) {
	set := map[string]bool{}
	for _, p := range cur {
		set[p] = true
	}
	for _, p := range change {
		switch {
		case grant && set[p]:
			return nil, authErr(http.StatusConflict, "Granting duplicate %s permission %s", kind, p)
		case grant:
			set[p] = true
		default:
			delete(set, p) // etcd only logs an ungranted revoke
		}
	}
	return sortedSet(set), nil
}

func sortedSet(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// sameStrings is reflect.DeepEqual on string lists: nil differs from
// empty, as it does in etcd's "not updated" checks.
func sameStrings(a, b []string) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func samePerms(a, b *Permissions) bool {
	if a == nil || b == nil {
		return a == b
	}
	return sameStrings(a.KV.Read, b.KV.Read) && sameStrings(a.KV.Write, b.KV.Write)
}

func sameRole(a, b *Role) bool {
	return a.Role == b.Role && samePerms(&a.Permissions, &b.Permissions) &&
		samePerms(a.Grant, b.Grant) && samePerms(a.Revoke, b.Revoke)
}

// userBody is the user as etcd answers a PUT: no password.
func userBody(u *User) []byte {
	b, _ := json.Marshal(User{User: u.User, Roles: u.Roles})
	return b
}

func roleBody(r *Role) []byte {
	b, _ := json.Marshal(r)
	return b
}
