package store

import (
	"bytes"
	"testing"
)

// authOp builds a MethodAuth request.
func authOp(c AuthChange) *Request { return &Request{Method: MethodAuth, Auth: &c} }

func roleWith(name string, read, write []string) *Role {
	return &Role{Role: name, Permissions: Permissions{KV: RWPermission{Read: read, Write: write}}}
}

// applyAuthText applies an auth change and renders the outcome as
// "<status> <body>" the way the HTTP layer answers it (201/200 and the
// body, or the failure's status and message).
func applyAuthText(s *Store, c AuthChange) string {
	ev, err := s.Apply(authOp(c), t0)
	if err != nil {
		se, ok := err.(*Error)
		if !ok {
			return "error " + err.Error()
		}
		st, ok := se.AuthStatus()
		if !ok {
			return "store error " + err.Error()
		}
		return itoa(st) + " " + se.Message
	}
	st := "200"
	if ev.Action == ActionCreate {
		st = "201"
	}
	if ev.Node.Value == nil {
		return st
	}
	return st + " " + *ev.Node.Value
}

func itoa(i int) string { return uitoa(uint64(i)) }

// The auth operations answer, spend store indexes and fail exactly as etcd
// 3.4.23 does; each expectation was read from a real etcd 3.4.23
// (--enable-v2) given the same requests in the same order, e.g.
//
//	curl -XPUT localhost:2379/v2/auth/users/bob -d '{"user":"bob","password":"x"}'
//
// ("index" is the store index after the step, counted from an empty
// store; etcd's first auth write also creates its four bookkeeping nodes).
func TestAuthOperationsLikeEtcd(t *testing.T) {
	t.Parallel()
	s := New()
	steps := []struct {
		name  string
		c     AuthChange
		want  string
		index uint64
	}{
		{"delete missing user on a fresh store still creates the nodes", AuthChange{Kind: AuthDeleteUser, Name: "nob"},
			"404 auth: User nob does not exist", 4},
		{"enable without root", AuthChange{Kind: AuthEnable}, "409 auth: No root user available, please create one", 4},
		{"disable when off", AuthChange{Kind: AuthDisable}, "409 auth: already disabled", 4},
		{"create bob", AuthChange{Kind: AuthPutUser, Name: "bob", PasswordHash: "h1"}, `201 {"user":"bob","roles":null}`, 5},
		{"put bob again: roles become []", AuthChange{Kind: AuthPutUser, Name: "bob"}, `200 {"user":"bob","roles":[]}`, 6},
		{"put bob unchanged", AuthChange{Kind: AuthPutUser, Name: "bob"},
			"400 auth: User not updated. Use grant/revoke/password to update the user.", 6},
		{"create without password", AuthChange{Kind: AuthPutUser, Name: "carl"},
			"400 auth: Cannot create user carl with an empty password", 6},
		{"create with roles keeps order and duplicates", AuthChange{Kind: AuthCreateUser, Name: "carl2", PasswordHash: "h", Roles: []string{"x", "a", "a"}},
			`200 {"user":"carl2","roles":["x","a","a"]}`, 7},
		{"create with roles, existing", AuthChange{Kind: AuthCreateUser, Name: "carl2", PasswordHash: "h", Roles: []string{"x"}},
			"409 auth: User carl2 already exists.", 7},
		{"first update sorts and dedups", AuthChange{Kind: AuthPutUser, Name: "carl2"}, `200 {"user":"carl2","roles":["a","x"]}`, 8},
		{"grant", AuthChange{Kind: AuthUpdateUser, Name: "bob", Grant: []string{"r1"}}, `200 {"user":"bob","roles":["r1"]}`, 9},
		{"revoke ungranted", AuthChange{Kind: AuthUpdateUser, Name: "bob", Revoke: []string{"r2"}},
			"409 auth: Revoking ungranted role r2 for user bob", 9},
		{"grant duplicate", AuthChange{Kind: AuthUpdateUser, Name: "bob", Grant: []string{"r1"}},
			"409 auth: Granting duplicate role r1 for user bob", 9},
		{"grant and revoke the same", AuthChange{Kind: AuthUpdateUser, Name: "bob", Grant: []string{"r2"}, Revoke: []string{"r2"}},
			"400 auth: User not updated. Use grant/revoke/password to update the user.", 9},
		{"update missing user", AuthChange{Kind: AuthUpdateUser, Name: "nob", Grant: []string{"r2"}}, "404 auth: User nob does not exist.", 9},
		{"new password", AuthChange{Kind: AuthUpdateUser, Name: "bob", PasswordHash: "h2"}, `200 {"user":"bob","roles":["r1"]}`, 10},
		{"delete bob", AuthChange{Kind: AuthDeleteUser, Name: "bob"}, "200", 11},
		{"create root role", AuthChange{Kind: AuthCreateRole, Role: roleWith("root", nil, nil)}, "403 auth: Cannot modify role root: is root role.", 11},
		{"create r1 with null lists", AuthChange{Kind: AuthCreateRole, Role: roleWith("r1", nil, nil)},
			`201 {"role":"r1","permissions":{"kv":{"read":null,"write":null}}}`, 12},
		{"create r1 again", AuthChange{Kind: AuthCreateRole, Role: roleWith("r1", nil, nil)}, "409 auth: Role r1 already exists.", 12},
		{"create r2 as sent", AuthChange{Kind: AuthCreateRole, Role: &Role{Role: "r2",
			Permissions: Permissions{KV: RWPermission{Read: []string{"/b", "/a", "/a"}}},
			Grant:       &Permissions{KV: RWPermission{Read: []string{}, Write: []string{}}}}},
			`201 {"role":"r2","permissions":{"kv":{"read":["/b","/a","/a"],"write":null}},"grant":{"kv":{"read":[],"write":[]}}}`, 13},
		{"grant read", AuthChange{Kind: AuthUpdateRole, Name: "r1", Role: &Role{Role: "r1", Grant: &Permissions{KV: RWPermission{Read: []string{"/x*"}}}}},
			`200 {"role":"r1","permissions":{"kv":{"read":["/x*"],"write":[]}}}`, 14},
		{"grant duplicate read", AuthChange{Kind: AuthUpdateRole, Name: "r1", Role: &Role{Role: "r1", Grant: &Permissions{KV: RWPermission{Read: []string{"/x*"}}}}},
			"409 auth: Granting duplicate read permission /x*", 14},
		{"revoke ungranted changes nothing", AuthChange{Kind: AuthUpdateRole, Name: "r1", Role: &Role{Role: "r1", Revoke: &Permissions{KV: RWPermission{Read: []string{"/nope"}}}}},
			"400 auth: Role not updated. Use grant/revoke to update the role.", 14},
		{"revoke", AuthChange{Kind: AuthUpdateRole, Name: "r1", Role: &Role{Role: "r1", Revoke: &Permissions{KV: RWPermission{Read: []string{"/x*"}}}}},
			`200 {"role":"r1","permissions":{"kv":{"read":[],"write":[]}}}`, 15},
		{"update missing role", AuthChange{Kind: AuthUpdateRole, Name: "nosuch", Role: &Role{Role: "nosuch", Revoke: &Permissions{}}},
			"404 auth: Role nosuch does not exist.", 15},
		{"delete missing role", AuthChange{Kind: AuthDeleteRole, Name: "nosuch"}, "404 auth: Role nosuch doesn't exist.", 15},
		{"delete root role", AuthChange{Kind: AuthDeleteRole, Name: "root"}, "403 auth: Cannot modify role root: is root role.", 15},
		{"delete r1", AuthChange{Kind: AuthDeleteRole, Name: "r1"}, "200", 16},
		{"create root user with a role", AuthChange{Kind: AuthCreateUser, Name: "root", PasswordHash: "hr", Roles: []string{"x"}},
			`200 {"user":"root","roles":["x","root"]}`, 17},
		{"revoke root from root", AuthChange{Kind: AuthUpdateUser, Name: "root", Revoke: []string{"root"}}, `200 {"user":"root","roles":["x"]}`, 18},
		{"guest exists before enable", AuthChange{Kind: AuthCreateRole, Role: roleWith("guest", []string{"/g"}, []string{})},
			`201 {"role":"guest","permissions":{"kv":{"read":["/g"],"write":[]}}}`, 19},
		{"enable keeps the existing guest", AuthChange{Kind: AuthEnable}, "200", 20},
		{"enable twice", AuthChange{Kind: AuthEnable}, "409 auth: already enabled", 20},
		{"delete root while enabled", AuthChange{Kind: AuthDeleteUser, Name: "root"}, "403 auth: Cannot delete root user while auth is enabled.", 20},
		{"disable", AuthChange{Kind: AuthDisable}, "200", 21},
		{"delete guest", AuthChange{Kind: AuthDeleteRole, Name: "guest"}, "200", 22},
		{"enable creates guest with full access", AuthChange{Kind: AuthEnable}, "200", 24},
	}
	for _, st := range steps {
		if got := applyAuthText(s, st.c); got != st.want || s.Index() != st.index {
			t.Errorf("%s: got %q at index %d, want %q at index %d", st.name, got, s.Index(), st.want, st.index)
		}
	}
	a := s.Auth()
	if g, ok := a.Role(GuestRole); !ok || js(t, g) != `{"role":"guest","permissions":{"kv":{"read":["/*"],"write":["/*"]}}}` {
		t.Errorf("guest after enable: %s", js(t, g))
	}
	if u, _ := a.User(RootUser); js(t, u.Roles) != `["x","root"]` {
		t.Errorf("root's roles as read: %s, want the root role attached", js(t, u.Roles))
	}
	if got := js(t, a.RoleNames()); got != `["guest","r2","root"]` {
		t.Errorf("roles %s", got)
	}
	if got := js(t, a.UserNames()); got != `["carl2","root"]` {
		t.Errorf("users %s", got)
	}
}

// etcd's permission rules (etcd 2.3 / 3.4 hasKeyPrefixAccess): star
// patterns match prefixes, recursive requests need a star pattern that
// covers the directory itself, the guest role ignores "recursive", root
// can do everything and a role that no longer exists grants nothing.
func TestAuthCanAccess(t *testing.T) {
	t.Parallel()
	s := New()
	for _, c := range []AuthChange{
		{Kind: AuthPutUser, Name: RootUser, PasswordHash: "h"},
		{Kind: AuthCreateRole, Role: roleWith("app", []string{"/app/*", "/ro/*"}, []string{"/app/*"})},
		{Kind: AuthCreateRole, Role: roleWith("exact", []string{"/e"}, nil)},
		{Kind: AuthCreateRole, Role: roleWith("gone", []string{"/*"}, []string{"/*"})},
		{Kind: AuthCreateUser, Name: "alice", PasswordHash: "h", Roles: []string{"app", "exact", "gone", "missing"}},
		{Kind: AuthCreateUser, Name: "admin", PasswordHash: "h", Roles: []string{"root"}},
		{Kind: AuthCreateRole, Role: roleWith("guest", []string{"/pub"}, []string{})},
		{Kind: AuthDeleteRole, Name: "gone"},
	} {
		if _, err := s.Apply(authOp(c), t0); err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
	}
	cases := []struct {
		user, key        string
		recursive, write bool
		off, on          bool // access with auth off, and on
	}{
		{"alice", "/app/x", false, false, true, true},
		{"alice", "/app/x", false, true, true, true},
		{"alice", "/ro/x", false, true, true, false},
		{"alice", "/other", false, false, true, false},
		{"alice", "/app", false, false, true, false},
		{"alice", "/app", true, false, true, false},
		{"alice", "/app/", true, false, true, true},
		{"alice", "/", true, false, true, false},
		{"alice", "", false, false, true, false},
		{"alice", "/e", false, false, true, true},
		{"alice", "/e", true, false, true, false}, // exact patterns never cover a subtree
		{"alice", "/e/x", false, false, true, false},
		{"root", "/anything", true, true, true, true},
		{"admin", "/", true, true, true, true},
		{"nobody", "/app/x", false, false, true, false},
		{"", "/pub", false, false, true, true},
		{"", "/pub", true, false, true, true}, // guest ignores recursive, as etcd does
		{"", "/pub", false, true, true, false},
		{"", "/pub/x", false, false, true, false},
	}
	check := func(on bool) {
		for _, c := range cases {
			want := c.off
			if on {
				want = c.on
			}
			if got := s.Auth().CanAccess(c.user, c.key, c.recursive, c.write); got != want {
				t.Errorf("auth on=%v: CanAccess(%q, %q, recursive=%v, write=%v) = %v, want %v", on, c.user, c.key, c.recursive, c.write, got, want)
			}
		}
	}
	check(false)
	if _, err := s.Apply(authOp(AuthChange{Kind: AuthEnable}), t0); err != nil {
		t.Fatal(err)
	}
	check(true)
	if !s.Auth().IsRoot("root") || !s.Auth().IsRoot("admin") || s.Auth().IsRoot("alice") || s.Auth().IsRoot("nobody") {
		t.Error("IsRoot: root and admin only")
	}
}

// A write is checked again at apply time as the user that sent it, with
// the state of that moment: what a member let through before a revoke
// reached it still fails.
func TestAuthWriteCheckedAtApply(t *testing.T) {
	t.Parallel()
	s := New()
	for _, c := range []AuthChange{
		{Kind: AuthPutUser, Name: RootUser, PasswordHash: "h"},
		{Kind: AuthCreateRole, Role: roleWith("app", []string{"/app/*"}, []string{"/app/*"})},
		{Kind: AuthCreateUser, Name: "alice", PasswordHash: "h", Roles: []string{"app"}},
		{Kind: AuthEnable},
		{Kind: AuthUpdateRole, Name: "guest", Role: &Role{Role: "guest", Revoke: &Permissions{KV: RWPermission{Read: []string{"/*"}, Write: []string{"/*"}}}}},
	} {
		if _, err := s.Apply(authOp(c), t0); err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
	}
	unauthorized := `{"errorCode":110,"message":"The request requires user authentication","cause":"Insufficient credentials","index":0}`
	cases := []struct {
		name string
		r    Request
		want string // "" = success
	}{
		{"alice in /app", Request{Method: MethodPut, Path: "/app/x", Value: "1", User: "alice"}, ""},
		{"alice in-order POST in /app/q", Request{Method: MethodPost, Path: "/app/q", Value: "1", User: "alice"}, ""},
		{"alice outside", Request{Method: MethodPut, Path: "/other", Value: "1", User: "alice"}, unauthorized},
		{"alice recursive delete of /app (needs /app*)", Request{Method: MethodDelete, Path: "/app", Recursive: true, User: "alice"}, unauthorized},
		{"guest", Request{Method: MethodPut, Path: "/app/y", Value: "1"}, unauthorized},
		{"root", Request{Method: MethodPut, Path: "/other", Value: "1", User: "root"}, ""},
		{"unknown user", Request{Method: MethodPut, Path: "/app/z", Value: "1", User: "mallory"}, unauthorized},
		{"0.1 dialect path", Request{Method: MethodPut, Path: "app/v01", Value: "1", User: "alice", V01: true}, ""},
	}
	for _, c := range cases {
		before := s.Index()
		_, err := s.Apply(&c.r, t0)
		got := ""
		if err != nil {
			got = string(err.(*Error).JSON())
		}
		if got != c.want {
			t.Errorf("%s: got %s, want %q", c.name, got, c.want)
		}
		if err != nil && s.Index() != before {
			t.Errorf("%s: a refused write took an index", c.name)
		}
	}
	// Revoking alice's role stops her next write.
	if _, err := s.Apply(authOp(AuthChange{Kind: AuthUpdateUser, Name: "alice", Revoke: []string{"app"}}), t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(&Request{Method: MethodPut, Path: "/app/x", Value: "2", User: "alice"}, t0); err == nil {
		t.Error("a write after the revoke went through")
	}
}

// A filtered watch sees only the events its filter accepts, live and from
// the history; auth changes are in the history but match no watch.
func TestWatchFilteredAndAuthEventsHidden(t *testing.T) {
	t.Parallel()
	s := New()
	mustApply(t, s, Request{Method: MethodPut, Path: "/secret/a", Value: "1"}, t0)
	if _, err := s.Apply(authOp(AuthChange{Kind: AuthPutUser, Name: "bob", PasswordHash: "h"}), t0); err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, Request{Method: MethodPut, Path: "/pub/a", Value: "1"}, t0) // index 7
	onlyPub := func(e *Event) bool { return len(e.Node.Key) >= 4 && e.Node.Key[:4] == "/pub" }

	w, err := s.WatchFiltered("/", true, false, 1, onlyPub)
	if err != nil {
		t.Fatal(err)
	}
	if e := <-w.EventChan(); e.Node.Key != "/pub/a" || e.Index() != 7 {
		t.Errorf("history: got %s, want /pub/a at 7", summary([]*Event{e}))
	}
	// Unfiltered, from index 2: the auth writes (2..6) are skipped.
	w2 := mustWatch(t, s, "/", true, false, 2)
	if e := <-w2.EventChan(); e.Node.Key != "/pub/a" {
		t.Errorf("auth events visible to a watch: got %s", summary([]*Event{e}))
	}
	// Live: a non-stream filtered watcher waits past refused events.
	live, err := s.WatchFiltered("/", true, false, 0, onlyPub)
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, Request{Method: MethodPut, Path: "/secret/b", Value: "2"}, t0)
	select {
	case e := <-live.EventChan():
		t.Fatalf("got refused event %s", summary([]*Event{e}))
	default:
	}
	mustApply(t, s, Request{Method: MethodPut, Path: "/pub/b", Value: "2"}, t0)
	if e := <-live.EventChan(); e.Node.Key != "/pub/b" {
		t.Errorf("live: got %s", summary([]*Event{e}))
	}
}

// The auth state survives a snapshot, bytes stay deterministic, and the
// restored history still hides the auth events.
func TestAuthSnapshot(t *testing.T) {
	t.Parallel()
	build := func() *Store {
		s := New()
		for _, c := range []AuthChange{
			{Kind: AuthPutUser, Name: RootUser, PasswordHash: "$2a$10$hash"},
			{Kind: AuthCreateRole, Role: roleWith("b", []string{"/b", "/a", "/a"}, nil)},
			{Kind: AuthCreateRole, Role: roleWith("a", []string{}, []string{"/x*"})},
			{Kind: AuthCreateUser, Name: "u", PasswordHash: "h", Roles: []string{"b", "a"}},
			{Kind: AuthEnable},
		} {
			if _, err := s.Apply(authOp(c), t0); err != nil {
				t.Fatal(err)
			}
		}
		mustApply(t, s, Request{Method: MethodPut, Path: "/k", Value: "v", User: "root"}, t0)
		return s
	}
	// Untouched auth: format 1, readable by builds from before auth.
	plain := New()
	mustApply(t, plain, Request{Method: MethodPut, Path: "/k", Value: "v"}, t0)
	var pb bytes.Buffer
	if err := plain.Save(&pb); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pb.Bytes(), []byte(snapshotMagicV1)) {
		t.Errorf("a store that never used auth saved as %q", pb.Bytes()[:len(snapshotMagic)])
	}
	s1, s2 := build(), build()
	var b1, b2 bytes.Buffer
	if err := s1.Save(&b1); err != nil {
		t.Fatal(err)
	}
	if err := s2.Save(&b2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1.Bytes(), b2.Bytes()) {
		t.Fatal("equal stores, different snapshot bytes")
	}
	if !bytes.HasPrefix(b1.Bytes(), []byte(snapshotMagic)) {
		t.Errorf("a store with auth saved as %q", b1.Bytes()[:len(snapshotMagic)])
	}
	r := New()
	if err := r.Restore(bytes.NewReader(b1.Bytes())); err != nil {
		t.Fatal(err)
	}
	var b3 bytes.Buffer
	if err := r.Save(&b3); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1.Bytes(), b3.Bytes()) {
		t.Error("save → restore → save changed the bytes")
	}
	a := r.Auth()
	if !a.Enabled() || a.CanAccess("", "/k", false, false) != true || a.CanAccess("u", "/q", false, false) {
		t.Error("restored permissions differ")
	}
	if h, _ := a.PasswordHash(RootUser); h != "$2a$10$hash" {
		t.Errorf("root's hash %q", h)
	}
	if rb, _ := a.Role("b"); js(t, rb) != `{"role":"b","permissions":{"kv":{"read":["/b","/a","/a"],"write":null}}}` {
		t.Errorf("role b: %s", js(t, rb))
	}
	if _, err := r.Apply(authOp(AuthChange{Kind: AuthEnable}), t0); err == nil {
		t.Error("enable on a restored enabled store succeeded")
	}
	w := mustWatch(t, r, "/", true, false, 1)
	if e := <-w.EventChan(); e.Node.Key != "/k" {
		t.Errorf("restored history shows %s first", summary([]*Event{e}))
	}
}
