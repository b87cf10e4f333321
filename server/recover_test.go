package server_test

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-classic/etcd-classic/server"
	"github.com/etcd-classic/etcd-classic/server/servertest"
)

// etcd 0.4's -force with -peers: the configuration to use is the cluster
// at -peers, so a member that ran in a cluster of its own joins that one
// anew; its old state is kept in member.discarded, not deleted, and it
// serves the new cluster's keys, not its old ones.
func TestForceWithPeersJoinsAnew(t *testing.T) {
	t.Parallel()
	a := servertest.NewCluster(t, 1).Members[0]
	b := servertest.NewCluster(t, 1).Members[0]
	if st, body := a.Do(t, http.MethodPut, "/v2/keys/in-a", url.Values{"value": {"a"}}); st != http.StatusCreated {
		t.Fatalf("PUT on a: %d %s", st, body)
	}
	if st, body := b.Do(t, http.MethodPut, "/v2/keys/in-b", url.Values{"value": {"b"}}); st != http.StatusCreated {
		t.Fatalf("PUT on b: %d %s", st, body)
	}
	b.RestartWith(t, func(cfg *server.Config) {
		cfg.Force, cfg.Name = true, "b" // a name a's cluster does not have
		cfg.JoinPeers = []string{strings.TrimPrefix(a.PeerURL, "http://")}
		cfg.InitialCluster = nil
	})
	if _, err := os.Stat(filepath.Join(b.DataDir, "member.discarded", "identity.json")); err != nil {
		t.Errorf("the old state is not kept aside: %v", err)
	}
	servertest.Eventually(t, "b has a's key", func() bool {
		st, _ := b.Do(t, http.MethodGet, "/v2/keys/in-a?quorum=true", nil)
		return st == http.StatusOK
	})
	if st, _ := b.Do(t, http.MethodGet, "/v2/keys/in-b", nil); st != http.StatusNotFound {
		t.Errorf("b still serves its old key: %d", st)
	}
	if st, body := a.Do(t, http.MethodGet, "/v2/members", nil); st != http.StatusOK || strings.Count(body, `"id"`) != 2 {
		t.Errorf("a's members: %d %s", st, body)
	}
}

// -force on a first start, or on a member without -peers, keeps the
// data: the member restarts alone with its keys.
func TestForceAloneKeepsTheData(t *testing.T) {
	t.Parallel()
	m := servertest.NewCluster(t, 1).Members[0]
	if st, body := m.Do(t, http.MethodPut, "/v2/keys/kept", url.Values{"value": {"1"}}); st != http.StatusCreated {
		t.Fatalf("PUT: %d %s", st, body)
	}
	m.RestartWith(t, func(cfg *server.Config) { cfg.Force = true })
	if st, body := m.Do(t, http.MethodGet, "/v2/keys/kept", nil); st != http.StatusOK {
		t.Errorf("after -force: %d %s", st, body)
	}
	if st, body := m.Do(t, http.MethodPut, "/v2/keys/after", url.Values{"value": {"1"}}); st != http.StatusCreated {
		t.Errorf("write after -force: %d %s", st, body)
	}
}
