package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// helpEntry is one flag in --help: its names (the first one leads, the
// others are spellings of the same setting) and its default as text. An
// empty def shows the default of the group's mode, read from the flag
// itself; "-" shows none.
type helpEntry struct {
	names []string
	def   string
}

// helpGroup is one section of --help.
type helpGroup struct {
	title   string
	legacy  bool // defaults are those of 0.x mode
	entries []helpEntry
}

// helpGroups lists the working flags by the etcd generation that named
// them. Flags accepted only for compatibility (a warning says they change
// nothing) and refused ones are listed after them, from their specs.
// Names not defined by this build are left out, so the table can name
// flags that another change adds.
var helpGroups = []helpGroup{
	{title: "etcd 2.x and 3.x flags (defaults of 2.x mode)", entries: []helpEntry{
		{names: []string{"name"}, def: "'default' (0.x mode: the data directory's base name, else the host name)"},
		{names: []string{"data-dir"}, def: "'${name}.etcd'"},
		{names: []string{"listen-client-urls"}, def: "'http://localhost:2379,http://localhost:4001'"},
		{names: []string{"advertise-client-urls"}, def: "(default: the listen URLs if given, else 'http://localhost:2379,http://localhost:4001')"},
		{names: []string{"listen-peer-urls"}, def: "'http://localhost:2380'"},
		{names: []string{"initial-advertise-peer-urls"}, def: "(default: the listen URLs if given, else 'http://localhost:2380')"},
		{names: []string{"initial-cluster"}, def: "'${name}=<advertised peer URLs>'"},
		{names: []string{"initial-cluster-state"}},
		{names: []string{"initial-cluster-token"}},
		{names: []string{"discovery"}, def: "-"},
		{names: []string{"discovery-fallback"}},
		{names: []string{"discovery-proxy"}, def: "-"},
		{names: []string{"discovery-srv"}, def: "-"},
		{names: []string{"discovery-srv-name"}, def: "-"},
		{names: []string{"strict-reconfig-check"}},
		{names: []string{"initial-election-tick-advance"}},
		{names: []string{"force-new-cluster"}},
		{names: []string{"snapshot-count"}},
		{names: []string{"heartbeat-interval"}},
		{names: []string{"election-timeout"}},
		{names: []string{"proxy"}},
		{names: []string{"cors"}, def: "-"},
		{names: []string{"cert-file"}, def: "-"},
		{names: []string{"key-file"}, def: "-"},
		{names: []string{"trusted-ca-file"}, def: "-"},
		{names: []string{"client-cert-auth"}},
		{names: []string{"client-crl-file"}, def: "-"},
		{names: []string{"client-cert-allowed-hostname"}, def: "-"},
		{names: []string{"auto-tls"}},
		{names: []string{"peer-cert-file"}, def: "-"},
		{names: []string{"peer-key-file"}, def: "-"},
		{names: []string{"peer-trusted-ca-file"}, def: "-"},
		{names: []string{"peer-client-cert-auth"}},
		{names: []string{"peer-crl-file"}, def: "-"},
		{names: []string{"peer-cert-allowed-cn"}, def: "-"},
		{names: []string{"peer-cert-allowed-hostname"}, def: "-"},
		{names: []string{"peer-auto-tls"}},
		{names: []string{"cipher-suites"}, def: "-"},
		{names: []string{"tls-min-version"}, def: "-"},
		{names: []string{"tls-max-version"}, def: "-"},
		{names: []string{"host-whitelist"}, def: "-"},
		{names: []string{"bcrypt-cost"}},
		{names: []string{"enable-v2"}, def: "'true' (the v2 API is always on)"},
		{names: []string{"enable-pprof"}},
		{names: []string{"listen-metrics-urls"}, def: "-"},
		{names: []string{"log-level"}, def: "'info'"},
		{names: []string{"log-outputs", "log-output"}, def: "'stderr'"},
		{names: []string{"debug", "vv", "vvv"}},
		{names: []string{"version"}, def: "-"},
	}},
	{title: "etcd 0.4 flags (defaults of 0.x mode; any address flag selects it)", legacy: true, entries: []helpEntry{
		{names: []string{"addr"}, def: "'127.0.0.1:4001'"},
		{names: []string{"bind-addr"}, def: "(default: the advertised address)"},
		{names: []string{"peer-addr"}, def: "'127.0.0.1:7001'"},
		{names: []string{"peer-bind-addr"}, def: "(default: the advertised address)"},
		{names: []string{"peers"}, def: "-"},
		{names: []string{"peers-file"}, def: "-"},
		{names: []string{"force"}},
		{names: []string{"peer-heartbeat-interval", "peer-heartbeat-timeout"}, def: "'50' (2.x mode: 100)"},
		{names: []string{"peer-election-timeout"}, def: "'200' (2.x mode: 1000)"},
		{names: []string{"cluster-active-size", "max-cluster-size"}},
		{names: []string{"max-retry-attempts"}},
		{names: []string{"retry-interval"}, def: "-"},
		{names: []string{"ca-file"}, def: "-"},
		{names: []string{"peer-ca-file"}, def: "-"},
		{names: []string{"snapshot"}},
		{names: []string{"v"}},
		{names: []string{"cpuprofile"}, def: "-"},
		{names: []string{"max-result-buffer"}},
		{names: []string{"http-read-timeout"}, def: "-"},
		{names: []string{"http-write-timeout"}, def: "-"},
		{names: []string{"cluster-remove-delay"}, def: "-"},
		{names: []string{"cluster-sync-interval"}, def: "-"},
		{names: []string{"trace"}, def: "-"},
		{names: []string{"graphite-host"}, def: "-"},
		{names: []string{"config"}, def: "-"},
	}},
	{title: "etcd 0.1 flags (old names of the 0.4 flags; each prints a deprecation warning)", legacy: true, entries: []helpEntry{
		{names: []string{"n"}}, {names: []string{"d"}}, {names: []string{"c"}}, {names: []string{"cl"}},
		{names: []string{"s"}}, {names: []string{"sl"}}, {names: []string{"C"}}, {names: []string{"CF"}},
		{names: []string{"f"}}, {names: []string{"m"}}, {names: []string{"r"}}, {names: []string{"maxsize"}},
		{names: []string{"snapshotCount"}},
		{names: []string{"clientCert"}}, {names: []string{"clientKey"}}, {names: []string{"clientCAFile"}},
		{names: []string{"serverCert"}}, {names: []string{"serverKey"}}, {names: []string{"serverCAFile"}},
		{names: []string{"w"}, def: "-"},
	}},
	{title: "Flags of this server", entries: []helpEntry{
		{names: []string{"v1-dialect"}},
		{names: []string{"redirect"}},
		{names: []string{"log-format"}, def: "'text'"},
		{names: []string{"max-client-conns"}},
		{names: []string{"enable-dashboard"}},
		{names: []string{"max-history"}},
	}},
}

// printHelp writes the --help text: every flag, grouped by the etcd
// generation that named it, with the defaults of its mode.
func printHelp(w io.Writer) {
	c2 := defaultConfig()
	c0 := defaultConfig()
	c0.legacy = true
	c0.legacyTiming()
	fs2, specs := defineFlags(c2)
	fs0, _ := defineFlags(c0)
	spec := map[string]flagSpec{}
	for _, s := range specs {
		for _, n := range s.names {
			spec[n] = s
		}
	}

	fmt.Fprint(w, `Usage: etcd-classic [flags]

A member of a cluster serving etcd's v2 keys API (as etcd 2.3 and etcd 3.4
with --enable-v2) and its v1 keys API (as etcd 0.4 or, with
--v1-dialect=0.1, etcd 0.1).

The flags of every etcd generation are accepted, so old start-up scripts
run unchanged: -flag value, -flag=value and --flag=value are the same; an
on/off flag stands alone (--pre-vote) or takes a value (--pre-vote=false).
Every flag can also be set by its ETCD_* variable (--initial-cluster:
ETCD_INITIAL_CLUSTER); a flag beats its variable. Using an etcd 0.x
address flag (-addr -bind-addr -peer-addr -peer-bind-addr -peers
-peers-file, or their 0.1 names) selects 0.x mode and its defaults;
otherwise 2.x mode applies.

  etcd-classic --version    etcd's version lines, naming this server
  etcd-classic -h | --help  this text

Operator subcommands (each with -h): etcd-classic copy (copy key trees
between members), etcd-classic snapshot save|status|restore (online
backup and restore), etcd-classic backup (offline backup, as etcdctl's).
`)
	listed := map[string]bool{}
	for _, g := range helpGroups {
		fs := fs2
		if g.legacy {
			fs = fs0
		}
		fmt.Fprintf(w, "\n%s:\n", g.title)
		for _, e := range g.entries {
			f := fs.Lookup(e.names[0])
			if f == nil {
				continue // not defined by this build
			}
			writeHelpEntry(w, e.names, f, spec[e.names[0]], e.def)
			for _, n := range e.names {
				listed[n] = true
			}
		}
	}
	var ignored, refused []flagSpec
	for _, s := range specs {
		if listed[s.names[0]] {
			continue
		}
		switch {
		case s.refused != "":
			refused = append(refused, s)
		case s.ignored != "":
			ignored = append(ignored, s)
		}
	}
	for _, part := range []struct {
		title string
		specs []flagSpec
		why   func(flagSpec) string
	}{
		{"etcd 2.x and 3.x flags accepted with a warning (they cannot apply here)", ignored, func(s flagSpec) string { return s.ignored }},
		{"etcd 2.x and 3.x flags refused (accepting them would be unsafe); --flag=false or an empty value is accepted", refused, func(s flagSpec) string { return s.refused }},
	} {
		sort.Slice(part.specs, func(i, j int) bool { return part.specs[i].names[0] < part.specs[j].names[0] })
		fmt.Fprintf(w, "\n%s:\n", part.title)
		for _, s := range part.specs {
			fmt.Fprintf(w, "  --%s\n      %s\n", s.names[0], part.why(s))
		}
	}
}

// writeHelpEntry writes one flag: its names and default, then its usage.
func writeHelpEntry(w io.Writer, names []string, f *flag.Flag, s flagSpec, def string) {
	dash := "--"
	if len(names[0]) <= 2 || isDeprecated(s, names[0]) || s.legacy || isLegacyOnly(names[0]) {
		dash = "-" // etcd 0.x wrote its flags with one dash
	}
	line := "  " + dash + names[0]
	for _, n := range names[1:] {
		line += ", " + dash + n
	}
	// An old spelling alone (the 0.1 names) points at its setting.
	alias := names[0] != s.names[0] && len(names) == 1 && def == ""
	switch {
	case alias:
		line += " (= -" + s.names[0] + ")"
	case def == "":
		line += " '" + f.Value.String() + "'"
	case def != "-":
		line += " " + def
	}
	usage := f.Usage
	if alias {
		usage = strings.TrimPrefix(usage, "etcd 0.x: ")
	}
	fmt.Fprintf(w, "%s\n      %s\n", line, usage)
}

// isLegacyOnly reports whether a flag name exists only in etcd 0.x.
func isLegacyOnly(name string) bool {
	for _, g := range helpGroups {
		if !g.legacy {
			continue
		}
		for _, e := range g.entries {
			for _, n := range e.names {
				if n == name {
					return true
				}
			}
		}
	}
	return false
}
