package etcdctl

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// normaliser rewrites the parts of etcdctl's output that legitimately
// differ between runs (see the package comment).
type normaliser struct {
	base  uint64            // store index before the first command
	ports map[string]string // "43211" → "client:m0"
	ids   map[string]string // member ID → "m0", "new1"
}

var (
	reHostPort   = regexp.MustCompile(`(127\.0\.0\.1|localhost):(\d+)`)
	reHexWord    = regexp.MustCompile(`\b[0-9a-f]{1,16}\b`)
	reJSONIndex  = regexp.MustCompile(`"(createdIndex|modifiedIndex|index)":(\d+)`)
	reExtIndex   = regexp.MustCompile(`(?m)^(Created-Index|Modified-Index|Index): (\d+)$`)
	reErrIndex   = regexp.MustCompile(`(?m)^(Error:  \d+: .*) \[(\d+)\]$`)
	reCompare    = regexp.MustCompile(`\[(\d+) != (\d+)\]`)
	reInOrder    = regexp.MustCompile(`/(\d{20})\b`)
	reWatchIndex = regexp.MustCompile(`ETCD_WATCH_MODIFIED_INDEX=(\d+)`)
	reTTL        = regexp.MustCompile(`(?m)(^TTL: |"ttl":)(\d+)`)
	reExpiration = regexp.MustCompile(`"expiration":"[^"]*"`)
	reIsLeader   = regexp.MustCompile(`isLeader=(true|false)`)
	reInitial    = regexp.MustCompile(`ETCD_INITIAL_CLUSTER="([^"]*)"`)
)

// rel writes an index relative to the base; smaller numbers (literal
// indexes given on the command line) stay as they are.
func (n *normaliser) rel(s string) string {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v < n.base {
		return s
	}
	return fmt.Sprintf("B+%d", v-n.base)
}

func (n *normaliser) text(s string) string {
	s = reHostPort.ReplaceAllStringFunc(s, func(m string) string {
		p := reHostPort.FindStringSubmatch(m)
		if l, ok := n.ports[p[2]]; ok {
			return p[1] + ":<" + l + ">"
		}
		return m
	})
	s = reHexWord.ReplaceAllStringFunc(s, func(m string) string {
		if l, ok := n.ids[m]; ok {
			return "<id:" + l + ">"
		}
		return m
	})
	s = reJSONIndex.ReplaceAllStringFunc(s, func(m string) string {
		p := reJSONIndex.FindStringSubmatch(m)
		return `"` + p[1] + `":` + n.rel(p[2])
	})
	s = reExtIndex.ReplaceAllStringFunc(s, func(m string) string {
		p := reExtIndex.FindStringSubmatch(m)
		return p[1] + ": " + n.rel(p[2])
	})
	s = reErrIndex.ReplaceAllStringFunc(s, func(m string) string {
		p := reErrIndex.FindStringSubmatch(m)
		return p[1] + " [" + n.rel(p[2]) + "]"
	})
	s = reCompare.ReplaceAllStringFunc(s, func(m string) string {
		p := reCompare.FindStringSubmatch(m)
		return "[" + n.rel(p[1]) + " != " + n.rel(p[2]) + "]"
	})
	s = reInOrder.ReplaceAllStringFunc(s, func(m string) string {
		return "/<020:" + n.rel(strings.TrimLeft(m[1:], "0")) + ">"
	})
	s = reWatchIndex.ReplaceAllStringFunc(s, func(m string) string {
		return "ETCD_WATCH_MODIFIED_INDEX=" + n.rel(m[len("ETCD_WATCH_MODIFIED_INDEX="):])
	})
	// Remaining TTLs tick down while the test runs: round up to tens.
	s = reTTL.ReplaceAllStringFunc(s, func(m string) string {
		p := reTTL.FindStringSubmatch(m)
		v, _ := strconv.Atoi(p[2])
		return p[1] + strconv.Itoa((v+9)/10*10)
	})
	s = reExpiration.ReplaceAllString(s, `"expiration":"<time>"`)
	// Which member leads is chance: keep how many say so, not which.
	if leaders := strings.Count(s, "isLeader=true"); strings.Contains(s, "isLeader=") {
		s = reIsLeader.ReplaceAllString(s, "isLeader=*")
		s += fmt.Sprintf("(lines with isLeader=true: %d)\n", leaders)
	}
	// etcdctl lists the initial cluster in member ID order.
	s = reInitial.ReplaceAllStringFunc(s, func(m string) string {
		parts := strings.Split(reInitial.FindStringSubmatch(m)[1], ",")
		sort.Strings(parts)
		return `ETCD_INITIAL_CLUSTER="` + strings.Join(parts, ",") + `"`
	})
	return s
}

// sortLines orders the lines of s (for output in server or ID order).
func sortLines(s string) string {
	if s == "" {
		return s
	}
	tail := ""
	if strings.HasSuffix(s, "\n") {
		s, tail = s[:len(s)-1], "\n"
	}
	lines := strings.Split(s, "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n") + tail
}

// record is what one command did, in the golden file's format.
func record(name, cmdline, exit, stdout, stderr string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "=== %s\n$ %s\nexit %s\n", name, cmdline, exit)
	for _, o := range []struct{ label, text string }{{"stdout", stdout}, {"stderr", stderr}} {
		b.WriteString(o.label + ":\n")
		if o.text == "" {
			continue
		}
		body := strings.TrimSuffix(o.text, "\n")
		for _, l := range strings.Split(body, "\n") {
			b.WriteString("| " + l + "\n")
		}
		if !strings.HasSuffix(o.text, "\n") {
			b.WriteString("\\ no newline at end\n")
		}
	}
	return b.String()
}

// readGolden splits a golden file into records by name.
func readGolden(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	name := ""
	var cur strings.Builder
	flush := func() {
		if name != "" {
			out[name] = strings.TrimRight(cur.String(), "\n") + "\n"
		}
		cur.Reset()
	}
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if strings.HasPrefix(l, "=== ") {
			flush()
			name = strings.TrimSpace(strings.TrimPrefix(l, "=== "))
		}
		cur.WriteString(l)
	}
	flush()
	return out, nil
}

// shellQuote renders an argument as one would type it.
func shellQuote(a string) string {
	if a != "" && !strings.ContainsAny(a, " '\"$|&;<>()*?[]\\\t\n^`") {
		return a
	}
	return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
}

func TestNormaliser(t *testing.T) {
	n := &normaliser{base: 10, ports: map[string]string{"43211": "client:m0"}, ids: map[string]string{"8e0de4c3478dda9": "new1"}}
	tests := []struct{ name, in, want string }{
		{"json indexes", `{"node":{"createdIndex":12,"modifiedIndex":13},"index":0}`, `{"node":{"createdIndex":B+2,"modifiedIndex":B+3},"index":0}`},
		{"error index", "Error:  100: Key not found (/x) [14]\n", "Error:  100: Key not found (/x) [B+4]\n"},
		{"compare", "Error:  101: Compare failed ([1 != 15]) [15]\n", "Error:  101: Compare failed ([1 != B+5]) [B+5]\n"},
		{"extended", "Created-Index: 11\nIndex: 11\nTTL: 99\n", "Created-Index: B+1\nIndex: B+1\nTTL: 100\n"},
		{"in order", "/queue/00000000000000000016\n", "/queue/<020:B+6>\n"},
		{"ports and ids", "8e0de4c3478dda9[unstarted]: peerURLs=http://127.0.0.1:43211\n", "<id:new1>[unstarted]: peerURLs=http://127.0.0.1:<client:m0>\n"},
		{"leader", "a: isLeader=true\nb: isLeader=false\n", "a: isLeader=*\nb: isLeader=*\n(lines with isLeader=true: 1)\n"},
		{"initial cluster", `ETCD_INITIAL_CLUSTER="s2=u2,s1=u1"`, `ETCD_INITIAL_CLUSTER="s1=u1,s2=u2"`},
		{"expiration", `"expiration":"2026-11-21T10:41:25.5Z","ttl":5`, `"expiration":"<time>","ttl":10`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := n.text(tc.in); got != tc.want {
				t.Errorf("text(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
	if got := record("x", "etcdctl get /a", "0", "v\n", "e"); got != "=== x\n$ etcdctl get /a\nexit 0\nstdout:\n| v\nstderr:\n| e\n\\ no newline at end\n" {
		t.Errorf("record = %q", got)
	}
}
