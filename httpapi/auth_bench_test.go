package httpapi

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkAuth measures what v2 auth costs a request, end to end on one
// in-process member (raft and its fsync, HTTP over loopback), 16 clients
// at a time: PUT and GET with auth off, as the guest with auth on, and as
// a user with Basic credentials (remembered after the first bcrypt
// check). The goal is that "user" costs at most 10% more than "off".
//
//	go test -run '^$' -bench BenchmarkAuth -benchtime 5000x ./httpapi
func BenchmarkAuth(b *testing.B) {
	ms := startMembers(b, 1, nil, nil)
	u := ms[0].clientURL
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	b.Cleanup(tr.CloseIdleConnections)
	do := func(method, path, user, ct, body string) int {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, u+path, rd)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if user != "" {
			name, pw, _ := strings.Cut(user, ":")
			req.SetBasicAuth(name, pw)
		}
		r, err := c.Do(req)
		if err != nil {
			b.Error(err)
			return 0
		}
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
		return r.StatusCode
	}
	for i := 0; i < 100; i++ {
		do("PUT", "/v2/keys/b/"+strconv.Itoa(i), "", ctForm, "value=v")
	}
	enabled := false
	enable := func() {
		if enabled {
			return
		}
		enabled = true
		do("PUT", "/v2/auth/users/root", "", ctJSON, `{"user":"root","password":"rootpw"}`)
		do("PUT", "/v2/auth/roles/bench", "", ctJSON, `{"role":"bench","permissions":{"kv":{"read":["/b/*"],"write":["/b/*"]}}}`)
		do("PUT", "/v2/auth/users/u", "", ctJSON, `{"user":"u","password":"pw","roles":["bench"]}`)
		if st := do("PUT", "/v2/auth/enable", "", "", ""); st != 200 {
			b.Fatalf("enable: %d", st)
		}
	}
	run := func(b *testing.B, method, user string) {
		const clients = 16
		next := make(chan int, clients)
		var wg sync.WaitGroup
		if st := do(method, "/v2/keys/b/0", user, ctForm, map[string]string{"PUT": "value=v"}[method]); st/100 != 2 {
			b.Fatalf("%s as %q: %d", method, user, st)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for w := 0; w < clients; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					body := ""
					if method == "PUT" {
						body = "value=v"
					}
					if st := do(method, "/v2/keys/b/"+strconv.Itoa(i%100), user, ctForm, body); st/100 != 2 {
						b.Errorf("%s: %d", method, st)
						return
					}
				}
			}()
		}
		for i := 0; i < b.N; i++ {
			next <- i
		}
		close(next)
		wg.Wait()
	}
	for _, m := range []string{"GET", "PUT"} {
		b.Run(m+"/off", func(b *testing.B) { run(b, m, "") })
	}
	enable()
	for _, m := range []string{"GET", "PUT"} {
		b.Run(m+"/guest", func(b *testing.B) { run(b, m, "") })
		b.Run(m+"/user", func(b *testing.B) { run(b, m, "u:pw") })
	}
}
