package clientv2

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"sort"
	"testing"
	"time"

	"go.etcd.io/etcd/client/v2"
)

// newClientAs is newClient with Basic credentials ("" for none).
func newClientAs(t *testing.T, user, password string) client.Client {
	t.Helper()
	return newClientCtx(t, ctxT(t), user, password)
}

// newClientCtx is newClientAs syncing within ctx (cleanups run after the
// test's own context is done).
func newClientCtx(t *testing.T, ctx context.Context, user, password string) client.Client {
	t.Helper()
	c, err := client.New(client.Config{
		Endpoints:               endpoints(t),
		Transport:               client.DefaultTransport,
		HeaderTimeoutPerRequest: 2 * time.Second,
		Username:                user,
		Password:                password,
	})
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return c
}

// wantAuthError checks that err is the auth API's {"message"} answer.
func wantAuthError(t *testing.T, what string, err error, msg string) {
	t.Helper()
	if err == nil || err.Error() != msg {
		t.Fatalf("%s: error %v, want %q", what, err, msg)
	}
}

// The AuthAPI, AuthUserAPI and AuthRoleAPI of go.etcd.io/etcd/client/v2,
// and what auth does to its KeysAPI: users and roles are made before
// auth is on, a user limited to one prefix reads and writes there only,
// and password changes, revocations and removals apply to the very next
// request whichever member the client picks. The cluster is left as it
// was found (auth off, no users or roles), even when the test fails.
func TestAuthUserAndRoleAPI(t *testing.T) {
	anon := newClient(t)
	authAPI := client.NewAuthAPI(anon)
	users := client.NewAuthUserAPI(anon)
	roles := client.NewAuthRoleAPI(anon)
	ctx := func() context.Context { return ctxT(t) }
	prefix := dir(t)

	wantAuthError(t, "enable without root", authAPI.Enable(ctx()), "auth: No root user available, please create one")
	if err := users.AddUser(ctx(), "root", "rootpw"); err != nil {
		t.Fatalf("AddUser root: %v", err)
	}
	t.Cleanup(func() {
		// Leave the cluster as the other tests expect it.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		rc := newClientCtx(t, ctx, "root", "rootpw")
		_ = client.NewAuthAPI(rc).Disable(ctx)
		for _, u := range []string{"alice", "root"} {
			_ = client.NewAuthUserAPI(rc).RemoveUser(ctx, u)
		}
		for _, r := range []string{"app", "guest"} {
			_ = client.NewAuthRoleAPI(rc).RemoveRole(ctx, r)
		}
	})
	// client/v2 decodes the role objects of etcd 2.2+ into names through a
	// failed first attempt, which leaves an empty name in front.
	if u, err := users.GetUser(ctx(), "root"); err != nil || u.Roles[len(u.Roles)-1] != "root" {
		t.Fatalf("GetUser root: %+v %v", u, err)
	}
	if err := roles.AddRole(ctx(), "app"); err != nil {
		t.Fatalf("AddRole: %v", err)
	}
	wantAuthError(t, "AddRole twice", roles.AddRole(ctx(), "app"), "auth: Role app already exists.")
	r, err := roles.GrantRoleKV(ctx(), "app", []string{prefix + "/*"}, client.ReadWritePermission)
	if err != nil || !reflect.DeepEqual(r.Permissions.KV.Read, []string{prefix + "/*"}) || !reflect.DeepEqual(r.Permissions.KV.Write, []string{prefix + "/*"}) {
		t.Fatalf("GrantRoleKV: %+v %v", r, err)
	}
	if _, err := roles.GrantRoleKV(ctx(), "app", []string{"/extra"}, client.ReadPermission); err != nil {
		t.Fatal(err)
	}
	if r, err = roles.RevokeRoleKV(ctx(), "app", []string{"/extra"}, client.ReadPermission); err != nil || len(r.Permissions.KV.Read) != 1 {
		t.Fatalf("RevokeRoleKV: %+v %v", r, err)
	}
	if r, err = roles.GetRole(ctx(), "app"); err != nil || r.Role != "app" || len(r.Permissions.KV.Write) != 1 {
		t.Fatalf("GetRole: %+v %v", r, err)
	}
	if list, err := roles.ListRoles(ctx()); err != nil || !reflect.DeepEqual(list, []string{"app", "root"}) {
		t.Fatalf("ListRoles: %v %v", list, err)
	}
	if err := users.AddUser(ctx(), "alice", "alicepw"); err != nil {
		t.Fatal(err)
	}
	if u, err := users.GrantUser(ctx(), "alice", []string{"app"}); err != nil || !reflect.DeepEqual(u.Roles, []string{"app"}) {
		t.Fatalf("GrantUser: %+v %v", u, err)
	}
	if _, err := users.GrantUser(ctx(), "alice", []string{"app"}); err == nil {
		t.Fatal("granting a role twice succeeded")
	}
	if list, err := users.ListUsers(ctx()); err != nil || !reflect.DeepEqual(list, []string{"alice", "root"}) {
		t.Fatalf("ListUsers: %v %v", list, err)
	}

	if err := authAPI.Enable(ctx()); err != nil {
		t.Fatalf("Enable: %v", err)
	}
	if _, err := users.ListUsers(ctx()); err == nil || err.Error() != "Insufficient credentials" {
		t.Fatalf("ListUsers without credentials once auth is on: %v", err)
	}
	rootc := newClientAs(t, "root", "rootpw")
	rootRoles := client.NewAuthRoleAPI(rootc)
	rootUsers := client.NewAuthUserAPI(rootc)
	if list, err := rootRoles.ListRoles(ctx()); err != nil || !reflect.DeepEqual(list, []string{"app", "guest", "root"}) {
		t.Fatalf("ListRoles as root: %v %v (enabling creates guest)", list, err)
	}
	if _, err := rootRoles.RevokeRoleKV(ctx(), "guest", []string{"/*"}, client.ReadWritePermission); err != nil {
		t.Fatalf("narrowing guest: %v", err)
	}

	aliceKeys := client.NewKeysAPI(newClientAs(t, "alice", "alicepw"))
	anonKeys := client.NewKeysAPI(anon)
	mustSet(t, aliceKeys, prefix+"/x", "1", nil)
	wantNode(t, mustGet(t, aliceKeys, prefix+"/x", nil), "get", prefix+"/x", "1")
	_, err = aliceKeys.Set(ctx(), "/compat/elsewhere", "1", nil)
	wantCode(t, err, client.ErrorCodeUnauthorized)
	_, err = anonKeys.Get(ctx(), prefix+"/x", nil)
	wantCode(t, err, client.ErrorCodeUnauthorized)
	_, err = aliceKeys.Get(ctx(), "/", &client.GetOptions{Recursive: true})
	wantCode(t, err, client.ErrorCodeUnauthorized)
	if _, err := client.NewMembersAPI(newClientAs(t, "alice", "alicepw")).Add(ctx(), "http://127.0.0.1:1"); err == nil {
		t.Fatal("alice added a member")
	}

	// Changes reach every member. (etcd 3.4's followers apply them a
	// moment after the answer, so this waits; this server answers only
	// once every running member has applied them, which its own tests
	// check request by request.)
	refused := func(k client.KeysAPI) func() bool {
		return func() bool {
			_, err := k.Get(ctx(), prefix+"/x", nil)
			var ce client.Error
			return errors.As(err, &ce) && ce.Code == client.ErrorCodeUnauthorized
		}
	}
	if _, err := rootUsers.ChangePassword(ctx(), "alice", "newpw"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the old password refused", 10*time.Second, refused(aliceKeys))
	aliceKeys = client.NewKeysAPI(newClientAs(t, "alice", "newpw"))
	waitFor(t, "the new password accepted", 10*time.Second, func() bool {
		_, err := aliceKeys.Get(ctx(), prefix+"/x", nil)
		return err == nil
	})
	if u, err := rootUsers.RevokeUser(ctx(), "alice", []string{"app"}); err != nil || len(u.Roles) != 0 {
		t.Fatalf("RevokeUser: %+v %v", u, err)
	}
	waitFor(t, "the revoked role refused", 10*time.Second, refused(aliceKeys))
	if err := rootUsers.RemoveUser(ctx(), "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := rootUsers.GetUser(ctx(), "alice"); err == nil {
		t.Fatal("GetUser of a removed user succeeded")
	}
	if err := rootRoles.RemoveRole(ctx(), "app"); err != nil {
		t.Fatal(err)
	}
	wantAuthError(t, "RemoveRole root", rootRoles.RemoveRole(ctx(), "root"), "auth: Cannot modify role root: is root role.")
	wantAuthError(t, "RemoveUser root", rootUsers.RemoveUser(ctx(), "root"), "auth: Cannot delete root user while auth is enabled.")
	if err := client.NewAuthAPI(rootc).Disable(ctx()); err != nil {
		t.Fatalf("Disable: %v", err)
	}
	mustGet(t, anonKeys, prefix+"/x", nil)
	list, err := users.ListUsers(ctx())
	sort.Strings(list)
	if err != nil || !reflect.DeepEqual(list, []string{"root"}) {
		t.Fatalf("ListUsers after disable: %v %v", list, err)
	}
	// Every member answers the same: auth is off everywhere.
	for _, ep := range endpoints(t) {
		var st struct{ Enabled bool }
		if err := getJSON(ctx(), ep+"/v2/auth/enable", &st); err != nil || st.Enabled {
			t.Errorf("%s: enabled=%v %v", ep, st.Enabled, err)
		}
		resp, err := testClient.Get(ep + "/v2/keys" + prefix + "/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: anonymous read after disable: %d", ep, resp.StatusCode)
		}
	}
}
