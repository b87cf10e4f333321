package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardLoginInBrowser drives the dashboard's login (issue 15, with
// the v2 authentication of issue 16) in a headless chromium against three
// member processes. Authentication is turned on through the API as an
// operator does: root, a role granting read and write on /app/*, a user
// alice with it, auth enabled, the guest's access revoked. Then: the page
// asks for a login; a wrong password is refused with a clear message;
// alice browses and edits under /app and is refused elsewhere with a
// message naming her and the key, the rest of the page still working; her
// watch on / shows only the /app events; log out brings the login form
// back; no console error. Finally the member that served the page is
// killed and alice goes on through another member: the credentials go
// along. With DASHBOARD_SCREENSHOTS=1 it writes docs/dashboard/login.png
// and keys-login.png.
func TestDashboardLoginInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: starts three members and chromium")
	}
	exe := findChromium()
	if exe == "" {
		t.Skip("SKIPPED: chromium is not installed (apt-get install -y chromium; .ci/run installs it), so the dashboard login test did not run")
	}
	c, _ := startCORSCluster(t, 3)
	leader := c.leader()
	var served *proc // a follower serves the page: killing it needs no election
	for _, p := range c.members {
		if p != leader {
			served = p
			break
		}
	}
	curl := leader.client
	const root = "root:rootpw"
	authDo(t, curl, "PUT", "/v2/auth/users/root", "", `{"user":"root","password":"rootpw"}`, 201)
	authDo(t, curl, "PUT", "/v2/auth/roles/app", "", `{"role":"app","permissions":{"kv":{"read":["/app/*"],"write":["/app/*"]}}}`, 201)
	authDo(t, curl, "PUT", "/v2/auth/users/alice", "", `{"user":"alice","password":"alicepw","roles":["app"]}`, 200) // 200 with roles, as etcd 3.4
	authDo(t, curl, "PUT", "/v2/auth/enable", "", "", 200)
	authDo(t, curl, "PUT", "/v2/auth/roles/guest", root, `{"role":"guest","revoke":{"kv":{"read":["/*"],"write":["/*"]}}}`, 200)
	authDo(t, curl, "PUT", "/v2/keys/app/config", root, "value=v1", 201)
	authDo(t, curl, "PUT", "/v2/keys/app/jobs/first", root, "value=j1", 201)
	authDo(t, curl, "PUT", "/v2/keys/other/secret", root, "value=s", 201)
	// Every member applied the setup before the page uses one of them.
	waitFor(t, "the served member to refuse the guest", func() bool {
		return authStatus(t, served.client, "GET", "/v2/keys/app/config", "", "") == http.StatusUnauthorized
	})

	b := newBrowser(t, exe)
	mark := b.mark()
	b.do("open the dashboard", chromedp.Navigate(served.client+"/dashboard/"))

	// The guest may read nothing: the page asks for a login, says the
	// password would cross the network in clear, and the tree says why it
	// is empty.
	b.waitFor(`!document.querySelector('#login').hidden && !document.querySelector('#who').hidden`, "the login form", 15*time.Second)
	b.waitFor(`!!document.querySelector('#tree li[data-refused="/"]')`, "the tree's refusal", 10*time.Second)
	wantText(t, b, "#who-text", "Not logged in")
	wantText(t, b, "#tree", "Not logged in, and a guest may not read /")
	wantText(t, b, "#login-why", "refused a guest")
	wantText(t, b, "#login-clear", "plain HTTP: the password crosses the network in clear")
	if f := mustEval[string](b, `document.activeElement.id`); f != "login-user" {
		t.Errorf("the focus is on %q, want the user field", f)
	}
	// A key the guest may not read: refused as "not logged in", and
	// offered as where the login starts.
	b.setValue("#goto-path", "/app/jobs")
	b.click(`#goto-form button[type="submit"]`)
	b.waitFor(`document.querySelector('#detail-msg').textContent.startsWith('Not logged in, and a guest may not read /app/jobs (etcd error 110')`, "the guest's refusal of /app/jobs", 10*time.Second)
	if v := mustEval[string](b, `document.querySelector('#login-start').value`); v != "/app/jobs" {
		t.Errorf("Start at holds %q after the refusal of /app/jobs, want /app/jobs", v)
	}
	b.setValue("#login-user", "alice")
	b.setValue("#login-start", "/app")
	if b.screenshotsOn() {
		b.colorScheme("light")
		b.do("screenshot size", chromedp.EmulateViewport(1200, 760))
		mustEval[bool](b, `(document.querySelector('#login-password').focus(), window.scrollTo(0, 0), true)`)
		b.screenshot("login")
	}
	b.do("a 360 px screen", chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile))
	if w := mustEval[int](b, `document.documentElement.scrollWidth`); w > 360 {
		t.Errorf("with the login form the page is %d px wide on a 360 px screen", w)
	}
	b.do("back to the desktop size", chromedp.ResetViewport())

	// A wrong password: refused, still logged out, the form still there.
	b.setValue("#login-password", "wrong")
	b.click("#login-ok")
	b.waitFor(`document.querySelector('#login-msg').textContent.startsWith('Refused')`, "the wrong password to be refused", 10*time.Second)
	wantText(t, b, "#login-msg", "the user name or the password is wrong")
	wantText(t, b, "#who-text", "Not logged in")
	if mustEval[bool](b, `document.querySelector('#login').hidden`) {
		t.Fatal("the login form went away after a wrong password")
	}

	// The right one: alice, at /app.
	b.setValue("#login-password", "alicepw")
	b.click("#login-ok")
	b.waitFor(`document.querySelector('#login').hidden && document.querySelector('#who-text').textContent === 'Logged in as alice'`, "alice to be logged in", 10*time.Second)
	wantText(t, b, "#who-btn", "Log out")
	if v := mustEval[string](b, `document.querySelector('#login-password').value`); v != "" {
		t.Errorf("the password field still holds %q after the login", v)
	}
	b.waitFor(`!!document.querySelector('#tree button[data-key="/app/config"]') && document.querySelector('#detail-key')?.textContent === '/app'`, "the tree at /app", 10*time.Second)
	if pane := mustEval[string](b, `document.querySelector('#detail').innerText`); strings.Contains(pane, "null") {
		t.Errorf("the pane of the directory /app says null:\n%s", pane)
	}
	// /app/* covers what is below /app, not /app itself: deleting the
	// directory is refused, by name, and nothing is deleted.
	b.click("#detail-delete")
	b.click("#confirm-ok")
	b.waitFor(`document.querySelector('#detail-msg').textContent.startsWith('alice may not delete /app (etcd error 110')`, "the refused delete", 10*time.Second)
	if got := authGet(t, curl, "/app/config", root); got != "v1" {
		t.Fatalf("curl sees /app/config = %q after the refused delete, want v1", got)
	}

	// alice edits /app/config and creates a key beside it: curl sees both.
	b.click(`#tree button[data-key="/app/config"]`)
	b.waitFor(`document.querySelector('#detail-value')?.textContent === 'v1'`, "/app/config", 10*time.Second)
	b.click("#detail-edit")
	b.setValue("#edit-value", "v2")
	b.click("#edit-save")
	b.waitFor(`document.querySelector('#detail-msg').textContent.startsWith('Saved /app/config')`, "the save", 10*time.Second)
	if got := authGet(t, curl, "/app/config", root); got != "v2" {
		t.Errorf("curl sees /app/config = %q after alice's edit, want v2", got)
	}
	b.click("#new-btn")
	b.setValue("#create-name", "made-by-alice")
	b.setValue("#create-value", "hi")
	b.click("#create-ok")
	b.waitFor(`document.querySelector('#detail-key')?.textContent === '/app/made-by-alice'`, "alice's new key", 10*time.Second)
	if got := authGet(t, curl, "/app/made-by-alice", root); got != "hi" {
		t.Errorf("curl sees /app/made-by-alice = %q, want hi", got)
	}
	// A directory below /app opens in the tree.
	b.click(`#tree button[data-key="/app/jobs"]`)
	b.waitFor(`!!document.querySelector('#tree button[data-key="/app/jobs/first"]')`, "/app/jobs to open", 10*time.Second)

	// Elsewhere she is refused, by name, and the page goes on working.
	b.setValue("#goto-path", "/other/secret")
	b.click(`#goto-form button[type="submit"]`)
	b.waitFor(`document.querySelector('#detail-msg').textContent.startsWith('alice may not read /other/secret')`, "the refusal of /other/secret", 10*time.Second)
	if strings.Contains(mustEval[string](b, `document.querySelector('main').innerText`), "\ns\n") {
		t.Error("the page shows the value of /other/secret")
	}
	if !mustEval[bool](b, `document.querySelector('#login').hidden`) {
		t.Error("a logged-in user's refusal opened the login form")
	}
	b.click(`#tree button[data-key="/app/jobs/first"]`)
	b.waitFor(`document.querySelector('#detail-value')?.textContent === 'j1'`, "/app/jobs/first after the refusal", 10*time.Second)
	b.setValue("#goto-path", "/")
	b.click(`#goto-form button[type="submit"]`)
	b.waitFor(`document.querySelector('#detail-msg').textContent.startsWith('alice may not read /')`, "the refusal of /", 10*time.Second)
	// The top of the tree is refused to her: it offers /app instead.
	b.click("#tree-up")
	b.waitFor(`!!document.querySelector('#tree li[data-refused="/"]') && !!document.querySelector('#tree button[data-key="/app"]')`, "/ refused, /app offered", 10*time.Second)
	wantText(t, b, "#tree", "alice may not read /")
	b.click(`#tree button[data-key="/app"]`)
	b.waitFor(`!!document.querySelector('#tree button[data-key="/app/config"]')`, "/app to open below the refusal", 10*time.Second)
	if b.screenshotsOn() {
		b.do("screenshot size", chromedp.EmulateViewport(1200, 760))
		b.screenshot("keys-login")
	}

	// alice's watch on /: she may not watch all of /, so the page watches
	// /app, and only /app events arrive.
	b.view("watch")
	b.waitFor(`document.querySelector('#watch-status').textContent.startsWith('Watching /app on')`, "alice's watch", 10*time.Second)
	wantText(t, b, "#watch-note", "alice may not watch / as a whole")
	authDo(t, curl, "PUT", "/v2/keys/other/w", root, "value=no", 201)
	idx := authDo(t, curl, "PUT", "/v2/keys/app/w", root, "value=yes", 201)
	b.waitFor(fmt.Sprintf(`!!document.querySelector('#watch-events tr[data-key="/app/w"][data-index="%s"]')`, idx), "the /app event", 10*time.Second)
	if keys := mustEval[string](b, `[...document.querySelectorAll('#watch-events tr')].map(r => r.dataset.key).join(' ')`); keys != "/app/w" {
		t.Errorf("alice's watch shows %q, want only /app/w", keys)
	}

	// Log out: the login form again, nothing of alice's left on the page.
	b.click("#who-btn")
	b.waitFor(`!document.querySelector('#login').hidden && document.querySelector('#who-text').textContent === 'Not logged in'`, "the login form after the log out", 10*time.Second)
	wantText(t, b, "#login-why", "alice is logged out")
	if n := mustEval[int](b, `document.querySelectorAll('#watch-events tr').length`); n != 0 {
		t.Errorf("%d of alice's events still shown after the log out", n)
	}
	b.view("keys")
	b.waitFor(`!!document.querySelector('#tree li[data-refused="/"]') && !document.querySelector('#tree button[data-key^="/app"]')`, "the guest's tree", 10*time.Second)
	b.noConsoleErrorsBut(mark, "logging in, browsing as alice and logging out", refusedKeysCall)

	// Log in again; the served member dies; the page moves to another
	// member and alice's credentials go with it.
	b.setValue("#login-user", "alice")
	b.setValue("#login-password", "alicepw")
	b.setValue("#login-start", "/app")
	b.click("#login-ok")
	b.waitFor(`document.querySelector('#who-text').textContent === 'Logged in as alice' && !!document.querySelector('#tree button[data-key="/app/config"]')`, "alice again", 10*time.Second)
	served.kill()
	b.waitFor(`document.querySelector('#conn').textContent.includes('now talking to')`, "the page to move to another member", 30*time.Second)
	b.click(`#tree button[data-key="/app/config"]`)
	b.waitFor(`document.querySelector('#detail-value')?.textContent === 'v2'`, "/app/config through another member", 15*time.Second)
	wantText(t, b, "#who-text", "Logged in as alice")
}

// refusedKeysCall picks chromium's own log line for a keys call that the
// member refused with HTTP 401 (the guest's, alice's outside /app): the
// refusals this test makes on purpose. Anything else in the console,
// and anything the page itself writes there, fails the test.
func refusedKeysCall(m chromedp.ConsoleMessage) bool {
	return m.Source == "network" && strings.Contains(m.URL, "/v2/keys") &&
		strings.HasSuffix(m.Text, "the server responded with a status of 401 (Unauthorized)")
}

// screenshotsOn tells whether DASHBOARD_SCREENSHOTS is set.
func (b *browser) screenshotsOn() bool { return os.Getenv("DASHBOARD_SCREENSHOTS") != "" }

// wantText fails the test unless the element's text contains want.
func wantText(t *testing.T, b *browser, sel, want string) {
	t.Helper()
	got := mustEval[string](b, fmt.Sprintf(`document.querySelector(%q)?.innerText ?? '(no %s)'`, sel, sel))
	if !strings.Contains(got, want) {
		t.Errorf("%s says %q; want it to say %q", sel, got, want)
	}
}

// authStatus sends one request as user ("name:password", or "" for none)
// and returns its status. A body starting with "{" is sent as JSON, any
// other as a form.
func authStatus(t *testing.T, base, method, path, user, body string) int {
	t.Helper()
	st, _, _ := authReq(t, base, method, path, user, body)
	return st
}

// authDo is authStatus that fails the test unless the status is want; it
// returns the X-Etcd-Index of the answer.
func authDo(t *testing.T, base, method, path, user, body string, want int) string {
	t.Helper()
	st, text, h := authReq(t, base, method, path, user, body)
	if st != want {
		t.Fatalf("curl -X%s %s%s (as %q): %d %s, want %d", method, base, path, user, st, text, want)
	}
	return h.Get("X-Etcd-Index")
}

// authGet returns the value of key as user sees it.
func authGet(t *testing.T, base, key, user string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/v2/keys"+key+"?quorum=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	setUser(req, user)
	st, r, err := doV2(req)
	if err != nil || st != 200 {
		t.Fatalf("curl %s/v2/keys%s as %s: %d %v", base, key, user, st, err)
	}
	return r.Node.Value
}

func authReq(t *testing.T, base, method, path, user, body string) (int, string, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case strings.HasPrefix(body, "{"):
		req.Header.Set("Content-Type", "application/json")
	case body != "":
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	setUser(req, user)
	r, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, base, path, err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, base, path, err)
	}
	return r.StatusCode, string(b), r.Header
}

func setUser(req *http.Request, user string) {
	if name, pw, ok := strings.Cut(user, ":"); ok {
		req.SetBasicAuth(name, pw)
	}
}

// doV2 sends req and decodes a v2 keys answer.
func doV2(req *http.Request) (int, *v2Resp, error) {
	r, err := testClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer r.Body.Close()
	var v v2Resp
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&v); err != nil {
		return r.StatusCode, nil, err
	}
	return r.StatusCode, &v, nil
}
