package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// This file is the small v2 keys client that both discovery protocols
// speak to the discovery service: a directory in any server of etcd's v2
// API (etcd 0.4, 2.x, 3.x with --enable-v2, etcd-classic, or
// discovery.etcd.io, which serves one token's directory at its own path).

// Limits of the discovery client.
const (
	// discoveryRequestTimeout bounds every request but a watch.
	discoveryRequestTimeout = 10 * time.Second
	// discoveryWatchTimeout ends a watch that saw nothing; the caller
	// lists the directory again and watches anew.
	discoveryWatchTimeout = 5 * time.Minute
	// maxDiscoveryBody bounds an answer of the discovery service: a
	// registration is a few hundred bytes, so this is thousands of them.
	maxDiscoveryBody = 4 << 20
	// maxDiscoveryBackoff caps the wait between attempts on an
	// unreachable service (etcd 2.x doubles it without a cap).
	maxDiscoveryBackoff = 32 * time.Second
)

// errUnreachable marks a failure worth retrying: the service did not
// answer, or answered a 5xx without an etcd error.
var errUnreachable = errors.New("discovery service unreachable")

// ErrDiscoveryBadEndpoint: the discovery URL answered something that is
// not etcd's v2 API (etcd 2.x's words).
var ErrDiscoveryBadEndpoint = errors.New("discovery: bad discovery endpoint")

// keysNode is a node of a v2 answer.
type keysNode struct {
	Key           string     `json:"key"`
	Value         string     `json:"value"`
	Dir           bool       `json:"dir"`
	Nodes         []keysNode `json:"nodes"`
	CreatedIndex  uint64     `json:"createdIndex"`
	ModifiedIndex uint64     `json:"modifiedIndex"`
}

// name is the last element of the node's key.
func (n keysNode) name() string { return path.Base(n.Key) }

// keysAnswer is a successful v2 answer and its X-Etcd-Index.
type keysAnswer struct {
	Action string   `json:"action"`
	Node   keysNode `json:"node"`
	index  uint64
}

// keysError is an etcd error answer ({"errorCode":105,...}).
type keysError struct {
	Code    int    `json:"errorCode"`
	Message string `json:"message"`
	Cause   string `json:"cause"`
}

func (e *keysError) Error() string {
	return fmt.Sprintf("%d: %s (%s)", e.Code, e.Message, e.Cause)
}

// keysCode is the etcd error code of err, or 0.
func keysCode(err error) int {
	var ke *keysError
	if errors.As(err, &ke) {
		return ke.Code
	}
	return 0
}

// etcd error codes the protocols act on.
const (
	codeKeyNotFound = 100
	codeNodeExist   = 105
)

// keysClient reaches one directory of a v2 keys API: the discovery URL.
// Its user and password, if any, go with every request as HTTP basic
// credentials.
type keysClient struct {
	dir   *url.URL // the discovery URL: scheme, user, host and the directory's path
	hc    *http.Client
	log   *logrus.Entry
	tries int // attempts on an unreachable service; 0: until the context ends
}

// newKeysClient parses the discovery URL and builds its client, through
// proxy (an HTTP proxy URL) when set.
func newKeysClient(discoveryURL, proxy string, log *logrus.Entry) (*keysClient, error) {
	u, err := url.Parse(discoveryURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--discovery %q: not an http or https URL", discoveryURL)
	}
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0, // a watch answers its headers with the event
		MaxIdleConnsPerHost:   2,
	}
	if proxy != "" {
		pu, err := parseProxyURL(proxy)
		if err != nil {
			return nil, err
		}
		tr.Proxy = http.ProxyURL(pu)
		log.WithField("proxy", pu.Redacted()).Info("discovery through an HTTP proxy")
	}
	return &keysClient{dir: u, hc: &http.Client{Transport: tr}, log: log}, nil
}

// parseProxyURL reads --discovery-proxy: a URL, or host:port as etcd
// 2.x accepts it (http:// is then assumed).
func parseProxyURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || !strings.HasPrefix(u.Scheme, "http") || u.Host == "" {
		if u2, err2 := url.Parse("http://" + s); err2 == nil && u2.Host != "" {
			return u2, nil
		}
		return nil, fmt.Errorf("--discovery-proxy %q: not a proxy address", s)
	}
	return u, nil
}

// String is the discovery URL without its password, for messages.
func (c *keysClient) String() string { return c.dir.Redacted() }

// close releases the client's idle connections.
func (c *keysClient) close() { c.hc.CloseIdleConnections() }

// keyURL is the URL of key ("" for the directory itself) under the
// discovery directory, with query q.
func (c *keysClient) keyURL(key string, q url.Values) *url.URL {
	u := *c.dir
	u.Path = path.Join("/", c.dir.Path, key)
	u.RawPath = ""
	u.RawQuery = q.Encode()
	return &u
}

// get reads key ("" for the directory).
func (c *keysClient) get(ctx context.Context, key string) (*keysAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, discoveryRequestTimeout)
	defer cancel()
	return nonEmpty(c.do(ctx, http.MethodGet, c.keyURL(key, nil).String(), nil))
}

// put writes key's value; q holds the conditions (prevExist) and ttl.
func (c *keysClient) put(ctx context.Context, key, value string, q url.Values) (*keysAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, discoveryRequestTimeout)
	defer cancel()
	return nonEmpty(c.do(ctx, http.MethodPut, c.keyURL(key, q).String(), url.Values{"value": {value}}))
}

// nonEmpty refuses an empty answer where a node is due.
func nonEmpty(a *keysAnswer, err error) (*keysAnswer, error) {
	if err == nil && a.Action == "" {
		return nil, fmt.Errorf("%w: an empty answer", ErrDiscoveryBadEndpoint)
	}
	return a, err
}

// watch waits for the next change in the directory from index on. It
// returns nil when the watch ended without one (discoveryWatchTimeout,
// or the service closed it); the caller lists the directory again.
func (c *keysClient) watch(ctx context.Context, index uint64) error {
	ctx, cancel := context.WithTimeout(ctx, discoveryWatchTimeout)
	defer cancel()
	q := url.Values{"wait": {"true"}, "recursive": {"true"}, "waitIndex": {strconv.FormatUint(index, 10)}}
	_, err := c.do(ctx, http.MethodGet, c.keyURL("", q).String(), nil)
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		return nil
	}
	return err
}

// do sends one request and decodes the answer: the node, an etcd error
// (*keysError), errUnreachable for what is worth retrying, or
// ErrDiscoveryBadEndpoint for an answer that is not etcd's.
func (c *keysClient) do(ctx context.Context, method, u string, form url.Values) (*keysAnswer, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUnreachable, redactErr(err, c.dir))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxDiscoveryBody+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %v", errUnreachable, redactErr(err, c.dir))
	case len(raw) > maxDiscoveryBody:
		return nil, fmt.Errorf("%w: an answer over %d bytes", ErrDiscoveryBadEndpoint, maxDiscoveryBody)
	}
	if resp.StatusCode >= 300 {
		ke := &keysError{}
		if json.Unmarshal(raw, ke) == nil && ke.Code != 0 {
			return nil, ke
		}
		if resp.StatusCode >= 500 {
			return nil, fmt.Errorf("%w: %s", errUnreachable, resp.Status)
		}
		return nil, fmt.Errorf("%w: %s %s answered %s", ErrDiscoveryBadEndpoint, method, c.dir.Redacted(), resp.Status)
	}
	a := &keysAnswer{}
	if len(raw) == 0 {
		// A watch the service ended without an event (etcd 2.x closes
		// long polls at shutdown): nothing happened. get and put refuse
		// it (nonEmpty).
		return a, nil
	}
	if err := json.Unmarshal(raw, a); err != nil || a.Action == "" {
		return nil, fmt.Errorf("%w: %s %s answered a body that is not etcd's", ErrDiscoveryBadEndpoint, method, c.dir.Redacted())
	}
	a.index, _ = strconv.ParseUint(resp.Header.Get("X-Etcd-Index"), 10, 64)
	return a, nil
}

// redactErr keeps the discovery URL's password out of a transport error.
func redactErr(err error, u *url.URL) string {
	msg := err.Error()
	if p, ok := u.User.Password(); ok && p != "" {
		msg = strings.ReplaceAll(msg, p, "xxxxx")
	}
	return msg
}

// retry runs f until it succeeds, fails with something other than
// errUnreachable, the context ends, or c.tries attempts were made; it
// waits 1 s, 2 s, 4 s... (at most maxDiscoveryBackoff) between attempts.
func (c *keysClient) retry(ctx context.Context, step string, f func() error) error {
	wait := time.Second
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || !errors.Is(err, errUnreachable) || (c.tries > 0 && attempt >= c.tries) {
			return err
		}
		c.log.WithFields(logrus.Fields{"step": step, "url": c.String(), "err": err, "retry_in": wait}).Warn("discovery: cannot reach the discovery service")
		if serr := sleepCtx(ctx, wait); serr != nil {
			return fmt.Errorf("%s: %w (last error: %v)", step, serr, err)
		}
		wait = min(2*wait, maxDiscoveryBackoff)
	}
}
