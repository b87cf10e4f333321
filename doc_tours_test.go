package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A tour is a part of a Markdown file between a tourStart line, which
// names the command that starts its member, and tourEnd: its "$ curl"
// lines run in order against that member, freshly started, and every
// answer must be the one shown under its command.
//
//	<!-- tour: go run . -->                       the member of `go run .`
//	<!-- tour: etcd-classic -s 7001 -c 4001 -d node1 -->
const (
	tourStart = "<!-- tour: "
	tourEnd   = "<!-- end of tour -->"
)

// tour is one tour of a document.
type tour struct {
	file, member string
	line         int
	steps        []tourStep
}

// tourStep is one "$ curl ..." line and the answer shown under it.
type tourStep struct {
	line int    // in the file
	cmd  string // without the "$ "
	want string // the lines under it, joined with "\n"
}

// readTours returns the tours of a Markdown file with their commands and
// answers: the indented lines under each "$ curl" line, blank lines
// inside an answer (between -i's headers and body) included. Every
// command must show its answer, and no "$" command may stand outside a
// tour: the point is to check them all.
func readTours(t *testing.T, file string) []tour {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var (
		tours []tour
		in    *tour
		cur   *tourStep
		lines []string
	)
	flush := func() {
		if cur != nil {
			for len(lines) > 0 && lines[len(lines)-1] == "" {
				lines = lines[:len(lines)-1]
			}
			cur.want = strings.Join(lines, "\n")
			if cur.want == "" {
				t.Errorf("%s:%d: %q shows no answer", file, cur.line, cur.cmd)
			}
			in.steps = append(in.steps, *cur)
		}
		cur, lines = nil, nil
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, tourStart):
			if in != nil {
				t.Fatalf("%s:%d: a tour starts inside another", file, n)
			}
			member := strings.TrimSuffix(strings.TrimPrefix(line, tourStart), " -->")
			in = &tour{file: file, member: member, line: n}
		case strings.HasPrefix(line, tourEnd):
			if in == nil {
				t.Fatalf("%s:%d: a tour ends that did not start", file, n)
			}
			flush()
			tours = append(tours, *in)
			in = nil
		case in == nil:
			if strings.HasPrefix(strings.TrimSpace(line), "$ ") {
				t.Errorf("%s:%d: a \"$\" command outside a tour is not checked; drop the prompt or move it into a tour", file, n)
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
	if in != nil {
		t.Fatalf("%s:%d: the tour does not end", file, in.line)
	}
	return tours
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

// tourMember starts the member a tour names, freshly, on free ports, and
// returns the replacer that turns the document's URLs into its URLs, and
// the one that turns its addresses in answers back into the document's.
//
// "go run ." is a member with the default flags: clients on 2379 and
// 4001. Otherwise the command is etcd-classic with etcd 0.x's address
// flags: -c and -s name the client and peer ports (mapped to free ones),
// -d a data directory (made fresh), and the rest is passed as it is.
func tourMember(t *testing.T, tr tour) (toMember, toDoc *strings.Replacer) {
	t.Helper()
	dir := t.TempDir()
	var (
		args   []string
		pairs  [][2]string // document address, member address
		client string      // the member's client URL
	)
	switch {
	case tr.member == "go run .":
		c1, c2, peer := freePort(t), freePort(t), freePort(t)
		cs := fmt.Sprintf("http://127.0.0.1:%d,http://127.0.0.1:%d", c1, c2)
		p := fmt.Sprintf("http://127.0.0.1:%d", peer)
		args = []string{"--data-dir", dir, "--listen-client-urls", cs, "--advertise-client-urls", cs,
			"--listen-peer-urls", p, "--initial-advertise-peer-urls", p, "--initial-cluster", "default=" + p}
		pairs = [][2]string{{"127.0.0.1:2379", fmt.Sprintf("127.0.0.1:%d", c1)}, {"127.0.0.1:4001", fmt.Sprintf("127.0.0.1:%d", c2)}}
		client = fmt.Sprintf("http://127.0.0.1:%d", c1)
	case strings.HasPrefix(tr.member, "etcd-classic "):
		fields := strings.Fields(strings.TrimPrefix(tr.member, "etcd-classic "))
		for i := 0; i < len(fields); i++ {
			f := fields[i]
			if (f == "-c" || f == "-s" || f == "-d") && i+1 < len(fields) {
				i++
				v := fields[i]
				if f == "-d" {
					args = append(args, f, filepath.Join(dir, v))
					continue
				}
				port := freePort(t)
				args = append(args, f, strconv.Itoa(port))
				pairs = append(pairs, [2]string{"127.0.0.1:" + v, fmt.Sprintf("127.0.0.1:%d", port)})
				if f == "-c" {
					client = fmt.Sprintf("http://127.0.0.1:%d", port)
				}
				continue
			}
			args = append(args, f)
		}
	default:
		t.Fatalf("%s:%d: cannot start %q (go run . or etcd-classic with -c, -s, -d)", tr.file, tr.line, tr.member)
	}
	if client == "" {
		t.Fatalf("%s:%d: %q names no client port", tr.file, tr.line, tr.member)
	}
	var in, out []string
	for _, p := range pairs {
		in = append(in, p[0], p[1])
		out = append(out, p[1], p[0], strings.Replace(p[1], ":", "%3A", 1), strings.Replace(p[0], ":", "%3A", 1))
	}
	proc := startProc(t, client, dir, args...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("member log:\n%s", proc.log.String())
		}
	})
	// The tour starts once the member has registered itself and written
	// the cluster record (indexes 1 and 2).
	waitFor(t, "the member's bootstrap writes", func() bool {
		r, err := testClient.Get(client + "/v2/keys/_etcd/config")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200 && r.Header.Get("X-Etcd-Index") == "2"
	})
	return strings.NewReplacer(in...), strings.NewReplacer(out...)
}

// TestDocTours runs every tour of the README and docs/v1-api.md: its curl
// lines, in order, with curl, against a freshly started member, and
// compares every answer with the one the document shows.
func TestDocTours(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary (skipped under -short)")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed: the tours' commands are curl command lines")
	}
	t.Parallel()
	for _, file := range []string{"README.md", "docs/v1-api.md"} {
		tours := readTours(t, file)
		if len(tours) == 0 {
			t.Errorf("%s has no tour", file)
		}
		for _, tr := range tours {
			t.Run(fmt.Sprintf("%s:%d", file, tr.line), func(t *testing.T) {
				t.Parallel()
				runTour(t, curl, tr)
			})
		}
	}
}

// runTour runs one tour's commands against its member.
func runTour(t *testing.T, curl string, tr tour) {
	toMember, toDoc := tourMember(t, tr)
	for _, s := range tr.steps {
		argv, err := shellWords(s.cmd)
		if err != nil {
			t.Fatalf("%s:%d: %v", tr.file, s.line, err)
		}
		if argv[0] != "curl" {
			t.Fatalf("%s:%d: %q is not a curl command", tr.file, s.line, s.cmd)
		}
		args := []string{"-sS", "--max-time", "20"}
		headers := false
		for _, a := range argv[1:] {
			if a == "-i" {
				headers = true
			}
			args = append(args, toMember.Replace(a))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, curl, args...)
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		out, err := cmd.Output()
		cancel()
		if err != nil {
			t.Fatalf("%s:%d: %s: %v", tr.file, s.line, s.cmd, err)
		}
		if d := compareTourAnswer(toDoc.Replace(string(out)), s.want, headers); d != "" {
			t.Errorf("%s:%d: %s\n%s", tr.file, s.line, s.cmd, d)
		}
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
