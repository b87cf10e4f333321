package httpapi

import (
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// An idle v2 long-poll over HTTP costs its connection's goroutines, their
// stacks, net/http's buffers and the store's watcher: measured here with
// real connections on loopback (the clients' sockets, in this process
// too, are counted), checked against the bound docs/benchmarks.md gives
// for 10,000 idle watchers. About 28 KiB: net/http's buffers (4 KiB to
// read, 6 KiB to write), 10 KiB of stacks for the connection's two
// goroutines, the request; the store's own part is 0.5 KiB.
func TestMemoryPerIdleHTTPWatch(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector inflates memory")
	}
	if testing.Short() {
		t.Skip("opens 1,000 connections")
	}
	const n = 1000
	s := newStubServer(t)
	addr := s.Listener.Addr().String()
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc + m.StackInuse
	}
	before := heap()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		req := "GET /v2/keys/w/" + strconv.Itoa(i) + "?wait=true HTTP/1.1\r\nHost: m\r\n\r\n"
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for s.st.WatcherCount() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d watches registered", s.st.WatcherCount(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	per := float64(heap()-before) / n
	t.Logf("%.0f bytes per idle HTTP watch (heap and stacks, both ends)", per)
	if per > 32<<10 {
		t.Errorf("%.0f bytes per idle HTTP watch, want at most 32 KiB", per)
	}
}
