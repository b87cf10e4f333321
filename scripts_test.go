package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/internal/proctest"
)

// runScript runs a script of scripts/ with extra environment and returns
// its combined output; it fails the test on a non-zero exit unless
// allowFail. What the script leaves running in the background (the
// members of cluster.sh) stays in its process group, which proctest kills
// when the test ends.
func runScript(t *testing.T, env []string, allowFail bool, args ...string) string {
	t.Helper()
	out := &lockedBuf{}
	cmd := exec.Command("bash", args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	p, err := proctest.Start(t, cmd)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(90 * time.Second):
		t.Fatalf("%v did not finish within 90s:\n%s", args, out.String())
	}
	if err := p.Err(); err != nil && !allowFail {
		t.Fatalf("%v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

// scripts/cluster.sh runs on the ports its environment names, keeps its
// data where DATA says, and its status tells a killed member (even one
// left a zombie) from a running one, and names the leader.
//
// Slow (about 10 s): it starts three real members, kills the leader and
// waits for the survivors to elect another one.
func TestClusterScript(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real members (skipped under -short)")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed")
	}
	t.Parallel()
	data := t.TempDir()
	var cps, pps []string
	for i := 0; i < 3; i++ {
		cps = append(cps, strconv.Itoa(freePort(t)))
		pps = append(pps, strconv.Itoa(freePort(t)))
	}
	env := []string{"BIN=" + binPath, "DATA=" + data, "CLIENT_PORTS=" + strings.Join(cps, " "), "PEER_PORTS=" + strings.Join(pps, ",")}
	out := runScript(t, env, false, "scripts/cluster.sh", "start")
	if !strings.Contains(out, "cluster healthy") {
		t.Fatalf("start:\n%s", out)
	}
	for i, cp := range cps {
		if !strings.Contains(out, fmt.Sprintf("started infra%d (pid ", i+1)) || !strings.Contains(out, "client http://127.0.0.1:"+cp) {
			t.Errorf("start did not use client port %s:\n%s", cp, out)
		}
	}
	leaderRe := regexp.MustCompile(`(?m)^infra(\d) \S+: up \(pid \d+\), leader$`)
	var leader string
	waitFor(t, "a leader in status", func() bool {
		out = runScript(t, env, false, "scripts/cluster.sh", "status")
		m := leaderRe.FindStringSubmatch(out)
		if m == nil || strings.Count(out, ": up (pid ") != 3 {
			return false
		}
		leader = m[1]
		return true
	})
	out = runScript(t, env, false, "scripts/cluster.sh", "kill", leader)
	if !strings.Contains(out, "killed infra"+leader) {
		t.Fatalf("kill %s:\n%s", leader, out)
	}
	downRe := regexp.MustCompile(`(?m)^infra` + leader + ` \S+: down \(pid \d+ is gone\)$`)
	waitFor(t, "the killed leader down and another one leading", func() bool {
		out = runScript(t, env, false, "scripts/cluster.sh", "status")
		m := leaderRe.FindStringSubmatch(out)
		return downRe.MatchString(out) && m != nil && m[1] != leader && strings.Count(out, ": up (pid ") == 2
	})
	survivor := "http://127.0.0.1:" + cps[0]
	if leader == "1" {
		survivor = "http://127.0.0.1:" + cps[1]
	}
	if st, _, err := v2do(context.Background(), "PUT", survivor+"/v2/keys/script", url.Values{"value": {"ok"}}); err != nil || st != 201 {
		t.Fatalf("write after the leader kill: %d %v", st, err)
	}
	out = runScript(t, env, false, "scripts/cluster.sh", "start")
	if !strings.Contains(out, "started infra"+leader) || strings.Count(out, "already running") != 2 {
		t.Errorf("start after the kill:\n%s", out)
	}
	waitFor(t, "all three up again", func() bool {
		return strings.Count(runScript(t, env, false, "scripts/cluster.sh", "status"), ": up (pid ") == 3
	})
	restarted, _ := strconv.Atoi(leader)
	if st, r, err := v2do(context.Background(), "GET", "http://127.0.0.1:"+cps[restarted-1]+"/v2/keys/script?quorum=true", nil); err != nil || st != 200 || r.Node.Value != "ok" {
		t.Errorf("the restarted member does not have the write: %d %+v %v", st, r, err)
	}
	out = runScript(t, env, false, "scripts/cluster.sh", "stop")
	if strings.Count(out, "stopping infra") != 3 {
		t.Errorf("stop:\n%s", out)
	}
	out = runScript(t, env, false, "scripts/cluster.sh", "status")
	if strings.Count(out, ": stopped") != 3 {
		t.Errorf("status after stop:\n%s", out)
	}
	for i := 1; i <= 3; i++ {
		if _, err := os.Stat(filepath.Join(data, fmt.Sprintf("infra%d.etcd", i))); err != nil {
			t.Errorf("member data not under DATA: %v", err)
		}
	}
}

// scripts/gen-certs.sh writes its keys outside the source tree unless
// told otherwise: by default under $TMPDIR.
func TestGenCertsDefaultOutsideTree(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	t.Parallel()
	tmp := t.TempDir()
	work := t.TempDir()
	script, err := filepath.Abs("scripts/gen-certs.sh")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen-certs.sh: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(tmp, "etcd-classic-certs", "server.key")); err != nil {
		t.Errorf("no key under $TMPDIR/etcd-classic-certs: %v", err)
	}
	if left, _ := os.ReadDir(work); len(left) != 0 {
		t.Errorf("gen-certs.sh wrote into the working directory: %v", left)
	}
}

// What the README's walkthroughs still write into the checkout (the data
// of `go run .` and of the Procfiles) is ignored by git.
func TestGitignoreCoversWalkthroughOutputs(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	for _, p := range []string{"default.etcd/member/x", "infra1.etcd/x", "nodes/node1/x", "examples/nodes/node1/x",
		"cluster-data/infra1.log", "node1/x", "certs-out/ca.key", "etcd-classic", "cpu.prof"} {
		if err := exec.Command("git", "check-ignore", "-q", "--no-index", p).Run(); err != nil {
			t.Errorf(".gitignore does not cover %s", p)
		}
	}
}
