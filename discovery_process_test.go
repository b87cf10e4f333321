package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/certs/certstest"
	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/proctest"
	"github.com/etcd-classic/etcd-classic/server/servertest"
)

// etcdPath is the real etcd 3.4 of the machine; the tests that need it
// skip without it.
const etcdPath = "/usr/bin/etcd"

func needEtcd(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(etcdPath); err != nil {
		t.Skipf("etcd 3.4 is not installed at %s", etcdPath)
	}
}

// discoveryProc describes a member process of bin (etcd-classic or etcd)
// with the 2.x URL flags on fresh loopback ports, then extra; etcd gets
// --enable-v2. Its peer URL is peerScheme://peerHost:port (the listen
// URL is on 127.0.0.1).
func discoveryProc(t *testing.T, bin, name, peerScheme, peerHost string, extra ...string) *proctest.Member {
	t.Helper()
	cp, pp := freePort(t), freePort(t)
	m := &proctest.Member{Name: name, ClientURL: fmt.Sprintf("http://127.0.0.1:%d", cp),
		PeerURL: fmt.Sprintf("%s://%s:%d", peerScheme, peerHost, pp),
		DataDir: filepath.Join(t.TempDir(), name), Binary: bin, CleanEnv: true, T: t}
	if bin == etcdPath {
		m.Args = append(m.Args, "--enable-v2")
	}
	m.Args = append(m.Args, "--name", name, "--data-dir", m.DataDir,
		"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
		"--listen-peer-urls", fmt.Sprintf("%s://127.0.0.1:%d", peerScheme, pp), "--initial-advertise-peer-urls", m.PeerURL)
	m.Args = append(m.Args, extra...)
	return m
}

// discoveryService starts a one-member cluster of bin as the discovery
// service and returns its client URL and the path of a new token
// directory whose _config/size is size.
func discoveryService(t *testing.T, bin string, size int) (string, string) {
	t.Helper()
	svc := discoveryProc(t, bin, "svc", "http", "127.0.0.1")
	svc.Args = append(svc.Args, "--initial-cluster", "svc="+svc.PeerURL)
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := svc.WaitPath(ctx, "/v2/keys/"); err != nil {
		t.Fatal(err)
	}
	token := "/v2/keys/_etcd/registry/" + strings.ReplaceAll(t.Name(), "/", "-")
	if size > 0 {
		putForm(t, svc.ClientURL+token+"/_config/size", url.Values{"value": {fmt.Sprint(size)}})
	}
	return svc.ClientURL, token
}

func putForm(t *testing.T, u string, form url.Values) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("PUT %s: %s", u, resp.Status)
	}
}

// bootDiscovered starts the members at once and waits until they form
// one cluster: healthy, one leader, every member published.
func bootDiscovered(t *testing.T, members ...*proctest.Member) {
	t.Helper()
	for _, m := range members {
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
	}
	c := &proctest.Cluster{Members: members}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatalf("%v\n%s", err, c.Logs())
	}
}

// listedIDs are the member IDs a member lists, sorted.
func listedIDs(t *testing.T, m *proctest.Member) []string {
	t.Helper()
	var list struct{ Members []struct{ ID string } }
	if _, err := proctest.GetJSON(context.Background(), m.ClientURL+"/v2/members", &list); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, x := range list.Members {
		ids = append(ids, x.ID)
	}
	sort.Strings(ids)
	return ids
}

// registeredIDs are the keys registered in a 2.x token directory, sorted.
func registeredIDs(t *testing.T, tokenURL string) []string {
	t.Helper()
	var dir struct {
		Node struct{ Nodes []struct{ Key string } }
	}
	if _, err := proctest.GetJSON(context.Background(), tokenURL, &dir); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, n := range dir.Node.Nodes {
		ids = append(ids, path.Base(n.Key))
	}
	sort.Strings(ids)
	return ids
}

// sameIDs checks that every member lists the members of want.
func sameIDs(t *testing.T, want []string, members ...*proctest.Member) {
	t.Helper()
	if len(want) != len(members) {
		t.Fatalf("%d IDs %v for %d members", len(want), want, len(members))
	}
	for _, m := range members {
		if got := listedIDs(t, m); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s lists members %v, want %v", m.Name, got, want)
		}
	}
}

// Three etcd-classic members bootstrap through a discovery token on
// etcd-classic, reaching it only through --discovery-proxy (the URL's
// host does not resolve): they list the same three members, whose IDs
// are the keys they registered. A fourth member finds the cluster full:
// with --discovery-fallback=exit it stops with etcd's error; with the
// default fallback (proxy) it serves the cluster as a proxy.
func TestDiscoveryProcessByURL(t *testing.T) {
	t.Parallel()
	svcURL, token := discoveryService(t, binPath, 3)
	target, _ := url.Parse(svcURL)
	var proxied atomic.Int64
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Host != "discovery.invalid:2379" {
			http.Error(w, "not a proxy request for discovery.invalid:2379", http.StatusBadGateway)
			return
		}
		proxied.Add(1)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	durl := "http://discovery.invalid:2379" + token
	flags := []string{"--discovery", durl, "--discovery-proxy", proxy.URL}

	var members []*proctest.Member
	for i := 0; i < 3; i++ {
		members = append(members, discoveryProc(t, binPath, fmt.Sprintf("d%d", i), "http", "127.0.0.1", flags...))
	}
	bootDiscovered(t, members...)
	sameIDs(t, registeredIDs(t, svcURL+token), members...)
	if proxied.Load() == 0 {
		t.Error("no discovery request went through --discovery-proxy")
	}

	late := discoveryProc(t, binPath, "late", "http", "127.0.0.1", append(flags, "--discovery-fallback", "exit")...)
	if err := late.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-late.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("a fourth member with --discovery-fallback=exit did not stop")
	}
	if out := late.Output(); late.Proc.Err() == nil || !strings.Contains(out, "discovery: cluster is full: its 3 members have registered") {
		t.Errorf("fourth member: exit %v, output:\n%s", late.Proc.Err(), out)
	}

	px := discoveryProc(t, binPath, "px", "http", "127.0.0.1", flags...)
	if err := px.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := px.WaitUp(ctx); err != nil {
		t.Fatal(err)
	}
	putForm(t, px.ClientURL+"/v2/keys/through-the-proxy", url.Values{"value": {"yes"}})
	var got v2Resp
	if _, err := proctest.GetJSON(ctx, members[0].ClientURL+"/v2/keys/through-the-proxy?quorum=true", &got); err != nil || got.Node.Value != "yes" {
		t.Fatalf("a write through the fallback proxy: %+v %v", got, err)
	}
	if !strings.Contains(px.Output(), "falling back to proxy") {
		t.Errorf("the fifth member does not say it became a proxy:\n%s", px.Output())
	}
}

// etcd 3.4 and etcd-classic speak the same discovery protocol: three
// etcd-classic members bootstrap through a token on etcd 3.4, and three
// etcd 3.4 members through a token on etcd-classic.
func TestDiscoveryProcessWithEtcd(t *testing.T) {
	t.Parallel()
	needEtcd(t)
	for _, tc := range []struct{ name, service, members string }{
		{"etcd-classic members, etcd service", etcdPath, binPath},
		{"etcd members, etcd-classic service", binPath, etcdPath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			svcURL, token := discoveryService(t, tc.service, 3)
			var members []*proctest.Member
			for i := 0; i < 3; i++ {
				members = append(members, discoveryProc(t, tc.members, fmt.Sprintf("e%d", i), "http", "127.0.0.1", "--discovery", svcURL+token))
			}
			bootDiscovered(t, members...)
			sameIDs(t, registeredIDs(t, svcURL+token), members...)
		})
	}
}

// DNS discovery against a DNS server run by the test (the members ask it
// through ETCDCLASSIC_DNS_SERVER): three members whose peer URLs name
// localhost, found through _etcd-server._tcp records, and three with
// peer TLS through _etcd-server-ssl-<name>._tcp records
// (--discovery-srv-name). Every member derives the IDs from the records'
// URLs and the cluster token.
func TestDiscoveryProcessSRV(t *testing.T) {
	t.Parallel()
	dns := servertest.NewDNS(t)
	pki := certstest.NewSet(t)
	for _, tc := range []struct {
		name, scheme, service string
		extra                 []string
	}{
		{"plain", "http", "_etcd-server._tcp.plain.test", []string{"--discovery-srv", "plain.test"}},
		{"tls", "https", "_etcd-server-ssl-secure._tcp.tls.test", []string{"--discovery-srv", "tls.test", "--discovery-srv-name", "secure",
			"--peer-cert-file", pki.PeerCert, "--peer-key-file", pki.PeerKey, "--peer-trusted-ca-file", pki.CA.CertFile, "--peer-client-cert-auth"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var members []*proctest.Member
			var want []string
			for i := 0; i < 3; i++ {
				m := discoveryProc(t, binPath, fmt.Sprintf("s%d", i), tc.scheme, "localhost", append(tc.extra, "--initial-cluster-token", "srv-"+tc.name)...)
				m.Env = []string{"ETCDCLASSIC_DNS_SERVER=" + dns.Addr}
				u, _ := url.Parse(m.PeerURL)
				port, _ := strconv.ParseUint(u.Port(), 10, 16)
				dns.AddSRV(tc.service, "localhost.", uint16(port))
				want = append(want, machines.IDString(machines.NewMemberID([]string{m.PeerURL}, "srv-"+tc.name, nil)))
				members = append(members, m)
			}
			sort.Strings(want)
			bootDiscovered(t, members...)
			sameIDs(t, want, members...)
		})
	}
}

// The etcd 0.4 protocol, with 0.x flags: the machines register their
// names with a week's TTL, one claims _state and starts the cluster, the
// others join it.
func TestDiscoveryProcessLegacy(t *testing.T) {
	t.Parallel()
	svcURL, token := discoveryService(t, binPath, 0)
	var members []*proctest.Member
	for i := 0; i < 3; i++ {
		cp, pp := freePort(t), freePort(t)
		m := &proctest.Member{Name: fmt.Sprintf("g%d", i), ClientURL: fmt.Sprintf("http://127.0.0.1:%d", cp),
			DataDir: filepath.Join(t.TempDir(), "g"), Binary: binPath, CleanEnv: true, T: t}
		m.Args = []string{"-name", m.Name, "-data-dir", m.DataDir, "-addr", fmt.Sprintf("127.0.0.1:%d", cp),
			"-peer-addr", fmt.Sprintf("127.0.0.1:%d", pp), "-discovery", svcURL + token}
		members = append(members, m)
	}
	bootDiscovered(t, members...)
	var dir struct {
		Node struct {
			Nodes []struct {
				Key, Value string
				TTL        int64
			}
		}
	}
	if _, err := proctest.GetJSON(context.Background(), svcURL+token, &dir); err != nil {
		t.Fatal(err)
	}
	if len(dir.Node.Nodes) != 3 {
		t.Fatalf("registrations %+v, want 3", dir.Node.Nodes)
	}
	for _, n := range dir.Node.Nodes {
		if n.TTL < 604000 || !strings.HasPrefix(n.Value, "http://127.0.0.1:") {
			t.Errorf("registration %+v: want the peer URL with a week's TTL", n)
		}
	}
	var state v2Resp
	if _, err := proctest.GetJSON(context.Background(), svcURL+token+"/_state", &state); err != nil || state.Node.Value != "started" {
		t.Errorf("_state: %+v %v", state, err)
	}
	sameIDs(t, listedIDs(t, members[0]), members...)
}
