package httpapi

import (
	"fmt"
	"net"
	"net/http"

	"github.com/sirupsen/logrus"
)

// hostWhitelist is etcd 3.4's --host-whitelist: the host names a request
// over plain HTTP may carry in its Host header. A nil set allows every
// host.
type hostWhitelist map[string]struct{}

// newHostWhitelist builds the set. As in etcd 3.4, an empty list or one
// containing "*" allows every host (nil). Entries are compared exactly
// with the Host header's host part: no port, no case folding.
func newHostWhitelist(hosts []string) hostWhitelist {
	if len(hosts) == 0 {
		return nil
	}
	w := hostWhitelist{}
	for _, h := range hosts {
		if h == "*" {
			return nil
		}
		w[h] = struct{}{}
	}
	return w
}

// allows reports whether host may be served.
func (w hostWhitelist) allows(host string) bool {
	if w == nil {
		return true
	}
	_, ok := w[host]
	return ok
}

// checkHost refuses, before anything else runs, plain-HTTP requests whose
// Host header names a host outside the whitelist, against DNS rebinding
// (CVE-2018-5702). Requests that came over TLS are not checked: as etcd
// 3.4 says, "Enable TLS, then any HTTPS request will be allowed".
func (a *API) checkHost(next http.Handler) http.Handler {
	w := newHostWhitelist(a.cfg.HostWhitelist)
	if w == nil {
		return next
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			next.ServeHTTP(rw, r)
			return
		}
		host := requestHostname(r)
		if w.allows(host) {
			next.ServeHTTP(rw, r)
			return
		}
		a.log.WithFields(logrus.Fields{"host": host, "remote": r.RemoteAddr}).
			Warn("rejecting HTTP request to prevent DNS rebinding attacks")
		// etcd 3.4.23 answers with http.Error: 421, text/plain,
		// X-Content-Type-Options: nosniff, and this text.
		http.Error(rw, unknownHostText(host), http.StatusMisdirectedRequest)
	})
}

// requestHostname is the Host header without its port, or the whole
// header when it has none (etcd's httputil.GetHostname).
func requestHostname(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		return r.Host
	}
	return h
}

// unknownHostText is etcd 3.4's body for a refused Host header, word for
// word (curl -H 'Host: evil.example' against etcd 3.4.23 --host-whitelist
// localhost).
func unknownHostText(host string) string {
	return "\netcd received your request, but the Host header was unrecognized.\n\n" +
		"To fix this, choose one of the following options:\n" +
		"- Enable TLS, then any HTTPS request will be allowed.\n" +
		"- Add the hostname you want to use to the whitelist in settings.\n" +
		fmt.Sprintf("  - e.g. etcd --host-whitelist %q\n\n", host) +
		"This requirement has been added to help prevent \"DNS Rebinding\" attacks (CVE-2018-5702).\n"
}
