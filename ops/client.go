package ops

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// DefaultMaxResponseBytes bounds one response body when Endpoint leaves
// MaxResponseBytes zero: a directory listing larger than this is refused
// with an error that names the limit, never read into memory.
const DefaultMaxResponseBytes = 256 << 20

// errBodyTooLarge is returned (wrapped) for a response past the limit.
var errBodyTooLarge = errors.New("response body exceeds the limit")

// Endpoint says how to reach one side of a copy: a base URL of a member
// serving /v2/keys, with optional TLS material and basic-auth credentials.
// The zero values mean: no client certificate, the system's trusted roots,
// no authentication, a 10 s timeout per request and
// DefaultMaxResponseBytes.
type Endpoint struct {
	// URL is the member's client URL, e.g. http://127.0.0.1:2379.
	URL string
	// CertFile and KeyFile are a PEM client certificate and its key; both
	// or neither.
	CertFile, KeyFile string
	// CAFile is a PEM bundle that replaces the system roots for verifying
	// the server.
	CAFile string
	// InsecureSkipVerify turns off server certificate verification.
	InsecureSkipVerify bool
	// Username and Password are sent as HTTP basic authentication, as
	// etcdctl --username user:password does, when Username is set.
	Username, Password string
	// Timeout bounds every request, body included.
	Timeout time.Duration
	// DialTimeout bounds connecting (0: net/http's default, 30 s).
	DialTimeout time.Duration
	// MaxResponseBytes bounds every response body.
	MaxResponseBytes int64
}

// client is a minimal /v2/keys client: listings one level deep, writes
// with a form, errors decoded into *store.Error. It is safe for
// concurrent use.
type client struct {
	base *url.URL
	hc   *http.Client
	ep   Endpoint
	max  int64
}

// newClient validates ep and builds its client.
func newClient(ep Endpoint) (*client, error) {
	u, err := url.Parse(strings.TrimRight(ep.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http:// or https:// URL", ep.URL)
	}
	if (ep.CertFile == "") != (ep.KeyFile == "") {
		return nil, errors.New("a client certificate needs both a certificate file and a key file")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	if ep.DialTimeout > 0 {
		tr.DialContext = (&net.Dialer{Timeout: ep.DialTimeout, KeepAlive: 30 * time.Second}).DialContext
	}
	if u.Scheme == "https" || ep.CertFile != "" || ep.CAFile != "" {
		cfg, err := clientTLS(ep)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = cfg
	}
	timeout := ep.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	max := ep.MaxResponseBytes
	if max <= 0 {
		max = DefaultMaxResponseBytes
	}
	return &client{base: u, hc: &http.Client{Transport: tr, Timeout: timeout}, ep: ep, max: max}, nil
}

// clientTLS builds the dialer's TLS configuration. It is built here
// rather than with certs.Info because a client may trust a CA without
// having a certificate of its own, which certs.Info (made for members)
// refuses.
func clientTLS(ep Endpoint) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: ep.InsecureSkipVerify}
	if ep.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(ep.CertFile, ep.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s: %w", ep.CertFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if ep.CAFile != "" {
		pem, err := os.ReadFile(ep.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", ep.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// keyURL is the /v2/keys URL of key with query q. Each segment is escaped
// on its own so that keys holding '?', '#', '%' or spaces survive.
func (c *client) keyURL(key string, q url.Values) string {
	u := *c.base
	segs := strings.Split(strings.Trim(key, "/"), "/")
	raw := make([]string, len(segs))
	for i, s := range segs {
		raw[i] = url.PathEscape(s)
	}
	u.Path = c.base.Path + "/v2/keys/" + strings.Trim(key, "/")
	u.RawPath = c.base.Path + "/v2/keys/" + strings.Join(raw, "/")
	u.RawQuery = q.Encode()
	return u.String()
}

// response is a decoded answer: the event (nil for an error) and the
// X-Etcd-Index header.
type response struct {
	event *store.Event
	index uint64
}

// do sends one request and decodes etcd's answer. An etcd error body
// comes back as a *store.Error (use errors.As); any other failure names
// the URL and, for a body that is not etcd's JSON, the status and the
// start of the body.
func (c *client) do(ctx context.Context, method, key string, q, form url.Values) (response, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, c.keyURL(key, q), body)
	if err != nil {
		return response{}, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.ep.Username != "" {
		req.SetBasicAuth(c.ep.Username, c.ep.Password)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.max+1))
	if err != nil {
		return response{}, fmt.Errorf("%s %s: reading the answer: %w", method, key, err)
	}
	if int64(len(b)) > c.max {
		return response{}, fmt.Errorf("%s %s: %w (%d bytes; raise --max-response-bytes)", method, key, errBodyTooLarge, c.max)
	}
	idx, _ := strconv.ParseUint(resp.Header.Get("X-Etcd-Index"), 10, 64)
	if resp.StatusCode >= 300 {
		var e store.Error
		if json.Unmarshal(b, &e) == nil && e.Code != 0 {
			return response{index: idx}, &e
		}
		return response{index: idx}, fmt.Errorf("%s %s: HTTP %d: %s%s", method, key, resp.StatusCode, snippet(b), hint(resp.StatusCode))
	}
	var ev store.Event
	if err := json.Unmarshal(b, &ev); err != nil || ev.Node == nil {
		return response{index: idx}, fmt.Errorf("%s %s: not an etcd v2 answer (HTTP %d): %s", method, key, resp.StatusCode, snippet(b))
	}
	return response{event: &ev, index: idx}, nil
}

// get lists key one level deep (or returns the key itself).
func (c *client) get(ctx context.Context, key string) (response, error) {
	return c.do(ctx, http.MethodGet, key, nil, nil)
}

// put writes key with form.
func (c *client) put(ctx context.Context, key string, form url.Values) (response, error) {
	return c.do(ctx, http.MethodPut, key, nil, form)
}

// hint explains the statuses an operator meets first.
func hint(status int) string {
	switch status {
	case http.StatusNotFound:
		return " (does the member serve the v2 API? etcd 3.4 needs --enable-v2)"
	case http.StatusUnauthorized:
		return " (credentials missing or wrong: --username user:password)"
	}
	return ""
}

// snippet is the start of a body, for error messages.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

// etcdCode returns the etcd error code of err, or 0.
func etcdCode(err error) int {
	var e *store.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}
