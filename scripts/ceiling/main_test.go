package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"
)

// The bare loop must frame requests correctly (bodies skipped by their
// Content-Length) or its figures would not be of HTTP at all.
func TestRawLoopAnswersEveryKeepAliveRequest(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { _ = serveRaw(ln) }()

	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}, Timeout: 30 * time.Second}
	url := "http://" + ln.Addr().String() + "/v2/keys/bench/1"
	newConns := 0
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if !i.Reused {
			newConns++
		}
	}}
	for i := 0; i < 20; i++ {
		method, payload := http.MethodGet, ""
		if i%2 == 0 {
			method, payload = http.MethodPut, "value="+strings.Repeat("v", i*100)
		}
		req, _ := http.NewRequest(method, url, strings.NewReader(payload))
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
		if payload != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(got, body) || resp.Header.Get("X-Etcd-Index") != "123456" {
			t.Fatalf("request %d: %d %q %v", i, resp.StatusCode, got, resp.Header)
		}
	}
	if newConns != 1 {
		t.Fatalf("%d connections for 20 keep-alive requests, want 1", newConns)
	}
}
