package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportDirection enforces the layout's allowed arrows (each
// package's doc.go says what it may import):
// httpapi → machines, store; raftfsm → machines, store; machines → store;
// ops → machines, store (an HTTP client: never raftfsm or httpapi);
// store and certs → standard library and small leaf libraries only. Only
// raftfsm imports hashicorp/raft; only httpapi imports gorilla/mux.
func TestImportDirection(t *testing.T) {
	const mod = "github.com/etcd-classic/etcd-classic/"
	allowed := map[string][]string{
		"httpapi":  {"machines", "store"},
		"raftfsm":  {"machines", "store"},
		"machines": {"store"},
		"store":    {},
		"certs":    {},
		"ops":      {"machines", "store"},
	}
	for pkg, ok := range allowed {
		out, err := exec.Command("go", "list", "-deps", "./"+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, mod) {
				name := strings.TrimPrefix(dep, mod)
				if name == pkg {
					continue
				}
				if !contains(ok, name) {
					t.Errorf("%s imports %s, which the layout forbids", pkg, name)
				}
			}
			if strings.HasPrefix(dep, "github.com/hashicorp/raft") && pkg != "raftfsm" {
				t.Errorf("%s imports %s; only raftfsm may", pkg, dep)
			}
			if strings.HasPrefix(dep, "github.com/gorilla/mux") && pkg != "httpapi" {
				t.Errorf("%s imports %s; only httpapi may", pkg, dep)
			}
			if (pkg == "store" || pkg == "certs") && strings.Contains(strings.Split(dep, "/")[0], ".") && !strings.HasPrefix(dep, mod) &&
				!strings.HasPrefix(dep, "golang.org/x/") && !strings.HasPrefix(dep, "vendor/") {
				t.Errorf("%s depends on %s; it may use only the standard library", pkg, dep)
			}
		}
	}
}

// TestNoClockInDeterministicCode runs the determinism guard.
func TestNoClockInDeterministicCode(t *testing.T) {
	out, err := exec.Command("bash", "scripts/check-no-clock.sh").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}
