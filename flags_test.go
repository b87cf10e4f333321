package main

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestLegacyFlags checks both generations of etcd 0.x flag names, their
// defaults and how addresses are read (etcd 0.1.0's bare ports included).
func TestLegacyFlags(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		args       []string
		wantName   string
		wantData   string
		wantClient []string // advertised, listened
		wantPeer   []string
		wantJoin   []string
		wantHB     time.Duration
		wantEl     time.Duration
		wantWarn   []string
		check      func(t *testing.T, c *config)
	}{
		{name: "etcd 0.1 README: bare ports",
			args:     []string{"-s", "7001", "-c", "4001", "-d", "nodes/node1"},
			wantName: "node1", wantData: "nodes/node1",
			wantClient: []string{"http://127.0.0.1:4001", "http://127.0.0.1:4001"},
			wantPeer:   []string{"http://127.0.0.1:7001", "http://127.0.0.1:7001"},
			wantHB:     50 * time.Millisecond, wantEl: 200 * time.Millisecond,
			wantWarn: []string{"[deprecated] use -peer-addr, not -s", "[deprecated] use -addr, not -c", "[deprecated] use -data-dir, not -d"}},
		{name: "etcd 0.1 README: host:port and a join",
			args:     []string{"-c", "127.0.0.1:4002", "-s", "127.0.0.1:7002", "-C", "127.0.0.1:7001", "-d", "nodes/node2", "-n", "node2"},
			wantName: "node2", wantData: "nodes/node2",
			wantClient: []string{"http://127.0.0.1:4002", "http://127.0.0.1:4002"},
			wantPeer:   []string{"http://127.0.0.1:7002", "http://127.0.0.1:7002"},
			wantJoin:   []string{"127.0.0.1:7001"},
			wantHB:     50 * time.Millisecond, wantEl: 200 * time.Millisecond,
			wantWarn: []string{"[deprecated] use -peers, not -C", "[deprecated] use -name, not -n"}},
		{name: "etcd 0.4 long names",
			args:     []string{"-name", "n0", "-addr", "10.0.0.1:4001", "-bind-addr", "0.0.0.0", "-peer-addr", "10.0.0.1:7001", "-peer-bind-addr", "10.0.0.1:7101", "-peers", "10.0.0.2:7001, 10.0.0.3:7001", "-data-dir", "/var/lib/n0", "-snapshot-count", "500", "-peer-heartbeat-interval", "100", "-peer-election-timeout", "500"},
			wantName: "n0", wantData: "/var/lib/n0",
			wantClient: []string{"http://10.0.0.1:4001", "http://0.0.0.0:4001"},
			wantPeer:   []string{"http://10.0.0.1:7001", "http://10.0.0.1:7101"},
			wantJoin:   []string{"10.0.0.2:7001", "10.0.0.3:7001"},
			wantHB:     100 * time.Millisecond, wantEl: 500 * time.Millisecond,
			check: func(t *testing.T, c *config) {
				if c.snapshotCount != 500 {
					t.Errorf("snapshot-count %d", c.snapshotCount)
				}
			}},
		{name: "listen flags: a bare port binds the advertised host",
			args:     []string{"-c", "4001", "-cl", "4101", "-s", "7001", "-sl", "127.0.0.1:7101", "-n", "x"},
			wantName: "x", wantData: "x.etcd",
			wantClient: []string{"http://127.0.0.1:4001", "http://127.0.0.1:4101"},
			wantPeer:   []string{"http://127.0.0.1:7001", "http://127.0.0.1:7101"},
			wantHB:     50 * time.Millisecond, wantEl: 200 * time.Millisecond,
			wantWarn: []string{"[deprecated] use -bind-addr, not -cl", "[deprecated] use -peer-bind-addr, not -sl"}},
		{name: "TLS and the rest of the 0.1 names are parsed",
			args: []string{"-n", "t", "-clientCert", "c.crt", "-clientKey", "c.key", "-clientCAFile", "ca.crt",
				"-serverCert", "s.crt", "-serverKey", "s.key", "-serverCAFile", "sca.crt", "-f", "-snapshot", "-CF", "", "-m", "2048", "-maxsize", "5"},
			// -CF is an etcd 0.x address flag: the 0.x defaults apply.
			wantName: "t", wantData: "t.etcd",
			wantClient: []string{"https://127.0.0.1:4001", "https://127.0.0.1:4001"},
			wantPeer:   []string{"https://127.0.0.1:7001", "https://127.0.0.1:7001"},
			wantHB:     50 * time.Millisecond, wantEl: 200 * time.Millisecond,
			wantWarn: []string{"[deprecated] use -cert-file, not -clientCert", "[deprecated] use -peer-ca-file, not -serverCAFile"},
			check: func(t *testing.T, c *config) {
				got := []string{c.certFile, c.keyFile, c.caFile, c.peerCertFile, c.peerKeyFile, c.peerCAFile}
				if want := []string{"c.crt", "c.key", "ca.crt", "s.crt", "s.key", "sca.crt"}; !reflect.DeepEqual(got, want) {
					t.Errorf("TLS files %v, want %v", got, want)
				}
				if !c.force || !c.snapshot || c.historySize != 2048 || c.maxClusterSize != 5 {
					t.Errorf("force %v snapshot %v m %d maxsize %d", c.force, c.snapshot, c.historySize, c.maxClusterSize)
				}
			}},
		{name: "etcd 0.4 TLS names",
			args:     []string{"-name", "t", "-addr", "127.0.0.1:4001", "-cert-file", "c.crt", "-key-file", "c.key", "-ca-file", "ca.crt", "-peer-cert-file", "s.crt", "-peer-key-file", "s.key", "-peer-ca-file", "sca.crt", "-force"},
			wantName: "t", wantData: "t.etcd",
			wantClient: []string{"https://127.0.0.1:4001", "https://127.0.0.1:4001"},
			wantPeer:   []string{"https://127.0.0.1:7001", "https://127.0.0.1:7001"},
			wantHB:     50 * time.Millisecond, wantEl: 200 * time.Millisecond},
		{name: "accepted but without effect",
			args:     []string{"-n", "t", "-cluster-remove-delay", "60", "-cluster-sync-interval", "2", "-trace", "*", "-graphite-host", "g:2003", "-w", "127.0.0.1:4002"},
			wantName: "t", wantData: "t.etcd",
			wantClient: []string{"http://localhost:2379", "http://localhost:2379"},
			wantPeer:   []string{"http://localhost:2380", "http://localhost:2380"},
			wantHB:     100 * time.Millisecond, wantEl: time.Second,
			wantWarn: []string{"[ignored] -cluster-remove-delay", "[ignored] -trace", "[ignored] -w: the etcd 0.1 web UI"}},
		{name: "etcd 0.4 timeouts are accepted, the history size takes effect",
			args:     []string{"-n", "t", "-http-read-timeout", "10", "-http-write-timeout", "10", "-max-result-buffer", "10"},
			wantName: "t", wantData: "t.etcd",
			wantClient: []string{"http://localhost:2379", "http://localhost:2379"},
			wantPeer:   []string{"http://localhost:2380", "http://localhost:2380"},
			wantHB:     100 * time.Millisecond, wantEl: time.Second,
			wantWarn: []string{"[ignored] -http-write-timeout: watches never time out"},
			check: func(t *testing.T, c *config) {
				if c.historySize != 10 {
					t.Errorf("history size %d, want 10", c.historySize)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var warn strings.Builder
			c, err := parseFlags(tc.args, &warn)
			if err != nil {
				t.Fatal(err)
			}
			m, err := c.resolve()
			if err != nil {
				t.Fatal(err)
			}
			if m.Name != tc.wantName || m.DataDir != tc.wantData {
				t.Errorf("name %q data dir %q, want %q %q", m.Name, m.DataDir, tc.wantName, tc.wantData)
			}
			if got := []string{m.AdvertiseClientURLs[0], m.ListenClientURLs[0]}; !reflect.DeepEqual(got, tc.wantClient) {
				t.Errorf("client (advertised, listen) %v, want %v", got, tc.wantClient)
			}
			if got := []string{m.AdvertisePeerURLs[0], m.ListenPeerURLs[0]}; !reflect.DeepEqual(got, tc.wantPeer) {
				t.Errorf("peer (advertised, listen) %v, want %v", got, tc.wantPeer)
			}
			if !reflect.DeepEqual(m.JoinPeers, tc.wantJoin) {
				t.Errorf("join %v, want %v", m.JoinPeers, tc.wantJoin)
			}
			if m.HeartbeatInterval != tc.wantHB || m.ElectionTimeout != tc.wantEl {
				t.Errorf("heartbeat %v election %v, want %v %v", m.HeartbeatInterval, m.ElectionTimeout, tc.wantHB, tc.wantEl)
			}
			for _, w := range tc.wantWarn {
				if !strings.Contains(warn.String(), w) {
					t.Errorf("warnings %q lack %q", warn.String(), w)
				}
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

// Unknown flags, unsupported files and bad dialects are errors, never
// silently ignored.
func TestFlagErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-nosuchflag"}, "flag provided but not defined: -nosuchflag"},
		{[]string{"--peer-adr", "7001"}, "flag provided but not defined: -peer-adr"},
		{[]string{"-config", "/etc/etcd/etcd.conf"}, "-config: configuration files are not supported"},
		// etcd 3.4 takes one way to bootstrap (its words).
		{[]string{"--discovery", "https://discovery.etcd.io/x", "--initial-cluster", "default=http://localhost:2380"}, `multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery" or "discovery-srv"`},
		{[]string{"--discovery", "https://discovery.etcd.io/x", "--discovery-srv", "example.com"}, "multiple discovery or bootstrap flags are set"},
		{[]string{"--discovery-srv", "example.com", "--initial-cluster", "default=http://localhost:2380"}, "multiple discovery or bootstrap flags are set"},
		{[]string{"--discovery", "discovery.etcd.io/x"}, `--discovery "discovery.etcd.io/x": not an http or https URL`},
		{[]string{"-c", "4001", "stray"}, `unexpected argument "stray"`},
		{[]string{"-peer-election-timeout", "x"}, `invalid value "x" for flag -peer-election-timeout`},
		{[]string{"--v1-dialect=0.2"}, "--v1-dialect must be 0.4 or 0.1"},
		{[]string{"-peer-heartbeat-interval", "300", "-peer-election-timeout", "200"}, "must be larger than the heartbeat interval"},
	}
	for _, tc := range cases {
		var warn strings.Builder
		c, err := parseFlags(tc.args, &warn)
		if err == nil {
			_, err = c.resolve()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestDialectFlag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{{nil, "0.4"}, {[]string{"--v1-dialect=0.1"}, "0.1"}, {[]string{"-v1-dialect", "0.4"}, "0.4"}} {
		c, err := parseFlags(tc.args, &strings.Builder{})
		if err != nil {
			t.Fatal(err)
		}
		if c.v1Dialect != tc.want {
			t.Errorf("%v: dialect %q, want %q", tc.args, c.v1Dialect, tc.want)
		}
	}
}

// --initial-election-tick-advance is on by default, as etcd's; =false
// reaches the server's config.
func TestInitialElectionTickAdvance(t *testing.T) {
	for _, tc := range []struct {
		args []string
		off  bool
	}{
		{nil, false},
		{[]string{"--initial-election-tick-advance"}, false},
		{[]string{"--initial-election-tick-advance=false"}, true},
	} {
		c, err := parseFlags(append(tc.args, "--data-dir", t.TempDir()), &strings.Builder{})
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		sc, err := c.resolve()
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if sc.NoEarlyElection != tc.off {
			t.Errorf("%v: NoEarlyElection = %v, want %v", tc.args, sc.NoEarlyElection, tc.off)
		}
	}
}
