package httpapi

import (
	"net/http"
	"time"
)

// testClient is the HTTP client of this package's tests: every request,
// long polls included, has a deadline, so a handler that never answers
// fails its test instead of hanging the run.
var testClient = &http.Client{Timeout: 30 * time.Second}

// noRedirectClient is testClient for tests that look at redirects
// themselves.
var noRedirectClient = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}
