package main

import (
	"net/http"
	"time"
)

// testClient is the HTTP client of this package's tests: every request
// has a deadline, so a member that stops answering fails the test instead
// of hanging it. Long polls that must outlive it use their own context.
var testClient = &http.Client{Timeout: 30 * time.Second}
