package httpapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/store"
)

// stubNode is a one-member "cluster" for handler tests: Propose applies
// the request to the real store at the stub's clock time, synchronously.
type stubNode struct {
	mu      sync.Mutex
	st      *store.Store
	now     time.Time
	raftIdx uint64
	leader  bool
	cluster *machines.Cluster
	failErr error // when set, Propose and ReadBarrier fail with it
}

func newStubNode(st *store.Store, now time.Time) *stubNode {
	c := machines.NewCluster()
	c.ID = 0xdc50b8daae93b3e0
	m := &machines.Member{ID: 0x1234, Name: "stub", PeerURLs: []string{"http://127.0.0.1:2380"}, ClientURLs: []string{"http://127.0.0.1:2379"}}
	_ = c.Add(m)
	return &stubNode{st: st, now: now, leader: true, cluster: c, raftIdx: 10}
}

func (n *stubNode) Propose(_ context.Context, r *store.Request) (*store.Event, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.failErr != nil {
		return nil, n.failErr
	}
	n.raftIdx++
	return n.st.Apply(r, n.now)
}

func (n *stubNode) ReadBarrier(context.Context) error { return n.failErr }
func (n *stubNode) WaitReady(context.Context) error   { return nil }
func (n *stubNode) ID() uint64                        { return 0x1234 }
func (n *stubNode) Name() string                      { return "stub" }
func (n *stubNode) ClusterID() uint64                 { return n.cluster.ID }
func (n *stubNode) IsLeader() bool                    { return n.leader }
func (n *stubNode) LeaderID() (uint64, bool)          { return 0x1234, n.leader }
func (n *stubNode) State() string                     { return "StateLeader" }
func (n *stubNode) Cluster() *machines.Cluster {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cluster.Clone()
}
func (n *stubNode) RaftTerm() uint64 { return 2 }

func (n *stubNode) AddMember(_ context.Context, peerURLs []string, learner bool) (*machines.Member, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := machines.ValidateURLs(peerURLs); err != nil {
		return nil, err
	}
	m := &machines.Member{ID: machines.NewMemberID(peerURLs, "", &n.now), PeerURLs: peerURLs, IsLearner: learner}
	if err := n.cluster.Add(m); err != nil {
		return nil, err
	}
	return m, nil
}

func (n *stubNode) RemoveMember(_ context.Context, id uint64) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, err := n.cluster.Remove(id)
	return err
}

func (n *stubNode) UpdateMember(_ context.Context, id uint64, peerURLs []string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := machines.ValidateURLs(peerURLs); err != nil {
		return err
	}
	return n.cluster.UpdatePeerURLs(id, peerURLs)
}

func (n *stubNode) PromoteMember(_ context.Context, id uint64) (*machines.Member, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	m, ok := n.cluster.Members[id]
	if !ok {
		return nil, machines.ErrIDNotFound
	}
	if !m.IsLearner {
		return nil, machines.ErrNotLearner
	}
	m.IsLearner = false
	return m.Clone(), nil
}

func (n *stubNode) LeaderStats() (map[uint64]machines.FollowerStats, bool) {
	if !n.leader {
		return nil, false
	}
	out := map[uint64]machines.FollowerStats{}
	for id := range n.cluster.Members {
		if id != n.ID() {
			out[id] = machines.FollowerStats{Current: 0.001, Average: 0.002, StdDev: 0.0005, Min: 0.001, Max: 0.004, Success: 10, Fail: 1}
		}
	}
	return out, true
}

func (n *stubNode) LeaderSince() time.Time { return stubTime }

func (n *stubNode) AppendStats() machines.AppendStats {
	return machines.AppendStats{RecvCount: 3, SendCount: 7, SendPkgRate: 2.5, SendBytesRate: 100}
}
func (n *stubNode) RaftIndex() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.raftIdx
}

// stubTime is the fixed clock of handler tests.
var stubTime = time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)

type stubServer struct {
	*httptest.Server
	api  *API
	node *stubNode
	st   *store.Store
}

func newStubServer(t testing.TB) *stubServer {
	t.Helper()
	st := store.New()
	node := newStubNode(st, stubTime)
	api := New(Config{Store: st, Node: node, Now: func() time.Time { return stubTime },
		ServerVersion: "2.3.8", ClusterVersion: "2.3.0", StartTime: stubTime})
	srv := httptest.NewServer(api)
	t.Cleanup(func() { api.Close(); srv.Close() })
	return &stubServer{Server: srv, api: api, node: node, st: st}
}

type resp struct {
	status int
	header http.Header
	body   string
}

// do sends a request like `curl -X method url -d body`.
func (s *stubServer) do(t *testing.T, method, path, body string) resp {
	t.Helper()
	ct := ""
	if body != "" {
		ct = "application/x-www-form-urlencoded"
	}
	return s.doJSON(t, method, path, ct, body)
}

// doJSON sends a request with the given content type ("" for none) and
// reads the whole answer; redirects are not followed.
func (s *stubServer) doJSON(t *testing.T, method, path, ct, body string) resp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	r, err := noRedirectClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return resp{status: r.StatusCode, header: r.Header, body: string(b)}
}
