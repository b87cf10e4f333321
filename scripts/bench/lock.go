package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// The TestAndSet lock of -op lock, as lock recipes over etcd's v2 API
// (python-etcd's, HA managers') do it: every client, on the endpoint it
// is given (clients are spread over the endpoints), loops
//
//	acquire: PUT <prefix>/lock?prevExist=false value=<client> ttl=30
//	         201: held. 412 (error 105, held by another): watch the key
//	         from the answer's index + 1 until it changes, then again.
//	release: DELETE <prefix>/lock?prevValue=<client>
//
// for the whole -duration, and counts its acquisitions. The summary adds
// Jain's fairness index over the clients' counts, (Σx)² / (n·Σx²): 1 when
// every client got the lock as often, 1/n when one got it every time.

// lockRun runs n lock clients over eps for d and prints the results.
func lockRun(c *http.Client, eps []string, n int, prefix string, d time.Duration) error {
	if d <= 0 {
		d = 10 * time.Second
	}
	key := prefix + "/lock"
	// A lock left by an earlier run would make every client wait 30 s.
	_ = do(c, "DELETE", eps[0]+"/v2/keys"+key, nil)
	counts := make([]int, n)
	lat := make([][]time.Duration, n)
	errs := make([]error, n)
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			counts[i], lat[i], errs[i] = lockClient(c, eps[i%len(eps)]+"/v2/keys"+key, fmt.Sprintf("client-%d", i), deadline)
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	fmt.Printf("op=lock clients=%d endpoints=%d acquisitions=%d per client %v\n", n, len(eps), len(all), counts)
	fmt.Printf("fairness (Jain's index over clients) %.3f\n", jain(counts))
	report(all, elapsed)
	fmt.Printf("result fairness=%.3f\n", jain(counts))
	return nil
}

// lockClient acquires and releases the lock at u (a key URL) as me until
// deadline; it returns its acquisitions and the time each took.
func lockClient(c *http.Client, u, me string, deadline time.Time) (int, []time.Duration, error) {
	var lat []time.Duration
	for time.Now().Before(deadline) {
		t0 := time.Now()
		held, err := acquire(c, u, me, deadline)
		if err != nil {
			return len(lat), lat, err
		}
		if !held {
			break // the run ended while this client waited
		}
		lat = append(lat, time.Since(t0))
		if err := do(c, "DELETE", u+"?prevValue="+url.QueryEscape(me), nil); err != nil {
			return len(lat), lat, fmt.Errorf("release: %w", err)
		}
	}
	return len(lat), lat, nil
}

// acquire tries until it holds the lock or deadline passes.
func acquire(c *http.Client, u, me string, deadline time.Time) (bool, error) {
	for time.Now().Before(deadline) {
		st, body, err := send(c, "PUT", u+"?prevExist=false", url.Values{"value": {me}, "ttl": {"30"}})
		if err != nil {
			return false, err
		}
		if st == http.StatusCreated {
			return true, nil
		}
		var e struct {
			ErrorCode int    `json:"errorCode"`
			Index     uint64 `json:"index"`
		}
		if st != http.StatusPreconditionFailed || json.Unmarshal(body, &e) != nil || e.ErrorCode != 105 {
			return false, fmt.Errorf("acquire: %d %s", st, body)
		}
		// Held: wait for the next change of the key (its release).
		st, body, err = send(c, "GET", fmt.Sprintf("%s?wait=true&waitIndex=%d", u, e.Index+1), nil)
		if err != nil {
			return false, err
		}
		if st != http.StatusOK {
			return false, fmt.Errorf("watch: %d %s", st, body)
		}
	}
	return false, nil
}

// send makes one request and returns the status and body.
func send(c *http.Client, method, u string, form url.Values) (int, []byte, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return 0, nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

// jain is Jain's fairness index of xs.
func jain(xs []int) float64 {
	var sum, sq float64
	for _, x := range xs {
		sum += float64(x)
		sq += float64(x) * float64(x)
	}
	if sq == 0 {
		return 0
	}
	return sum * sum / (float64(len(xs)) * sq)
}
