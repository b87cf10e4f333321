package httpapi

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/certs/certstest"

	"github.com/etcd-classic/etcd-classic/store"
)

// The credentials cache makes a user's later requests skip bcrypt, but it
// never accepts an old password or a deleted user: an entry counts only
// while the user still has the hash it was checked against.
func TestCredCacheNeverAcceptsOldPasswordOrDeletedUser(t *testing.T) {
	t.Parallel()
	s := newStubServer(t)
	u := s.URL
	const root = "root:rootpw"
	must(t, u, "PUT", "/v2/auth/users/root", "", ctJSON, `{"user":"root","password":"rootpw"}`, 201)
	must(t, u, "PUT", "/v2/auth/users/alice", "", ctJSON, `{"user":"alice","password":"a1","roles":["guest"]}`, 200)
	must(t, u, "PUT", "/v2/auth/enable", "", "", "", 200)
	must(t, u, "PUT", "/v2/keys/k", "alice:a1", ctForm, "value=1", 201)

	cached := func() int {
		s.api.creds.mu.RLock()
		defer s.api.creds.mu.RUnlock()
		return len(s.api.creds.m)
	}
	if n := cached(); n != 1 {
		t.Fatalf("%d cached credentials after alice authenticated, want 1", n)
	}
	steps := []struct {
		what, method, path, user, body string
		want                           int
	}{
		{"cached password", "GET", "/v2/keys/k", "alice:a1", "", 200},
		{"wrong password", "GET", "/v2/keys/k", "alice:a2", "", 401},
		{"change password", "PUT", "/v2/auth/users/alice", root, `{"user":"alice","password":"a2"}`, 200},
		{"old password after the change", "GET", "/v2/keys/k", "alice:a1", "", 401},
		{"new password", "GET", "/v2/keys/k", "alice:a2", "", 200},
		{"old password once more", "GET", "/v2/keys/k", "alice:a1", "", 401},
		{"delete alice", "DELETE", "/v2/auth/users/alice", root, "", 200},
		{"deleted user", "GET", "/v2/keys/k", "alice:a2", "", 401},
		{"recreate alice, same password", "PUT", "/v2/auth/users/alice", root, `{"user":"alice","password":"a2","roles":["guest"]}`, 200},
		{"recreated user", "GET", "/v2/keys/k", "alice:a2", "", 200},
		{"first password of the deleted user", "GET", "/v2/keys/k", "alice:a1", "", 401},
	}
	for _, st := range steps {
		ct := ""
		if st.body != "" {
			ct = ctJSON
		}
		if r := call(t, u, st.method, st.path, st.user, ct, st.body); r.status != st.want {
			t.Errorf("%s: %d %s, want %d", st.what, r.status, r.body, st.want)
		}
	}
}

// A wrong password is never remembered; a right one is remembered once.
func TestCredCacheCheck(t *testing.T) {
	t.Parallel()
	st := store.New()
	a := New(Config{Store: st, Node: newStubNode(st, stubTime), BcryptCost: 4})
	defer a.Close()
	h, err := a.hashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(&store.Request{Method: store.MethodAuth, Auth: &store.AuthChange{Kind: store.AuthPutUser, Name: "u", PasswordHash: h}}, stubTime); err != nil {
		t.Fatal(err)
	}
	c := newCredCache()
	for i := 0; i < 2; i++ {
		if c.check(st.Auth(), "u", "nope") || c.check(st.Auth(), "nobody", "pw") {
			t.Fatal("wrong credentials accepted")
		}
	}
	if len(c.m) != 0 {
		t.Fatalf("failures cached: %d entries", len(c.m))
	}
	for i := 0; i < 2; i++ { // the second check is a cache hit
		if !c.check(st.Auth(), "u", "pw") {
			t.Fatal("right password refused")
		}
	}
	if len(c.m) != 1 {
		t.Fatalf("right password: %d entries, want 1", len(c.m))
	}
	// Passwords beyond bcrypt's 72 bytes are cut, as etcd 3.4 cut them.
	long := string(make([]byte, 80))
	if h, err := a.hashPassword(long); err != nil || h == "" {
		t.Errorf("long password: %v", err)
	}
}

// BenchmarkKeyAccess is the whole per-request price of auth on the read
// path: reading the Authorization header, the remembered-credentials
// lookup and the permission check (compare with a GET's total).
func BenchmarkKeyAccess(b *testing.B) {
	st := store.New()
	a := New(Config{Store: st, Node: newStubNode(st, stubTime), BcryptCost: 4})
	defer a.Close()
	h, _ := a.hashPassword("pw")
	for _, c := range []store.AuthChange{
		{Kind: store.AuthPutUser, Name: "root", PasswordHash: h},
		{Kind: store.AuthCreateRole, Role: &store.Role{Role: "bench", Permissions: store.Permissions{KV: store.RWPermission{Read: []string{"/a/*", "/b/*"}}}}},
		{Kind: store.AuthCreateUser, Name: "u", PasswordHash: h, Roles: []string{"bench"}},
	} {
		if _, err := st.Apply(&store.Request{Method: store.MethodAuth, Auth: &c}, stubTime); err != nil {
			b.Fatal(err)
		}
	}
	req, _ := http.NewRequest("GET", "http://x/v2/keys/b/k", nil)
	for _, tc := range []struct {
		name string
		on   bool
		user string
	}{{"off", false, ""}, {"guest", true, ""}, {"user", true, "u"}} {
		if tc.on && !st.Auth().Enabled() {
			if _, err := st.Apply(&store.Request{Method: store.MethodAuth, Auth: &store.AuthChange{Kind: store.AuthEnable}}, stubTime); err != nil {
				b.Fatal(err)
			}
		}
		req.Header.Del("Authorization")
		if tc.user != "" {
			req.SetBasicAuth(tc.user, "pw")
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, ok := a.keyAccess(req, "/b/k", false); !ok {
					b.Fatal("refused")
				}
			}
		})
	}
}

// With --client-cert-auth, a request without Authorization whose verified
// client certificate has a user's name as CN acts as that user (etcd
// 3.4's userFromClientCertificate); Basic credentials still win, and a
// certificate naming nobody leaves the request a guest.
func TestAuthClientCertificateUser(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t, "", "ca")
	srvCert, srvKey := ca.IssueServer(t, "", "server")
	pair, err := tls.LoadX509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New()
	api := New(Config{Store: st, Node: newStubNode(st, stubTime), Now: func() time.Time { return stubTime }, BcryptCost: 4, ClientCertAuth: true})
	srv := httptest.NewUnstartedServer(api)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: ca.Pool(), ClientAuth: tls.VerifyClientCertIfGiven}
	srv.StartTLS()
	t.Cleanup(func() { api.Close(); srv.Close() })

	clientFor := func(cn string) *http.Client {
		tc := &tls.Config{RootCAs: ca.Pool()}
		if cn != "" {
			cf, kf := ca.IssueClient(t, "", cn)
			p, err := tls.LoadX509KeyPair(cf, kf)
			if err != nil {
				t.Fatal(err)
			}
			tc.Certificates = []tls.Certificate{p}
		}
		return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	}
	get := func(c *http.Client, path, user string) int {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if user != "" {
			name, pw, _ := strings.Cut(user, ":")
			req.SetBasicAuth(name, pw)
		}
		r, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	u := srv.URL
	setup := clientFor("")
	for _, s := range []struct{ method, path, body string }{
		{"PUT", "/v2/auth/users/root", `{"user":"root","password":"rootpw"}`},
		{"PUT", "/v2/auth/roles/app", `{"role":"app","permissions":{"kv":{"read":["/app/*"],"write":[]}}}`},
		{"PUT", "/v2/auth/users/alice", `{"user":"alice","password":"alicepw","roles":["app"]}`},
		{"PUT", "/v2/auth/enable", ``},
	} {
		req, _ := http.NewRequest(s.method, u+s.path, strings.NewReader(s.body))
		r, err := setup.Do(req)
		if err != nil || r.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %v %v", s.method, s.path, r, err)
		}
		r.Body.Close()
	}
	req, _ := http.NewRequest("PUT", u+"/v2/auth/roles/guest", strings.NewReader(`{"role":"guest","revoke":{"kv":{"read":["/*"],"write":["/*"]}}}`))
	req.SetBasicAuth("root", "rootpw")
	if r, err := setup.Do(req); err != nil || r.StatusCode != 200 {
		t.Fatalf("narrowing guest: %v %v", r, err)
	}
	if _, err := st.Apply(&store.Request{Method: store.MethodPut, Path: "/app/x", Value: "1", User: "root"}, stubTime); err != nil {
		t.Fatal(err)
	}
	alice, root, nobody := clientFor("alice"), clientFor("root"), clientFor("nobody")
	cases := []struct {
		name string
		c    *http.Client
		path string
		user string
		want int
	}{
		{"alice's certificate reads /app", alice, "/v2/keys/app/x", "", 200},
		{"alice's certificate, not elsewhere", alice, "/v2/keys/other", "", 401},
		{"alice's certificate, no /v2/auth", alice, "/v2/auth/users", "", 401},
		{"root's certificate is root", root, "/v2/auth/users", "", 200},
		{"Basic credentials beat the certificate", root, "/v2/auth/users", "alice:alicepw", 401},
		{"a certificate naming nobody is a guest", nobody, "/v2/keys/app/x", "", 401},
		{"no certificate is a guest", setup, "/v2/keys/app/x", "", 401},
	}
	for _, c := range cases {
		if got := get(c.c, c.path, c.user); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
