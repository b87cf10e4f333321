package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// tourStart and tourEnd mark the part of README.md whose "$ curl" lines
// run in order on one fresh member.
const (
	tourStart = "<!-- tour:"
	tourEnd   = "<!-- end of tour -->"
)

// tourStep is one "$ curl ..." line of the README and the answer shown
// under it.
type tourStep struct {
	line int    // in README.md
	cmd  string // without the "$ "
	want string // the lines under it, joined with "\n"
}

// readTour returns the commands of the README's tour with their answers:
// the indented lines under each "$ curl" line, blank lines inside an
// answer (between -i's headers and body) included. Every command must
// show its answer: the point is to check them all.
func readTour(t *testing.T, readme string) []tourStep {
	t.Helper()
	var (
		steps   []tourStep
		in, end bool
		cur     *tourStep
		lines   []string
	)
	flush := func() {
		if cur != nil {
			for len(lines) > 0 && lines[len(lines)-1] == "" {
				lines = lines[:len(lines)-1]
			}
			cur.want = strings.Join(lines, "\n")
			steps = append(steps, *cur)
		}
		cur, lines = nil, nil
	}
	sc := bufio.NewScanner(strings.NewReader(readme))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, tourStart):
			in = true
		case strings.HasPrefix(line, tourEnd):
			flush()
			in, end = false, true
		case !in:
			if strings.HasPrefix(strings.TrimSpace(line), "$ ") {
				t.Errorf("README.md:%d: a \"$\" command outside the tour is not checked; drop the prompt or move it into the tour", n)
			}
		case strings.HasPrefix(line, "    $ "):
			flush()
			cur = &tourStep{line: n, cmd: strings.TrimPrefix(line, "    $ ")}
		case cur != nil && (strings.HasPrefix(line, "    ") || line == ""):
			lines = append(lines, strings.TrimPrefix(line, "    "))
		default:
			flush()
		}
	}
	if !end {
		t.Fatalf("README.md has no %q ... %q section", tourStart, tourEnd)
	}
	for _, s := range steps {
		if s.want == "" {
			t.Errorf("README.md:%d: %q shows no answer", s.line, s.cmd)
		}
	}
	return steps
}

// shellWords splits a command line as sh does for the plain words,
// single and double quotes the README uses.
func shellWords(s string) ([]string, error) {
	var (
		out   []string
		cur   strings.Builder
		inTok bool
		quote rune
	)
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inTok = r, true
		case r == ' ' || r == '\t':
			if inTok {
				out = append(out, cur.String())
				cur.Reset()
				inTok = false
			}
		case strings.ContainsRune("$`\\|&;<>(){}*?#", r):
			return nil, fmt.Errorf("%q needs a shell (%q); keep tour commands to plain curl", s, r)
		default:
			cur.WriteRune(r)
			inTok = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("%q: unterminated quote", s)
	}
	if inTok {
		out = append(out, cur.String())
	}
	return out, nil
}

// tourNormalise blanks what differs from run to run: times of expiry,
// the raft position, the cluster ID (it depends on the peer URLs).
var tourNormalise = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`"expiration":"[^"]*"`), `"expiration":"<time>"`},
	{regexp.MustCompile(`(?m)^(X-Raft-Index|X-Raft-Term): \d+$`), `$1: <n>`},
	{regexp.MustCompile(`(?m)^X-Etcd-Cluster-Id: [0-9a-f]+$`), `X-Etcd-Cluster-Id: <id>`},
}

func normaliseTour(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	for _, n := range tourNormalise {
		s = n.re.ReplaceAllString(s, n.with)
	}
	return strings.TrimRight(s, "\n")
}

// compareTourAnswer checks curl's output against the README's answer. With
// -i, the status line must match and every header the README shows must
// be there with that value; the README leaves out Date and the like.
func compareTourAnswer(got, want string, headers bool) string {
	got, want = normaliseTour(got), normaliseTour(want)
	if !headers {
		if got != want {
			return fmt.Sprintf("got  %s\nwant %s", got, want)
		}
		return ""
	}
	gh, gb, _ := strings.Cut(got, "\n\n")
	wh, wb, _ := strings.Cut(want, "\n\n")
	var diffs []string
	gotLines := strings.Split(gh, "\n")
	wantLines := strings.Split(wh, "\n")
	if gotLines[0] != wantLines[0] {
		diffs = append(diffs, fmt.Sprintf("status %q, want %q", gotLines[0], wantLines[0]))
	}
	for _, w := range wantLines[1:] {
		if !contains(gotLines[1:], w) {
			diffs = append(diffs, fmt.Sprintf("no header line %q in\n%s", w, gh))
		}
	}
	if gb != wb {
		diffs = append(diffs, fmt.Sprintf("body\ngot  %s\nwant %s", gb, wb))
	}
	return strings.Join(diffs, "\n")
}

// TestReadmeTour runs the README's curl tour, in order, with curl against
// a freshly started member, and compares every answer with the one the
// README shows. The README's URLs (the member of `go run .`) are mapped
// to the test member's.
func TestReadmeTour(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary (skipped under -short)")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed: the tour's commands are curl command lines")
	}
	t.Parallel()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	steps := readTour(t, string(b))
	if len(steps) < 20 {
		t.Fatalf("only %d tour steps found", len(steps))
	}

	// A member with two client URLs, like `go run .`'s 2379 and 4001.
	dir := t.TempDir()
	c1 := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	c2 := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	p := startProc(t, c1, dir, "--data-dir", dir, "--listen-client-urls", c1+","+c2, "--advertise-client-urls", c1+","+c2,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "default="+peer)
	// The tour starts once the member has registered itself and written
	// the cluster record (indexes 1 and 2).
	waitFor(t, "the member's bootstrap writes", func() bool {
		r, err := testClient.Get(c1 + "/v2/keys/_etcd/config")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200 && r.Header.Get("X-Etcd-Index") == "2"
	})
	urls := strings.NewReplacer("http://127.0.0.1:2379", c1, "http://127.0.0.1:4001", c2)

	for _, s := range steps {
		argv, err := shellWords(s.cmd)
		if err != nil {
			t.Fatalf("README.md:%d: %v", s.line, err)
		}
		if argv[0] != "curl" {
			t.Fatalf("README.md:%d: %q is not a curl command", s.line, s.cmd)
		}
		args := []string{"-sS", "--max-time", "20"}
		headers := false
		for _, a := range argv[1:] {
			if a == "-i" {
				headers = true
			}
			args = append(args, urls.Replace(a))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, curl, args...)
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		out, err := cmd.Output()
		cancel()
		if err != nil {
			t.Fatalf("README.md:%d: %s: %v", s.line, s.cmd, err)
		}
		if d := compareTourAnswer(string(out), s.want, headers); d != "" {
			t.Errorf("README.md:%d: %s\n%s", s.line, s.cmd, d)
		}
	}
	if t.Failed() {
		t.Logf("member log:\n%s", p.log.String())
	}
}

// The README names the Go version go.mod asks for.
func TestReadmeGoVersion(t *testing.T) {
	t.Parallel()
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := "Go " + string(m[1]); !strings.Contains(string(readme), want) {
		t.Errorf("README.md does not say %q (go.mod's go line)", want)
	}
}
