package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImportDirection enforces the layout's allowed arrows (each
// package's doc.go says what it may import):
// server → httpapi, raftfsm, machines, certs, store;
// httpapi → machines, store; raftfsm → machines, store; machines → store;
// ops → machines, store, server (an HTTP client of the members, and the
// offline backup and restore of data dirs, whose layout is server's:
// never raftfsm or httpapi itself, see ops/DESIGN.md);
// store and certs → standard library and small leaf libraries only. Only
// raftfsm imports hashicorp/raft; only httpapi imports gorilla/mux. main
// (flags and wiring) reaches raftfsm only through server.
func TestImportDirection(t *testing.T) {
	const mod = "github.com/etcd-classic/etcd-classic/"
	allowed := map[string][]string{
		"server":   {"httpapi", "raftfsm", "machines", "certs", "store"},
		"httpapi":  {"machines", "store"},
		"raftfsm":  {"machines", "store"},
		"machines": {"store"},
		"store":    {},
		"certs":    {},
		"ops":      {"machines", "store", "server"},
	}
	for pkg, ok := range allowed {
		out, err := exec.Command("go", "list", "-deps", "./"+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		if pkg == "server" || pkg == "ops" {
			// server wires raftfsm and httpapi (and ops uses server): raft
			// and mux come with them, so only the package's own imports
			// are checked for those.
			if out, err = exec.Command("go", "list", "-f", `{{join .Imports " "}}`, "./"+pkg).Output(); err != nil {
				t.Fatalf("go list %s: %v", pkg, err)
			}
			deps = strings.Fields(string(out))
		}
		for _, dep := range deps {
			if strings.HasPrefix(dep, mod) {
				name := strings.TrimPrefix(dep, mod)
				if name == pkg {
					continue
				}
				if !slices.Contains(ok, name) {
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

// TestMainImportsServerNotRaftfsm: the command is flags and wiring; the
// raft node is the server package's business.
func TestMainImportsServerNotRaftfsm(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imports := strings.Fields(string(out))
	if !slices.Contains(imports, "github.com/etcd-classic/etcd-classic/server") {
		t.Errorf("main does not import server: %v", imports)
	}
	for _, dep := range imports {
		if strings.HasPrefix(dep, "github.com/etcd-classic/etcd-classic/raftfsm") || strings.HasPrefix(dep, "github.com/etcd-classic/etcd-classic/store") ||
			strings.HasPrefix(dep, "github.com/hashicorp/raft") {
			t.Errorf("main imports %s; it may reach the raft node only through server", dep)
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
