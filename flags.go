package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/etcd-classic/etcd-classic/server"
)

// config is every setting a member takes from its command line.
type config struct {
	name    string
	dataDir string

	// etcd 2.x URL flags.
	listenClientURLs, advertiseClientURLs string
	listenPeerURLs, advertisePeerURLs     string
	initialCluster                        string
	initialClusterState                   string
	initialClusterToken                   string

	// etcd 0.x address flags.
	addr, bindAddr, peerAddr, peerBindAddr string
	peers, peersFile                       string
	force                                  bool
	forceNewCluster                        bool // etcd 2.x --force-new-cluster

	snapshotCount     uint64
	snapshot          bool
	heartbeatMS       uint64
	electionMS        uint64
	maxClusterSize    int
	historySize       int // events the watch history keeps (--max-history, -m)
	maxRetryAttempts  int
	retryInterval     float64
	discovery         string
	discoveryFlags    // --discovery-* (flags_discovery.go)
	proxy             string
	redirect          bool
	strictReconfig    bool
	electionKickOff   bool // --initial-election-tick-advance=false (stored negated: zero keeps it on)
	cors              string
	v1Dialect         string
	verbose, veryVerb bool
	logLevel          string
	logOutput         string
	logFormat         string
	enablePprof       bool
	listenMetricsURLs string
	bcryptCost        uint64 // --bcrypt-cost, for the v2 auth API
	authTokenTTL      uint64 // --auth-token-ttl (etcd 3.x tokens; unused by v2 auth)
	maxClientConns    int    // open connections per client URL; 0 = no cap
	printVersion      bool
	cpuProfile        string
	enableV2          bool
	httpReadTimeout   float64
	httpWriteTimeout  float64
	removeDelay       float64
	syncInterval      float64
	trace             string
	graphiteHost      string
	webAddr           string
	configFile        string

	// TLS, all generations.
	certFile, keyFile, caFile             string
	clientCertAuth                        bool
	autoTLS                               bool
	peerCertFile, peerKeyFile, peerCAFile string
	peerClientCertAuth                    bool
	peerAutoTLS                           bool

	// etcd 3.4's remaining TLS controls and the Host check (see
	// tlsControlSpecs).
	clientCRLFile, peerCRLFile         string
	clientAllowedHostname              string
	peerAllowedCN, peerAllowedHostname string
	cipherSuites                       string
	hostWhitelist                      string
	dashboardOff                       bool // --enable-dashboard=false (dashboard block below)

	// legacy reports whether any etcd 0.x address flag was used; it
	// switches the defaults to 0.x's (client 127.0.0.1:4001, peer
	// 127.0.0.1:7001).
	legacy bool
	set    map[string]bool // canonical names of flags given
}

// flagSpec declares one setting and every name it answers to. The first
// name is the canonical one; old names print etcd 0.4's deprecation
// warning.
type flagSpec struct {
	names      []string
	deprecated []string // names that warn "[deprecated] use -<canonical>"
	legacy     bool     // using it selects the 0.x defaults
	// ignored, when set, says why the flag is accepted (so old command
	// lines keep working) but changes nothing; using it prints a warning.
	ignored string
	// refused, when set, says why using the flag is an error.
	refused string
	usage   string
	value   func(c *config) flag.Value
}

func defineFlags(c *config) (*flag.FlagSet, []flagSpec) {
	fs := flag.NewFlagSet("etcd-classic", flag.ContinueOnError)
	specs := []flagSpec{
		{names: []string{"name", "n"}, deprecated: []string{"n"}, usage: "human-readable name of this member", value: func(c *config) flag.Value { return (*stringValue)(&c.name) }},
		{names: []string{"data-dir", "d"}, deprecated: []string{"d"}, usage: "path to the data directory", value: func(c *config) flag.Value { return (*stringValue)(&c.dataDir) }},
		{names: []string{"listen-client-urls"}, usage: "URLs to listen on for client traffic", value: func(c *config) flag.Value { return (*stringValue)(&c.listenClientURLs) }},
		{names: []string{"advertise-client-urls"}, usage: "client URLs advertised to the rest of the cluster", value: func(c *config) flag.Value { return (*stringValue)(&c.advertiseClientURLs) }},
		{names: []string{"listen-peer-urls"}, usage: "URLs to listen on for peer traffic", value: func(c *config) flag.Value { return (*stringValue)(&c.listenPeerURLs) }},
		{names: []string{"initial-advertise-peer-urls"}, usage: "peer URLs advertised to the rest of the cluster", value: func(c *config) flag.Value { return (*stringValue)(&c.advertisePeerURLs) }},
		{names: []string{"initial-cluster"}, usage: "initial cluster configuration for bootstrapping (name=peerURL,...)", value: func(c *config) flag.Value { return (*stringValue)(&c.initialCluster) }},
		{names: []string{"initial-cluster-state"}, usage: "new or existing", value: func(c *config) flag.Value { return (*stringValue)(&c.initialClusterState) }},
		{names: []string{"initial-cluster-token"}, usage: "initial cluster token, makes cluster and member IDs unique", value: func(c *config) flag.Value { return (*stringValue)(&c.initialClusterToken) }},
		{names: []string{"addr", "c"}, deprecated: []string{"c"}, legacy: true, usage: "etcd 0.x: advertised client host:port (a bare port means 127.0.0.1:port)", value: func(c *config) flag.Value { return (*stringValue)(&c.addr) }},
		{names: []string{"bind-addr", "cl"}, deprecated: []string{"cl"}, legacy: true, usage: "etcd 0.x: client listen host or host:port (a host alone takes the advertised port)", value: func(c *config) flag.Value { return (*stringValue)(&c.bindAddr) }},
		{names: []string{"peer-addr", "s"}, deprecated: []string{"s"}, legacy: true, usage: "etcd 0.x: advertised peer host:port (a bare port means 127.0.0.1:port)", value: func(c *config) flag.Value { return (*stringValue)(&c.peerAddr) }},
		{names: []string{"peer-bind-addr", "sl"}, deprecated: []string{"sl"}, legacy: true, usage: "etcd 0.x: peer listen host or host:port (a host alone takes the advertised port)", value: func(c *config) flag.Value { return (*stringValue)(&c.peerBindAddr) }},
		{names: []string{"peers", "C"}, deprecated: []string{"C"}, legacy: true, usage: "etcd 0.x: comma-separated peer host:port list of members to join", value: func(c *config) flag.Value { return (*stringValue)(&c.peers) }},
		{names: []string{"peers-file", "CF"}, deprecated: []string{"CF"}, legacy: true, usage: "etcd 0.x: file holding the -peers list", value: func(c *config) flag.Value { return (*stringValue)(&c.peersFile) }},
		{names: []string{"force", "f"}, usage: "etcd 0.x: force a new configuration: a member that has run before starts with its data as a new one-member cluster (with -peers: joins that cluster anew, its old state kept in member.discarded)", value: func(c *config) flag.Value { return (*boolValue)(&c.force) }},
		{names: []string{"force-new-cluster"}, usage: "start a member that has run before as a new one-member cluster with its data (disaster recovery); add members back with /v2/members", value: func(c *config) flag.Value { return (*boolValue)(&c.forceNewCluster) }},
		{names: []string{"snapshot-count", "snapshotCount"}, deprecated: []string{"snapshotCount"}, usage: "number of committed entries between snapshots", value: func(c *config) flag.Value { return (*uintValue)(&c.snapshotCount) }},
		{names: []string{"snapshot"}, usage: "etcd 0.x: take snapshots (always on here; accepted for compatibility)", value: func(c *config) flag.Value { return (*boolValue)(&c.snapshot) }},
		{names: []string{"heartbeat-interval", "peer-heartbeat-interval", "peer-heartbeat-timeout"}, usage: "time (ms) of a heartbeat interval", value: func(c *config) flag.Value { return (*uintValue)(&c.heartbeatMS) }},
		{names: []string{"election-timeout", "peer-election-timeout"}, usage: "time (ms) for an election to time out", value: func(c *config) flag.Value { return (*uintValue)(&c.electionMS) }},
		{names: []string{"cluster-active-size", "maxsize", "max-cluster-size"}, deprecated: []string{"maxsize"}, usage: "etcd 0.x: maximum number of voting members", value: func(c *config) flag.Value { return (*intValue)(&c.maxClusterSize) }},
		{names: []string{"max-retry-attempts", "r"}, deprecated: []string{"r"}, usage: "etcd 0.x: join attempts through the peer list", value: func(c *config) flag.Value { return (*intValue)(&c.maxRetryAttempts) }},
		{names: []string{"retry-interval"}, usage: "etcd 0.x: seconds between join rounds", value: func(c *config) flag.Value { return (*floatValue)(&c.retryInterval) }},
		{names: []string{"proxy"}, usage: "proxy mode: off, readonly or on", value: func(c *config) flag.Value { return (*stringValue)(&c.proxy) }},
		{names: []string{"redirect"}, usage: "followers answer writes with a 307 to the leader (etcd 0.x) instead of forwarding them", value: func(c *config) flag.Value { return (*boolValue)(&c.redirect) }},
		{names: []string{"initial-election-tick-advance"}, usage: "a restarted member stands for its first election after a short random wait, not a whole election timeout (default true, as etcd; =false waits)", value: func(c *config) flag.Value { return (*offFlag)(&c.electionKickOff) }},
		{names: []string{"strict-reconfig-check"}, usage: "refuse membership changes that could leave the cluster without a quorum", value: func(c *config) flag.Value { return (*boolValue)(&c.strictReconfig) }},
		{names: []string{"cors"}, usage: "comma-separated allowed CORS origins (* for any)", value: func(c *config) flag.Value { return (*stringValue)(&c.cors) }},
		{names: []string{"v1-dialect"}, usage: "dialect of the /v1 API: 0.4 (etcd 0.4.6) or 0.1 (etcd v0.1.0)", value: func(c *config) flag.Value { return (*stringValue)(&c.v1Dialect) }},
		{names: []string{"v"}, usage: "verbose logging", value: func(c *config) flag.Value { return (*boolValue)(&c.verbose) }},
		{names: []string{"vv", "vvv", "debug"}, usage: "very verbose logging", value: func(c *config) flag.Value { return (*boolValue)(&c.veryVerb) }},
		{names: []string{"log-level"}, usage: "log level: debug, info, warn, error", value: func(c *config) flag.Value { return (*stringValue)(&c.logLevel) }},
		{names: []string{"version"}, usage: "print the version and exit", value: func(c *config) flag.Value { return (*boolValue)(&c.printVersion) }},
		{names: []string{"cpuprofile"}, usage: "write a CPU profile to this file", value: func(c *config) flag.Value { return (*stringValue)(&c.cpuProfile) }},
		{names: []string{"cluster-remove-delay"}, ignored: "etcd 0.4 standby members are not implemented", usage: "etcd 0.4: seconds before the leader removes a silent member (accepted, no effect)", value: func(c *config) flag.Value { return (*floatValue)(&c.removeDelay) }},
		{names: []string{"cluster-sync-interval"}, ignored: "etcd 0.4 standby members are not implemented", usage: "etcd 0.4: standby sync period in seconds (accepted, no effect)", value: func(c *config) flag.Value { return (*floatValue)(&c.syncInterval) }},
		{names: []string{"trace"}, ignored: "no debug endpoints are served", usage: "etcd 0.4: debug endpoints (accepted, no effect)", value: func(c *config) flag.Value { return (*stringValue)(&c.trace) }},
		{names: []string{"graphite-host"}, ignored: "metrics are not exported", usage: "etcd 0.4: Graphite metrics host (accepted, no effect)", value: func(c *config) flag.Value { return (*stringValue)(&c.graphiteHost) }},
		{names: []string{"w"}, ignored: "the etcd 0.1 web UI was removed in etcd 0.2", usage: "etcd 0.1: host:port of the web UI (accepted, no effect)", value: func(c *config) flag.Value { return (*stringValue)(&c.webAddr) }},
		{names: []string{"config"}, usage: "etcd 0.4: TOML configuration file (not supported: pass flags)", value: func(c *config) flag.Value { return (*stringValue)(&c.configFile) }},
		{names: []string{"enable-v2"}, usage: "accepted for etcd 3.x compatibility (the v2 API is always on)", value: func(c *config) flag.Value { return (*boolValue)(&c.enableV2) }},
		{names: []string{"log-output", "log-outputs"}, usage: "where logs go: stderr, stdout, or a file path", value: func(c *config) flag.Value { return (*stringValue)(&c.logOutput) }},
		{names: []string{"log-format"}, usage: "log format: text or json", value: func(c *config) flag.Value { return (*stringValue)(&c.logFormat) }},
		{names: []string{"enable-pprof"}, usage: "serve runtime profiling data at /debug/pprof on the client URLs", value: func(c *config) flag.Value { return (*boolValue)(&c.enablePprof) }},
		{names: []string{"listen-metrics-urls"}, usage: "extra URLs serving only /metrics and /health", value: func(c *config) flag.Value { return (*stringValue)(&c.listenMetricsURLs) }},
		{names: []string{"max-client-conns"}, usage: "most connections open at once on each client URL (long-poll watches included); more wait to be accepted; 0 for no limit", value: func(c *config) flag.Value { return (*intValue)(&c.maxClientConns) }},
		{names: []string{"http-read-timeout"}, ignored: "request headers must arrive within 30s; bodies are bounded by their size", usage: "etcd 0.x: accepted for compatibility", value: func(c *config) flag.Value { return (*floatValue)(&c.httpReadTimeout) }},
		{names: []string{"http-write-timeout"}, ignored: "watches never time out", usage: "etcd 0.x: accepted for compatibility (watches never time out)", value: func(c *config) flag.Value { return (*floatValue)(&c.httpWriteTimeout) }},
		{names: []string{"cert-file", "clientCert"}, deprecated: []string{"clientCert"}, usage: "client server TLS certificate file", value: func(c *config) flag.Value { return (*stringValue)(&c.certFile) }},
		{names: []string{"key-file", "clientKey"}, deprecated: []string{"clientKey"}, usage: "client server TLS key file", value: func(c *config) flag.Value { return (*stringValue)(&c.keyFile) }},
		{names: []string{"ca-file", "clientCAFile"}, deprecated: []string{"clientCAFile"}, usage: "etcd 0.x: client CA; makes a verified client certificate mandatory", value: func(c *config) flag.Value { return (*stringValue)(&c.caFile) }},
		{names: []string{"trusted-ca-file"}, usage: "client CA bundle (with --client-cert-auth)", value: func(c *config) flag.Value { return (*trustedCA)(c) }},
		{names: []string{"client-cert-auth"}, usage: "require client certificates signed by --trusted-ca-file", value: func(c *config) flag.Value { return (*boolValue)(&c.clientCertAuth) }},
		{names: []string{"auto-tls"}, usage: "client TLS with a generated self-signed certificate", value: func(c *config) flag.Value { return (*boolValue)(&c.autoTLS) }},
		{names: []string{"peer-cert-file", "serverCert"}, deprecated: []string{"serverCert"}, usage: "peer TLS certificate file", value: func(c *config) flag.Value { return (*stringValue)(&c.peerCertFile) }},
		{names: []string{"peer-key-file", "serverKey"}, deprecated: []string{"serverKey"}, usage: "peer TLS key file", value: func(c *config) flag.Value { return (*stringValue)(&c.peerKeyFile) }},
		{names: []string{"peer-ca-file", "serverCAFile"}, deprecated: []string{"serverCAFile"}, usage: "etcd 0.x: peer CA; peers must present certificates it signed", value: func(c *config) flag.Value { return (*stringValue)(&c.peerCAFile) }},
		{names: []string{"peer-trusted-ca-file"}, usage: "peer CA bundle (with --peer-client-cert-auth)", value: func(c *config) flag.Value { return (*peerTrustedCA)(c) }},
		{names: []string{"peer-client-cert-auth"}, usage: "require peer certificates signed by --peer-trusted-ca-file", value: func(c *config) flag.Value { return (*boolValue)(&c.peerClientCertAuth) }},
		{names: []string{"peer-auto-tls"}, usage: "peer TLS with a generated self-signed certificate", value: func(c *config) flag.Value { return (*boolValue)(&c.peerAutoTLS) }},
	}
	specs = append(specs, tlsControlSpecs()...)
	specs = append(specs, historySpecs()...)
	specs = append(specs, dashboardFlag())
	// etcd 3.x flags that existing unit files and scripts pass: accepted
	// so the member starts, with a warning saying they change nothing.
	for _, x := range []struct{ name, why string }{
		{"logger", "logs always go through logrus (see --log-format)"},
		{"quota-backend-bytes", "there is no v3 backend"},
		{"auto-compaction-retention", "there is no v3 history to compact"},
		{"auto-compaction-mode", "there is no v3 history to compact"},
		{"max-request-bytes", "v2 bodies are limited to 10 MiB, as in etcd"},
		{"grpc-keepalive-min-time", "there is no gRPC API"},
		{"grpc-keepalive-interval", "there is no gRPC API"},
		{"grpc-keepalive-timeout", "there is no gRPC API"},
		{"enable-grpc-gateway", "there is no gRPC API"},
		{"max-snapshots", "raft keeps the two newest snapshots"},
		{"max-wals", "the raft log is compacted after each snapshot"},
		{"wal-dir", "the raft log lives in the data directory"},
		{"metrics", "/metrics always serves the same set"},
		{"auth-token", "v2 auth uses HTTP basic credentials, not v3 tokens"},
		{"pre-vote", "raft always pre-votes"},
		{"backend-batch-interval", "there is no v3 backend"},
		{"backend-batch-limit", "there is no v3 backend"},
		{"proxy-failure-wait", "the proxy tries the next member at once"},
		{"proxy-refresh-interval", "the proxy refreshes its member list every 5s"},
		{"proxy-dial-timeout", "the proxy uses Go's default dialer"},
		{"proxy-write-timeout", "proxied watches never time out"},
		{"proxy-read-timeout", "proxied watches never time out"},
		{"experimental-initial-corrupt-check", "there is no v3 backend to compare between members"},
		{"experimental-corrupt-check-time", "there is no v3 backend to compare between members"},
		{"experimental-enable-v2v3", "the v2 API is served from the v2 store"},
		{"experimental-backend-bbolt-freelist-type", "there is no v3 backend"},
		{"experimental-enable-lease-checkpoint", "there are no v3 leases"},
		{"experimental-compaction-batch-limit", "there is no v3 history to compact"},
		{"experimental-peer-skip-client-san-verification", "peer certificates are verified as usual"},
		{"experimental-watch-progress-notify-interval", "there are no v3 watches"},
		{"experimental-warning-apply-duration", "slow applies are not reported"},
		{"max-txn-ops", "there are no v3 transactions"},
		{"max-concurrent-streams", "there is no gRPC API"},
		{"log-package-levels", "there are no per-package levels; use --log-level"},
		{"experimental-v3demo", "there is no v3 API"},
		{"experimental-gRPC-addr", "there is no gRPC API"},
		{"experimental-auto-compaction-retention", "there is no v3 history to compact"},
	} {
		x := x
		specs = append(specs, flagSpec{names: []string{x.name}, ignored: x.why, usage: "etcd 3.x: accepted, no effect (" + x.why + ")",
			value: func(*config) flag.Value { return newCompatValue(x.name) }})
	}
	for _, x := range []struct{ name, why string }{
		{"unsafe-no-fsync", "acknowledged writes are always on disk"},
		{"config-file", "configuration files are not supported; pass the settings as flags"},
	} {
		x := x
		specs = append(specs, flagSpec{names: []string{x.name}, refused: x.why, usage: "refused: " + x.why,
			value: func(*config) flag.Value { return newCompatValue(x.name) }})
	}
	specs = append(specs, authSpecs()...)
	specs = append(specs, discoverySpecs()...)
	for _, s := range specs {
		for _, n := range s.names {
			fs.Var(s.value(c), n, s.usage)
		}
	}
	return fs, specs
}

// caFromTrusted records that the 2.x spelling was used: unlike the 0.x
// -ca-file it does not by itself demand client certificates.
type trustedCA config

func (t *trustedCA) String() string { return t.caFile }
func (t *trustedCA) Set(s string) error {
	t.caFile = s
	return nil
}

type peerTrustedCA config

func (t *peerTrustedCA) String() string { return t.peerCAFile }
func (t *peerTrustedCA) Set(s string) error {
	t.peerCAFile = s
	return nil
}

type stringValue string

func (v *stringValue) String() string     { return string(*v) }
func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }

type boolValue bool

func (v *boolValue) String() string { return strconv.FormatBool(bool(*v)) }
func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("not a boolean")
	}
	*v = boolValue(b)
	return nil
}
func (v *boolValue) IsBoolFlag() bool { return true }

type uintValue uint64

func (v *uintValue) String() string { return strconv.FormatUint(uint64(*v), 10) }
func (v *uintValue) Set(s string) error {
	u, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return errors.New("not a non-negative integer")
	}
	*v = uintValue(u)
	return nil
}

type intValue int

func (v *intValue) String() string { return strconv.Itoa(int(*v)) }
func (v *intValue) Set(s string) error {
	i, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("not an integer")
	}
	*v = intValue(i)
	return nil
}

type floatValue float64

func (v *floatValue) String() string { return strconv.FormatFloat(float64(*v), 'g', -1, 64) }
func (v *floatValue) Set(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return errors.New("not a number")
	}
	*v = floatValue(f)
	return nil
}

// defaultConfig is the configuration of a command line without flags:
// etcd 2.x's defaults.
func defaultConfig() *config {
	return &config{
		initialClusterState: "new",
		initialClusterToken: "etcd-cluster",
		snapshotCount:       server.DefaultSnapshotCount,
		snapshot:            true,
		heartbeatMS:         uint64(server.DefaultHeartbeatInterval / time.Millisecond),
		electionMS:          uint64(server.DefaultElectionTimeout / time.Millisecond),
		maxClusterSize:      9,
		historySize:         server.DefaultHistorySize,
		maxRetryAttempts:    3,
		retryInterval:       10,
		maxClientConns:      4096,
		proxy:               "off",
		strictReconfig:      true,
		v1Dialect:           server.DefaultV1Dialect,
		bcryptCost:          defaultBcryptCost,
		authTokenTTL:        300,
		set:                 map[string]bool{},
		discoveryFlags:      discoveryFlags{discoveryFallback: server.FallbackProxy},
	}
}

// defaultBcryptCost is etcd 3.4's --bcrypt-cost default (bcrypt's).
const defaultBcryptCost = 10

// legacyTiming applies etcd 0.x's timing defaults (every 0.x release):
// 50 ms heartbeats, 200 ms election timeout.
func (c *config) legacyTiming() { c.heartbeatMS, c.electionMS = 50, 200 }

// parseFlags parses args (without the program name) into a config with
// etcd 2.x defaults, or 0.x defaults when 0.x address flags are used.
// Warnings (deprecated names) go to warn. An error is one line, without
// the usage table; -h and --help return flag.ErrHelp.
func parseFlags(args []string, warn io.Writer) (*config, error) {
	c := defaultConfig()
	fs, specs := defineFlags(c)
	// The flag package would print the whole table after its error; the
	// caller prints the error alone and points at --help.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags start with - or --)", fs.Arg(0))
	}
	byName := map[string]flagSpec{}
	for _, s := range specs {
		for _, n := range s.names {
			byName[n] = s
		}
	}
	if err := applyEnv(fs, specs, warn, os.Environ()); err != nil {
		return nil, err
	}
	var refused error
	fs.Visit(func(f *flag.Flag) {
		s := byName[f.Name]
		c.set[s.names[0]] = true
		if s.legacy {
			c.legacy = true
		}
		for _, d := range s.deprecated {
			if d == f.Name {
				fmt.Fprintf(warn, "[deprecated] use -%s, not -%s\n", s.names[0], d)
			}
		}
		if s.ignored != "" {
			fmt.Fprintf(warn, "[ignored] -%s: %s\n", f.Name, s.ignored)
		}
		if s.refused != "" && refused == nil && asksFor(f.Value) {
			refused = fmt.Errorf("-%s: %s", f.Name, s.refused)
		}
	})
	if refused != nil {
		return nil, refused
	}
	if c.configFile != "" {
		return nil, errors.New("-config: configuration files are not supported; pass the settings as flags")
	}
	if c.bcryptCost < minBcryptCost || c.bcryptCost > maxBcryptCost {
		// etcd 3.4 warns and uses its default (auth/store.go).
		fmt.Fprintf(warn, "[warning] --bcrypt-cost %d is not within %d..%d; using %d\n", c.bcryptCost, minBcryptCost, maxBcryptCost, defaultBcryptCost)
		c.bcryptCost = defaultBcryptCost
	}
	if c.legacy && !c.set["heartbeat-interval"] && !c.set["election-timeout"] {
		c.legacyTiming()
	}
	return c, nil
}

// tlsControlSpecs are etcd 3.4's remaining TLS controls and its Host header
// check, with etcd 3.4.23's spellings (its --help) and ETCD_* variables.
// TLS 1.2 is the fixed minimum version: etcd 3.4 has no flag for it.
func tlsControlSpecs() []flagSpec {
	return []flagSpec{
		{names: []string{"client-crl-file"}, usage: "client certificate revocation list (PEM or DER): revoked client certificates are refused in the handshake (needs --client-cert-auth)", value: func(c *config) flag.Value { return (*stringValue)(&c.clientCRLFile) }},
		{names: []string{"client-cert-allowed-hostname"}, usage: "client certificates must be valid for this host name or IP (needs --client-cert-auth)", value: func(c *config) flag.Value { return (*stringValue)(&c.clientAllowedHostname) }},
		{names: []string{"peer-crl-file"}, usage: "peer certificate revocation list (PEM or DER): revoked peer certificates are refused in the handshake (needs --peer-client-cert-auth)", value: func(c *config) flag.Value { return (*stringValue)(&c.peerCRLFile) }},
		{names: []string{"peer-cert-allowed-cn"}, usage: "required CN of peer certificates, both directions (needs --peer-client-cert-auth)", value: func(c *config) flag.Value { return (*stringValue)(&c.peerAllowedCN) }},
		{names: []string{"peer-cert-allowed-hostname"}, usage: "peer certificates must be valid for this host name or IP, both directions (needs --peer-client-cert-auth)", value: func(c *config) flag.Value { return (*stringValue)(&c.peerAllowedHostname) }},
		{names: []string{"cipher-suites"}, usage: "comma-separated TLS 1.2 cipher suites for client and peer TLS, Go's names (empty: ECDHE with AES-GCM or ChaCha20)", value: func(c *config) flag.Value { return (*stringValue)(&c.cipherSuites) }},
		{names: []string{"host-whitelist"}, usage: "comma-separated host names allowed in the Host header of plain-HTTP client requests (empty or * means all)", value: func(c *config) flag.Value { return (*stringValue)(&c.hostWhitelist) }},
	}
}

// maxHistorySize bounds --max-history: a retained event costs about half
// a kilobyte plus its value (docs/flags.md), so a million events of small
// values is already hundreds of megabytes.
const maxHistorySize = 1000000

// historySpecs declares the watch history's size: etcd 0.1's
// -max-result-buffer / -m (parsed and ignored by etcd 0.2–0.4, which kept
// 1000 events) takes effect again, and --max-history is the same setting
// under an etcd 2.x-style name (etcd 2.x and 3.x had none: the size was
// fixed at 1000, which stays the default). Members may differ; see
// store/DESIGN.md "Event history".
func historySpecs() []flagSpec {
	v := func(c *config) flag.Value { return (*historySizeValue)(&c.historySize) }
	return []flagSpec{
		{names: []string{"max-history"}, usage: "events the watch history keeps for waitIndex (default 1000, as etcd); at most 1000000", value: v},
		{names: []string{"max-result-buffer", "m"}, deprecated: []string{"m"}, usage: "etcd 0.x: the same setting as --max-history", value: v},
	}
}

// historySizeValue is a history size: 1 to maxHistorySize events.
type historySizeValue int

func (v *historySizeValue) String() string { return strconv.Itoa(int(*v)) }
func (v *historySizeValue) Set(s string) error {
	i, err := strconv.Atoi(s)
	if err != nil || i < 1 || i > maxHistorySize {
		return fmt.Errorf("must be a number of events from 1 to %d", maxHistorySize)
	}
	*v = historySizeValue(i)
	return nil
}

// --- dashboard (issue 15) ---

// dashboardFlag is --enable-dashboard: the web dashboard at /dashboard/ on
// the client URLs (httpapi/dashboard.go), on unless set to false. etcd 0.4
// served its dashboard without a flag.
func dashboardFlag() flagSpec {
	return flagSpec{names: []string{"enable-dashboard"},
		usage: "serve the web dashboard at /dashboard/ on the client URLs (default true; =false turns it off)",
		value: func(c *config) flag.Value { return (*offFlag)(&c.dashboardOff) }}
}

// offFlag is a boolean flag that defaults to true, stored negated so that
// a zero config keeps the feature on.
type offFlag bool

func (v *offFlag) String() string { return strconv.FormatBool(!bool(*v)) }
func (v *offFlag) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("not a boolean")
	}
	*v = offFlag(!b)
	return nil
}
func (v *offFlag) IsBoolFlag() bool { return true }

// --- end dashboard ---
