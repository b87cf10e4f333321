// Package proctest starts the processes of process tests so that none of
// them outlives its test: not when the test passes, not when it fails,
// and not when the run hits go test's -timeout, which panics without
// running any t.Cleanup. It also starts members and clusters of a server
// binary on loopback (member.go) — etcd-classic, or etcd itself when the
// compat tests record their golden answers — for the root package's
// tests, the examples, ops and the compat module (which uses it through
// a replace directive in its go.mod).
//
// Every process starts in a process group of its own, so that killing the
// group also takes what it started (a script's background members). On
// Linux it also gets SIGKILL when the test binary dies. Start kills the
// group in t.Cleanup; Main kills every group still registered, and
// removes the directories of TempDir, shortly before the -timeout
// deadline, when the run is interrupted (SIGINT, SIGTERM, SIGHUP) and
// when the run ends. Main also points TMPDIR at a directory of its own
// for the run, so that the tests' t.TempDir directories (which the
// testing package removes only from a test that ends normally) go with
// it.
//
// It is imported by tests only (and by compat's cluster launcher, a test
// tool).
package proctest

import (
	"errors"
	"flag"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is a started process.
type Proc struct {
	Cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit error; valid once Done is closed.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Kill sends SIGKILL to the process's whole group, waits for the process
// to exit and forgets the group. It is idempotent.
func (p *Proc) Kill() {
	pgid := p.Cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
	mu.Lock()
	delete(groups, pgid)
	mu.Unlock()
}

// Signal sends sig to the process's whole group.
func (p *Proc) Signal(sig syscall.Signal) error {
	return syscall.Kill(-p.Cmd.Process.Pid, sig)
}

var (
	mu     sync.Mutex
	groups = map[int]bool{}    // process groups that may still hold processes
	dirs   = map[string]bool{} // TempDir directories
)

// Spawn starts cmd in a new process group (on Linux also killed by the
// kernel when this process dies) and registers the group, so that Main
// kills it if it is still running at the end of the run. The caller kills
// it (Proc.Kill) and must not call cmd.Wait; Proc.Done tells when it
// exited. Programs that are not tests use it too (compat-cluster).
func Spawn(cmd *exec.Cmd) (*Proc, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	setDeathSignal(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pgid := cmd.Process.Pid
	mu.Lock()
	groups[pgid] = true
	mu.Unlock()
	p := &Proc{Cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Start is Spawn for a test: the group is killed when the test ends (or,
// through Main, when the run is about to time out).
func Start(t testing.TB, cmd *exec.Cmd) (*Proc, error) {
	p, err := Spawn(cmd)
	if err != nil {
		return nil, err
	}
	t.Cleanup(p.Kill)
	return p, nil
}

// TempDir makes a directory for what TestMain prepares (binaries) outside
// any test's t.TempDir; Main removes it at the end of the run, and before
// the -timeout deadline.
func TempDir(pattern string) (string, error) {
	d, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", err
	}
	mu.Lock()
	dirs[d] = true
	mu.Unlock()
	return d, nil
}

// abortMargin is how long before go test's -timeout deadline Main kills
// what is left, so that the panic that follows leaves nothing behind.
const abortMargin = 10 * time.Second

// Main runs the tests (it is TestMain's body: os.Exit(proctest.Main(m,
// setup))). setup, when not nil, runs first (building binaries into a
// TempDir, say); its error fails the run. Whatever way the run ends, no
// registered process group and no TempDir is left.
func Main(m *testing.M, setup func() error) int {
	flag.Parse()
	if d := timeoutFlag(); d > 2*abortMargin {
		// go test's alarm starts in m.Run, a little after this one.
		timer := time.AfterFunc(d-abortMargin, func() {
			os.Stderr.WriteString("proctest: the run is about to time out; killing the processes of the tests that are still running\n")
			cleanupAll()
		})
		defer timer.Stop()
	}
	defer cleanupAll()
	if root, err := TempDir("proctest-run"); err == nil {
		_ = os.Setenv("TMPDIR", root)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		s := <-sigs
		cleanupAll()
		// Die of the signal, as the run would have without us.
		signal.Reset(s)
		_ = syscall.Kill(os.Getpid(), s.(syscall.Signal))
	}()
	if setup != nil {
		if err := setup(); err != nil {
			os.Stderr.WriteString("proctest: setup: " + err.Error() + "\n")
			return 1
		}
	}
	return m.Run()
}

// timeoutFlag is go test's -timeout (0 when none is set).
func timeoutFlag() time.Duration {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return 0
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return 0
	}
	d, _ := g.Get().(time.Duration)
	return d
}

// cleanupAll kills every registered process group and removes every
// TempDir.
func cleanupAll() {
	mu.Lock()
	defer mu.Unlock()
	for pgid := range groups {
		if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			os.Stderr.WriteString("proctest: kill: " + err.Error() + "\n")
		}
		delete(groups, pgid)
	}
	for d := range dirs {
		_ = os.RemoveAll(d)
		delete(dirs, d)
	}
}
