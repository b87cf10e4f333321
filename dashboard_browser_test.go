package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestDashboardInBrowser drives the dashboard (httpapi/dashboard/) in a
// headless Debian chromium against three real member processes started
// with --cors for each other: every view loads without a console error;
// keys created, edited and deleted in the page are what curl sees; a curl
// write shows up in the watch view within a second; pause and resume miss
// nothing; an outrun history is reported; a stale edit shows the conflict;
// a killed member shows as unreachable and the page goes on through
// another member. With DASHBOARD_SCREENSHOTS=1 it also writes the
// screenshots of docs/dashboard.md.
func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: starts three members and chromium")
	}
	exe := findChromium()
	if exe == "" {
		t.Skip("SKIPPED: chromium is not installed (apt-get install -y chromium; .ci/run installs it), so the dashboard browser test did not run")
	}
	shots := os.Getenv("DASHBOARD_SCREENSHOTS") != ""
	proxyURL := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	c, initialCluster := startCORSCluster(t, 3, proxyURL)
	leader := c.leader()
	var served *proc // a follower serves the page: killing it needs no election
	for _, p := range c.members {
		if p != leader {
			served = p
			break
		}
	}
	servedName := c.names[indexOf(c.members, served)]
	curl := leader.client // where the test's own HTTP requests go
	if shots {
		seedScreenshotKeys(t, curl)
	}

	b := newBrowser(t, exe)
	mark := b.mark()
	// etcd 0.4 users' address redirects to the page.
	b.do("open /mod/dashboard/", chromedp.Navigate(served.client+"/mod/dashboard/"))
	b.waitFor(`location.pathname === '/dashboard/' && document.querySelector('#tree').getAttribute('aria-busy') === 'false'`, "the keys view to load", 15*time.Second)
	b.view("watch")
	b.waitFor(`document.querySelector('#watch-status').textContent.startsWith('Watching /')`, "the watch to start", 10*time.Second)
	b.view("cluster")
	b.waitFor(`document.querySelectorAll('#members .card[data-health="healthy"]').length === 3 &&
		document.querySelectorAll('#members .card[data-role="leader"]').length === 1 &&
		[...document.querySelectorAll('#members .card')].every(c => /Raft term\s*[0-9]/.test(c.innerText)) &&
		[...document.querySelectorAll('#members .card[data-role="follower"]')].every(c => c.innerText.includes('appends succeeded'))`,
		"three healthy members, one leader, raft figures and the leader's follower stats", 20*time.Second)
	b.noConsoleErrors(mark, "loading the three views")

	// Each step builds on the page the previous one left.
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"keys", func(t *testing.T) { keysInBrowser(t, b, curl) }},
		{"stale edit", func(t *testing.T) { staleEditInBrowser(t, b, curl) }},
		{"watch", func(t *testing.T) { watchInBrowser(t, b, curl) }},
		{"layout", func(t *testing.T) { layoutInBrowser(t, b) }},
		{"screenshots", func(t *testing.T) {
			if !shots {
				t.Skip("DASHBOARD_SCREENSHOTS is not set")
			}
			screenshots(t, b, curl)
		}},
		{"through a proxy", func(t *testing.T) { proxyInBrowser(t, b, startDashboardProxy(t, proxyURL, initialCluster)) }},
		{"member killed", func(t *testing.T) { failoverInBrowser(t, b, served, servedName, curl, c.members) }},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { b.t = t; s.run(t) }) {
			return
		}
	}
}

func indexOf(list []*proc, p *proc) int {
	for i, q := range list {
		if q == p {
			return i
		}
	}
	return -1
}

// keysInBrowser: create, edit and delete through the page; curl sees each
// change. Also a directory, an in-order key, and the tree's arrow keys.
func keysInBrowser(t *testing.T, b *browser, curl string) {
	mark := b.mark()
	b.view("keys")
	b.click("#new-btn")
	b.setValue("#create-name", "greeting")
	b.setValue("#create-value", "hello")
	b.click("#create-ok")
	b.waitFor(`document.querySelector('#detail-key')?.textContent === '/greeting'`, "the new key to be shown", 10*time.Second)
	dashWantValue(t, curl, "/greeting", "hello")

	b.click("#detail-edit")
	b.setValue("#edit-value", "hello, world")
	b.click("#edit-save")
	b.waitFor(`document.querySelector('#detail-msg').textContent.startsWith('Saved /greeting')`, "the edit to be saved", 10*time.Second)
	dashWantValue(t, curl, "/greeting", "hello, world")

	b.click("#detail-delete")
	b.click("#confirm-ok")
	b.waitFor(`document.querySelector('#detail-msg').textContent.startsWith('Deleted /greeting')`, "the delete", 10*time.Second)
	if st, _ := dashGet(t, curl, "/greeting"); st != http.StatusNotFound {
		t.Fatalf("curl /v2/keys/greeting after the delete in the page: status %d, want 404", st)
	}

	// A directory, then an in-order key in it (etcd picks the name).
	b.click("#new-btn")
	b.click(`#create-form input[value="dir"]`)
	b.setValue("#create-name", "jobs")
	b.click("#create-ok")
	b.waitFor(`document.querySelector('#detail-key')?.textContent === '/jobs'`, "the new directory", 10*time.Second)
	b.click("#detail-new")
	b.click(`#create-form input[value="inorder"]`)
	b.setValue("#create-value", "job-1")
	b.click("#create-ok")
	b.waitFor(`document.querySelector('#detail-key')?.textContent.startsWith('/jobs/0')`, "the in-order key", 10*time.Second)
	created := mustEval[string](b, `document.querySelector('#detail-key').textContent`)
	dashWantValue(t, curl, created, "job-1")

	// A large value is shown cut, with a download of the whole value; a
	// TTL counts down.
	big := strings.Repeat("0123456789", 1000)
	dashPut(t, curl, "/big", big, "ttl", "600")
	b.setValue("#goto-path", "/big")
	b.click(`#goto-form button[type="submit"]`)
	b.waitFor(`document.querySelector('#detail-key')?.textContent === '/big' && !!document.querySelector('#detail-truncated a')`, "the large value, cut", 10*time.Second)
	if n := mustEval[int](b, `document.querySelector('#detail-value').textContent.length`); n >= len(big) || n == 0 {
		t.Errorf("the page shows %d of the %d characters of a large value", n, len(big))
	}
	if got := mustEval[string](b, `document.querySelector('#detail-truncated a').href.slice(0, 5)`); got != "blob:" {
		t.Errorf("the download link starts with %q, want a blob: URL", got)
	}
	if whole := b.download(`#detail-truncated a`, "big"); whole != big {
		t.Errorf("the download holds %d characters, want the whole value (%d)", len(whole), len(big))
	}
	ttl0 := mustEval[int](b, `parseInt(document.querySelector('#detail-ttl').textContent)`)
	b.waitFor(fmt.Sprintf(`parseInt(document.querySelector('#detail-ttl').textContent) < %d`, ttl0), "the TTL to count down", 5*time.Second)
	b.noConsoleErrors(mark, "creating, editing and deleting keys")

	// Keyboard: Down moves from the directory to its key, Left goes back
	// up, Left again closes the directory.
	b.do("arrow keys in the tree",
		chromedp.Focus(chromedp.CSS(`#tree button[data-key="/jobs"]`)), chromedp.KeyEvent(kb.ArrowDown))
	if got := mustEval[string](b, `document.activeElement.dataset.key || ''`); got != created {
		t.Fatalf("focus after ArrowDown on /jobs: %q, want %q", got, created)
	}
	b.do("arrow left", chromedp.KeyEvent(kb.ArrowLeft), chromedp.KeyEvent(kb.ArrowLeft))
	if got := mustEval[string](b, `document.activeElement.dataset.key + ' ' + document.activeElement.getAttribute('aria-expanded')`); got != "/jobs false" {
		t.Fatalf("after ArrowLeft twice: focus and state %q, want \"/jobs false\"", got)
	}
}

// staleEditInBrowser: the page shows a key, someone changes it with curl,
// then the page's save must not overwrite it: it shows the conflict.
func staleEditInBrowser(t *testing.T, b *browser, curl string) {
	shown := dashPut(t, curl, "/shared", "first")
	b.setValue("#goto-path", "/shared")
	b.click(`#goto-form button[type="submit"]`)
	b.waitFor(fmt.Sprintf(`document.querySelector('#detail-modified')?.textContent === '%d'`, shown), "the key to be shown", 10*time.Second)
	b.click("#detail-edit")
	b.setValue("#edit-value", "mine")
	theirs := dashPut(t, curl, "/shared", "theirs")
	b.click("#edit-save")
	b.waitFor(`!!document.querySelector('#conflict-alert')`, "the conflict", 10*time.Second)
	alert := mustEval[string](b, `document.querySelector('#conflict-alert').innerText`)
	for _, want := range []string{fmt.Sprintf("index %d", shown), fmt.Sprintf("now at index %d", theirs), "not saved"} {
		if !strings.Contains(alert, want) {
			t.Errorf("conflict message %q does not say %q", alert, want)
		}
	}
	if got := mustEval[string](b, `document.querySelector('#conflict-theirs').textContent`); got != "theirs" {
		t.Errorf("the conflict shows their value as %q, want \"theirs\"", got)
	}
	dashWantValue(t, curl, "/shared", "theirs")
	// The user's text is still in the editor; overwriting is a new
	// compare-and-swap on their index.
	if got := mustEval[string](b, `document.querySelector('#edit-value').value`); got != "mine" {
		t.Errorf("editor after the conflict holds %q, want the user's \"mine\"", got)
	}
	b.click("#conflict-overwrite")
	b.waitFor(`document.querySelector('#detail-msg').textContent.startsWith('Saved /shared')`, "the overwrite", 10*time.Second)
	dashWantValue(t, curl, "/shared", "mine")
}

// watchInBrowser: a curl write appears within a second; events written
// while paused arrive on resume; an outrun history says so.
func watchInBrowser(t *testing.T, b *browser, curl string) {
	b.view("watch")
	b.waitFor(`document.querySelector('#watch-status').textContent.startsWith('Watching /')`, "the watch", 10*time.Second)
	start := time.Now()
	idx := dashPut(t, curl, "/watched", "w1")
	b.waitFor(fmt.Sprintf(`!!document.querySelector('#watch-events tr[data-key="/watched"][data-index="%d"]')`, idx),
		"the curl write in the watch view within a second", time.Second)
	t.Logf("curl write to watch row: %v", time.Since(start).Round(time.Millisecond))
	row := mustEval[string](b, `document.querySelector('#watch-events tr[data-key="/watched"]').innerText`)
	for _, want := range []string{"set", "/watched", "w1", fmt.Sprint(idx)} {
		if !strings.Contains(row, want) {
			t.Errorf("watch row %q lacks %q", row, want)
		}
	}

	b.click("#watch-pause")
	b.waitFor(`document.querySelector('#watch-status').textContent.startsWith('Paused')`, "the pause", 5*time.Second)
	a := dashPut(t, curl, "/paused/a", "1")
	bIdx := dashPut(t, curl, "/paused/b", "2")
	if n := mustEval[int](b, `document.querySelectorAll('#watch-events tr[data-key^="/paused/"]').length`); n != 0 {
		t.Fatalf("%d events shown while paused", n)
	}
	b.click("#watch-pause")
	b.waitFor(fmt.Sprintf(`document.querySelectorAll('#watch-events tr[data-index="%d"], #watch-events tr[data-index="%d"]').length === 2`, a, bIdx),
		"both events written during the pause", 10*time.Second)

	// Outrun the history (the member keeps the last 1000 events) while
	// paused: resuming must say the events are gone.
	b.click("#watch-pause")
	b.waitFor(`document.querySelector('#watch-status').textContent.startsWith('Paused')`, "the second pause", 5*time.Second)
	flood(t, curl, 1010)
	b.click("#watch-pause")
	b.waitFor(`!document.querySelector('#watch-alert').hidden && document.querySelector('#watch-alert').innerText.includes('history was cleared')`,
		"the history-cleared message", 10*time.Second)
	msg := mustEval[string](b, `document.querySelector('#watch-alert p').innerText`)
	t.Logf("history message: %s", msg)
	for _, want := range []string{fmt.Sprintf("from index %d to ", bIdx+1), "The event in requested index is outdated and cleared"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the history message does not say %q", want)
		}
	}
	if n := mustEval[int](b, `document.querySelectorAll('#watch-from-oldest').length`); n != 1 {
		t.Errorf("no button to go on from the oldest kept event")
	}
	b.click("#watch-from-now")
	b.waitFor(`document.querySelector('#watch-status').textContent.startsWith('Watching /')`, "the watch from now", 10*time.Second)
	idx = dashPut(t, curl, "/after-gap", "x")
	b.waitFor(fmt.Sprintf(`!!document.querySelector('#watch-events tr[data-index="%d"]')`, idx), "an event after the gap", 5*time.Second)
}

// flood writes n keys with 16 concurrent curl-like clients.
func flood(t *testing.T, base string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				st, _, err := v2do(ctx, "PUT", fmt.Sprintf("%s/v2/keys/flood/k%d", base, i), url.Values{"value": {"x"}})
				cancel()
				if err != nil || (st != 200 && st != 201) {
					errs <- fmt.Errorf("flood write %d: status %d %v", i, st, err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// layoutInBrowser: at 360 px no view is wider than the screen, and dark
// mode turns the page dark.
func layoutInBrowser(t *testing.T, b *browser) {
	b.do("a 360 px screen", chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile))
	for _, v := range []string{"keys", "watch", "cluster"} {
		b.view(v)
		if w := mustEval[int](b, `document.documentElement.scrollWidth`); w > 360 {
			t.Errorf("the %s view is %d px wide on a 360 px screen", v, w)
		}
	}
	b.do("back to the desktop size", chromedp.ResetViewport())
	b.colorScheme("dark")
	lum := mustEval[int](b, `(() => { const m = getComputedStyle(document.body).backgroundColor.match(/\d+/g).map(Number); return m[0] + m[1] + m[2]; })()`)
	txt := mustEval[int](b, `(() => { const m = getComputedStyle(document.body).color.match(/\d+/g).map(Number); return m[0] + m[1] + m[2]; })()`)
	b.colorScheme("light")
	if lum > 150 || txt < 500 {
		t.Errorf("dark mode: background brightness %d (want under 150), text %d (want over 500)", lum, txt)
	}
}

// proxyInBrowser opens the dashboard through an etcd proxy: the page
// works, and the Cluster view shows the proxy beside the three members.
func proxyInBrowser(t *testing.T, b *browser, proxy *proc) {
	mark := b.mark()
	b.do("open the dashboard through the proxy", chromedp.Navigate(proxy.client+"/dashboard/#/cluster"))
	b.waitFor(`document.querySelectorAll('#members .card[data-health="healthy"]').length === 3 &&
		document.querySelectorAll('#members .card[data-role="proxy"]').length === 1`, "three healthy members and the proxy", 20*time.Second)
	b.view("keys")
	b.waitFor(`!!document.querySelector('#tree button[data-key="/shared"]')`, "the key tree through the proxy", 10*time.Second)
	b.noConsoleErrors(mark, "using the dashboard through a proxy")
}

// failoverInBrowser kills the member that served the page: the cluster
// view shows it unreachable, and keys and the watch go on through
// another member.
func failoverInBrowser(t *testing.T, b *browser, served *proc, name, curl string, members []*proc) {
	b.do("open the dashboard again", chromedp.Navigate(served.client+"/dashboard/#/watch"))
	b.waitFor(`document.querySelector('#watch-status').textContent.startsWith('Watching /')`, "the watch", 10*time.Second)
	b.view("cluster")
	b.waitFor(`document.querySelectorAll('#members .card[data-health="healthy"]').length === 3`, "three healthy members", 20*time.Second)
	served.kill()
	b.waitFor(fmt.Sprintf(`document.querySelector('#members .card[data-member="%s"]')?.dataset.health === 'unreachable'`, name),
		"the killed member to show as unreachable", 20*time.Second)
	b.waitFor(`document.querySelector('#conn').textContent.includes('now talking to')`, "the page to move to another member", 20*time.Second)
	b.view("keys")
	b.setValue("#goto-path", "/")
	b.click(`#goto-form button[type="submit"]`)
	b.waitFor(`document.querySelector('#detail-key')?.textContent === '/'`, "the root directory", 15*time.Second)
	b.click("#new-btn")
	b.setValue("#create-name", "after-failover")
	b.setValue("#create-value", "still here")
	b.click("#create-ok")
	b.waitFor(`document.querySelector('#detail-key')?.textContent === '/after-failover'`, "a key created after the member died", 15*time.Second)
	dashWantValue(t, curl, "/after-failover", "still here")
	// The watch resumed on another member from its last index.
	idx := dashPut(t, curl, "/after-kill", "y")
	b.view("watch")
	b.waitFor(fmt.Sprintf(`!!document.querySelector('#watch-events tr[data-index="%d"]')`, idx), "the watch to go on through another member", 15*time.Second)

	// With every member gone the page says so, and where else to look.
	for _, p := range members {
		p.kill()
	}
	b.waitFor(`document.querySelector('#conn').textContent.includes('no other member answered')`, "the page to say nothing answers", 20*time.Second)
}

// seedScreenshotKeys writes the keys the screenshots show.
func seedScreenshotKeys(t *testing.T, curl string) {
	for _, kv := range [][2]string{
		{"/config/shop/name", "shop"}, {"/config/shop/replicas", "3"},
		{"/config/shop/db", "postgres://db.internal:5432/shop?sslmode=verify-full"},
		{"/config/search/endpoint", "http://search.internal:9200"},
		{"/locks/nightly-report", "worker-7"},
	} {
		dashPut(t, curl, kv[0], kv[1])
	}
	dashPut(t, curl, "/services/web/10.0.0.11", `{"host":"10.0.0.11","port":8080,"version":"2.4.1"}`, "ttl", "300")
	dashPut(t, curl, "/services/web/10.0.0.12", `{"host":"10.0.0.12","port":8080,"version":"2.4.1"}`, "ttl", "300")
}

// screenshots writes docs/dashboard/*.png (DASHBOARD_SCREENSHOTS=1).
func screenshots(t *testing.T, b *browser, curl string) {
	b.do("screenshot size", chromedp.EmulateViewport(1200, 760))
	b.view("keys")
	mustEval[string](b, `document.querySelector('#goto-path').value = ''`)
	for _, k := range []string{"/services", "/services/web", "/services/web/10.0.0.11"} {
		b.click(fmt.Sprintf(`#tree button[data-key="%s"]`, k))
		b.waitFor(fmt.Sprintf(`document.querySelector('#detail-key')?.textContent === '%s'`, k), "showing "+k, 10*time.Second)
	}
	// Opening /config moves the rows below it: click the key only after.
	b.click(`#tree button[data-key="/config"]`)
	b.waitFor(`!!document.querySelector('#tree button[data-key="/config/shop"]')`, "/config to open", 10*time.Second)
	b.click(`#tree button[data-key="/services/web/10.0.0.11"]`)
	b.waitFor(`document.querySelector('#detail-key')?.textContent === '/services/web/10.0.0.11' && !!document.querySelector('#detail-ttl')`, "the key with a TTL", 10*time.Second)
	b.screenshot("keys")
	b.colorScheme("dark")
	b.screenshot("keys-dark")
	b.colorScheme("light")
	b.view("watch")
	b.screenshot("watch")
	// A light write load gives the charts something to draw.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(20+(i%40)*3) * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _, _ = v2do(ctx, "PUT", fmt.Sprintf("%s/v2/keys/load/k%d", curl, i%50), url.Values{"value": {"x"}})
			cancel()
		}
	}()
	b.view("cluster")
	b.waitFor(`Number(document.querySelector('#chart-writes').dataset.points) >= 12`, "chart samples", 60*time.Second)
	close(stop)
	wg.Wait()
	b.screenshot("cluster")
	b.do("a 360 px screen", chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile))
	b.screenshot("cluster-narrow")
	b.do("back to the desktop size", chromedp.ResetViewport())
}
