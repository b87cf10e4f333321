package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawExchange sends req over a fresh connection to the client URL and
// returns the status line of the answer ("" if the connection closed
// without one).
func rawExchange(t *testing.T, client, req string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(client, "http://"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	// The request may be refused before it is all read: write it on the
	// side and read the answer.
	go func() { _, _ = io.WriteString(c, req) }()
	b, _ := io.ReadAll(c)
	status, _, _ := strings.Cut(string(b), "\r\n")
	return status
}

// shortClient makes one request on its own connection, bounded by d.
func shortClient(d time.Duration) *http.Client {
	return &http.Client{Timeout: d, Transport: &http.Transport{DisableKeepAlives: true}}
}

func etcdIndex(t *testing.T, client string) string {
	t.Helper()
	r, err := shortClient(10 * time.Second).Get(client + "/v2/keys/")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	return r.Header.Get("X-Etcd-Index")
}

// TestPoisonKeyProcess: the poison pills of issue 17 — PUTs of keys
// 40,000 and 60,000 levels deep, 80 and 120 KB URLs, which took 1.6 GB or
// ran every member out of memory, again at each restart — are refused
// before anything is proposed; the deepest key that fits the request line
// is stored; and the member, killed and restarted, starts and serves it.
func TestPoisonKeyProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	dataDir := t.TempDir()
	client, args := singleMemberArgs(t, dataDir)
	p := startProc(t, client, dataDir, args...)
	form := "\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\nConnection: close\r\n\r\nvalue=x"
	put := func(key string) string { return "PUT /v2/keys" + key + " HTTP/1.1" + form }
	before := etcdIndex(t, client)

	// One byte over etcd's request line limit: 414.
	over := "/" + strings.Repeat("k", 4094-len("PUT /v2/keys/ HTTP/1.1")+1)
	if got := rawExchange(t, client, put(over)); got != "HTTP/1.1 414 Request URI Too Long" {
		t.Fatalf("request line of 4095 bytes: %q, want 414", got)
	}
	// Past the 64 KiB header limit Go itself answers 431.
	for _, depth := range []int{40000, 60000} {
		if got := rawExchange(t, client, put(strings.Repeat("/a", depth))); got != "HTTP/1.1 431 Request Header Fields Too Large" {
			t.Fatalf("key %d levels deep: %q, want 431", depth, got)
		}
	}
	if after := etcdIndex(t, client); after != before {
		t.Fatalf("refused writes moved the index from %s to %s", before, after)
	}
	deep := strings.Repeat("/a", (4094-len("PUT /v2/keys HTTP/1.1"))/2)
	if got := rawExchange(t, client, put(deep)); got != "HTTP/1.1 201 Created" {
		t.Fatalf("deepest key that fits: %q, want 201", got)
	}

	p.kill()
	p.start()
	r, err := shortClient(10 * time.Second).Get(client + "/v2/keys" + deep)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !strings.Contains(string(b), `"value":"x"`) {
		t.Fatalf("deep key after restart: %d %.200s", r.StatusCode, b)
	}
}

// TestClientConnCap: with --max-client-conns 2, two open watches take
// every slot; a third client is not served until one of them ends.
func TestClientConnCap(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	dataDir := t.TempDir()
	client, args := singleMemberArgs(t, dataDir)
	startProc(t, client, dataDir, append(args, "--max-client-conns", "2")...)
	// startProc's probes may leave a kept-alive connection holding a slot.
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()

	var cancels []context.CancelFunc
	for i := 0; i < 2; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		cancels = append(cancels, cancel)
		req, _ := http.NewRequestWithContext(ctx, "GET", client+"/v2/keys/w?wait=true", nil)
		r, err := shortClient(0).Do(req) // returns once the headers are flushed
		if err != nil {
			t.Fatalf("watch %d: %v", i, err)
		}
		t.Cleanup(func() { r.Body.Close() })
	}
	// The gap this test is about: a third connection is not served while
	// both slots are held.
	if r, err := shortClient(time.Second).Get(client + "/version"); err == nil {
		r.Body.Close()
		t.Fatalf("a third connection was served (%d) with both slots held", r.StatusCode)
	}
	cancels[0]()
	waitFor(t, "a slot freed by the ended watch", func() bool {
		r, err := shortClient(2 * time.Second).Get(client + "/version")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})
}
