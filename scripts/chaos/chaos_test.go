package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/etcd-classic/etcd-classic/proctest"
)

// TestMain kills what the tests started and removes the binary they
// built, however the run ends.
func TestMain(m *testing.M) {
	os.Exit(proctest.Main(m, nil))
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// serverBinary builds etcd-classic once for the process scenarios.
func serverBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := proctest.TempDir("chaos-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "etcd-classic")
		if out, err := exec.Command("go", "build", "-o", binPath, "github.com/etcd-classic/etcd-classic").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// shortRun is the test's configuration: three members, short phases.
func shortRun(t *testing.T) runConfig {
	return runConfig{Dir: t.TempDir(), T: t, Members: 3, Clients: 6, Keys: 10,
		Warmup: time.Second, Fault: 3 * time.Second, Recover: time.Second,
		RYWShare: 0.25, ClientTimeout: 10 * time.Second, CheckTimeout: time.Minute, Seed: uint64(time.Now().UnixNano())}
}

// Three of the chaos benchmark's six faults on three members (the
// others, and five members, are scripts/chaos.sh's): the leader killed
// with SIGKILL and restarted, the leader paused with SIGSTOP past the
// election timeout, the leader cut off in a minority. Clients on every
// member read (quorum=true) and write throughout; the history must be
// linearizable, every acknowledged write on every member afterwards,
// none applied twice, and each write visible to a plain GET on the member
// that acknowledged it.
//
// Slow (about 9 s per fault on two cores): a cluster start, three seconds
// of fault, an election, and the check.
//
// The harness was checked against bugs planted by hand (never
// committed). Quorum GETs served without the ReadBarrier call
// (httpapi/keys_v2.go): all three failed as not linearizable, each within
// a second of its start — replication lag alone shows a follower's stale
// read. Writes answered with a made-up success when Propose failed with
// an error 300 other than "no leader" (acknowledged without being
// committed): all three failed, with lost unique keys, writes seen at two
// indexes, read-your-writes and monotonic-read violations and
// non-linearizable histories. The leader's read-index step without
// VerifyLeader (raftfsm/propose.go: a deposed leader answers from its own
// state) is caught only when the paused leader answers a queued read
// before it notices it was deposed, a window of milliseconds: one of six
// benchmark runs of pause-leader (two to four rounds each) found it,
// 2.7 ms after a SIGCONT; this test's single round does not.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test: real clusters and faults (skipped under -short)")
	}
	for _, name := range []string{"kill-leader", "pause-leader", "partition-leader"} {
		t.Run(name, func(t *testing.T) {
			sc, _ := scenarioNamed(name)
			cfg := shortRun(t)
			if !sc.InProcess {
				cfg.Bin = serverBinary(t)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			res, err := runScenario(ctx, cfg, sc)
			if err != nil {
				t.Fatal(err)
			}
			t.Log(header)
			t.Log(res.row())
			if !res.OK() {
				t.Fatalf("seed %d:\n%s", cfg.Seed, res.findings(true))
			}
			if res.Acked < 50 {
				t.Fatalf("only %d writes acknowledged: the run checked too little", res.Acked)
			}
		})
	}
}

// The harness finds what it is built to find: with plain GETs (served
// from the local store, not linearizable on followers) in the checked
// history and a follower cut off for two seconds, the checker must call
// the history not linearizable. The scenario reads every key on the
// cut-off follower just before the heal, two seconds of writes to the
// others later; the workload's own clients seldom do (they leave the
// follower at their first refused write), which made this test miss in
// three runs under -race. Up to three runs, each with its own seed.
func TestChaosCatchesStaleReads(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test: a real cluster (skipped under -short)")
	}
	sc, _ := scenarioNamed("isolate-follower")
	var res *result
	for attempt := 1; ; attempt++ {
		cfg := shortRun(t)
		cfg.StaleReads, cfg.Warmup, cfg.Fault, cfg.Recover = true, 500*time.Millisecond, 2*time.Second, 500*time.Millisecond
		cfg.Seed += uint64(attempt)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		r, err := runScenario(ctx, cfg, sc)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Log(r.row())
		if r.Linearizable == porcupine.Illegal {
			res = r
			break
		}
		if attempt == 3 {
			t.Fatalf("stale reads in the history, and the checker says %s in %d runs (last seed %d)", r.Linearizable, attempt, cfg.Seed)
		}
	}
	t.Logf("found, as it should:\n%s", res.Excerpt)
}
