package main

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/proctest"
)

// testCode reports whether a Go file is test code: a _test.go file, or a
// file of a test-helper package (raftfsmtest, certstest, proctest,
// servertest).
func testCode(path string) bool {
	if strings.HasSuffix(path, "_test.go") {
		return true
	}
	return strings.HasSuffix(filepath.ToSlash(filepath.Dir(path)), "test")
}

// Every HTTP client of the tests, in every package of the repository (the
// compat module and the examples included), has a timeout: no http.Get
// and friends, no http.DefaultClient, no http.Client literal without a
// Timeout. A server that stops answering then fails a test instead of
// hanging the run. Tests also make their temporary directories with
// t.TempDir (or proctest.TempDir for TestMain), never os.MkdirTemp.
func TestTestsHaveTimeoutsAndTempDirs(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	err := filepath.Walk(".", func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() && (strings.HasPrefix(info.Name(), ".") && path != "." || info.Name() == "testdata") {
			return filepath.SkipDir
		}
		if info.IsDir() || !strings.HasSuffix(path, ".go") || !testCode(path) {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		allowMkdirTemp := strings.HasPrefix(filepath.ToSlash(path), "proctest/") // TempDir, and clusters under the test's own t.TempDir
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.SelectorExpr:
				pkg, ok := x.X.(*ast.Ident)
				if !ok {
					return true
				}
				switch {
				case pkg.Name == "http" && (x.Sel.Name == "Get" || x.Sel.Name == "Post" || x.Sel.Name == "PostForm" ||
					x.Sel.Name == "Head" || x.Sel.Name == "DefaultClient"):
					t.Errorf("%s: http.%s has no timeout; use a client with one", fset.Position(x.Pos()), x.Sel.Name)
				case pkg.Name == "os" && x.Sel.Name == "MkdirTemp" && !allowMkdirTemp:
					t.Errorf("%s: os.MkdirTemp in a test; use t.TempDir (or proctest.TempDir in TestMain)", fset.Position(x.Pos()))
				}
			case *ast.CompositeLit:
				sel, ok := x.Type.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "Client" {
					return true
				}
				if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "http" {
					return true
				}
				for _, e := range x.Elts {
					if kv, ok := e.(*ast.KeyValueExpr); ok {
						if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Timeout" {
							return true
						}
					}
				}
				t.Errorf("%s: http.Client without a Timeout", fset.Position(x.Pos()))
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// scripts/check-leftovers.sh, which CI runs around the tests, names a
// server process and a temporary entry that appeared since "before", and
// passes once they are gone.
func TestCheckLeftoversScript(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed")
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	t.Parallel()
	tmp := t.TempDir()
	state := filepath.Join(t.TempDir(), "state")
	// A stand-in "server": sleep under a name no other test uses.
	name := fmt.Sprintf("leftover%d", os.Getpid()%100000)
	fake := filepath.Join(t.TempDir(), name)
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fake, b, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(mode string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", "scripts/check-leftovers.sh", mode, state)
		cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "LEFTOVER_NAMES="+name)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("before"); err != nil {
		t.Fatalf("before: %v\n%s", err, out)
	}
	if out, err := run("after"); err != nil {
		t.Fatalf("after, with nothing new: %v\n%s", err, out)
	}
	p, err := proctest.Start(t, exec.Command(fake, "300"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(tmp, "TestLeak123"), 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := run("after")
	if err == nil || !strings.Contains(out, fmt.Sprintf("%d %s", p.Cmd.Process.Pid, name)) || !strings.Contains(out, "  TestLeak123") {
		t.Errorf("after, with a process and a directory left: %v\n%s", err, out)
	}
	p.Kill()
	if err := os.Remove(filepath.Join(tmp, "TestLeak123")); err != nil {
		t.Fatal(err)
	}
	if out, err := run("after"); err != nil {
		t.Errorf("after, once they are gone: %v\n%s", err, out)
	}
}

// No file in the repository holds a merge's conflict markers: a merge
// once committed them into a DESIGN.md, where no compiler looks.
func TestNoConflictMarkers(t *testing.T) {
	out, err := exec.Command("git", "ls-files").Output()
	if err != nil {
		t.Skipf("git ls-files: %v (not a git checkout)", err)
	}
	for _, f := range strings.Fields(string(out)) {
		b, err := os.ReadFile(f)
		if err != nil || strings.IndexByte(string(b[:min(len(b), 8000)]), 0) >= 0 {
			continue // gone from the working tree, or binary
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "<<<<<<< ") || strings.HasPrefix(line, ">>>>>>> ") {
				t.Errorf("%s:%d: a conflict marker: %q", f, i+1, line)
			}
		}
	}
}
