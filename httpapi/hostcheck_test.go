package httpapi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// evilExample421 is etcd 3.4.23's body, byte for byte:
//
//	etcd --enable-v2 --host-whitelist localhost ...
//	curl -s -H 'Host: evil.example:80' http://127.0.0.1:2379/v2/keys/
const evilExample421 = "\n" +
	"etcd received your request, but the Host header was unrecognized.\n" +
	"\n" +
	"To fix this, choose one of the following options:\n" +
	"- Enable TLS, then any HTTPS request will be allowed.\n" +
	"- Add the hostname you want to use to the whitelist in settings.\n" +
	"  - e.g. etcd --host-whitelist \"evil.example\"\n" +
	"\n" +
	"This requirement has been added to help prevent \"DNS Rebinding\" attacks (CVE-2018-5702).\n" +
	"\n"

// newHostServer serves a stub member with the given whitelist, over TLS
// when tlsOn is set.
func newHostServer(t *testing.T, whitelist []string, tlsOn bool) *httptest.Server {
	t.Helper()
	st := store.New()
	api := New(Config{Store: st, Node: newStubNode(st, stubTime), Now: func() time.Time { return stubTime },
		ServerVersion: "2.3.8", ClusterVersion: "2.3.0", StartTime: stubTime, HostWhitelist: whitelist})
	srv := httptest.NewUnstartedServer(api)
	if tlsOn {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() { api.Close(); srv.Close() })
	return srv
}

func TestHostWhitelist(t *testing.T) {
	tests := []struct {
		name      string
		whitelist []string
		tls       bool
		host      string // the Host header sent
		method    string // GET unless set
		want      int
	}{
		{"listed host with its port", []string{"localhost", "example.com"}, false, "localhost:2379", "", 200},
		{"listed host without a port", []string{"localhost", "example.com"}, false, "example.com", "", 200},
		{"unlisted host", []string{"localhost", "example.com"}, false, "evil.example:80", "", 421},
		{"case matters, as in etcd", []string{"localhost", "example.com"}, false, "EXAMPLE.com", "", 421},
		{"trailing dot is another name", []string{"example.com"}, false, "example.com.", "", 421},
		{"IP not listed", []string{"localhost"}, false, "127.0.0.1:2379", "", 421},
		{"IPv6 listed without brackets", []string{"::1"}, false, "[::1]:2379", "", 200},
		{"OPTIONS is checked before CORS", []string{"localhost"}, false, "evil.example", "OPTIONS", 421},
		{"HEAD is checked", []string{"localhost"}, false, "evil.example", "HEAD", 421},
		{"star allows all", []string{"localhost", "*"}, false, "evil.example", "", 200},
		{"empty list allows all", nil, false, "evil.example", "", 200},
		{"TLS is never checked", []string{"localhost"}, true, "evil.example", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newHostServer(t, tt.whitelist, tt.tls)
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			req, err := http.NewRequest(method, srv.URL+"/v2/keys/", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tt.host
			c := srv.Client()
			c.Timeout = 10 * time.Second
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("%s Host %q: status %d, want %d (body %q)", method, tt.host, resp.StatusCode, tt.want, body)
			}
			if tt.want != 421 {
				return
			}
			for h, want := range map[string]string{
				"Content-Type":                "text/plain; charset=utf-8",
				"X-Content-Type-Options":      "nosniff",
				"X-Etcd-Index":                "",
				"Access-Control-Allow-Origin": "",
			} {
				if got := resp.Header.Get(h); got != want {
					t.Errorf("header %s = %q, want %q", h, got, want)
				}
			}
			if tt.host == "evil.example:80" && string(body) != evilExample421 {
				t.Errorf("body:\ngot  %q\nwant %q", body, evilExample421)
			}
		})
	}
}

// An HTTP/1.0 request without a Host header has an empty host, which no
// whitelist lists (etcd 3.4 answers 421 too).
func TestHostWhitelistNoHostHeader(t *testing.T) {
	srv := newHostServer(t, []string{"localhost"}, false)
	conn, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(conn, "GET /version HTTP/1.0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 421 || !strings.Contains(string(body), `etcd --host-whitelist ""`) {
		t.Errorf("status %d body %q, want 421 naming the empty host", resp.StatusCode, body)
	}
}
