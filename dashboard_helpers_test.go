package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/etcd-classic/etcd-classic/proctest"
)

// Helpers of the dashboard browser test (dashboard_browser_test.go): a
// cluster whose members allow each other's origins, and a headless
// chromium driven with chromedp that records the page's console.

// findChromium returns the path of a Chromium or Chrome binary, or "".
func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// startCORSCluster bootstraps n members, each started with --cors listing
// every member's client URL (and the extra origins): what
// docs/dashboard.md asks for, so that a page served by one member can use
// the others. It returns the cluster and its --initial-cluster value.
func startCORSCluster(t *testing.T, n int, extraOrigins ...string) (*procCluster, string) {
	t.Helper()
	c := &procCluster{t: t}
	var clients, peers, ic []string
	for i := 0; i < n; i++ {
		clients = append(clients, fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
		peers = append(peers, fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
		c.names = append(c.names, fmt.Sprintf("m%d", i))
		ic = append(ic, c.names[i]+"="+peers[i])
	}
	for i := 0; i < n; i++ {
		dir := t.TempDir()
		c.members = append(c.members, startProcAsync(t, clients[i], dir, "--name", c.names[i], "--data-dir", dir,
			"--listen-client-urls", clients[i], "--advertise-client-urls", clients[i],
			"--listen-peer-urls", peers[i], "--initial-advertise-peer-urls", peers[i],
			"--initial-cluster", strings.Join(ic, ","), "--cors", strings.Join(append(clients, extraOrigins...), ",")))
	}
	for _, p := range c.members {
		p.waitUp()
	}
	c.waitHealthy()
	return c, strings.Join(ic, ",")
}

// startDashboardProxy starts an etcd 2.x proxy (--proxy on) in front of the
// cluster described by initialCluster, listening on client.
func startDashboardProxy(t *testing.T, client, initialCluster string) *proc {
	t.Helper()
	dir := t.TempDir()
	p := startProcAsync(t, client, dir, "--proxy", "on", "--name", "proxy", "--data-dir", dir,
		"--listen-client-urls", client, "--advertise-client-urls", client, "--initial-cluster", initialCluster)
	waitFor(t, "the proxy to reach the cluster", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, _, err := v2do(ctx, "GET", client+"/v2/keys/", nil)
		return err == nil && st == 200
	})
	return p
}

// browser is one headless chromium tab.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// newBrowser starts chromium with a fresh profile; it is stopped when the
// test ends.
func newBrowser(t *testing.T, exe string) *browser {
	t.Helper()
	// Chromium puts its singleton socket and cookie in a directory of its
	// own under TMPDIR, and leaves it there: give it one of the run's,
	// with a short path (a socket's path must stay under 108 bytes, which
	// a t.TempDir's nested name can pass).
	chromeTmp, err := proctest.TempDir("cr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(chromeTmp) })
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Env("TMPDIR=" + chromeTmp),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true), chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("lang", "en-US"), chromedp.WindowSize(1200, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	b := &browser{t: t, ctx: ctx}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	return b
}

// do runs actions, failing the test (with the console) on error.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v%s", what, err, b.consoleText(0))
	}
}

func (b *browser) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

func (b *browser) setValue(sel, v string) {
	b.t.Helper()
	b.do("fill "+sel, chromedp.SetValue(chromedp.CSS(sel), v))
}

// view opens one of the views as a user does, with its link.
func (b *browser) view(name string) {
	b.t.Helper()
	b.click("#nav-" + name)
	b.waitFor(fmt.Sprintf(`!document.querySelector('#view-%s').hidden`, name), "the "+name+" view is shown", 10*time.Second)
}

// waitFor polls a JavaScript condition in the page until it is true.
func (b *browser) waitFor(cond, what string, timeout time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond,
		chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(20*time.Millisecond)))
	if err != nil {
		page, _ := evalJS[string](b, `document.querySelector('main').innerText.slice(0, 3000)`)
		b.t.Fatalf("waiting %v for %s: %v\npage:\n%s%s", timeout, what, err, page, b.consoleText(0))
	}
}

// evalJS evaluates an expression in the page (awaiting it when it is a
// promise).
func evalJS[T any](b *browser, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// mustEval evaluates an expression, failing the test on error.
func mustEval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := evalJS[T](b, expr)
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// download clicks a download link and returns the file it saved as name.
func (b *browser) download(sel, name string) string {
	b.t.Helper()
	dir := b.t.TempDir()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir}); err != nil {
		b.t.Fatalf("allowing downloads: %v", err)
	}
	b.click(sel)
	var got []byte
	waitFor(b.t, "the download of "+name, func() bool {
		var err error
		got, err = os.ReadFile(filepath.Join(dir, name))
		return err == nil && len(got) > 0
	})
	return string(got)
}

// mark is the number of console messages so far.
func (b *browser) mark() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.console)
}

// noConsoleErrors fails the test if an error or an uncaught exception
// reached the console since mark.
func (b *browser) noConsoleErrors(mark int, during string) {
	b.t.Helper()
	b.noConsoleErrorsBut(mark, during, nil)
}

// noConsoleErrorsBut is noConsoleErrors for a scenario in which the
// browser itself logs some errors that the test expects: expected picks
// them (they are counted in the log, not failed on). Chromium logs every
// HTTP answer outside 2xx to a fetch as a network error, which the page
// cannot prevent: a test that makes the member refuse calls on purpose
// lets exactly those through, and nothing the page writes itself.
func (b *browser) noConsoleErrorsBut(mark int, during string, expected func(chromedp.ConsoleMessage) bool) {
	b.t.Helper()
	// Console events arrive asynchronously: give the last ones a moment
	// by round-tripping one evaluation through the page first.
	_, _ = evalJS[int](b, `1`)
	b.mu.Lock()
	defer b.mu.Unlock()
	var bad []string
	allowed := 0
	for _, m := range b.console[mark:] {
		if m.Type != chromedp.ConsoleError && !m.IsException() {
			continue
		}
		if expected != nil && !m.IsException() && expected(m) {
			allowed++
			continue
		}
		bad = append(bad, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line+1))
	}
	if allowed > 0 {
		b.t.Logf("%d expected network errors in the console while %s", allowed, during)
	}
	if len(bad) > 0 {
		b.t.Fatalf("console errors while %s:\n%s", during, strings.Join(bad, "\n"))
	}
}

func (b *browser) consoleText(mark int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.console) <= mark {
		return ""
	}
	var s strings.Builder
	s.WriteString("\nconsole:")
	for _, m := range b.console[mark:] {
		s.WriteString("\n  " + m.String())
	}
	return s.String()
}

// colorScheme emulates prefers-color-scheme ("dark" or "light").
func (b *browser) colorScheme(scheme string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
	if err != nil {
		b.t.Fatalf("emulating %s mode: %v", scheme, err)
	}
}

// screenshot writes docs/dashboard/<name>.png when DASHBOARD_SCREENSHOTS
// is set (the images docs/dashboard.md shows); otherwise it does nothing.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	if os.Getenv("DASHBOARD_SCREENSHOTS") == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("docs", "dashboard")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("wrote %s", filepath.Join(dir, name+".png"))
}

// dashPut writes key=value through member base, as curl -XPUT does, and
// returns the new modifiedIndex.
func dashPut(t *testing.T, base, key, value string, extra ...string) uint64 {
	t.Helper()
	form := url.Values{"value": {value}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, r, err := v2do(ctx, "PUT", base+"/v2/keys"+key, form)
	if err != nil || (st != 200 && st != 201) {
		t.Fatalf("curl -XPUT %s/v2/keys%s: status %d %+v %v", base, key, st, r, err)
	}
	return r.Node.ModifiedIndex
}

// dashGet reads key with a quorum read through member base, as curl does.
func dashGet(t *testing.T, base, key string) (int, *v2Resp) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, r, err := v2do(ctx, "GET", base+"/v2/keys"+key+"?quorum=true", nil)
	if err != nil {
		t.Fatalf("curl %s/v2/keys%s: %v", base, key, err)
	}
	return st, r
}

// dashWantValue checks what a plain HTTP client sees at key.
func dashWantValue(t *testing.T, base, key, want string) {
	t.Helper()
	st, r := dashGet(t, base, key)
	if st != 200 || r.Node.Value != want {
		t.Fatalf("curl %s/v2/keys%s: status %d, value %q; want 200 and %q", base, key, st, r.Node.Value, want)
	}
}
