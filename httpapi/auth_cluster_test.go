package httpapi

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/raftfsm"
)

const unauthorizedBody = `{"errorCode":110,"message":"The request requires user authentication","cause":"Insufficient credentials","index":0}` + "\n"

// setupAuth creates root (rootpw), the role app (read and write /app/*),
// alice (alicepw) holding it, enables auth and takes everything away from
// the guest role, all through m.
func setupAuth(t *testing.T, m *realMember) {
	t.Helper()
	u := m.clientURL
	must(t, u, "PUT", "/v2/auth/users/root", "", ctJSON, `{"user":"root","password":"rootpw"}`, 201)
	must(t, u, "PUT", "/v2/auth/roles/app", "", ctJSON, `{"role":"app","permissions":{"kv":{"read":["/app/*"],"write":["/app/*"]}}}`, 201)
	must(t, u, "PUT", "/v2/auth/users/alice", "", ctJSON, `{"user":"alice","password":"alicepw","roles":["app"]}`, 200)
	must(t, u, "PUT", "/v2/auth/enable", "", "", "", 200)
	must(t, u, "PUT", "/v2/auth/roles/guest", "root:rootpw", ctJSON, `{"role":"guest","revoke":{"kv":{"read":["/*"],"write":["/*"]}}}`, 200)
}

// A user limited to /app/* reads and writes there, and nowhere else,
// through every member, through v2 and v1, and cannot touch the cluster
// surfaces that need root.
//
//	curl -u alice:alicepw -XPUT localhost:2379/v2/keys/app/k -d value=v   # 201
//	curl -u alice:alicepw -XPUT localhost:2379/v2/keys/other -d value=v   # 401
func TestAuthAppUserOnEveryMember(t *testing.T) {
	t.Parallel()
	ms := startMembers(t, 3, nil, nil)
	setupAuth(t, ms[0])
	must(t, ms[0].clientURL, "PUT", "/v2/keys/other", "root:rootpw", ctForm, "value=root", 201)
	const alice = "alice:alicepw"
	for i, m := range ms {
		u, n := m.clientURL, string(rune('0'+i))
		steps := []struct {
			method, path, user, body string
			status                   int
		}{
			{"PUT", "/v2/keys/app/k" + n, alice, "value=v" + n, 201},
			{"GET", "/v2/keys/app/k" + n, alice, "", 200},
			{"HEAD", "/v2/keys/app/k" + n, alice, "", 200},
			{"PUT", "/v2/keys/app/k" + n, alice, "value=w&prevValue=v" + n, 200},
			{"POST", "/v2/keys/app/q", alice, "value=job" + n, 201},
			{"GET", "/v2/keys/app/q?recursive=true&sorted=true", alice, "", 200},
			// etcd checks the path as written: the directory /app itself
			// is not under /app/*.
			{"POST", "/v2/keys/app", alice, "value=x", 401},
			{"GET", "/v2/keys/app?recursive=true", alice, "", 401},
			{"GET", "/v2/keys/app/?recursive=true", alice, "", 200},
			{"GET", "/v2/keys/?recursive=true", alice, "", 401},
			{"PUT", "/v2/keys/app/d" + n + "/x", alice, "value=1", 201},
			{"DELETE", "/v2/keys/app/d" + n + "?recursive=true", alice, "", 200},
			{"PUT", "/v2/keys/other", alice, "value=alice", 401},
			{"GET", "/v2/keys/other", alice, "", 401},
			{"GET", "/v2/keys/other?quorum=true", alice, "", 401},
			{"DELETE", "/v2/keys/other", alice, "", 401},
			{"GET", "/v2/keys/other?wait=true", alice, "", 401},
			{"GET", "/v2/keys/app/k" + n, "alice:wrong", "", 401},
			{"GET", "/v2/keys/app/k" + n, "", "", 401},
			{"GET", "/v2/keys/other", "root:rootpw", "", 200},
			// v1 (etcd 0.4's API over the same keys) follows the same rules.
			{"PUT", "/v1/keys/app/v" + n, alice, "value=1", 200},
			{"GET", "/v1/keys/app/v" + n, alice, "", 200},
			{"DELETE", "/v1/keys/app/v" + n, alice, "", 200},
			{"PUT", "/v1/keys/other", alice, "value=1", 401},
			{"GET", "/v1/keys/other", alice, "", 401},
			{"DELETE", "/v1/keys/other", alice, "", 401},
			{"GET", "/v1/watch/other", alice, "", 401},
			{"POST", "/v1/watch/other", alice, "index=1", 401},
			{"GET", "/v1/keys/app/k" + n, "", "", 401},
			// Cluster surfaces: changes need root, reads do not.
			{"GET", "/v2/auth/users", alice, "", 401},
			{"PUT", "/v2/auth/enable", alice, "", 401},
			{"GET", "/v2/auth/enable", "", "", 200},
			{"GET", "/v2/members", "", "", 200},
			{"GET", "/v2/stats/store", "", "", 200},
			{"PUT", "/config/local/log", alice, `{"Level":"DEBUG"}`, 401},
		}
		for _, st := range steps {
			ct := ""
			if st.body != "" {
				ct = ctForm
			}
			if strings.HasPrefix(st.path, "/config") {
				ct = ctJSON
			}
			r := call(t, u, st.method, st.path, st.user, ct, st.body)
			if r.status != st.status {
				t.Errorf("member %d: %s %s as %q: %d %s, want %d", i, st.method, st.path, st.user, r.status, r.body, st.status)
			}
			if r.status == 401 && strings.HasPrefix(st.path, "/v2/keys") && st.method != "HEAD" && r.body != unauthorizedBody {
				t.Errorf("member %d: %s %s: 401 body %s", i, st.method, st.path, r.body)
			}
		}
		// Adding a member needs root.
		r := call(t, u, "POST", "/v2/members", alice, ctJSON, `{"peerURLs":["http://127.0.0.1:1"]}`)
		if r.status != 401 || r.body != `{"message":"Insufficient credentials"}` || r.header.Get("X-Etcd-Cluster-Id") != "" {
			t.Errorf("member %d: member add as alice: %d %s %v", i, r.status, r.body, r.header)
		}
	}
	if r := must(t, ms[2].clientURL, "GET", "/v2/keys/other?quorum=true", "root:rootpw", "", "", 200); !strings.Contains(r.body, `"value":"root"`) {
		t.Errorf("/other changed: %s", r.body)
	}
}

// watchStream opens a streaming watch and returns its event lines.
func watchStream(t *testing.T, base, path, user string) (<-chan string, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", base+path, nil)
	if user != "" {
		name, pw, _ := strings.Cut(user, ":")
		req.SetBasicAuth(name, pw)
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req) // a stream: ended by ctx at cleanup, bounded anyway
	if err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		defer resp.Body.Close()
		defer close(lines)
		br := bufio.NewReader(resp.Body)
		for {
			l, err := br.ReadString('\n')
			if l != "" {
				lines <- l
			}
			if err != nil {
				return
			}
		}
	}()
	return lines, resp.StatusCode
}

// next returns the next event line, or fails after a generous wait.
func next(t *testing.T, lines <-chan string, what string) string {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatalf("%s: the watch ended", what)
		}
		return l
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: no event", what)
	}
	return ""
}

// A watch never delivers an event its user may not read: events are
// judged one by one, with the permissions of the moment (a role revoked
// during a stream stops its events), live and from the history. The
// guest role ignores "recursive" in etcd's check, so an anonymous
// recursive watch is admitted on a key the guest may read exactly; the
// per-event check keeps the keys below it private.
func TestAuthWatchOnlyReadableEvents(t *testing.T) {
	t.Parallel()
	ms := startMembers(t, 3, nil, nil)
	ld := leader(t, ms)
	u := ld.clientURL
	const root = "root:rootpw"
	must(t, u, "PUT", "/v2/auth/users/root", "", ctJSON, `{"user":"root","password":"rootpw"}`, 201)
	must(t, u, "PUT", "/v2/auth/roles/w", "", ctJSON, `{"role":"w","permissions":{"kv":{"read":["/w/*"],"write":[]}}}`, 201)
	must(t, u, "PUT", "/v2/auth/roles/pub", "", ctJSON, `{"role":"pub","permissions":{"kv":{"read":["/w/pub*"],"write":[]}}}`, 201)
	must(t, u, "PUT", "/v2/auth/users/alice", "", ctJSON, `{"user":"alice","password":"alicepw","roles":["w","pub"]}`, 200)
	must(t, u, "PUT", "/v2/auth/enable", "", "", "", 200)
	must(t, u, "PUT", "/v2/auth/roles/guest", root, ctJSON, `{"role":"guest","revoke":{"kv":{"read":["/*"],"write":["/*"]}}}`, 200)
	must(t, u, "PUT", "/v2/auth/roles/guest", root, ctJSON, `{"role":"guest","grant":{"kv":{"read":["/w","/w/pub"],"write":[]}}}`, 200)
	start := must(t, u, "PUT", "/v2/keys/w/first", root, ctForm, "value=0", 201).header.Get("X-Etcd-Index")
	caughtUp(t, ms)

	// Watches on a follower, writes through the leader.
	var f *realMember
	for _, m := range ms {
		if m != ld {
			f = m
		}
	}
	guest, st := watchStream(t, f.clientURL, "/v2/keys/w?wait=true&recursive=true&stream=true", "")
	if st != 200 {
		t.Fatalf("guest recursive watch on /w: %d", st)
	}
	alice, st := watchStream(t, f.clientURL, "/v2/keys/w/?wait=true&recursive=true&stream=true", "alice:alicepw")
	if st != 200 {
		t.Fatalf("alice's watch: %d", st)
	}
	waitUntil(t, "two watchers on the follower", func() bool { return f.st.WatcherCount() == 2 })
	must(t, u, "PUT", "/v2/keys/w/secret", root, ctForm, "value=s", 201)
	must(t, u, "PUT", "/v2/keys/w/pub", root, ctForm, "value=p", 201)
	if l := next(t, guest, "guest"); !strings.Contains(l, `"key":"/w/pub"`) {
		t.Errorf("guest's first event: %s (want /w/pub, never /w/secret)", l)
	}
	for _, want := range []string{`"key":"/w/secret"`, `"key":"/w/pub"`} {
		if l := next(t, alice, "alice"); !strings.Contains(l, want) {
			t.Errorf("alice: got %s, want %s", l, want)
		}
	}
	// Revoking w leaves alice only /w/pub*, in the running stream too.
	must(t, f.clientURL, "PUT", "/v2/auth/users/alice", root, ctJSON, `{"user":"alice","revoke":["w"]}`, 200)
	must(t, u, "PUT", "/v2/keys/w/secret", root, ctForm, "value=s2", 200)
	must(t, u, "PUT", "/v2/keys/w/pub2", root, ctForm, "value=p2", 201)
	if l := next(t, alice, "alice after the revoke"); !strings.Contains(l, `"key":"/w/pub2"`) {
		t.Errorf("alice after the revoke: %s (want /w/pub2, never /w/secret)", l)
	}
	// From the history: the guest's one-shot watch skips /w/secret.
	r := must(t, f.clientURL, "GET", "/v2/keys/w?wait=true&recursive=true&waitIndex="+start, "", "", "", 200)
	if !strings.Contains(r.body, `"key":"/w/pub"`) {
		t.Errorf("guest's watch from the history: %s", r.body)
	}
	// And a v2 watch with an index the user could not read at all.
	r = must(t, f.clientURL, "GET", "/v2/keys/w/pub?wait=true&waitIndex="+start, "alice:alicepw", "", "", 200)
	if !strings.Contains(r.body, `"key":"/w/pub"`) {
		t.Errorf("alice's exact watch: %s", r.body)
	}
}

// Revoking a role, changing a password or deleting a user takes effect
// on the very next request, on every member: the change is answered only
// once every running member has applied it, and remembered credentials
// are tied to the password hash they were checked against.
func TestAuthChangesTakeEffectOnEveryMember(t *testing.T) {
	t.Parallel()
	ms := startMembers(t, 3, nil, nil)
	setupAuth(t, ms[0])
	const root = "root:rootpw"
	must(t, ms[0].clientURL, "PUT", "/v2/keys/app/x", root, ctForm, "value=1", 201)
	caughtUp(t, ms)
	everyone := func(what, user string, want int) {
		t.Helper()
		for i, m := range ms {
			if r := call(t, m.clientURL, "GET", "/v2/keys/app/x", user, "", ""); r.status != want {
				t.Errorf("%s: member %d answers %s with %d %s, want %d", what, i, user, r.status, r.body, want)
			}
		}
	}
	everyone("before", "alice:alicepw", 200)
	everyone("guest", "", 401)
	for i, m := range ms { // changes made through each member in turn
		via := m.clientURL
		must(t, via, "PUT", "/v2/auth/users/alice", root, ctJSON, `{"user":"alice","revoke":["app"]}`, 200)
		everyone("after revoke via "+string(rune('0'+i)), "alice:alicepw", 401)
		must(t, via, "PUT", "/v2/auth/users/alice", root, ctJSON, `{"user":"alice","grant":["app"]}`, 200)
		everyone("after grant", "alice:alicepw", 200)
		must(t, via, "PUT", "/v2/auth/roles/app", root, ctJSON, `{"role":"app","revoke":{"kv":{"read":["/app/*"]}}}`, 200)
		everyone("after role revoke", "alice:alicepw", 401)
		must(t, via, "PUT", "/v2/auth/roles/app", root, ctJSON, `{"role":"app","grant":{"kv":{"read":["/app/*"]}}}`, 200)
		everyone("after role grant", "alice:alicepw", 200)
	}
	must(t, ms[1].clientURL, "PUT", "/v2/auth/users/alice", root, ctJSON, `{"user":"alice","password":"new"}`, 200)
	everyone("old password", "alice:alicepw", 401)
	everyone("new password", "alice:new", 200)
	must(t, ms[2].clientURL, "DELETE", "/v2/auth/users/alice", root, "", "", 200)
	everyone("deleted user", "alice:new", 401)
	must(t, ms[0].clientURL, "PUT", "/v2/auth/roles/guest", root, ctJSON, `{"role":"guest","grant":{"kv":{"read":["/app/*"]}}}`, 200)
	everyone("guest granted", "", 200)
	must(t, ms[2].clientURL, "DELETE", "/v2/auth/enable", root, "", "", 200)
	everyone("auth off", "nobody:x", 200)
}

// The auth state is replicated state: it survives restarts, travels in
// snapshots (a member that missed the changes catches up from one) and
// is byte for byte the same on every member.
func TestAuthSurvivesRestartAndSnapshot(t *testing.T) {
	t.Parallel()
	restored := make(chan string, 10)
	hook := &restoreHook{seen: restored}
	ms := startMembers(t, 3, func(c *raftfsm.Config) {
		c.SnapshotCount, c.SnapshotInterval = 20, 50*time.Millisecond
		c.Log.Logger.AddHook(hook)
	}, nil)
	setupAuth(t, ms[0])
	const root = "root:rootpw"
	late := ms[2]
	late.stop()
	u := leader(t, ms[:2]).clientURL
	must(t, u, "PUT", "/v2/auth/roles/late", root, ctJSON, `{"role":"late","permissions":{"kv":{"read":["/late/*"],"write":["/late/*"]}}}`, 201)
	must(t, u, "PUT", "/v2/auth/users/bob", root, ctJSON, `{"user":"bob","password":"bobpw","roles":["late"]}`, 200)
	must(t, u, "PUT", "/v2/auth/users/alice", root, ctJSON, `{"user":"alice","password":"alice2"}`, 200)
	for i := 0; i < 60; i++ { // enough for snapshots and a compacted log
		must(t, u, "PUT", "/v2/keys/app/n", root, ctForm, "value=v", map[bool]int{true: 201, false: 200}[i == 0])
	}
	late.start(nil, nil)
	late.waitServing()
	for caughtUp := false; !caughtUp; {
		select {
		case name := <-restored:
			caughtUp = name == late.m.Name
		case <-time.After(30 * time.Second):
			t.Fatal("the member that missed the changes did not catch up from a snapshot")
		}
	}
	for _, m := range ms[:2] {
		m.restart()
	}
	checks := func(when string) {
		for i, m := range ms {
			for _, c := range []struct {
				method, path, user, body string
				want                     int
			}{
				{"PUT", "/v2/keys/late/x", "bob:bobpw", "value=1", 0},
				{"GET", "/v2/keys/app/n", "alice:alice2", "", 200},
				{"GET", "/v2/keys/app/n", "alice:alicepw", "", 401},
				{"GET", "/v2/keys/app/n", "bob:bobpw", "", 401},
				{"GET", "/v2/keys/app/n", "", "", 401},
				{"GET", "/v2/auth/enable", "", "", 200},
			} {
				ct := ""
				if c.body != "" {
					ct = ctForm
				}
				r := call(t, m.clientURL, c.method, c.path, c.user, ct, c.body)
				if (c.want == 0 && r.status/100 != 2) || (c.want != 0 && r.status != c.want) {
					t.Errorf("%s, member %d: %s %s as %q: %d %s", when, i, c.method, c.path, c.user, r.status, r.body)
				}
			}
		}
	}
	checks("after restart")
	// Every member holds the same state, auth included.
	waitUntil(t, "identical stores", func() bool {
		var first string
		for i, m := range ms {
			var b strings.Builder
			if err := m.st.Save(&b); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = b.String()
			} else if b.String() != first {
				return false
			}
		}
		return true
	})
	want := must(t, ms[0].clientURL, "GET", "/v2/auth/users", root, "", "", 200).body
	for i, m := range ms[1:] {
		if got := must(t, m.clientURL, "GET", "/v2/auth/users", root, "", "", 200).body; got != want {
			t.Errorf("member %d lists users %s, member 0 %s", i+1, got, want)
		}
	}
}

// caughtUp waits until every running member has applied the leader's
// store index (a write is answered by the member that took it; the
// others apply it a moment later).
func caughtUp(t *testing.T, ms []*realMember) {
	t.Helper()
	want := leader(t, ms).st.Index()
	for _, m := range ms {
		if m.node != nil {
			waitUntil(t, m.m.Name+" caught up", func() bool { return m.st.Index() >= want })
		}
	}
}

// restoreHook reports the members that restored from a snapshot.
type restoreHook struct{ seen chan<- string }

func (h *restoreHook) Levels() []logrus.Level { return []logrus.Level{logrus.InfoLevel} }
func (h *restoreHook) Fire(e *logrus.Entry) error {
	if e.Message == "restored from snapshot" {
		name, _ := e.Data["node"].(string)
		select {
		case h.seen <- name:
		default:
		}
	}
	return nil
}
