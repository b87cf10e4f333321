// Command bench is etcd-classic's load tool: it drives the v2 keys API of
// one or more members with many concurrent clients and reports
// throughput and latency. It works against any v2 server, so the same
// run can be made against etcd --enable-v2 for comparison.
//
//	go run ./scripts/bench -endpoints http://127.0.0.1:2379 -clients 256 -n 100000 -op put
//	go run ./scripts/bench -endpoints URL1,URL2,URL3 -clients 1 -rotate -duration 10s -op put
//	go run ./scripts/bench -endpoints URL1,URL2,URL3 -clients 16 -duration 10s -op lock
//
// The last line of a run is a summary for scripts: "result rate=<per s>
// p50_us=<µs> p99_us=<µs>", and for -op lock also "fairness=<Jain's index>".
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	endpoints := flag.String("endpoints", "http://127.0.0.1:2379", "comma-separated client URLs; clients are spread over them")
	clients := flag.Int("clients", 256, "concurrent clients")
	conns := flag.Int("conns", 0, "HTTP connections per endpoint (default: one per client)")
	total := flag.Int("n", 100000, "total requests")
	op := flag.String("op", "put", "put, get, qget (quorum=true get), lock (a TestAndSet lock: acquire, release, again; see lock.go) or watch (hold -n idle long-polls for -hold)")
	rotate := flag.Bool("rotate", false, "each request goes to the next endpoint in turn (default: each client keeps one endpoint)")
	duration := flag.Duration("duration", 0, "run for this long instead of -n requests")
	hold := flag.Duration("hold", 20*time.Second, "watch: how long the idle watches are held open")
	keys := flag.Int("keys", 100000, "key space size")
	valSize := flag.Int("val-size", 8, "value size in bytes")
	prefix := flag.String("prefix", "/bench", "key prefix")
	seq := flag.Bool("seq", false, "put: write keys 0..n-1 in order, each once (a load of n distinct keys), instead of random keys")
	caFile := flag.String("cacert", "", "CA bundle to verify https endpoints")
	certFile := flag.String("cert", "", "client certificate for https endpoints")
	keyFile := flag.String("key", "", "client key for https endpoints")
	flag.Parse()

	eps := strings.Split(*endpoints, ",")
	nconns := *conns
	if nconns == 0 {
		nconns = *clients
	}
	tr := &http.Transport{
		MaxIdleConnsPerHost: nconns, MaxConnsPerHost: nconns,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	}
	if *caFile != "" || *certFile != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if *caFile != "" {
			pem, err := os.ReadFile(*caFile)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			cfg.RootCAs = x509.NewCertPool()
			cfg.RootCAs.AppendCertsFromPEM(pem)
		}
		if *certFile != "" {
			pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		tr.TLSClientConfig = cfg
	}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	value := strings.Repeat("v", *valSize)

	if *op == "watch" {
		if err := idleWatches(eps, *total, *prefix, *hold); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if *op == "get" || *op == "qget" {
		// Make sure the keys read exist.
		fill := *keys
		if fill > 1000 {
			fill = 1000
		}
		*keys = fill
		for i := 0; i < fill; i++ {
			if err := do(client, "PUT", eps[0]+"/v2/keys"+*prefix+"/"+fmt.Sprint(i), url.Values{"value": {value}}); err != nil {
				fmt.Fprintln(os.Stderr, "fill:", err)
				os.Exit(1)
			}
		}
	}

	if *op == "lock" {
		if err := lockRun(client, eps, *clients, *prefix, *duration); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	l := load{client: client, eps: eps, op: *op, total: int64(*total), keys: *keys, value: value,
		prefix: *prefix, seq: *seq, rotate: *rotate}
	if *duration > 0 {
		l.deadline = time.Now().Add(*duration)
		l.total = 1 << 62
	}
	all, failed, elapsed := l.run(*clients)
	fmt.Printf("op=%s clients=%d endpoints=%d requests=%d failed=%d\n", *op, *clients, len(eps), len(all), failed)
	report(all, elapsed)
	if failed > 0 {
		os.Exit(1)
	}
}

// load is one run of put, get or qget requests.
type load struct {
	client   *http.Client
	eps      []string
	op       string
	total    int64     // requests in all
	deadline time.Time // zero: until total
	keys     int
	value    string
	prefix   string
	seq      bool
	rotate   bool
}

// run runs the load with n clients and returns every latency, sorted,
// the number of failed requests and the time it took.
func (l *load) run(n int) ([]time.Duration, int64, time.Duration) {
	var next, failed atomic.Int64
	lat := make([][]time.Duration, n)
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < n; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(c)))
			for {
				i := next.Add(1)
				if i > l.total || (!l.deadline.IsZero() && time.Now().After(l.deadline)) {
					break
				}
				ep := l.eps[c%len(l.eps)]
				if l.rotate {
					ep = l.eps[int(i)%len(l.eps)]
				}
				k := r.Intn(l.keys)
				if l.seq {
					k = int(i - 1)
				}
				t0 := time.Now()
				if err := l.one(ep + "/v2/keys" + l.prefix + "/" + fmt.Sprint(k)); err != nil {
					failed.Add(1)
					continue
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return all, failed.Load(), elapsed
}

// one sends one request of the load's op to key (a full URL).
func (l *load) one(key string) error {
	switch l.op {
	case "put":
		return do(l.client, "PUT", key, url.Values{"value": {l.value}})
	case "get":
		return do(l.client, "GET", key, nil)
	case "qget":
		return do(l.client, "GET", key+"?quorum=true", nil)
	}
	fmt.Fprintln(os.Stderr, "unknown -op", l.op)
	os.Exit(2)
	return nil
}

// report prints throughput and latency of sorted latencies over elapsed,
// then the summary line.
func report(all []time.Duration, elapsed time.Duration) {
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[int(p*float64(len(all)-1))]
	}
	rate := float64(len(all)) / elapsed.Seconds()
	fmt.Printf("elapsed=%.2fs throughput=%.0f req/s\n", elapsed.Seconds(), rate)
	fmt.Printf("latency p50=%v p90=%v p99=%v max=%v\n", pct(0.5).Round(time.Microsecond), pct(0.9).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), pct(1).Round(time.Microsecond))
	fmt.Printf("result rate=%.1f p50_us=%d p99_us=%d\n", rate, pct(0.5).Microseconds(), pct(0.99).Microseconds())
}

func do(c *http.Client, method, u string, form url.Values) error {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(context.Background(), method, u, body)
	if err != nil {
		return err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s", method, u, resp.Status)
	}
	return nil
}

// idleWatches opens n v2 long-polls (GET ?wait=true, one raw connection
// each, spread over the endpoints, each on its own key), waits until
// every one has its response headers (the watch is registered), prints a
// line, holds them for hold and closes them.
func idleWatches(eps []string, n int, prefix string, hold time.Duration) error {
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	start := time.Now()
	for i := 0; i < n; i++ {
		u, err := url.Parse(eps[i%len(eps)])
		if err != nil {
			return err
		}
		c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
		if err != nil {
			return fmt.Errorf("watch %d: %w", i, err)
		}
		conns = append(conns, c)
		req := fmt.Sprintf("GET /v2/keys%s/w%d?wait=true HTTP/1.1\r\nHost: %s\r\n\r\n", prefix, i, u.Host)
		if _, err := c.Write([]byte(req)); err != nil {
			return fmt.Errorf("watch %d: %w", i, err)
		}
	}
	buf := make([]byte, 4096)
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		got := ""
		for !strings.Contains(got, "\r\n\r\n") {
			m, err := c.Read(buf)
			if err != nil {
				return fmt.Errorf("watch %d: no response headers: %w", i, err)
			}
			got += string(buf[:m])
		}
		if !strings.HasPrefix(got, "HTTP/1.1 200") {
			return fmt.Errorf("watch %d: %s", i, strings.SplitN(got, "\r\n", 2)[0])
		}
	}
	fmt.Printf("watches=%d open after %.2fs, holding %v\n", n, time.Since(start).Seconds(), hold)
	time.Sleep(hold)
	return nil
}
