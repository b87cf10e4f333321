package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// importantValue is written before the data dir is damaged; the damage
// tests look for it inside raft.db.
const importantValue = "important-value-0123456789"

// stoppedMember starts a single member, writes a few keys (the last one
// /important), stops it with SIGKILL and returns its command line and data
// dir, ready to be damaged. extra flags are appended.
func stoppedMember(t *testing.T, writes int, extra ...string) (*proc, string) {
	t.Helper()
	dataDir := t.TempDir()
	client, args := singleMemberArgs(t, dataDir)
	p := startProc(t, client, dataDir, append(args, extra...)...)
	// 2 KB values: the file grows past its first pages, so cutting it in
	// half cuts pages bbolt uses.
	for i := 0; i < writes; i++ {
		if st, _, err := v2do(context.Background(), "PUT", fmt.Sprintf("%s/v2/keys/k%d", client, i), url.Values{"value": {strings.Repeat("v", 2000)}}); err != nil || st != 201 {
			t.Fatalf("put %d: %d %v", i, st, err)
		}
	}
	if st, _, err := v2do(context.Background(), "PUT", client+"/v2/keys/important", url.Values{"value": {importantValue}}); err != nil || st != 201 {
		t.Fatalf("put: %d %v", st, err)
	}
	return p, dataDir
}

// mustRefuseToStart starts p again and expects it to exit with a
// non-zero status and one clear line naming file — no panic, no stack
// trace, no silent start.
func mustRefuseToStart(t *testing.T, p *proc, file string) {
	t.Helper()
	before := len(p.Output()) // only this start's output counts
	if err := p.launch(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		st, r, err := v2do(context.Background(), "GET", p.client+"/v2/keys/important", nil)
		t.Fatalf("the member started on a damaged data dir (GET /important: %d %+v %v)", st, r, err)
	}
	out := p.Output()[before:]
	if code := p.Proc.Cmd.ProcessState.ExitCode(); code <= 0 {
		t.Errorf("exit code %d, want a failure", code)
	}
	if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
		t.Errorf("a panic or stack trace in the output:\n%s", out)
	}
	var clear []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, file) && strings.Contains(line, "backup") && strings.Contains(line, "empty data dir") {
			clear = append(clear, line)
		}
	}
	if len(clear) == 0 {
		t.Errorf("no line names %s and says what to do; output:\n%s", file, out)
	}
	t.Logf("output:\n%s", out)
}

func raftDB(dataDir string) string { return filepath.Join(dataDir, "member", "raft.db") }

// changeAll replaces every occurrence of old in the file by new (same
// length) and reports how many it changed.
func changeAll(t *testing.T, path string, old, new []byte) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := bytes.Count(b, old)
	b = bytes.ReplaceAll(b, old, new)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return n
}

// Each kind of damage to the data dir stops the member at start with one
// clear line and a non-zero exit.
func TestDamagedRaftLogStopsTheMember(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	cases := []struct {
		name   string
		damage func(t *testing.T, db string)
	}{
		{"bytes changed inside a value", func(t *testing.T, db string) {
			if changeAll(t, db, []byte("0123456"), []byte("XXXXXXX")) == 0 {
				t.Fatal("value not found in raft.db")
			}
		}},
		{"truncated to zero", func(t *testing.T, db string) {
			if err := os.Truncate(db, 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"deleted", func(t *testing.T, db string) {
			if err := os.Remove(db); err != nil {
				t.Fatal(err)
			}
		}},
		{"half truncated", func(t *testing.T, db string) {
			fi, err := os.Stat(db)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(db, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"garbage page", func(t *testing.T, db string) {
			// Every page holding the value (the live one and any old
			// copies) is overwritten with random bytes.
			b, err := os.ReadFile(db)
			if err != nil {
				t.Fatal(err)
			}
			const page = 4096
			rng := rand.New(rand.NewSource(1))
			hit := 0
			for off := 2 * page; off+page <= len(b); off += page {
				if bytes.Contains(b[off:off+page], []byte(importantValue)) {
					rng.Read(b[off : off+page])
					hit++
				}
			}
			if hit == 0 {
				t.Fatal("no page holds the value")
			}
			if err := os.WriteFile(db, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, dataDir := stoppedMember(t, 20)
			p.kill()
			if _, err := os.Stat(filepath.Join(dataDir, "member", "identity.json")); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, raftDB(dataDir))
			mustRefuseToStart(t, p, "raft.db")
		})
	}
}

// A damaged snapshot stops the member at start. Before, raft fell back
// to the older snapshot, found the log entries after it compacted away
// and stopped with "panic: log not found".
func TestDamagedSnapshotStopsTheMember(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	p, dataDir := stoppedMember(t, 15, "--snapshot-count", "10")
	snapshots := func() []string {
		m, _ := filepath.Glob(filepath.Join(dataDir, "member", "snapshots", "*", "state.bin"))
		var done []string
		for _, f := range m {
			if !strings.HasSuffix(filepath.Dir(f), ".tmp") {
				done = append(done, f)
			}
		}
		sort.Strings(done) // names are term-index-time: oldest first
		return done
	}
	waitFor(t, "a first snapshot", func() bool { return len(snapshots()) >= 1 })
	for i := 0; i < 30; i++ {
		if st, _, err := v2do(context.Background(), "PUT", fmt.Sprintf("%s/v2/keys/more%d", p.client, i), url.Values{"value": {"v"}}); err != nil || st != 201 {
			t.Fatalf("put: %d %v", st, err)
		}
	}
	waitFor(t, "a second snapshot", func() bool { return len(snapshots()) >= 2 })
	p.kill()
	s := snapshots()
	newest := s[len(s)-1]
	b, err := os.ReadFile(newest)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) / 2; i < len(b)/2+7 && i < len(b); i++ {
		b[i] ^= 0x5a
	}
	if err := os.WriteFile(newest, b, 0o600); err != nil {
		t.Fatal(err)
	}
	mustRefuseToStart(t, p, "state.bin")
}

// Three members acknowledge writes, all are killed, one is restarted
// alone: it never answers with a state older than the one acknowledged —
// it does not answer at all: without a quorum it is not ready, so its
// client port accepts connections but serves none (etcd 3.4 alike), while
// its metrics URL answers at once with /health false. When the others
// come back, it answers, and every acknowledged write is there.
func TestRestartAloneNeverAnswersStale(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	c := startProcCluster(t, 3)
	acks := &ackLog{acks: map[string]uint64{}, vals: map[string]string{}}
	put := func(p *proc, key, val string) {
		st, r, err := v2do(context.Background(), "PUT", p.client+"/v2/keys"+key, url.Values{"value": {val}})
		if err != nil || st/100 != 2 {
			t.Fatalf("put %s: %d %v", key, st, err)
		}
		acks.acks[key], acks.vals[key] = r.Node.ModifiedIndex, val
	}
	for i, p := range c.members {
		put(p, "/important", fmt.Sprintf("old-%d", i))
		put(p, fmt.Sprintf("/k%d", i), "v")
	}
	put(c.members[1], "/important", "newest")
	for _, p := range c.members {
		p.kill()
	}
	alone := c.members[0]
	metrics := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	alone.Args = append(alone.Args, "--listen-metrics-urls", metrics)
	alone.restart()
	waitFor(t, "the metrics URL answers", func() bool {
		r, err := testClient.Get(metrics + "/health")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusServiceUnavailable || string(b) != `{"health":"false"}`+"\n" {
			t.Fatalf("/health on the metrics URL of the member alone: %d %s; want 503 {\"health\":\"false\"}", r.StatusCode, b)
		}
		return true
	})

	short := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(6 * time.Second)
	paths := []string{"/v2/keys/important", "/v1/keys/important", "/version", "/health", "/v2/members"}
	for i := 0; time.Now().Before(deadline) && !t.Failed(); i++ {
		path := paths[i%len(paths)]
		r, err := short.Get(alone.client + path)
		if err == nil {
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			t.Errorf("GET %s on the member restarted alone answered %d %s; want no answer", path, r.StatusCode, b)
		} else if !os.IsTimeout(err) {
			t.Errorf("GET %s on the member restarted alone: %v; want a connection that waits (a timeout)", path, err)
		}
	}

	for _, p := range c.members[1:] {
		p.restart()
	}
	for _, p := range c.members {
		p.waitUp()
	}
	c.waitHealthy()
	c.verify(acks)
	if st, r, err := v2do(context.Background(), "GET", alone.client+"/v2/keys/important", nil); err != nil || st != 200 || r.Node.Value != "newest" {
		t.Errorf("GET /v2/keys/important once the others are back: %d %+v %v", st, r, err)
	}
}
