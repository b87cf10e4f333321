package httpapi

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkPutHTTP measures the HTTP layer of a write (parsing, routing,
// rendering) over a real loopback connection, with the stub node applying
// writes to a real store: the server side of a PUT minus raft.
func BenchmarkPutHTTP(b *testing.B) {
	s := newStubServer(b)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	next := make(chan int, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				body := url.Values{"value": {"value"}}.Encode()
				req, _ := http.NewRequest("PUT", s.URL+"/v2/keys/b/"+strconv.Itoa(i%1000), strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				r, err := c.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, r.Body)
				r.Body.Close()
			}
		}()
	}
	for i := 0; i < b.N; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}
