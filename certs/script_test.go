package certs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// genCertsScript locates scripts/gen-certs.sh and the tools it needs,
// skipping the test when bash or openssl is missing.
func genCertsScript(t *testing.T) (bash, script string) {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skipf("bash not found: %v", err)
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skipf("openssl not found: %v", err)
	}
	script, err = filepath.Abs(filepath.Join("..", "scripts", "gen-certs.sh"))
	if err != nil {
		t.Fatalf("Abs error = %v", err)
	}
	if _, err := os.Stat(script); err != nil {
		t.Fatalf("Stat(%q) error = %v, want the script present", script, err)
	}
	return bash, script
}

// runScript runs the script with args and returns its combined output and
// whether it exited with status 0.
func runScript(t *testing.T, bash, script string, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bash, append([]string{script}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("running %s: %v", script, err)
		}
	}
	return out.String(), err == nil
}

func TestGenCertsScript(t *testing.T) {
	bash, script := genCertsScript(t)
	dir := filepath.Join(t.TempDir(), "pki")
	out, ok := runScript(t, bash, script, dir)
	if !ok {
		t.Fatalf("gen-certs.sh %s failed, want success; output:\n%s", dir, out)
	}
	f := func(name string) string { return filepath.Join(dir, name) }

	t.Run("files", func(t *testing.T) {
		for _, name := range []string{"ca", "server", "client", "peer1", "peer2", "peer3", "other-ca", "other-client"} {
			for _, tt := range []struct {
				ext  string
				mode os.FileMode
			}{{".crt", 0o644}, {".key", 0o600}} {
				fi, err := os.Stat(f(name + tt.ext))
				if err != nil {
					t.Errorf("Stat(%q) error = %v, want the file made", name+tt.ext, err)
					continue
				}
				if got := fi.Mode().Perm(); got != tt.mode {
					t.Errorf("mode of %s = %v, want %v", name+tt.ext, got, tt.mode)
				}
			}
			if !strings.Contains(out, name+".crt") {
				t.Errorf("output does not mention %s.crt:\n%s", name, out)
			}
		}
	})

	t.Run("openssl verify", func(t *testing.T) {
		cmd := exec.CommandContext(t.Context(), "openssl", "verify", "-CAfile", f("ca.crt"), f("server.crt"))
		got, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(got), ": OK") {
			t.Errorf("openssl verify -CAfile ca.crt server.crt = %q, %v; want OK, nil", got, err)
		}
	})

	t.Run("refuses to overwrite", func(t *testing.T) {
		before, err := os.ReadFile(f("ca.crt"))
		if err != nil {
			t.Fatalf("ReadFile error = %v", err)
		}
		out, ok := runScript(t, bash, script, dir)
		if ok || !strings.Contains(out, "refusing to overwrite") {
			t.Errorf("second run without -f: ok = %v, output %q; want failure saying it refuses to overwrite", ok, out)
		}
		after, err := os.ReadFile(f("ca.crt"))
		if err != nil {
			t.Fatalf("ReadFile error = %v", err)
		}
		if !bytes.Equal(before, after) {
			t.Errorf("ca.crt changed after a refused run, want it untouched")
		}
	})

	t.Run("mutual TLS", func(t *testing.T) {
		tests := []struct {
			name       string
			server     Info
			client     Info
			wantPeerCN string // empty means the round trip must fail
		}{
			{
				name:       "client to server",
				server:     Info{CertFile: f("server.crt"), KeyFile: f("server.key"), CAFile: f("ca.crt"), ClientCertAuth: true},
				client:     Info{CertFile: f("client.crt"), KeyFile: f("client.key"), CAFile: f("ca.crt")},
				wantPeerCN: "client",
			},
			{
				name:       "peer1 to peer2",
				server:     Info{CertFile: f("peer2.crt"), KeyFile: f("peer2.key"), CAFile: f("ca.crt"), ClientCertAuth: true},
				client:     Info{CertFile: f("peer1.crt"), KeyFile: f("peer1.key"), CAFile: f("ca.crt"), ClientCertAuth: true},
				wantPeerCN: "peer1",
			},
			{
				name:       "peer3 to server",
				server:     Info{CertFile: f("server.crt"), KeyFile: f("server.key"), CAFile: f("ca.crt"), ClientCertAuth: true},
				client:     Info{CertFile: f("peer3.crt"), KeyFile: f("peer3.key"), CAFile: f("ca.crt"), ClientCertAuth: true},
				wantPeerCN: "peer3",
			},
			{
				name:   "other-client rejected",
				server: Info{CertFile: f("server.crt"), KeyFile: f("server.key"), CAFile: f("ca.crt"), ClientCertAuth: true},
				client: Info{CertFile: f("other-client.crt"), KeyFile: f("other-client.key"), CAFile: f("ca.crt")},
			},
			{
				name:   "client trusting other-ca rejects server",
				server: Info{CertFile: f("server.crt"), KeyFile: f("server.key"), CAFile: f("ca.crt"), ClientCertAuth: true},
				client: Info{CertFile: f("other-client.crt"), KeyFile: f("other-client.key"), CAFile: f("other-ca.crt")},
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				checkMutualTLS(t, tt.server, tt.client, tt.wantPeerCN)
			})
		}
	})

	t.Run("overwrites with -f", func(t *testing.T) {
		before, err := os.ReadFile(f("ca.crt"))
		if err != nil {
			t.Fatalf("ReadFile error = %v", err)
		}
		out, ok := runScript(t, bash, script, "-f", dir)
		if !ok {
			t.Fatalf("gen-certs.sh -f failed, want success; output:\n%s", out)
		}
		after, err := os.ReadFile(f("ca.crt"))
		if err != nil {
			t.Fatalf("ReadFile error = %v", err)
		}
		if bytes.Equal(before, after) {
			t.Errorf("ca.crt unchanged after -f, want a new CA")
		}
		info := Info{CertFile: f("server.crt"), KeyFile: f("server.key"), CAFile: f("ca.crt"), ClientCertAuth: true}
		if _, err := info.ServerConfig(); err != nil {
			t.Errorf("ServerConfig() after -f error = %v, want nil", err)
		}
	})
}
