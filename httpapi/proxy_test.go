package httpapi

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// With --redirect a follower answers a v2 write with etcd 0.4's 307 to the
// leader's client URL, path and query kept, and no body; reads are still
// served locally.
func TestRedirectV2(t *testing.T) {
	t.Parallel()
	s := newV1Server(t, v1Opts{redirect: true, node: func(n *stubNode) Node { return &followerNode{stubNode: n, leader: 0x1234} }})
	r := s.do(t, "PUT", "/v2/keys/a?prevExist=false", "value=1")
	if r.status != 307 || r.header.Get("Location") != "http://127.0.0.1:2379/v2/keys/a?prevExist=false" || r.body != "" {
		t.Errorf("write on a follower: %d %q %q", r.status, r.header.Get("Location"), r.body)
	}
	if r := s.do(t, "GET", "/v2/keys/a", ""); r.status != 404 {
		t.Errorf("read on a follower: %d, want it served locally (404)", r.status)
	}
	// Form errors come first, as in etcd.
	if r := s.do(t, "PUT", "/v2/keys/a?ttl=x", ""); r.status != 400 {
		t.Errorf("bad ttl on a follower: %d", r.status)
	}
}

// The proxy passes requests to a member, skips members that are down,
// streams watches, and refuses writes in readonly mode.
func TestProxy(t *testing.T) {
	t.Parallel()
	member := newStubServer(t)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	p := NewProxy(ProxyConfig{Endpoints: func() []string { return []string{downURL, member.URL} }})
	front := httptest.NewServer(p)
	defer front.Close()
	fs := &stubServer{Server: front}
	for i := 0; i < 4; i++ { // every rotation lands on the live member
		r := fs.do(t, "PUT", "/v2/keys/p?x=1", "value=v")
		if r.status != 201 && r.status != 200 {
			t.Fatalf("write through the proxy: %d %s", r.status, r.body)
		}
		if r.header.Get("X-Etcd-Index") == "" {
			t.Error("member headers not passed through")
		}
	}
	// A watch streams through: headers first, then the event.
	req, _ := http.NewRequest("GET", front.URL+"/v2/keys/p?wait=true", nil)
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("watch through the proxy: %d", resp.StatusCode)
	}
	go func() {
		time.Sleep(50 * time.Millisecond) // the gap the watch is about
		member.do(t, "PUT", "/v2/keys/p", "value=w")
	}()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, `"value":"w"`) {
		t.Errorf("watch event through the proxy: %q %v", line, err)
	}

	ro := httptest.NewServer(NewProxy(ProxyConfig{Endpoints: func() []string { return []string{member.URL} }, ReadOnly: true}))
	defer ro.Close()
	rs := &stubServer{Server: ro}
	if r := rs.do(t, "PUT", "/v2/keys/p", "value=x"); r.status != 501 {
		t.Errorf("write through a readonly proxy: %d", r.status)
	}
	if r := rs.do(t, "GET", "/v2/keys/p", ""); r.status != 200 {
		t.Errorf("read through a readonly proxy: %d", r.status)
	}
	none := httptest.NewServer(NewProxy(ProxyConfig{Endpoints: func() []string { return []string{downURL} }}))
	defer none.Close()
	resp2, err := testClient.Get(none.URL + "/v2/keys/p")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	if resp2.StatusCode != 502 {
		t.Errorf("no member reachable: %d %s", resp2.StatusCode, b)
	}
}
