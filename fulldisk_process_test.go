//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// fullDiskBody is what a write refused for lack of space answers (HTTP
// 500): etcd's v2 rendering of a server error, with the text etcd gives
// when it refuses writes for space (raftfsm/DESIGN.md, "Full disk").
const fullDiskBody = `{"errorCode":300,"message":"Raft Internal Error","cause":"etcdserver: mvcc: database space exceeded","index":0}`

// TestFullDiskProcess: the real binary with its data dir on a tmpfs that
// fills up keeps its leader (no leader change in /metrics, the same
// leaderInfo in /v2/stats/self), answers plain and quorum reads, refuses
// writes with fullDiskBody, and accepts them again once space is freed.
// Meanwhile /health answers as etcd 3.4 does under its NOSPACE alarm:
// 503 {"health":"false"}, and true again once space is freed.
// Needs root for the mount; skipped otherwise.
func TestFullDiskProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	root := t.TempDir()
	if err := syscall.Mount("tmpfs", root, "tmpfs", 0, "size=64m,mode=0700"); err != nil {
		t.Skipf("skipped: a full-disk test needs a small tmpfs and mounting one failed (run as root): %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(root, syscall.MNT_DETACH) })
	dir := filepath.Join(root, "solo")
	client, args := singleMemberArgs(t, dir)
	startProc(t, client, dir, args...)
	hc := &http.Client{Timeout: 20 * time.Second}
	put := func(key string) (int, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "PUT", client+"/v2/keys"+key, strings.NewReader("value=v"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return do(t, hc, req)
	}
	get := func(path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", client+path, nil)
		return do(t, hc, req)
	}
	waitFor(t, "first write", func() bool { st, _ := put("/before"); return st == 201 })
	if st, body := get("/health"); st != 200 || body != `{"health":"true"}` {
		t.Fatalf("/health before the disk fills: %d %s", st, body)
	}
	changes := leaderChanges(t, get)
	info := leaderInfo(t, get)

	filler := fillFS(t, root)
	refused := 0
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); <-tick.C {
		switch st, body := put("/full"); {
		case st == 200 || st == 201:
		case st == 500 && body == fullDiskBody:
			refused++
		default:
			t.Fatalf("write on a full disk: %d %s\nwant 2xx or 500 %s", st, body, fullDiskBody)
		}
		for _, q := range []string{"", "?quorum=true"} {
			if st, body := get("/v2/keys/before" + q); st != 200 {
				t.Fatalf("read%s on a full disk: %d %s", q, st, body)
			}
		}
	}
	if refused == 0 {
		t.Fatal("no write was refused on a full disk")
	}
	if st, body := get("/health"); st != 503 || body != `{"health":"false"}` { // do trims the trailing newline
		t.Errorf("/health while writes are refused: %d %s, want 503 {\"health\":\"false\"}", st, body)
	}
	if got := leaderChanges(t, get); got != changes {
		t.Errorf("leader changes seen went from %v to %v on a full disk", changes, got)
	}
	if got := leaderInfo(t, get); got != info {
		t.Errorf("leaderInfo went from %+v to %+v on a full disk", info, got)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// Health comes back without a write having to try first.
	waitFor(t, "/health true once space is freed", func() bool { st, _ := get("/health"); return st == 200 })
	waitFor(t, "writes accepted once space is freed", func() bool { st, _ := put("/after"); return st == 201 })
	if got := leaderChanges(t, get); got != changes {
		t.Errorf("leader changes seen went from %v to %v", changes, got)
	}
}

func do(t *testing.T, hc *http.Client, req *http.Request) (int, string) {
	t.Helper()
	r, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return r.StatusCode, strings.TrimSpace(string(b))
}

// fillFS writes a file into dir until its filesystem is full.
func fillFS(t *testing.T, dir string) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "filler-")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range []int{1 << 20, 4096, 1} {
		buf := []byte(strings.Repeat("x", chunk))
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatal(err)
				}
				break
			}
		}
	}
	return f.Name()
}

func leaderChanges(t *testing.T, get func(string) (int, string)) float64 {
	t.Helper()
	st, body := get("/metrics")
	if st != 200 {
		t.Fatalf("/metrics: %d", st)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	f, ok := fams["etcd_server_leader_changes_seen_total"]
	if !ok || len(f.Metric) == 0 {
		t.Fatal("no etcd_server_leader_changes_seen_total")
	}
	return f.Metric[0].Counter.GetValue()
}

type leaderStats struct {
	State      string `json:"state"`
	LeaderInfo struct {
		Leader    string `json:"leader"`
		StartTime string `json:"startTime"`
	} `json:"leaderInfo"`
}

func leaderInfo(t *testing.T, get func(string) (int, string)) leaderStats {
	t.Helper()
	st, body := get("/v2/stats/self")
	var s leaderStats
	if err := json.Unmarshal([]byte(body), &s); st != 200 || err != nil {
		t.Fatalf("/v2/stats/self: %d %s %v", st, body, err)
	}
	return s
}
