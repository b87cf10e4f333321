package main

import (
	"flag"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
)

// etcd34Flags is every flag of `etcd --help` of etcd 3.4.23, in its order.
var etcd34Flags = strings.Fields(`name data-dir wal-dir snapshot-count heartbeat-interval election-timeout
initial-election-tick-advance listen-peer-urls listen-client-urls max-snapshots max-wals
quota-backend-bytes backend-batch-interval backend-batch-limit max-txn-ops max-request-bytes
max-concurrent-streams grpc-keepalive-min-time grpc-keepalive-interval grpc-keepalive-timeout
initial-advertise-peer-urls initial-cluster initial-cluster-state initial-cluster-token
advertise-client-urls discovery discovery-fallback discovery-proxy discovery-srv discovery-srv-name
strict-reconfig-check pre-vote auto-compaction-retention auto-compaction-mode enable-v2 cert-file
key-file client-cert-auth client-crl-file client-cert-allowed-hostname trusted-ca-file auto-tls
peer-cert-file peer-key-file peer-client-cert-auth peer-trusted-ca-file peer-cert-allowed-cn
peer-cert-allowed-hostname peer-auto-tls peer-crl-file cipher-suites cors host-whitelist auth-token
bcrypt-cost auth-token-ttl enable-pprof metrics listen-metrics-urls logger log-outputs log-level
proxy proxy-failure-wait proxy-refresh-interval proxy-dial-timeout proxy-write-timeout
proxy-read-timeout experimental-initial-corrupt-check experimental-corrupt-check-time
experimental-enable-v2v3 experimental-backend-bbolt-freelist-type
experimental-enable-lease-checkpoint experimental-compaction-batch-limit
experimental-peer-skip-client-san-verification experimental-watch-progress-notify-interval
experimental-warning-apply-duration force-new-cluster debug log-package-levels
config-file version`)

// etcd23Flags is every flag etcd 2.3 defines (etcdmain/config.go),
// including the etcd 0.4 names it kept as deprecated or ignored ones.
var etcd23Flags = strings.Fields(`cors data-dir wal-dir listen-peer-urls listen-client-urls max-snapshots
max-wals name snapshot-count heartbeat-interval election-timeout initial-advertise-peer-urls
advertise-client-urls discovery discovery-fallback discovery-proxy discovery-srv initial-cluster
initial-cluster-token initial-cluster-state strict-reconfig-check proxy proxy-failure-wait
proxy-refresh-interval proxy-dial-timeout proxy-write-timeout proxy-read-timeout ca-file cert-file
key-file client-cert-auth trusted-ca-file peer-ca-file peer-cert-file peer-key-file
peer-client-cert-auth peer-trusted-ca-file debug log-package-levels force-new-cluster version
experimental-v3demo experimental-gRPC-addr experimental-auto-compaction-retention addr bind-addr
peer-addr peer-bind-addr peers peers-file enable-pprof cluster-active-size cluster-remove-delay
cluster-sync-interval config force max-result-buffer max-retry-attempts peer-heartbeat-interval
peer-election-timeout retry-interval snapshot v vv`)

// tlsPending are etcd 3.4 TLS flags that the TLS settings change
// implements in certs/; until it lands they may be undefined here.
var tlsPending = map[string]bool{"client-cert-allowed-hostname": true, "peer-cert-allowed-hostname": true}

// refusedFlags are the etcd flags that must stop the start, because
// accepting them would lose data or split a cluster.
var refusedFlags = map[string]bool{"unsafe-no-fsync": true,
	"config-file": true, "config": true}

// definedFlags returns the flag set with every flag this build knows.
func definedFlags() *flag.FlagSet {
	fs, _ := defineFlags(defaultConfig())
	return fs
}

// sampleArgs is a command line giving name a value of its type: on/off
// flags stand alone.
func sampleArgs(f *flag.Flag) []string {
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return []string{"--" + f.Name}
	}
	v := "x"
	switch fv := f.Value.(type) {
	case *uintValue, *intValue, *historySizeValue:
		v = "12"
	case *floatValue:
		v = "1.5"
	case *fallbackValue:
		v = "exit"
	case *compatValue:
		switch fv.kind {
		case kindUint, kindInt:
			v = "12"
		case kindDuration:
			v = "5s"
		}
	}
	return []string{"--" + f.Name, v}
}

// Every flag of etcd 3.4.23's --help and of etcd 2.3 is known: it works,
// or it is accepted with a one-line warning saying why it cannot apply,
// or it is refused with a one-line reason. Nothing is "not defined" and
// nothing prints the usage table.
func TestEveryEtcdFlagIsKnown(t *testing.T) {
	t.Parallel()
	fs := definedFlags()
	seen := map[string]bool{}
	for _, name := range append(append([]string{}, etcd34Flags...), etcd23Flags...) {
		if seen[name] {
			continue
		}
		seen[name] = true
		f := fs.Lookup(name)
		if f == nil {
			if tlsPending[name] {
				t.Logf("--%s: not defined yet (TLS flags, implemented with certs/)", name)
				continue
			}
			t.Errorf("--%s (an etcd flag) is not defined", name)
			continue
		}
		if name == "version" {
			continue
		}
		args := sampleArgs(f)
		var warn strings.Builder
		_, err := parseFlags(args, &warn)
		switch {
		case refusedFlags[name]:
			if err == nil || !strings.Contains(err.Error(), name) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%v: error %v, want a one-line refusal naming the flag", args, err)
			}
		case err != nil:
			t.Errorf("%v: %v", args, err)
		default:
			for _, line := range strings.Split(strings.TrimSpace(warn.String()), "\n") {
				if line != "" && !regexp.MustCompile(`^\[(ignored|deprecated|warning)\] -`).MatchString(line) {
					t.Errorf("%v: warning line %q", args, line)
				}
			}
		}
	}
}

// The flag lists above are etcd 3.4.23's own, when etcd is installed.
func TestEtcd34FlagListMatchesEtcd(t *testing.T) {
	t.Parallel()
	etcd, err := exec.LookPath("etcd")
	if err != nil {
		t.Skip("etcd not installed")
	}
	out, _ := exec.Command(etcd, "--help").CombinedOutput()
	if !strings.Contains(string(out), "etcd [flags]") {
		t.Skipf("%s --help is not etcd 3.4's", etcd)
	}
	var got []string
	for _, m := range regexp.MustCompile(`(?m)^\s+(?:etcd )?--([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		got = append(got, m[1])
	}
	want := append([]string{}, etcd34Flags...)
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("etcd --help lists\n%v\nthe test lists\n%v", got, want)
	}
}

// etcd's on/off flags stand alone or take a value, and never swallow the
// next argument. A refused one is refused only when it asks for its
// feature: scripts write --unsafe-no-fsync=false out.
func TestOnOffFlagsBareAndWithValue(t *testing.T) {
	t.Parallel()
	var names []string
	definedFlags().VisitAll(func(f *flag.Flag) {
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() && f.Name != "version" {
			names = append(names, f.Name)
		}
	})
	for _, want := range []string{"force-new-cluster", "pre-vote", "enable-grpc-gateway", "experimental-initial-corrupt-check",
		"unsafe-no-fsync", "initial-election-tick-advance", "experimental-enable-lease-checkpoint",
		"experimental-peer-skip-client-san-verification", "experimental-v3demo", "enable-v2", "debug", "force"} {
		if !slices.Contains(names, want) {
			t.Errorf("--%s is not an on/off flag", want)
		}
	}
	for _, name := range names {
		for _, form := range []string{"--" + name, "--" + name + "=true", "--" + name + "=false", "-" + name} {
			args := []string{form, "--data-dir", "X"}
			c, err := parseFlags(args, &strings.Builder{})
			on := !strings.HasSuffix(form, "=false")
			if refusedFlags[name] && on {
				if err == nil || strings.Contains(err.Error(), "\n") {
					t.Errorf("%v: %v, want a one-line refusal", args, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%v: %v", args, err)
				continue
			}
			if c.dataDir != "X" {
				t.Errorf("%v: data dir %q: the flag swallowed the next argument", args, c.dataDir)
			}
		}
	}
	// A bad value names the flag.
	if _, err := parseFlags([]string{"--pre-vote=maybe"}, &strings.Builder{}); err == nil || !strings.Contains(err.Error(), "pre-vote") {
		t.Errorf("--pre-vote=maybe: %v", err)
	}
}

// Values of the compatibility flags are checked against etcd's types, as
// etcd checks them; empty refused values are harmless.
func TestCompatFlagValues(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args    []string
		wantErr string
		warn    string
	}{
		{args: []string{"--max-wals", "x"}, wantErr: `invalid value "x" for flag -max-wals`},
		{args: []string{"--grpc-keepalive-interval", "2h"}, warn: "[ignored] -grpc-keepalive-interval: there is no gRPC API"},
		{args: []string{"--grpc-keepalive-interval", "2"}, wantErr: "not a duration"},
		{args: []string{"--quota-backend-bytes", "-1"}, warn: "[ignored] -quota-backend-bytes"},
		{args: []string{"--max-txn-ops", "128", "--max-concurrent-streams", "4294967295"}, warn: "[ignored] -max-concurrent-streams"},
		{args: []string{"--log-package-levels", "etcdserver=DEBUG"}, warn: "use --log-level"},
		{args: []string{"--discovery-srv="}},
		{args: []string{"--discovery", ""}},
		{args: []string{"--discovery-fallback", "sideways"}, wantErr: `invalid value "sideways" for flag -discovery-fallback: must be 'exit' or 'proxy'`},
		{args: []string{"--config-file", "/etc/etcd.yml"}, wantErr: "-config-file: configuration files are not supported"},
	}
	for _, tc := range cases {
		var warn strings.Builder
		_, err := parseFlags(tc.args, &warn)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: error %v, want %q", tc.args, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%v: %v", tc.args, err)
		case !strings.Contains(warn.String(), tc.warn):
			t.Errorf("%v: warnings %q, want %q", tc.args, warn.String(), tc.warn)
		}
	}
}

// --bcrypt-cost and --auth-token-ttl are parsed and kept for the v2 auth
// API; a cost outside bcrypt's range falls back to etcd's default with a
// warning, as etcd 3.4 does; only the token TTL warns that it has no use.
func TestAuthFlags(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args      []string
		cost      uint64
		ttl       uint64
		warn      string
		wantErr   string
		wantQuiet bool
	}{
		{args: nil, cost: 10, ttl: 300, wantQuiet: true},
		{args: []string{"--bcrypt-cost", "12"}, cost: 12, ttl: 300, wantQuiet: true},
		{args: []string{"--bcrypt-cost", "2"}, cost: 10, ttl: 300, warn: "[warning] --bcrypt-cost 2 is not within 4..31; using 10"},
		{args: []string{"--bcrypt-cost", "32"}, cost: 10, ttl: 300, warn: "using 10"},
		{args: []string{"--auth-token-ttl", "600"}, cost: 10, ttl: 600, warn: "[ignored] -auth-token-ttl: v2 auth sends the user and password"},
		{args: []string{"--auth-token-ttl", "x"}, wantErr: `invalid value "x" for flag -auth-token-ttl`},
		{args: []string{"--bcrypt-cost", "-1"}, wantErr: `invalid value "-1" for flag -bcrypt-cost`},
	}
	for _, tc := range cases {
		var warn strings.Builder
		c, err := parseFlags(tc.args, &warn)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: error %v, want %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if c.bcryptCost != tc.cost || c.authTokenTTL != tc.ttl {
			t.Errorf("%v: cost %d ttl %d, want %d %d", tc.args, c.bcryptCost, c.authTokenTTL, tc.cost, tc.ttl)
		}
		if tc.wantQuiet && warn.Len() != 0 {
			t.Errorf("%v: warnings %q, want none", tc.args, warn.String())
		}
		if !strings.Contains(warn.String(), tc.warn) {
			t.Errorf("%v: warnings %q, want %q", tc.args, warn.String(), tc.warn)
		}
	}
}

// A mistake on the command line is one line on stderr that says where to
// look; the flag table is printed only by --help, on stdout.
func TestUsageErrorIsOneLine(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--bogus"},
		{"--pre-vote", "stray"},
		{"--peer-election-timeout", "x"},
		{"--name"},
		{"--unsafe-no-fsync"},
		{"--v1-dialect=0.2"},
		{"-peer-heartbeat-interval", "300", "-peer-election-timeout", "200"},
		{"--log-format", "yaml"},
	} {
		var stdout, stderr strings.Builder
		code := run(args, &stdout, &stderr)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if stdout.Len() != 0 {
			t.Errorf("%v: stdout %q, want nothing", args, stdout.String())
		}
		msg := strings.TrimSuffix(stderr.String(), "\n")
		if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "etcd-classic: ") || !strings.Contains(msg, "--help") {
			t.Errorf("%v: stderr %q, want one line pointing at --help", args, stderr.String())
		}
	}
}

// --help groups the flags by generation, shows each mode's own defaults,
// and lists every flag this build defines.
func TestHelp(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "--help", "-help"} {
		var stdout, stderr strings.Builder
		if code := run([]string{arg}, &stdout, &stderr); code != 0 || stderr.Len() != 0 {
			t.Fatalf("%s: exit %d, stderr %q", arg, code, stderr.String())
		}
		help := stdout.String()
		for _, want := range []string{
			"etcd 2.x and 3.x flags (defaults of 2.x mode):",
			"etcd 0.4 flags (defaults of 0.x mode",
			"etcd 0.1 flags",
			"\n  --election-timeout '1000'\n",
			"\n  --heartbeat-interval '100'\n",
			"\n  -peer-election-timeout '200' (2.x mode: 1000)\n",
			"\n  -peer-heartbeat-interval, -peer-heartbeat-timeout '50' (2.x mode: 100)\n",
			"\n  --v1-dialect '0.4'\n      dialect of the /v1 API: 0.4 (etcd 0.4.6) or 0.1 (etcd v0.1.0)\n",
			"\n  -s (= -peer-addr)\n",
			"\n  --force-new-cluster 'false'\n      start a member that has run before as a new one-member cluster",
			"\n  --pre-vote\n      raft always pre-votes\n",
		} {
			if !strings.Contains(help, want) {
				t.Errorf("%s: help lacks %q", arg, want)
			}
		}
		if strings.Contains(help, "(default)") {
			t.Errorf("%s: help still says \"(default)\" beside a shown default", arg)
		}
		definedFlags().VisitAll(func(f *flag.Flag) {
			re := regexp.MustCompile(`(?m)^  (.*, )?--?` + regexp.QuoteMeta(f.Name) + `(,| |$)`)
			if n := len(re.FindAllString(help, -1)); n != 1 {
				t.Errorf("%s: -%s listed %d times, want once", arg, f.Name, n)
			}
		})
	}
}

// --version answers in etcd's format; the first line is what scripts
// parse (`grep 'etcd Version:' | awk '{print $3}'`).
func TestVersion(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"--version", "-version"} {
		var stdout, stderr strings.Builder
		if code := run([]string{arg}, &stdout, &stderr); code != 0 {
			t.Fatalf("%s: exit %d: %s", arg, code, stderr.String())
		}
		lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
		want := []*regexp.Regexp{
			regexp.MustCompile(`^etcd Version: ` + regexp.QuoteMeta(ServerVersion) + `$`),
			regexp.MustCompile(`^Git SHA: (?:[0-9a-f]{7}|Not provided.*)$`),
			regexp.MustCompile(`^Go Version: ` + regexp.QuoteMeta(runtime.Version()) + `$`),
			regexp.MustCompile(`^Go OS/Arch: ` + runtime.GOOS + "/" + runtime.GOARCH + `$`),
			regexp.MustCompile(`^etcd-classic Version: ` + regexp.QuoteMeta(Version) + `$`),
		}
		if len(lines) != len(want) {
			t.Fatalf("%s: %q, want %d lines", arg, stdout.String(), len(want))
		}
		for i, re := range want {
			if !re.MatchString(lines[i]) {
				t.Errorf("%s: line %d %q does not match %s", arg, i+1, lines[i], re)
			}
		}
		if f := strings.Fields(lines[0]); f[2] != ServerVersion {
			t.Errorf("awk '{print $3}' of the first line gives %q", f[2])
		}
	}
}

// docs/flags.md names every flag this build defines.
func TestFlagsDocCoversEveryFlag(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("docs/flags.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	definedFlags().VisitAll(func(f *flag.Flag) {
		re := regexp.MustCompile("`--?" + regexp.QuoteMeta(f.Name) + "[` =]")
		if !re.MatchString(doc) {
			t.Errorf("docs/flags.md does not mention -%s", f.Name)
		}
	})
}
