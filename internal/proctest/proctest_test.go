package proctest

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(Main(m, nil)) }

// gone reports whether pid has exited (a zombie nobody reaps counts as
// exited: it holds no resources and runs nothing).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) != nil
	}
	// pid (comm) state ...
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still runs", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startShell starts a shell that leaves a background child behind and
// returns the shell and the child's pid.
func startShell(t *testing.T) (*Proc, int) {
	t.Helper()
	cmd := exec.Command("sh", "-c", "sleep 300 & echo $!; wait")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(t, cmd)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	return p, child
}

// The end of a test, failed or not, kills the process and everything it
// started in its group.
func TestCleanupKillsTheGroup(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	var shell, child int
	t.Run("inner", func(t *testing.T) {
		p, c := startShell(t)
		shell, child = p.Cmd.Process.Pid, c
	})
	waitGone(t, shell)
	waitGone(t, child)
}

// What Main does before the -timeout deadline: every registered group
// is killed and every TempDir removed, without any test's cleanup.
func TestCleanupAll(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir, err := TempDir("proctest-")
	if err != nil {
		t.Fatal(err)
	}
	p, child := startShell(t)
	cleanupAll()
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the shell survived cleanupAll")
	}
	waitGone(t, child)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("TempDir %s survived cleanupAll: %v", dir, err)
	}
}
