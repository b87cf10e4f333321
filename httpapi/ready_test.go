package httpapi

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// notReadyNode is a member that has restarted and not caught up yet:
// WaitReady blocks until ready is closed.
type notReadyNode struct {
	*stubNode
	ready chan struct{}
}

func (n *notReadyNode) WaitReady(ctx context.Context) error {
	select {
	case <-n.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("raftfsm: no leader%w", store.NewError(store.EcodeRaftInternal, "etcdserver: no leader", 0))
	}
}

// Until the member is ready, every keys read and watch (v2 and v1, both
// v1 dialects) waits ReadyTimeout and answers error 300 — never the
// store's older state, even when it holds the key. Once ready, they are
// served.
//
//	curl http://127.0.0.1:2379/v2/keys/k   # member restarted without a quorum
func TestReadsWaitUntilReady(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, dialect, method, path, body string
		wantBody, readyBody               string // substrings of the answers before / after ready
	}{
		{"v2 get", "", "GET", "/v2/keys/k", "", `"errorCode":300`, `"value":"stale"`},
		{"v2 recursive get", "", "GET", "/v2/keys/?recursive=true", "", `"errorCode":300`, `"value":"stale"`},
		{"v2 watch", "", "GET", "/v2/keys/k?wait=true&waitIndex=1", "", `"errorCode":300`, `"value":"stale"`},
		{"v1 get", "", "GET", "/v1/keys/k", "", `"errorCode":300`, `"value":"stale"`},
		{"v1 watch", "", "POST", "/v1/watch/k", "index=1", `"errorCode":300`, `"value":"stale"`},
		{"v0.1 get", "0.1", "GET", "/v1/keys/k", "", `"errorCode":300`, `"value":"stale"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := store.New()
			if _, err := st.Apply(&store.Request{Method: store.MethodPut, Path: "/k", Value: "stale"}, stubTime); err != nil {
				t.Fatal(err)
			}
			node := &notReadyNode{stubNode: newStubNode(st, stubTime), ready: make(chan struct{})}
			api := New(Config{Store: st, Node: node, Now: func() time.Time { return stubTime },
				ReadyTimeout: 150 * time.Millisecond, V1Dialect: tc.dialect})
			srv := httptest.NewServer(api)
			t.Cleanup(func() { api.Close(); srv.Close() })
			s := &stubServer{Server: srv, api: api, node: node.stubNode, st: st}

			start := time.Now()
			r := s.do(t, tc.method, tc.path, tc.body)
			if took := time.Since(start); took < 150*time.Millisecond {
				t.Errorf("answered after %v, before ReadyTimeout", took)
			}
			if r.status != 500 || !strings.Contains(r.body, tc.wantBody) {
				t.Errorf("not ready: %d %s; want 500 with %s", r.status, r.body, tc.wantBody)
			}
			close(node.ready)
			r = s.do(t, tc.method, tc.path, tc.body)
			if r.status != 200 || !strings.Contains(r.body, tc.readyBody) {
				t.Errorf("ready: %d %s; want 200 with %s", r.status, r.body, tc.readyBody)
			}
		})
	}
}
