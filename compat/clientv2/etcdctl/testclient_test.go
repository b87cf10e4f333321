package etcdctl

import (
	"net/http"
	"time"
)

// testClient is the plain HTTP client of these tests: every request has a
// deadline, so a server that stops answering fails the test instead of
// hanging it.
var testClient = &http.Client{Timeout: 30 * time.Second}
