package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Every flag can come from its ETCD_* variable; a flag beats the
// variable; an unknown ETCD_* variable is a warning.
func TestEnvironmentVariables(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		check   func(*config) string // "" when fine
		warn    string
		wantErr string
	}{
		{name: "2.x names", env: map[string]string{"ETCD_NAME": "envname", "ETCD_DATA_DIR": "/tmp/envdir", "ETCD_INITIAL_CLUSTER": "envname=http://127.0.0.1:9", "ETCD_SNAPSHOT_COUNT": "77"},
			check: func(c *config) string {
				if c.name != "envname" || c.dataDir != "/tmp/envdir" || c.initialCluster != "envname=http://127.0.0.1:9" || c.snapshotCount != 77 {
					return "variables not applied"
				}
				return ""
			}},
		{name: "flag beats variable", env: map[string]string{"ETCD_NAME": "envname"}, args: []string{"--name", "flagname"},
			check: func(c *config) string {
				if c.name != "flagname" {
					return "variable won over the flag: " + c.name
				}
				return ""
			}},
		{name: "flag under an old name beats variable", env: map[string]string{"ETCD_NAME": "envname"}, args: []string{"-n", "flagname"},
			check: func(c *config) string {
				if c.name != "flagname" {
					return "variable won over -n: " + c.name
				}
				return ""
			}},
		{name: "booleans", env: map[string]string{"ETCD_STRICT_RECONFIG_CHECK": "false", "ETCD_ENABLE_V2": "true", "ETCD_CLIENT_CERT_AUTH": "1"},
			check: func(c *config) string {
				if c.strictReconfig || !c.enableV2 || !c.clientCertAuth {
					return "booleans not applied"
				}
				return ""
			}},
		{name: "etcd 0.4 variables", env: map[string]string{"ETCD_ADDR": "127.0.0.1:4101", "ETCD_PEERS": "127.0.0.1:7101", "ETCD_SNAPSHOTCOUNT": "5"},
			check: func(c *config) string {
				if !c.legacy || c.addr != "127.0.0.1:4101" || c.peers != "127.0.0.1:7101" || c.snapshotCount != 5 {
					return "0.4 variables not applied"
				}
				return ""
			}},
		{name: "unknown variable warns", env: map[string]string{"ETCD_NO_SUCH_THING": "x"}, warn: "unrecognized environment variable ETCD_NO_SUCH_THING=x"},
		{name: "bad value", env: map[string]string{"ETCD_SNAPSHOT_COUNT": "lots"}, wantErr: "ETCD_SNAPSHOT_COUNT"},
		{name: "bad boolean", env: map[string]string{"ETCD_FORCE": "maybe"}, wantErr: "ETCD_FORCE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var warn bytes.Buffer
			c, err := parseFlags(tc.args, &warn)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				if msg := tc.check(c); msg != "" {
					t.Error(msg)
				}
			}
			if tc.warn != "" && !strings.Contains(warn.String(), tc.warn) {
				t.Errorf("warnings %q do not mention %q", warn.String(), tc.warn)
			}
		})
	}
}

// --log-format json makes every log line a JSON object; harmless etcd 3.x
// flags are accepted; refused ones fail clearly.
func TestLogFormatAndEtcd3Flags(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	dir := t.TempDir()
	client, args := singleMemberArgs(t, dir)
	args = append(args, "--log-format", "json", "--enable-v2", "--quota-backend-bytes", "8589934592",
		"--auto-compaction-retention", "1", "--logger", "zap", "--log-outputs", "stderr", "--listen-metrics-urls", "")
	p := startProc(t, client, dir, args...)
	waitFor(t, "some log lines", func() bool { return strings.Count(p.Output(), "\n") > 3 })
	p.kill()
	for _, line := range strings.Split(strings.TrimSpace(p.Output()), "\n") {
		if strings.HasPrefix(line, "[ignored]") || strings.HasPrefix(line, "[deprecated]") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("not a JSON log line: %q", line)
		} else if m["msg"] == nil || m["level"] == nil {
			t.Errorf("JSON log line without msg/level: %q", line)
		}
	}
	// A member that started after all would run until the deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binPath, "--unsafe-no-fsync").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unsafe-no-fsync") {
		t.Errorf("--unsafe-no-fsync: %v %s", err, out)
	}
}

// The real binary's /metrics (also on --listen-metrics-urls) parses as
// Prometheus text and reports the raft figures.
func TestMetricsFromBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	dir := t.TempDir()
	client, args := singleMemberArgs(t, dir)
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	startProc(t, client, dir, append(args, "--listen-metrics-urls", metricsURL)...)
	if st, _, err := v2do(context.Background(), "PUT", client+"/v2/keys/m", url.Values{"value": {"v"}}); err != nil || st != 201 {
		t.Fatalf("put: %d %v", st, err)
	}
	for _, base := range []string{client, metricsURL} {
		r, err := testClient.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(r.Body)
		r.Body.Close()
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		get := func(name string) float64 {
			f, ok := fams[name]
			if !ok || len(f.Metric) == 0 {
				t.Fatalf("%s: no %s", base, name)
			}
			m := f.Metric[0]
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
		if get("etcd_server_has_leader") != 1 || get("etcd_server_is_leader") != 1 || get("etcd_disk_wal_fsync_total") < 1 ||
			get("etcd_server_proposals_applied_total") < 3 || get("etcd_server_leader_changes_seen_total") < 1 {
			t.Errorf("%s: raft figures look wrong", base)
		}
	}
	// The metrics listener serves nothing else.
	if r, err := testClient.Get(metricsURL + "/v2/keys/m"); err == nil {
		if r.StatusCode != 404 {
			t.Errorf("metrics listener served /v2/keys: %d", r.StatusCode)
		}
		r.Body.Close()
	}
}

// The systemd example's environment file holds only variables the server
// knows: parsing it gives no warning.
func TestSystemdEnvironmentFile(t *testing.T) {
	b, err := os.ReadFile("examples/systemd/etcd.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		t.Setenv(k, v)
	}
	var warn bytes.Buffer
	c, err := parseFlags(nil, &warn)
	if err != nil {
		t.Fatal(err)
	}
	if warn.Len() != 0 {
		t.Errorf("warnings: %s", warn.String())
	}
	m, err := c.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "infra1" || len(m.InitialCluster) != 3 || c.logFormat != "json" {
		t.Errorf("resolved %+v", m)
	}
}
