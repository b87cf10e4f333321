package etcdctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/proctest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the server under test (record them from etcd 3.4)")

// step is one etcdctl invocation. Arguments may hold templates, filled
// in just before the command runs:
//
//	{mod:/k}       the modifiedIndex of /k
//	{index}        the store index; {index-2} two below it
//	{id:m0}        the ID of member m0 (or of an added member, by label)
//	{peer:m0}      member m0's peer URL; {client:m0} its client URL
//	{port:peer:m0} the port of that URL
//	{newpeer:x}    a free loopback URL, labelled x once added
//	{dead}         a loopback URL on which nothing listens
type step struct {
	name      string
	args      []string
	stdin     string
	endpoints string // replaces the default --endpoints (all members)
	sortLines bool   // the order of stdout lines is the server's map or ID order
	noSettle  bool   // the cluster is left without a quorum
	bg        *background
	// notBefore holds the step until the cluster is that old. etcd 3.4's
	// strict reconfiguration check refuses member adds (500) until every
	// peer has been connected for 5s (HealthInterval); the golden files
	// record the answers of a settled cluster.
	notBefore time.Duration
	// removeAfter names members (by label) that the harness removes over
	// HTTP after the step if it added them, so that a wrongly accepted
	// add does not change what later steps print.
	removeAfter []string
}

// env is one running cluster and what the normaliser knows about it.
type env struct {
	c       *proctest.Cluster
	started time.Time
	ctl     string
	norm    *normaliser
	labels  map[string]string // template label → URL ("peer:m0", "newpeer:new1", "dead")
	records []string
	// creds ("user:password"), when set, go with the harness's own
	// reads, so that it still sees the store once auth is enabled and
	// the guest role narrowed (both servers ignore them while auth is
	// off).
	creds string
}

// keysURL is a member's client URL for the harness's own reads, with the
// harness's credentials.
func (e *env) keysURL(clientURL string) string {
	if e.creds == "" {
		return clientURL
	}
	return strings.Replace(clientURL, "://", "://"+e.creds+"@", 1)
}

func newEnv(t *testing.T, members int) *env {
	t.Helper()
	bin := os.Getenv("COMPAT_ETCD")
	if bin == "" {
		t.Skip("COMPAT_ETCD is not set (see scripts/compat.sh)")
	}
	ctl := os.Getenv("COMPAT_ETCDCTL")
	if ctl == "" {
		var err error
		if ctl, err = exec.LookPath("etcdctl"); err != nil {
			t.Skip("etcdctl not found (Debian package etcd-client)")
		}
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := proctest.StartCluster(ctx, proctest.ClusterConfig{CleanEnv: true, Binary: bin, Args: strings.Fields(os.Getenv("COMPAT_ETCD_ARGS")), Members: members, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			t.Log(c.Logs())
		}
	})
	e := &env{c: c, started: time.Now(), ctl: ctl, labels: map[string]string{},
		norm: &normaliser{ports: map[string]string{}, ids: map[string]string{}}}
	for _, m := range c.Members {
		e.label("client:"+m.Name, m.ClientURL)
		e.label("peer:"+m.Name, m.PeerURL)
	}
	e.label("dead", e.freeURL(t))
	e.refreshIDs()
	e.settle(t)
	idx, err := e.quorumIndex()
	if err != nil {
		t.Fatal(err)
	}
	e.norm.base = idx
	return e
}

func (e *env) label(l, u string) {
	e.labels[l] = u
	if pu, err := url.Parse(u); err == nil {
		e.norm.ports[pu.Port()] = l
	}
}

// freeURL is a loopback URL on a free port that no label uses yet (a
// port nobody listens on can be handed out twice).
func (e *env) freeURL(t *testing.T) string {
	for {
		p, err := proctest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if _, used := e.norm.ports[strconv.Itoa(p)]; !used {
			return "http://127.0.0.1:" + strconv.Itoa(p)
		}
	}
}

func (e *env) live() []*proctest.Member {
	var out []*proctest.Member
	for _, m := range e.c.Members {
		if m.Alive() {
			out = append(out, m)
		}
	}
	return out
}

func ctx5() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

// refreshIDs learns member IDs (and added members' labels) from
// /v2/members; IDs stay known after a member is removed.
func (e *env) refreshIDs() {
	ctx, cancel := ctx5()
	defer cancel()
	for _, m := range e.live() {
		var ms struct {
			Members []struct {
				ID, Name string
				PeerURLs []string
			}
		}
		if _, err := proctest.GetJSON(ctx, m.ClientURL+"/v2/members", &ms); err != nil {
			continue
		}
		for _, x := range ms.Members {
			if _, known := e.norm.ids[x.ID]; known {
				continue
			}
			l := x.Name
			for lab, u := range e.labels {
				if len(x.PeerURLs) > 0 && x.PeerURLs[0] == u && strings.HasPrefix(lab, "newpeer:") {
					l = strings.TrimPrefix(lab, "newpeer:")
				}
			}
			if l == "" {
				l = "unknown"
			}
			e.norm.ids[x.ID] = l
		}
		return
	}
}

// removeMember deletes the member labelled l, if it exists.
func (e *env) removeMember(t *testing.T, l string) {
	for id, lab := range e.norm.ids {
		if lab != l {
			continue
		}
		ctx, cancel := ctx5()
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, e.live()[0].ClientURL+"/v2/members/"+id, nil)
		resp, err := testClient.Do(req)
		if err != nil {
			t.Errorf("removing member %s: %v", l, err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNoContent {
			t.Logf("removed member %s (%s), which the step should not have added", l, id)
		}
	}
}

// quorumIndex is the store index read linearizably from any member.
func (e *env) quorumIndex() (uint64, error) {
	ctx, cancel := ctx5()
	defer cancel()
	var last error
	for _, m := range e.live() {
		idx, err := proctest.EtcdIndex(ctx, e.keysURL(m.ClientURL), true)
		if err == nil {
			return idx, nil
		}
		last = err
	}
	return 0, fmt.Errorf("no member answers a quorum read: %v", last)
}

// settle waits until every live member has applied everything the
// cluster committed, so that the next command sees the same state
// whichever member etcdctl picks (polling, not sleeping).
func (e *env) settle(t *testing.T) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := e.settled()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("members did not converge: %v", err)
			return
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

func (e *env) settled() error {
	want, err := e.quorumIndex()
	if err != nil {
		return err
	}
	ctx, cancel := ctx5()
	defer cancel()
	for _, m := range e.live() {
		idx, err := proctest.EtcdIndex(ctx, e.keysURL(m.ClientURL), false)
		if err != nil {
			return err
		}
		if idx < want {
			return fmt.Errorf("%s at index %d, cluster at %d", m.Name, idx, want)
		}
	}
	return nil
}

// reTemplate matches {kind}, {kind:arg} and {kind-N}.
var reTemplate = regexp.MustCompile(`\{([a-z]+)(?::([^}]*)|-(\d+))?\}`)

// expand fills in the templates of one argument.
func (e *env) expand(t *testing.T, a string) string {
	return reTemplate.ReplaceAllStringFunc(a, func(m string) string {
		p := reTemplate.FindStringSubmatch(m)
		kind, arg := p[1], p[2]
		switch kind {
		case "mod":
			var r struct {
				Node struct{ ModifiedIndex uint64 }
			}
			ctx, cancel := ctx5()
			defer cancel()
			if _, err := proctest.GetJSON(ctx, e.keysURL(e.live()[0].ClientURL)+"/v2/keys"+arg+"?quorum=true", &r); err != nil {
				t.Fatalf("template %s: %v", m, err)
			}
			return strconv.FormatUint(r.Node.ModifiedIndex, 10)
		case "index":
			idx, err := e.quorumIndex()
			if err != nil {
				t.Fatal(err)
			}
			d, _ := strconv.ParseUint(p[3], 10, 64) // {index-N}
			return strconv.FormatUint(idx-d, 10)
		case "id":
			for id, l := range e.norm.ids {
				if l == arg {
					return id
				}
			}
			t.Fatalf("template %s: no such member", m)
		case "peer", "client":
			return e.labels[kind+":"+arg]
		case "port":
			u, _ := url.Parse(e.labels[arg])
			return u.Port()
		case "newpeer":
			if u, ok := e.labels["newpeer:"+arg]; ok {
				return u
			}
			u := e.freeURL(t)
			e.label("newpeer:"+arg, u)
			return u
		case "dead":
			return e.labels["dead"]
		}
		t.Fatalf("unknown template %s", m)
		return ""
	})
}

// ctlEnv is the environment of etcdctl: v2 mode, nothing else of ours.
func ctlEnv() []string {
	env := []string{"ETCDCTL_API=2"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCDCTL_") && !strings.HasPrefix(kv, "ETCD_") {
			env = append(env, kv)
		}
	}
	return env
}

// run executes one step and checks it against the golden record.
func (e *env) run(t *testing.T, s step, golden map[string]string) {
	if wait := time.Until(e.started.Add(s.notBefore)); wait > 0 {
		time.Sleep(wait) // a server rule about time, not synchronisation
	}
	var args []string
	for _, a := range s.args {
		args = append(args, e.expand(t, a))
	}
	eps := strings.Join(e.c.ClientURLs(), ",")
	if s.endpoints != "" {
		eps = e.expand(t, s.endpoints)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.ctl, append([]string{"--endpoints", eps}, args...)...)
	cmd.Env = ctlEnv()
	cmd.Dir = t.TempDir()
	cmd.Stdin = strings.NewReader(s.stdin)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	var exit string
	if s.bg == nil {
		exit = describe(cmd.Run(), ctx)
	} else {
		exit = e.runBackground(t, cmd, s.bg, &stdout, ctx)
	}
	e.refreshIDs()
	for _, l := range s.removeAfter {
		e.removeMember(t, l)
	}
	if !s.noSettle {
		e.settle(t)
	}

	out := e.norm.text(stdout.String())
	if s.sortLines {
		out = sortLines(out)
	}
	// The command line is shown with its templates, which do not vary.
	var shown []string
	if s.endpoints != "" {
		shown = append(shown, "--endpoints", s.endpoints)
	}
	for _, a := range s.args {
		shown = append(shown, shellQuote(a))
	}
	cmdline := "etcdctl " + strings.Join(shown, " ")
	if s.stdin != "" {
		cmdline = fmt.Sprintf("(stdin %q) %s", s.stdin, cmdline)
	}
	got := record(s.name, cmdline, exit, out, e.norm.text(stderr.String()))
	e.records = append(e.records, got)
	if *update {
		return
	}
	want, ok := golden[s.name]
	if !ok {
		t.Fatalf("no golden record %q; record one from etcd 3.4 with -update. Got:\n%s", s.name, got)
	}
	if got != want {
		t.Errorf("etcdctl output differs from etcd 3.4's\n--- got (this server):\n%s--- want (etcd 3.4):\n%s", got, want)
	}
}

// describe renders how etcdctl ended.
func describe(err error, ctx context.Context) string {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "0"
	case ctx.Err() != nil:
		return "killed by the test: timed out"
	case errors.As(err, &ee):
		return strconv.Itoa(ee.ExitCode())
	default:
		return "error: " + err.Error()
	}
}

// runScenario starts a cluster and runs the steps as subtests, comparing
// with (or with -update, rewriting) testdata/<name>.golden.
func runScenario(t *testing.T, name string, members int, steps []step) {
	runScenarioAs(t, name, members, "", steps)
}

// runScenarioAs is runScenario with credentials for the harness's own
// reads (see env.creds).
func runScenarioAs(t *testing.T, name string, members int, creds string, steps []step) {
	path := filepath.Join("testdata", name+".golden")
	e := newEnv(t, members)
	e.creds = creds
	var golden map[string]string
	if !*update {
		var err error
		if golden, err = readGolden(path); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) { e.run(t, s, golden) })
	}
	if *update {
		if err := os.WriteFile(path, []byte(strings.Join(e.records, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
