package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// fakeSnapshots hands out a fixed body, or an error.
type fakeSnapshots struct {
	body   string
	err    error
	opened int
	closed int
}

func (f *fakeSnapshots) OpenSnapshot(context.Context) (Snapshot, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.opened++
	return &fakeSnapshot{f: f}, nil
}

type fakeSnapshot struct{ f *fakeSnapshots }

func (s *fakeSnapshot) WriteTo(w io.Writer) (int64, error) {
	n, err := io.WriteString(w, s.f.body)
	return int64(n), err
}
func (s *fakeSnapshot) Close() error       { s.f.closed++; return nil }
func (s *fakeSnapshot) RaftIndex() uint64  { return 42 }
func (s *fakeSnapshot) RaftTerm() uint64   { return 3 }
func (s *fakeSnapshot) StoreIndex() uint64 { return 17 }
func (s *fakeSnapshot) Size() int64        { return int64(len(s.f.body)) }

// GET /etcd-classic/snapshot streams the file with its positions in the
// headers; HEAD sends the headers alone; other methods are 405; a failed
// snapshot is error 300; once auth is on only root may download it.
//
//	curl -o backup.snap http://127.0.0.1:2379/etcd-classic/snapshot
//	curl -u root:pw -o backup.snap http://127.0.0.1:2379/etcd-classic/snapshot
func TestSnapshotEndpoint(t *testing.T) {
	t.Parallel()
	st := store.New()
	node := newStubNode(st, stubTime)
	snaps := &fakeSnapshots{body: "ECLSNAP1 file bytes"}
	api := New(Config{Store: st, Node: node, Now: func() time.Time { return stubTime }, Snapshots: snaps,
		ServerVersion: "2.3.8", ClusterVersion: "2.3.0", StartTime: stubTime, BcryptCost: 4})
	srv := httptest.NewServer(api)
	t.Cleanup(func() { api.Close(); srv.Close() })
	s := &stubServer{Server: srv, api: api, node: node, st: st}

	r := s.do(t, http.MethodGet, SnapshotPath, "")
	if r.status != 200 || r.body != snaps.body {
		t.Fatalf("GET: %d %q", r.status, r.body)
	}
	for h, want := range map[string]string{"X-Etcd-Index": "17", "X-Raft-Index": "42", "X-Raft-Term": "3",
		"Content-Length": "19", "Content-Type": "application/octet-stream"} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if r := s.do(t, http.MethodHead, SnapshotPath, ""); r.status != 200 || r.body != "" || r.header.Get("X-Etcd-Index") != "17" {
		t.Errorf("HEAD: %d %q %v", r.status, r.body, r.header)
	}
	if r := s.do(t, http.MethodPut, SnapshotPath, ""); r.status != 405 || r.header.Get("Allow") != "GET,HEAD" {
		t.Errorf("PUT: %d %v", r.status, r.header)
	}
	if snaps.opened != 2 || snaps.closed != 2 {
		t.Errorf("opened %d closed %d snapshots, want 2 and 2", snaps.opened, snaps.closed)
	}

	// Auth on: root only.
	ctJSON := "application/json"
	for _, step := range []struct{ method, path, body string }{
		{"PUT", "/v2/auth/users/root", `{"user":"root","password":"pw"}`},
		{"PUT", "/v2/auth/users/alice", `{"user":"alice","password":"apw"}`},
		{"PUT", "/v2/auth/enable", ``},
	} {
		if r := s.doJSON(t, step.method, step.path, ctJSON, step.body); r.status >= 300 {
			t.Fatalf("%s %s: %d %s", step.method, step.path, r.status, r.body)
		}
	}
	get := func(user string) resp {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+SnapshotPath, nil)
		if name, pw, ok := strings.Cut(user, ":"); ok {
			req.SetBasicAuth(name, pw)
		}
		res, err := noRedirectClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return resp{status: res.StatusCode, header: res.Header, body: string(b)}
	}
	for _, user := range []string{"", "alice:apw", "root:wrong"} {
		if r := get(user); r.status != 401 || r.body != `{"message":"Insufficient credentials"}` {
			t.Errorf("as %q: %d %s, want 401", user, r.status, r.body)
		}
	}
	if r := get("root:pw"); r.status != 200 || r.body != snaps.body {
		t.Errorf("as root: %d %q", r.status, r.body)
	}

	snaps.err = errors.New("raftfsm: no snapshot to send")
	if r := get("root:pw"); r.status != 500 || !strings.Contains(r.body, `"errorCode":300`) {
		t.Errorf("failed snapshot: %d %s", r.status, r.body)
	}
}
