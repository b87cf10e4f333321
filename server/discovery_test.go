package server_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/server"
	"github.com/etcd-classic/etcd-classic/server/servertest"
)

// discoveryToken makes a token directory on a one-member etcd-classic
// cluster (the discovery service) with _config/size = size (none when
// size is 0) and returns its URL.
func discoveryToken(t *testing.T, size int) string {
	t.Helper()
	svc := servertest.NewCluster(t, 1).Members[0]
	dir := "/v2/keys/_etcd/registry/" + strings.ReplaceAll(t.Name(), "/", "-")
	if size > 0 {
		if st, body := svc.Do(t, http.MethodPut, dir+"/_config/size", url.Values{"value": {fmt.Sprint(size)}}); st != http.StatusCreated {
			t.Fatalf("PUT size: %d %s", st, body)
		}
	}
	return svc.ClientURL() + dir
}

// discoveryMember is the configuration of an in-process member that
// bootstraps by discovery: its peer port open on 127.0.0.1:0, fast raft
// timings, logs to the test.
func discoveryMember(t *testing.T, name string, set func(*server.Config)) server.Config {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := logrus.New()
	l.SetOutput(testLogWriter{t})
	cfg := server.Config{Name: name, DataDir: t.TempDir(), ListenClientURLs: []string{"http://127.0.0.1:0"},
		PeerListener: ln, ElectionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond,
		Log: logrus.NewEntry(l).WithField("member", name)}
	set(&cfg)
	return cfg
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startAll starts the members at once (each waits in discovery for the
// others) and returns them and their errors; started members stop when
// the test ends.
func startAll(t *testing.T, cfgs ...server.Config) ([]*server.Member, []error) {
	t.Helper()
	ms, errs := make([]*server.Member, len(cfgs)), make([]error, len(cfgs))
	var wg sync.WaitGroup
	for i := range cfgs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ms[i], errs[i] = server.Start(cfgs[i])
		}(i)
	}
	wg.Wait()
	for _, m := range ms {
		if m != nil {
			t.Cleanup(m.Stop)
		}
	}
	return ms, errs
}

// memberIDs is the set of member IDs a member lists in /v2/members.
func memberIDs(t *testing.T, clientURL string) map[string]bool {
	t.Helper()
	var list struct{ Members []struct{ ID string } }
	servertest.Eventually(t, "the members listed by "+clientURL, func() bool {
		resp, err := servertest.Client.Get(clientURL + "/v2/members")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(&list) == nil && len(list.Members) > 0
	})
	ids := map[string]bool{}
	for _, m := range list.Members {
		ids[m.ID] = true
	}
	return ids
}

// etcd 2.x discovery brings up three members: each derives every member's
// ID from the registered peer URLs and the discovery URL (the token), so
// all three list the same three IDs — those registered. A fourth member
// finds the cluster full: with fallback exit its start fails with
// ErrDiscoveryFull; with fallback proxy it runs as a proxy of the cluster.
func TestDiscoveryBringsUpThreeMembers(t *testing.T) {
	t.Parallel()
	token := discoveryToken(t, 3)
	var cfgs []server.Config
	for i := 0; i < 3; i++ {
		cfgs = append(cfgs, discoveryMember(t, fmt.Sprintf("d%d", i), func(c *server.Config) { c.Discovery = token }))
	}
	ms, errs := startAll(t, cfgs...)
	want := map[string]bool{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		peer := "http://" + cfgs[i].PeerListener.Addr().String()
		want[machines.IDString(machines.NewMemberID([]string{peer}, token, nil))] = true
	}
	for _, m := range ms {
		if got := memberIDs(t, m.ClientURLs()[0]); len(got) != 3 || !mapsEqual(got, want) {
			t.Errorf("%s lists members %v, want %v", m.ClientURLs()[0], got, want)
		}
	}

	_, errs = startAll(t, discoveryMember(t, "late", func(c *server.Config) { c.Discovery = token; c.DiscoveryFallback = server.FallbackExit }))
	if !errors.Is(errs[0], server.ErrDiscoveryFull) || !strings.Contains(errs[0].Error(), "d0") {
		t.Fatalf("a fourth member: %v, want ErrDiscoveryFull naming the members", errs[0])
	}
	px, errs := startAll(t, discoveryMember(t, "proxy", func(c *server.Config) { c.Discovery = token; c.DiscoveryFallback = server.FallbackProxy }))
	if errs[0] != nil || px[0].ID() != 0 {
		t.Fatalf("fallback to proxy: %v (ID %x)", errs[0], px[0].ID())
	}
	resp, err := servertest.Client.PostForm(px[0].ClientURLs()[0]+"/v2/keys/through-proxy", url.Values{"value": {"v"}})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("write through the proxy: %v %v", resp, err)
	}
	resp.Body.Close()
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// The errors of etcd 2.x discovery stop the start with etcd's error and a
// line that says what to do: no size key, a size that is not a number, a
// member that registered before (its data dir lost), two members with one
// name, an endpoint that is not a v2 keys API.
func TestDiscoveryErrors(t *testing.T) {
	t.Parallel()
	var auth atomic.Value
	notEtcd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		fmt.Fprint(w, "<html>hello</html>")
	}))
	t.Cleanup(notEtcd.Close)
	withUser := strings.Replace(notEtcd.URL, "http://", "http://disco:s3cret@", 1) + "/x"

	noSize := discoveryToken(t, 0)
	badSize := discoveryToken(t, 0)
	put(t, badSize+"/_config/size", "three", "")

	// A registration under this member's ID exists already.
	dup := discoveryToken(t, 1)
	dupCfg := discoveryMember(t, "dup", func(c *server.Config) { c.Discovery = dup })
	dupID := machines.NewMemberID([]string{"http://" + dupCfg.PeerListener.Addr().String()}, dup, nil)
	put(t, dup+"/"+machines.IDString(dupID), "dup=http://"+dupCfg.PeerListener.Addr().String(), "prevExist=false")

	// Another member registered under this member's name.
	sameName := discoveryToken(t, 2)
	put(t, sameName+"/0123456789abcdef", "twin=http://127.0.0.1:1", "prevExist=false")

	for _, tc := range []struct {
		name string
		cfg  server.Config
		want error
		text string
	}{
		{"no size", discoveryMember(t, "a", func(c *server.Config) { c.Discovery = noSize }), server.ErrDiscoverySizeNotFound, "_config/size -d value=3"},
		{"bad size", discoveryMember(t, "a", func(c *server.Config) { c.Discovery = badSize }), server.ErrDiscoveryBadSize, `"three"`},
		{"registered before", dupCfg, server.ErrDiscoveryDuplicateID, "registered with this discovery token before"},
		{"same name", discoveryMember(t, "twin", func(c *server.Config) { c.Discovery = sameName }), server.ErrDiscoveryDuplicateName, "distinct member names"},
		{"not etcd", discoveryMember(t, "a", func(c *server.Config) { c.Discovery = withUser }), server.ErrDiscoveryBadEndpoint, "not etcd's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := startAll(t, tc.cfg)
			if !errors.Is(errs[0], tc.want) || !strings.Contains(errs[0].Error(), tc.text) {
				t.Fatalf("start: %v, want %v with %q", errs[0], tc.want, tc.text)
			}
			if strings.Contains(errs[0].Error(), "s3cret") {
				t.Errorf("the error shows the discovery URL's password: %v", errs[0])
			}
		})
	}
	// The URL's user and password go as HTTP basic credentials.
	if got, _ := auth.Load().(string); got != "Basic ZGlzY286czNjcmV0" {
		t.Errorf("Authorization %q, want the URL's credentials", got)
	}
}

// put writes a key of the discovery service with an optional query.
func put(t *testing.T, u, value, query string) {
	t.Helper()
	if query != "" {
		u += "?" + query
	}
	req, _ := http.NewRequest(http.MethodPut, u, strings.NewReader(url.Values{"value": {value}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := servertest.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("PUT %s: %s", u, resp.Status)
	}
}

// The member ID of a discovered member is etcd's: the one etcd 3.4.23
// registered for member a1 (peer URLs http://127.0.0.1:24012 and
// http://127.0.0.1:24112) under this discovery URL.
func TestDiscoveryMemberIDIsEtcds(t *testing.T) {
	t.Parallel()
	id := machines.NewMemberID([]string{"http://127.0.0.1:24112", "http://127.0.0.1:24012"}, "http://127.0.0.1:23791/v2/keys/_etcd/registry/t3", nil)
	if got := machines.IDString(id); got != "6fa2833ca181c464" {
		t.Fatalf("member ID %s, want 6fa2833ca181c464", got)
	}
}

// The etcd 0.4 protocol (0.x flags): every machine registers its name
// with a week's TTL; the one that creates _state starts the cluster and
// the others join it through the registered peers. A restarted member
// registers again.
func TestDiscoveryLegacyProtocol(t *testing.T) {
	t.Parallel()
	token := discoveryToken(t, 0)
	var cfgs []server.Config
	for i := 0; i < 3; i++ {
		cfgs = append(cfgs, discoveryMember(t, fmt.Sprintf("l%d", i), func(c *server.Config) { c.Discovery, c.DiscoveryLegacy = token, true }))
	}
	ms, errs := startAll(t, cfgs...)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
	}
	for _, m := range ms {
		if got := memberIDs(t, m.ClientURLs()[0]); len(got) != 3 {
			t.Errorf("%s lists %d members, want 3", m.ClientURLs()[0], len(got))
		}
	}
	var dir struct {
		Node struct {
			Nodes []struct {
				Key, Value string
				TTL        int64
			}
		}
	}
	getJSON(t, token, &dir)
	if len(dir.Node.Nodes) != 3 {
		t.Fatalf("registry %+v, want the 3 machines", dir.Node.Nodes)
	}
	for _, n := range dir.Node.Nodes {
		if n.TTL < 604000 || !strings.HasPrefix(n.Value, "http://127.0.0.1:") {
			t.Errorf("registration %+v, want a peer URL with a week's TTL", n)
		}
	}
	var state struct{ Node struct{ Value string } }
	if getJSON(t, token+"/_state", &state); state.Node.Value != "started" {
		t.Errorf("_state %q, want started", state.Node.Value)
	}

	// A restart registers again.
	req, _ := http.NewRequest(http.MethodDelete, token+"/l1", nil)
	if resp, err := servertest.Client.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	ms[1].Stop()
	cfg := cfgs[1]
	cfg.PeerListener = relistenTCP(t, cfg.PeerListener.Addr().String())
	ms2, errs := startAll(t, cfg)
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	_ = ms2
	servertest.Eventually(t, "l1 registered again", func() bool {
		resp, err := servertest.Client.Get(token + "/l1")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// getJSON decodes a 200 answer of u.
func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := servertest.Client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// relistenTCP listens on addr again once the last run released it.
func relistenTCP(t *testing.T, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	servertest.Eventually(t, "listening on "+addr+" again", func() bool {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	return ln
}

// DNS discovery: the _etcd-server._tcp records of a domain (served by a
// DNS server of the test) list three members by host name; each member
// finds itself by resolving the targets, and all derive the same IDs from
// the records' URLs and the token. A proxy finds the cluster the same
// way. A member that no record points at, or a domain without records,
// cannot start.
func TestDiscoverySRV(t *testing.T) {
	t.Parallel()
	dns := servertest.NewDNS(t)
	const domain = "cluster.example.test"
	var cfgs []server.Config
	want := map[string]bool{}
	for i := 0; i < 3; i++ {
		cfg := discoveryMember(t, fmt.Sprintf("s%d", i), func(c *server.Config) {
			c.DiscoverySRV, c.Resolver, c.InitialClusterToken = domain, server.ResolverAt(dns.Addr), "srv-token"
		})
		port := cfg.PeerListener.Addr().(*net.TCPAddr).Port
		cfg.AdvertisePeerURLs = []string{fmt.Sprintf("http://localhost:%d", port)}
		dns.AddSRV("_etcd-server._tcp."+domain, "localhost.", uint16(port))
		want[machines.IDString(machines.NewMemberID(cfg.AdvertisePeerURLs, "srv-token", nil))] = true
		cfgs = append(cfgs, cfg)
	}
	ms, errs := startAll(t, cfgs...)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
	}
	for _, m := range ms {
		if got := memberIDs(t, m.ClientURLs()[0]); !mapsEqual(got, want) {
			t.Errorf("%s lists %v, want %v", m.ClientURLs()[0], got, want)
		}
	}
	px, errs := startAll(t, discoveryMember(t, "p", func(c *server.Config) {
		c.Proxy, c.DiscoverySRV, c.Resolver = server.ProxyOn, domain, server.ResolverAt(dns.Addr)
	}))
	if errs[0] != nil {
		t.Fatalf("proxy: %v", errs[0])
	}
	if got := memberIDs(t, px[0].ClientURLs()[0]); !mapsEqual(got, want) {
		t.Errorf("the proxy lists %v, want %v", got, want)
	}

	_, errs = startAll(t,
		discoveryMember(t, "stranger", func(c *server.Config) { c.DiscoverySRV, c.Resolver = domain, server.ResolverAt(dns.Addr) }),
		discoveryMember(t, "nowhere", func(c *server.Config) { c.DiscoverySRV, c.Resolver = "empty.example.test", server.ResolverAt(dns.Addr) }))
	if errs[0] == nil || !strings.Contains(errs[0].Error(), `couldn't find local name "stranger" in the initial cluster configuration`) {
		t.Errorf("a member no record points at: %v", errs[0])
	}
	if errs[1] == nil || !strings.Contains(errs[1].Error(), "no _etcd-server-ssl._tcp or _etcd-server._tcp records") {
		t.Errorf("a domain without records: %v", errs[1])
	}
}
