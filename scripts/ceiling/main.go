// Command ceiling measures how many HTTP requests per second this machine
// can serve at all, to put the cluster benchmarks in proportion: it
// answers every request with a fixed response shaped like a v2 PUT's
// (the same headers, a 207-byte JSON body) and does nothing else — no
// raft, no store, no disk. scripts/bench-ceiling.sh drives it with wrk
// exactly as bench-wrk.sh drives a cluster; docs/benchmarks.md has the
// figures.
//
//	-mode nethttp   Go's net/http server (what etcd-classic and etcd use)
//	-mode raw       a bare loop per connection: read the request line and
//	                headers, skip the body, write the canned response; no
//	                allocation per request — the floor for any Go server
//
// It prints the URL it listens on as its first line.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

var body = []byte(`{"action":"set","node":{"key":"/bench/12345","value":"vvvvvvvv","modifiedIndex":123456,"createdIndex":123456},"prevNode":{"key":"/bench/12345","value":"vvvvvvvv","modifiedIndex":23456,"createdIndex":23456}}` + "\n")

func main() {
	mode := flag.String("mode", "nethttp", "nethttp or raw")
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("http://%s\n", ln.Addr())
	switch *mode {
	case "nethttp":
		err = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			h := w.Header()
			h.Set("Content-Type", "application/json")
			h.Set("X-Etcd-Cluster-Id", "cdf818194e3a8c32")
			h.Set("X-Etcd-Index", "123456")
			h.Set("X-Raft-Index", "123456")
			h.Set("X-Raft-Term", "2")
			_, _ = w.Write(body)
		}))
	case "raw":
		err = serveRaw(ln)
	default:
		err = fmt.Errorf("unknown -mode %q", *mode)
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func serveRaw(ln net.Listener) error {
	date := time.Now().UTC().Format(http.TimeFormat)
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: " + date +
		"\r\nX-Etcd-Cluster-Id: cdf818194e3a8c32\r\nX-Etcd-Index: 123456\r\nX-Raft-Index: 123456\r\nX-Raft-Term: 2\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n")
	resp = append(resp, body...)
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			br := bufio.NewReaderSize(c, 4096)
			for {
				length := 0
				for first := true; ; first = false {
					line, err := br.ReadSlice('\n')
					if err != nil {
						return
					}
					line = bytes.TrimRight(line, "\r\n")
					if len(line) == 0 {
						if first {
							continue
						}
						break
					}
					if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
						length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
					}
				}
				if _, err := br.Discard(length); err != nil {
					return
				}
				if _, err := c.Write(resp); err != nil {
					return
				}
			}
		}()
	}
}
