package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// A proxy whose cluster cannot be reached holds its clients for
// proxyReadyTimeout, then answers etcd 3.4's 503 (a proxy holds no data,
// so answering cannot show an old state).
//
//	curl http://127.0.0.1:2379/v2/keys/   # --proxy on, no member up
func TestProxyAnswersAfterItsBound(t *testing.T) {
	old := proxyReadyTimeout
	proxyReadyTimeout = 700 * time.Millisecond
	t.Cleanup(func() { proxyReadyTimeout = old })
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	dead.Close() // nobody answers there
	l := logrus.New()
	l.SetOutput(io.Discard)
	m, err := Start(Config{Name: "proxy", Proxy: ProxyOn, ListenClientURLs: []string{"http://127.0.0.1:0"},
		InitialCluster: []InitialMember{{Name: "m0", PeerURLs: []string{deadURL}}}, Log: logrus.NewEntry(l)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	start := time.Now()
	r, err := (&http.Client{Timeout: 30 * time.Second}).Get(m.ClientURLs()[0] + "/v2/keys/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	took := time.Since(start)
	if r.StatusCode != http.StatusServiceUnavailable || string(b) != `{"message":"httpproxy: zero endpoints currently available"}` {
		t.Errorf("proxy without a cluster: %d %s", r.StatusCode, b)
	}
	if took < 500*time.Millisecond {
		t.Errorf("answered after %v, before its bound", took)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := m.WaitReady(ctx); err != nil {
		t.Errorf("WaitReady once it answers: %v", err)
	}
}
