package clientv2

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/v2"
)

// endpoints returns the cluster's client URLs from COMPAT_ENDPOINTS, or
// skips the test.
func endpoints(t *testing.T) []string {
	t.Helper()
	var eps []string
	for _, e := range strings.Split(os.Getenv("COMPAT_ENDPOINTS"), ",") {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	if len(eps) == 0 {
		t.Skip("COMPAT_ENDPOINTS is not set (see scripts/compat.sh)")
	}
	return eps
}

// newClient builds a client the way etcdctl does (2 s header timeout per
// request) and syncs its endpoint list from /v2/members, so that it then
// talks to whichever member it picks.
func newClient(t *testing.T) client.Client {
	t.Helper()
	c, err := client.New(client.Config{
		Endpoints:               endpoints(t),
		Transport:               client.DefaultTransport,
		HeaderTimeoutPerRequest: 2 * time.Second,
	})
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	if err := c.Sync(ctxT(t)); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return c
}

func newKeys(t *testing.T) client.KeysAPI {
	t.Helper()
	return client.NewKeysAPI(newClient(t))
}

// ctxT bounds one call: long enough for an election on a slow machine.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dir is a key prefix private to the test, so tests do not meet.
func dir(t *testing.T) string {
	return "/compat/" + strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
}

// mustSet writes key=value and fails the test on error.
func mustSet(t *testing.T, k client.KeysAPI, key, value string, opts *client.SetOptions) *client.Response {
	t.Helper()
	r, err := k.Set(ctxT(t), key, value, opts)
	if err != nil {
		t.Fatalf("Set(%q, %q, %+v): %v", key, value, opts, err)
	}
	return r
}

func mustGet(t *testing.T, k client.KeysAPI, key string, opts *client.GetOptions) *client.Response {
	t.Helper()
	r, err := k.Get(ctxT(t), key, opts)
	if err != nil {
		t.Fatalf("Get(%q, %+v): %v", key, opts, err)
	}
	return r
}

// wantCode checks that err is an etcd error answer with the given code
// and returns it.
func wantCode(t *testing.T, err error, code int) client.Error {
	t.Helper()
	var ce client.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v (%T), want client.Error with code %d", err, err, code)
	}
	if ce.Code != code {
		t.Fatalf("error code = %d (%v), want %d", ce.Code, ce, code)
	}
	return ce
}

// wantNode checks a response's action and its node's key and value.
func wantNode(t *testing.T, r *client.Response, action, key, value string) {
	t.Helper()
	if r.Action != action {
		t.Errorf("action = %q, want %q", r.Action, action)
	}
	if r.Node == nil {
		t.Fatalf("no node in %+v", r)
	}
	if r.Node.Key != key || r.Node.Value != value {
		t.Errorf("node = %q=%q, want %q=%q", r.Node.Key, r.Node.Value, key, value)
	}
}

// currentIndex returns the cluster's store index, read linearizably.
func currentIndex(t *testing.T, k client.KeysAPI) uint64 {
	t.Helper()
	r, err := k.Get(ctxT(t), "/", &client.GetOptions{Quorum: true})
	if err != nil {
		t.Fatalf("Get(/): %v", err)
	}
	return r.Index
}

// watchers sums the registered watchers of every member (etcd's
// /v2/stats/store "watchers").
func watchers(t *testing.T) int {
	t.Helper()
	n := 0
	for _, ep := range endpoints(t) {
		var st struct{ Watchers int }
		if err := getJSON(ctxT(t), ep+"/v2/stats/store", &st); err != nil {
			t.Fatalf("stats/store: %v", err)
		}
		n += st.Watchers
	}
	return n
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

func getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := testClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
