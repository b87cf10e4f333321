package store

import (
	"sort"
	"strings"
)

// The v2 authentication state (etcd 2.2+'s users, roles and the enabled
// flag) is part of the replicated state: a separate part of the store,
// never reachable through a key path, changed only by MethodAuth requests
// (auth_apply.go) and saved in every snapshot. Readers see it through an
// immutable *AuthState, swapped atomically on every change, so checking
// a request's permissions takes no lock.

// Names with a fixed meaning in etcd's v2 auth.
const (
	// RootUser is the user that must exist before auth can be enabled;
	// it always holds the root role.
	RootUser = "root"
	// RootRole grants everything: every key, /v2/auth and membership
	// changes. It is built in and cannot be changed.
	RootRole = "root"
	// GuestRole is what a request without credentials gets once auth is
	// enabled. Enabling auth creates it with read/write on /* if missing.
	GuestRole = "guest"
)

// User is a v2 auth user as etcd stores it: Password is the bcrypt hash
// (never rendered to clients), Roles the role names exactly as given
// (etcd keeps the order and duplicates of a create, and sorts them on the
// first update). A nil Roles renders as null, an empty one as [].
type User struct {
	User     string   `json:"user"`
	Password string   `json:"password,omitempty"`
	Roles    []string `json:"roles"`
}

// Role is a v2 auth role as etcd stores it. Grant and Revoke are kept
// only because etcd stores a created role exactly as it was sent, so a
// create that carried empty grant/revoke objects shows them forever.
type Role struct {
	Role        string       `json:"role"`
	Permissions Permissions  `json:"permissions"`
	Grant       *Permissions `json:"grant,omitempty"`
	Revoke      *Permissions `json:"revoke,omitempty"`
}

// Permissions holds a role's key permissions.
type Permissions struct {
	KV RWPermission `json:"kv"`
}

// RWPermission lists key patterns: a pattern ending in "*" matches every
// key that starts with what comes before the star, any other pattern
// matches one key exactly.
type RWPermission struct {
	Read  []string `json:"read"`
	Write []string `json:"write"`
}

// IsEmpty reports whether p grants nothing (nil counts as empty), etcd's
// test for "this request carries no grant/revoke".
func (p *Permissions) IsEmpty() bool {
	return p == nil || (len(p.KV.Read) == 0 && len(p.KV.Write) == 0)
}

// rootRole is the built-in root role as etcd renders it.
var rootRole = Role{Role: RootRole, Permissions: Permissions{KV: RWPermission{Read: []string{"/*"}, Write: []string{"/*"}}}}

// AuthState is one immutable version of the authentication state. The
// store replaces it as a whole on every change; holders may keep using
// an old one (it is never modified).
type AuthState struct {
	enabled bool
	// dirs says that etcd's bookkeeping nodes (/2, /2/users/,
	// /2/roles/, /2/enabled) exist. etcd creates them, four writes and
	// four store indexes, before the first auth write of a cluster's
	// life; this state spends the same indexes (auth_apply.go).
	dirs  bool
	users map[string]*User
	roles map[string]*Role // root is never stored
}

// emptyAuth is the state of a new store: auth off, nothing created.
var emptyAuth = &AuthState{users: map[string]*User{}, roles: map[string]*Role{}}

// Enabled reports whether authentication is on.
func (a *AuthState) Enabled() bool { return a.enabled }

// User returns the named user; the root user always holds the root role
// (etcd attaches it on every read). The result is a copy.
func (a *AuthState) User(name string) (*User, bool) {
	u, ok := a.users[name]
	if !ok {
		return nil, false
	}
	c := *u
	c.Roles = cloneStrings(u.Roles)
	if name == RootUser && !contains(c.Roles, RootRole) {
		c.Roles = append(c.Roles, RootRole)
	}
	return &c, true
}

// PasswordHash returns the bcrypt hash of the named user's password.
func (a *AuthState) PasswordHash(name string) (string, bool) {
	u, ok := a.users[name]
	if !ok {
		return "", false
	}
	return u.Password, true
}

// Role returns the named role (root is built in). The result shares
// nothing with the state.
func (a *AuthState) Role(name string) (*Role, bool) {
	if name == RootRole {
		r := cloneRole(&rootRole)
		return r, true
	}
	r, ok := a.roles[name]
	if !ok {
		return nil, false
	}
	return cloneRole(r), true
}

// UserNames lists the users, sorted (nil when there are none, which etcd
// renders as "users":null).
func (a *AuthState) UserNames() []string {
	var out []string
	for n := range a.users {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// RoleNames lists the roles, root included, sorted.
func (a *AuthState) RoleNames() []string {
	out := []string{RootRole}
	for n := range a.roles {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// IsRoot reports whether the named user holds the root role (the right
// to use /v2/auth and change the membership once auth is on).
func (a *AuthState) IsRoot(user string) bool {
	u, ok := a.users[user]
	if !ok {
		return false
	}
	return user == RootUser || contains(u.Roles, RootRole)
}

// CanAccess reports whether a request may read (write=false) or write
// key, with etcd 2.x's rules (etcdserver/api/v2http hasKeyPrefixAccess):
// always when auth is off; without credentials (user "") as the guest
// role, with a plain key match whatever recursive says; otherwise as
// any role of the user (roles that no longer exist give nothing), with a
// plain match, or for a recursive request a prefix match on patterns
// that end in "*". key is the path exactly as the client wrote it after
// /v2/keys ("" for /v2/keys itself). An unknown user has no access.
func (a *AuthState) CanAccess(user, key string, recursive, write bool) bool {
	if !a.enabled {
		return true
	}
	if user == "" {
		g, ok := a.roles[GuestRole]
		return ok && g.hasKeyAccess(key, write)
	}
	u, ok := a.users[user]
	if !ok {
		return false
	}
	if user == RootUser {
		return true // root always holds the root role
	}
	for _, name := range u.Roles {
		if name == RootRole {
			return true
		}
		r, ok := a.roles[name]
		if !ok {
			continue
		}
		if recursive {
			if r.Permissions.KV.hasRecursiveAccess(key, write) {
				return true
			}
		} else if r.hasKeyAccess(key, write) {
			return true
		}
	}
	return false
}

func (r *Role) hasKeyAccess(key string, write bool) bool {
	if r.Role == RootRole {
		return true
	}
	return r.Permissions.KV.hasAccess(key, write)
}

func (p RWPermission) list(write bool) []string {
	if write {
		return p.Write
	}
	return p.Read
}

func (p RWPermission) hasAccess(key string, write bool) bool {
	for _, pat := range p.list(write) {
		if patternMatch(pat, key) {
			return true
		}
	}
	return false
}

// hasRecursiveAccess: only star patterns can grant a whole subtree.
func (p RWPermission) hasRecursiveAccess(key string, write bool) bool {
	for _, pat := range p.list(write) {
		if strings.HasSuffix(pat, "*") && strings.HasPrefix(key, pat[:len(pat)-1]) {
			return true
		}
	}
	return false
}

// patternMatch is etcd's simpleMatch: "x*" matches keys starting with
// "x", anything else matches itself. An empty pattern matches nothing
// (etcd would crash on it; the API refuses to store one).
func patternMatch(pat, key string) bool {
	if pat == "" {
		return false
	}
	if pat[len(pat)-1] == '*' {
		return strings.HasPrefix(key, pat[:len(pat)-1])
	}
	return key == pat
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// cloneStrings copies a list keeping the nil / empty distinction, which
// etcd's JSON shows (null versus []).
func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append(make([]string, 0, len(s)), s...)
}

func clonePerms(p *Permissions) *Permissions {
	if p == nil {
		return nil
	}
	return &Permissions{KV: RWPermission{Read: cloneStrings(p.KV.Read), Write: cloneStrings(p.KV.Write)}}
}

func cloneRole(r *Role) *Role {
	c := &Role{Role: r.Role, Grant: clonePerms(r.Grant), Revoke: clonePerms(r.Revoke)}
	c.Permissions = *clonePerms(&r.Permissions)
	return c
}

// Auth returns the current authentication state. It takes no lock and
// may be called from anywhere, watch filters included.
func (s *Store) Auth() *AuthState { return s.auth.Load() }
