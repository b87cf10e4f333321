package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-classic/etcd-classic/server"
	"github.com/etcd-classic/etcd-classic/server/servertest"
)

// v2Node is the part of a v2 answer the tests read.
type v2Node struct {
	Action string `json:"action"`
	Node   struct {
		Key           string `json:"key"`
		Value         string `json:"value"`
		ModifiedIndex uint64 `json:"modifiedIndex"`
	} `json:"node"`
}

func decode(t *testing.T, body string) v2Node {
	t.Helper()
	var v v2Node
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return v
}

// Three full members in one process (raft over loopback, the client API
// over HTTP): a write through one member is read through each of the
// others, locally once it has caught up and with quorum=true at once; all
// three list the same published members.
func TestThreeMembersInProcess(t *testing.T) {
	t.Parallel()
	c := servertest.NewCluster(t, 3)
	writer := c.Followers(t)[0]
	st, body := writer.Do(t, http.MethodPut, "/v2/keys/in-process", url.Values{"value": {"yes"}})
	if st != http.StatusCreated {
		t.Fatalf("PUT through %s: %d %s", writer.Name, st, body)
	}
	written := decode(t, body)
	for _, mb := range c.Members {
		if mb == writer {
			continue
		}
		st, body := mb.Do(t, http.MethodGet, "/v2/keys/in-process?quorum=true", nil)
		if got := decode(t, body); st != http.StatusOK || got.Node.Value != "yes" || got.Node.ModifiedIndex != written.Node.ModifiedIndex {
			t.Errorf("quorum read through %s: %d %s, want the write at %d", mb.Name, st, body, written.Node.ModifiedIndex)
		}
		servertest.Eventually(t, mb.Name+" applies the write", func() bool {
			st, body := mb.Do(t, http.MethodGet, "/v2/keys/in-process", nil)
			return st == http.StatusOK && decode(t, body).Node.Value == "yes"
		})
	}
	for _, mb := range c.Members {
		servertest.Eventually(t, mb.Name+" lists every member published", func() bool {
			_, body := mb.Do(t, http.MethodGet, "/v2/members", nil)
			return strings.Count(body, `"clientURLs":["http://127.0.0.1:`) == 3
		})
	}
}

// A member restarted in-process comes back on its data dir and ports:
// same identity, the writes made while it was down, and it serves them.
func TestRestartInProcess(t *testing.T) {
	t.Parallel()
	c := servertest.NewCluster(t, 3)
	down := c.Followers(t)[0]
	identity, err := os.ReadFile(filepath.Join(down.DataDir, "member", "identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	down.Stop()
	up := c.Leader(t)
	if st, body := up.Do(t, http.MethodPut, "/v2/keys/while-down", url.Values{"value": {"v"}}); st != http.StatusCreated {
		t.Fatalf("PUT with one member down: %d %s", st, body)
	}
	down.Restart(t)
	again, err := os.ReadFile(filepath.Join(down.DataDir, "member", "identity.json"))
	if err != nil || string(again) != string(identity) {
		t.Fatalf("identity after the restart: %s (%v), was %s", again, err, identity)
	}
	st, body := down.Do(t, http.MethodGet, "/v2/keys/while-down?quorum=true", nil)
	if st != http.StatusOK || decode(t, body).Node.Value != "v" {
		t.Fatalf("read through the restarted member: %d %s", st, body)
	}
}

// Start refuses what it cannot run, with one error and nothing left
// listening.
func TestStartRefusesBadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		cfg  server.Config
		want string
	}{
		{"no name", server.Config{DataDir: dir, ListenClientURLs: []string{"http://127.0.0.1:0"}, ListenPeerURLs: []string{"http://127.0.0.1:0"}}, "needs a name"},
		{"no data dir", server.Config{Name: "x", ListenClientURLs: []string{"http://127.0.0.1:0"}, ListenPeerURLs: []string{"http://127.0.0.1:0"}}, "needs a data dir"},
		{"bad proxy mode", server.Config{Name: "x", DataDir: dir, Proxy: "sideways", ListenClientURLs: []string{"http://127.0.0.1:0"}}, "--proxy must be off, on or readonly"},
		{"not in the initial cluster", server.Config{Name: "x", DataDir: dir, ListenClientURLs: []string{"http://127.0.0.1:0"}, ListenPeerURLs: []string{"http://127.0.0.1:0"},
			InitialCluster: []server.InitialMember{{Name: "y", PeerURLs: []string{"http://127.0.0.1:1"}}}}, `no member named "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := server.Start(tc.cfg)
			if err == nil {
				m.Stop()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want %q", err, tc.want)
			}
		})
	}
}

// HistorySize reaches the member's store: with a history of two events,
// a watch from the first of four writes gets etcd's error 401 (event
// index cleared) at once instead of the event.
func TestHistorySizeReachesTheStore(t *testing.T) {
	t.Parallel()
	c := servertest.NewCluster(t, 1, func(_ int, cfg *server.Config) { cfg.HistorySize = 2 })
	mb := c.Members[0]
	var first uint64
	for i := 0; i < 4; i++ {
		st, body := mb.Do(t, http.MethodPut, fmt.Sprintf("/v2/keys/h%d", i), url.Values{"value": {"v"}})
		if st != http.StatusCreated {
			t.Fatalf("PUT h%d: %d %s", i, st, body)
		}
		if i == 0 {
			first = decode(t, body).Node.ModifiedIndex
		}
	}
	st, body := mb.Do(t, http.MethodGet, fmt.Sprintf("/v2/keys/h0?wait=true&waitIndex=%d", first), nil)
	if st != http.StatusBadRequest || !strings.Contains(body, `"errorCode":401`) {
		t.Fatalf("watch from index %d with a history of 2: %d %s, want 400 with error 401", first, st, body)
	}
}

// A graceful stop snapshots the writes applied since the last snapshot
// (raftfsm's SnapshotBeforeStop), so that a restart serves them at once;
// with the default SnapshotCount none was taken before.
func TestStopTakesASnapshot(t *testing.T) {
	t.Parallel()
	c := servertest.NewCluster(t, 1)
	mb := c.Members[0]
	if st, body := mb.Do(t, http.MethodPut, "/v2/keys/before-stop", url.Values{"value": {"v"}}); st != http.StatusCreated {
		t.Fatalf("PUT: %d %s", st, body)
	}
	snaps := filepath.Join(mb.DataDir, "member", "snapshots")
	count := func() int {
		entries, err := os.ReadDir(snaps)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return len(entries)
	}
	if n := count(); n != 0 {
		t.Fatalf("%d snapshots before the stop, want none (the test needs a member that has not snapshotted)", n)
	}
	mb.Stop()
	if n := count(); n == 0 {
		t.Fatal("no snapshot after a graceful stop")
	}
}
