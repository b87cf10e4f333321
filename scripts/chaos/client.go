package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// v2Node is a node of a v2 keys answer.
type v2Node struct {
	Key           string    `json:"key"`
	Value         *string   `json:"value"`
	Dir           bool      `json:"dir"`
	Nodes         []*v2Node `json:"nodes"`
	ModifiedIndex uint64    `json:"modifiedIndex"`
	CreatedIndex  uint64    `json:"createdIndex"`
}

// v2Answer is a v2 keys answer: an event or an etcd error.
type v2Answer struct {
	Action    string  `json:"action"`
	Node      *v2Node `json:"node"`
	PrevNode  *v2Node `json:"prevNode"`
	ErrorCode int     `json:"errorCode"`
	Message   string  `json:"message"`
	Cause     string  `json:"cause"`
	Index     uint64  `json:"index"`
	// EtcdIndex is the X-Etcd-Index header: the answering member's store
	// index (for a read) or the index after the write.
	EtcdIndex uint64 `json:"-"`
}

// verdict is how the client must treat an answer.
type verdict int

const (
	// answered: a success, or one of etcd's errors that say nothing
	// changed (the answer's code is the operation's output).
	answered verdict = iota
	// notApplied: the request certainly changed nothing, and the answer
	// says nothing about the state: the connection was refused, or the
	// member answered "no leader" (raftfsm.ErrNoLeader: returned only
	// before anything was proposed; a member that broke that promise
	// would show up as a lost or resurrected write).
	notApplied
	// unknown: the request may or may not have been applied (a timeout,
	// a connection lost after sending, any other error 300 or 5xx).
	unknown
	// unexpected: an etcd error this workload never provokes (a form
	// error, say): the harness or the server is wrong.
	unexpected
)

// apiClient talks to members' client APIs. Every request has a deadline
// (-client-timeout, 10 s by default: longer than the server's own request
// timeout of 7 s, so that the server's answers are what clients see, and
// longer than a pause, so that the requests queued at a paused leader are
// answered when it resumes — the moment a deposed leader that still
// believes it leads would answer from a stale state).
type apiClient struct {
	http *http.Client
}

func newAPIClient(timeout time.Duration) *apiClient {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	return &apiClient{http: &http.Client{Transport: tr, Timeout: timeout}}
}

// do sends one keys request and classifies the outcome. For reads, every
// verdict but answered means "no information".
func (c *apiClient) do(ctx context.Context, method, base, path string, query, form url.Values) (*v2Answer, verdict, error) {
	u := base + "/v2/keys" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, unexpected, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if refused(err) {
			return nil, notApplied, err
		}
		return nil, unknown, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, unknown, err
	}
	var ans v2Answer
	if err := json.Unmarshal(b, &ans); err != nil {
		if resp.StatusCode >= 500 {
			return nil, unknown, errors.New(resp.Status + ": " + strings.TrimSpace(string(b)))
		}
		return nil, unexpected, errors.New(resp.Status + ": " + strings.TrimSpace(string(b)))
	}
	ans.EtcdIndex, _ = strconv.ParseUint(resp.Header.Get("X-Etcd-Index"), 10, 64)
	return &ans, classify(resp.StatusCode, &ans), nil
}

// classify judges an answer that arrived.
func classify(status int, ans *v2Answer) verdict {
	switch {
	case ans.ErrorCode == 0 && status < 300:
		return answered
	case ans.ErrorCode == 100 || ans.ErrorCode == 101 || ans.ErrorCode == 105:
		return answered
	case ans.ErrorCode == 300 && ans.Cause == "etcdserver: no leader":
		return notApplied
	case ans.ErrorCode >= 300 && ans.ErrorCode < 400, status >= 500:
		return unknown
	}
	return unexpected
}

// refused reports whether a request failed before anything was sent:
// the dial failed (a killed member's port is closed).
func refused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// answerErr is a short description of a failed request for reports.
func answerErr(ans *v2Answer, err error) string {
	if err != nil {
		return err.Error()
	}
	if ans == nil {
		return "no answer"
	}
	return strconv.Itoa(ans.ErrorCode) + " " + ans.Message + " " + ans.Cause
}

// flatten lists the leaf nodes under n (recursively), by key.
func flatten(n *v2Node, into map[string]*v2Node) {
	if n == nil {
		return
	}
	if !n.Dir {
		into[n.Key] = n
		return
	}
	for _, c := range n.Nodes {
		flatten(c, into)
	}
}
