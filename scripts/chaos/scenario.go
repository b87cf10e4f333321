package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/proctest"
)

// scenario is one fault as an inject/heal pair.
type scenario struct {
	Name string
	// InProcess scenarios cut links (inprocCluster); the others signal
	// processes (procCluster).
	InProcess bool
	// Inject starts the fault and returns what ends it.
	Inject func(ctx context.Context, c cluster, env *faultEnv) (heal func(context.Context) error, err error)
}

// scenarios are the six faults of issue 17, in the order the chaos
// benchmark runs them.
var scenarios = []scenario{
	{Name: "kill-leader", Inject: killOne(true)},
	{Name: "kill-follower", Inject: killOne(false)},
	{Name: "pause-leader", Inject: pauseLeader},
	{Name: "partition-leader", InProcess: true, Inject: partitionLeader},
	{Name: "isolate-follower", InProcess: true, Inject: isolateFollower},
	{Name: "kill-all", Inject: killAll},
}

func scenarioNamed(name string) (scenario, bool) {
	for _, sc := range scenarios {
		if sc.Name == name {
			return sc, true
		}
	}
	return scenario{}, false
}

// killOne kills the leader (or a follower) with SIGKILL; healing starts
// it again on its data dir.
func killOne(leader bool) func(context.Context, cluster, *faultEnv) (func(context.Context) error, error) {
	return func(ctx context.Context, c cluster, env *faultEnv) (func(context.Context) error, error) {
		p := c.(processes)
		i, err := leaderOf(ctx, c, nil)
		if err != nil {
			return nil, err
		}
		role := "leader"
		if !leader {
			i, role = (i+1)%len(c.ClientURLs()), "follower"
		}
		p.Kill(i)
		env.note(fmt.Sprintf("m%d (%s) killed with SIGKILL", i, role))
		return func(ctx context.Context) error {
			env.note(fmt.Sprintf("m%d restarted", i))
			if err := p.Launch(i); err != nil {
				return err
			}
			return p.WaitUp(ctx, i)
		}, nil
	}
}

// pauseLeader stops the leader with SIGSTOP for the fault window (longer
// than the election timeout: the others elect a new leader while the old
// one still believes it leads), then resumes it with SIGCONT.
func pauseLeader(ctx context.Context, c cluster, env *faultEnv) (func(context.Context) error, error) {
	p := c.(processes)
	i, err := leaderOf(ctx, c, nil)
	if err != nil {
		return nil, err
	}
	if err := p.Signal(i, syscall.SIGSTOP); err != nil {
		return nil, err
	}
	env.note(fmt.Sprintf("m%d (leader) paused with SIGSTOP", i))
	// Reads queued at the paused leader are answered the moment it
	// resumes, while it may still believe it leads: the classic stale
	// read of a deposed leader, if its reads skip the leadership check.
	env.probe(i)
	return func(context.Context) error {
		env.note(fmt.Sprintf("m%d resumed with SIGCONT", i))
		return p.Signal(i, syscall.SIGCONT)
	}, nil
}

// partitionLeader cuts the leader, with as many followers as still make a
// minority (none of 3, one of 5), from the majority.
func partitionLeader(ctx context.Context, c cluster, env *faultEnv) (func(context.Context) error, error) {
	p := c.(partitionable)
	ld, err := leaderOf(ctx, c, nil)
	if err != nil {
		return nil, err
	}
	n := len(c.ClientURLs())
	var minority, majority []int
	for k := 0; k < n; k++ {
		i := (ld + k) % n
		if len(minority) < (n-1)/2 {
			minority = append(minority, i)
		} else {
			majority = append(majority, i)
		}
	}
	p.Split(minority, majority)
	env.note(fmt.Sprintf("partitioned: %v (old leader m%d) | %v", names(minority), ld, names(majority)))
	return func(context.Context) error { p.Heal(); env.note("partition healed"); return nil }, nil
}

// isolateFollower cuts one follower from every other member.
func isolateFollower(ctx context.Context, c cluster, env *faultEnv) (func(context.Context) error, error) {
	p := c.(partitionable)
	ld, err := leaderOf(ctx, c, nil)
	if err != nil {
		return nil, err
	}
	n := len(c.ClientURLs())
	f := (ld + 1) % n
	var rest []int
	for i := 0; i < n; i++ {
		if i != f {
			rest = append(rest, i)
		}
	}
	p.Split([]int{f}, rest)
	env.note(fmt.Sprintf("m%d (follower) isolated from %v", f, names(rest)))
	return func(ctx context.Context) error {
		// Every key read on the cut-off follower just before the heal,
		// when the others have moved on the furthest. Its clients left it
		// at their first write (refused: no leader), so without these the
		// history holds few reads of it during the fault. A quorum read
		// there waits for a leader: those are answered after the heal
		// (and must still be linearizable), so wait only a little.
		env.note(fmt.Sprintf("every key read on m%d", f))
		select {
		case <-env.probe(f):
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
		}
		p.Heal()
		env.note("partition healed")
		return nil
	}, nil
}

// killAll kills every member with SIGKILL; healing starts them all again.
func killAll(_ context.Context, c cluster, env *faultEnv) (func(context.Context) error, error) {
	p := c.(processes)
	n := len(c.ClientURLs())
	for i := 0; i < n; i++ {
		p.Kill(i)
	}
	env.note("every member killed with SIGKILL")
	return func(ctx context.Context) error {
		env.note("every member restarted")
		for i := 0; i < n; i++ {
			if err := p.Launch(i); err != nil {
				return err
			}
		}
		for i := 0; i < n; i++ {
			if err := p.WaitUp(ctx, i); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// faultEnv is what a fault may use besides the cluster.
type faultEnv struct {
	// note records what the fault did on the run's timeline.
	note func(string)
	// probe sends, at once, a read of every contended key to member m,
	// each recorded in the history like the clients' reads; the channel
	// is closed when all have their answers.
	probe func(m int) <-chan struct{}
}

func names(is []int) []string {
	var out []string
	for _, i := range is {
		out = append(out, fmt.Sprintf("m%d", i))
	}
	return out
}

// runConfig is one run of one scenario.
type runConfig struct {
	Bin     string     // the etcd-classic binary (process scenarios)
	Dir     string     // where the members' data and logs go
	T       testing.TB // when set, ties member processes to a test
	Members int
	Clients int
	Keys    int
	// Warmup runs the workload before the fault, Fault is how long the
	// fault lasts, Recover how long the workload goes on once the
	// cluster is healthy again.
	Warmup, Fault, Recover time.Duration
	// Rounds is how many times the fault is injected and healed (1).
	Rounds        int
	StaleReads    bool
	RYWShare      float64
	ClientTimeout time.Duration
	CheckTimeout  time.Duration
	Seed          uint64
}

// runScenario starts a cluster, runs the workload through the fault and
// checks what the clients saw. It returns an error when the scenario
// could not be run to its end (the cluster did not start or never became
// healthy again: that is a finding too), with the members' logs.
func runScenario(ctx context.Context, cfg runConfig, sc scenario) (*result, error) {
	dir := filepath.Join(cfg.Dir, fmt.Sprintf("%s-%d", sc.Name, cfg.Members))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var c cluster
	var err error
	if sc.InProcess {
		c, err = startInProcess(dir, cfg.Members)
	} else {
		c, err = startProcesses(ctx, cfg.Bin, dir, cfg.Members, cfg.T)
	}
	if err != nil {
		return nil, err
	}
	defer c.Stop()
	if err := waitHealthy(ctx, c); err != nil {
		return nil, withLogs(err, c)
	}

	start := time.Now()
	var mu sync.Mutex
	var timeline []event
	note := func(s string) {
		mu.Lock()
		timeline = append(timeline, event{At: int64(time.Since(start)), What: s})
		mu.Unlock()
	}
	w := newWorkload(workloadConfig{URLs: c.ClientURLs(), Clients: cfg.Clients, Keys: cfg.Keys,
		StaleReads: cfg.StaleReads, RYWShare: cfg.RYWShare, Seed: cfg.Seed}, newAPIClient(cfg.ClientTimeout), start)
	w.run()
	stopped := false
	stopWorkload := func() {
		if !stopped {
			stopped = true
			w.stop(2 * time.Second)
			note("clients stopped")
		}
	}
	defer stopWorkload()

	if err := gap(ctx, cfg.Warmup); err != nil {
		return nil, err
	}
	for round := 0; round < max(cfg.Rounds, 1); round++ {
		if err := faultRound(ctx, cfg, sc, c, &faultEnv{note: note, probe: w.probe}); err != nil {
			return nil, err
		}
	}
	stopWorkload()
	duration := time.Since(start)
	if err := waitHealthy(ctx, c); err != nil {
		return nil, withLogs(fmt.Errorf("after the workload: %w", err), c)
	}
	finals, err := readAll(ctx, c, w)
	if err != nil {
		return nil, withLogs(err, c)
	}
	res := check(w, finals, timeline, cfg.CheckTimeout, dir)
	if err := writeHistory(filepath.Join(dir, "history.jsonl"), w.records, timeline); err != nil {
		return nil, err
	}
	res.Scenario, res.Members, res.Duration = sc.Name, cfg.Members, duration
	if !res.OK() {
		res.Logs = c.Logs()
	}
	return res, nil
}

// faultRound injects the fault, lets it last cfg.Fault, heals it, waits
// until the cluster is healthy and lets the workload run on for
// cfg.Recover.
func faultRound(ctx context.Context, cfg runConfig, sc scenario, c cluster, env *faultEnv) error {
	note := env.note
	heal, err := sc.Inject(ctx, c, env)
	if err != nil {
		return withLogs(fmt.Errorf("inject %s: %w", sc.Name, err), c)
	}
	if err := gap(ctx, cfg.Fault); err != nil {
		return err
	}
	if err := heal(ctx); err != nil {
		return withLogs(fmt.Errorf("heal %s: %w", sc.Name, err), c)
	}
	if err := waitHealthy(ctx, c); err != nil {
		return withLogs(fmt.Errorf("after %s: %w", sc.Name, err), c)
	}
	note("cluster healthy")
	return gap(ctx, cfg.Recover)
}

// readAll reads the whole key space on every member with a recursive
// quorum read (retried until one is answered, for at most settle).
func readAll(ctx context.Context, c cluster, w *workload) ([]finalRead, error) {
	ctx, cancel := context.WithTimeout(ctx, settle)
	defer cancel()
	var out []finalRead
	for i, u := range c.ClientURLs() {
		for {
			call := w.now()
			ans, v, err := w.api.do(ctx, "GET", u, keyDir, map[string][]string{"recursive": {"true"}, "quorum": {"true"}}, nil)
			ret := w.now()
			if v == answered && (ans.ErrorCode == 0 || ans.ErrorCode == 100) {
				f := finalRead{Member: i, Call: call, Return: ret, Nodes: map[string]*v2Node{}}
				if ans.ErrorCode == 0 {
					flatten(ans.Node, f.Nodes)
				}
				out = append(out, f)
				break
			}
			if perr := proctest.Pause(ctx); perr != nil {
				return nil, fmt.Errorf("final read on m%d: %s", i, answerErr(ans, err))
			}
		}
	}
	return out, nil
}

// writeHistory saves the run's timeline and operations (one JSON object a
// line, times in ns since the start, return -1 for an unknown outcome) for
// a look after the run (-keep).
func writeHistory(path string, recs []record, timeline []event) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	enc := json.NewEncoder(bw)
	for _, e := range timeline {
		_ = enc.Encode(e)
	}
	for _, r := range recs {
		if r.Return == math.MaxInt64 {
			r.Return = -1
		}
		_ = enc.Encode(r)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// gap waits d: the time a phase of the scenario lasts.
func gap(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func withLogs(err error, c cluster) error {
	return errors.Join(err, errors.New(c.Logs()))
}
