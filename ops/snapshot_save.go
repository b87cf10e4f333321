package ops

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/etcd-classic/etcd-classic/server"
)

// saveFlags are the etcdctl global flags a snapshot download uses.
type saveFlags struct {
	endpoints, cacert, cert, key, user, password string
	insecure                                     bool
	dialTimeout, commandTimeout                  time.Duration
}

func (c *saveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.endpoints, "endpoints", "", "client URL of the member to snapshot (exactly one; required)")
	fs.StringVar(&c.cacert, "cacert", "", "CA bundle (PEM) that verifies the member's certificate")
	fs.StringVar(&c.cacert, "ca-file", "", "alias of --cacert")
	fs.StringVar(&c.cert, "cert", "", "client certificate (PEM)")
	fs.StringVar(&c.cert, "cert-file", "", "alias of --cert")
	fs.StringVar(&c.key, "key", "", "key of the client certificate")
	fs.StringVar(&c.key, "key-file", "", "alias of --key")
	fs.StringVar(&c.user, "user", "", "username[:password] for v2 auth (root, when auth is on)")
	fs.StringVar(&c.user, "username", "", "alias of --user")
	fs.StringVar(&c.password, "password", "", "password, when --user has none")
	fs.BoolVar(&c.insecure, "insecure-skip-tls-verify", false, "do not verify the member's certificate")
	fs.DurationVar(&c.dialTimeout, "dial-timeout", 2*time.Second, "timeout of the connection")
	fs.DurationVar(&c.commandTimeout, "command-timeout", time.Minute, "how long the member may take to start sending the snapshot")
}

// endpoint checks the flags and returns the member's endpoint.
func (c *saveFlags) endpoint() (Endpoint, error) {
	eps := splitURLs(c.endpoints)
	switch {
	case len(eps) == 0:
		return Endpoint{}, errors.New("--endpoints: give the client URL of the member to snapshot")
	case len(eps) > 1:
		// etcdctl: a snapshot is one member's state.
		return Endpoint{}, fmt.Errorf("--endpoints: a snapshot is taken from one member, not %d", len(eps))
	}
	ep := Endpoint{URL: eps[0], CertFile: c.cert, KeyFile: c.key, CAFile: c.cacert, InsecureSkipVerify: c.insecure,
		Timeout: c.commandTimeout, DialTimeout: c.dialTimeout}
	if c.user != "" {
		name, pass, ok := strings.Cut(c.user, ":")
		if !ok {
			pass = c.password
		}
		if name == "" {
			return Endpoint{}, errors.New("--user: give username[:password]")
		}
		ep.Username, ep.Password = name, pass
	}
	return ep, nil
}

// stallTimeout ends a download during which nothing arrived for so long.
const stallTimeout = 30 * time.Second

// SaveSnapshot downloads a snapshot of the member at ep (GET
// server.SnapshotPath) into path: written to path.part, checked whole
// (checksum, and the state decodes), synced, then renamed to path. Nothing
// is left at path.part on error, and path is untouched. Waiting for the
// member to send is bounded by ep.Timeout, the download only by its
// progress (stallTimeout) and ctx.
func SaveSnapshot(ctx context.Context, ep Endpoint, path string, progress io.Writer) (*server.SnapshotStatus, error) {
	cl, err := newClient(ep)
	if err != nil {
		return nil, err
	}
	tr := cl.hc.Transport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = cl.hc.Timeout
	hc := &http.Client{Transport: tr} // the body is bounded by the stall guard below
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cl.base.String()+server.SnapshotPath, nil)
	if err != nil {
		return nil, err
	}
	if ep.Username != "" {
		req.SetBasicAuth(ep.Username, ep.Password)
	}
	fmt.Fprintf(progress, "snapshot: fetching from %s\n", ep.URL)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		why := hint(resp.StatusCode)
		if resp.StatusCode == http.StatusNotFound {
			// etcd's v2 API has no snapshot.
			why = " (not an etcd-classic member: for etcd, etcdctl backup of a stopped member, or etcd-classic copy)"
		}
		return nil, fmt.Errorf("GET %s: HTTP %d: %s%s", server.SnapshotPath, resp.StatusCode, snippet(b), why)
	}
	part := path + ".part"
	if err := download(resp, part, cancel); err != nil {
		_ = os.Remove(part)
		return nil, err
	}
	st, err := checkDownload(part, resp.Header.Get("X-Etcd-Index"))
	if err == nil {
		err = os.Rename(part, path)
	}
	if err != nil {
		_ = os.Remove(part)
		return nil, err
	}
	syncDir(filepath.Dir(path))
	return st, nil
}

// download writes the body to part and syncs it; a body that stalls for
// stallTimeout is cut (cancel ends the request).
func download(resp *http.Response, part string, cancel context.CancelFunc) error {
	f, err := os.OpenFile(part, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	stall := time.AfterFunc(stallTimeout, cancel)
	defer stall.Stop()
	n, err := io.Copy(f, &stallReader{r: resp.Body, t: stall})
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("the snapshot ended after %d of %d bytes", n, resp.ContentLength)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("downloading the snapshot: %w", err)
	}
	return nil
}

// checkDownload reads the file back whole, as a restore would, and
// compares its store index with the one the member announced.
func checkDownload(path, announced string) (*server.SnapshotStatus, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := server.ReadSnapshotStatus(f)
	if err != nil {
		return nil, fmt.Errorf("the downloaded snapshot: %w", err)
	}
	if idx, err := strconv.ParseUint(announced, 10, 64); err == nil && idx != st.Info.StoreIndex {
		return nil, fmt.Errorf("the member announced store index %d, the file holds %d", idx, st.Info.StoreIndex)
	}
	return st, nil
}

// stallReader re-arms the stall timer whenever bytes arrive.
type stallReader struct {
	r io.Reader
	t *time.Timer
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.t.Reset(stallTimeout)
	}
	return n, err
}

// syncDir makes a rename in dir durable (best effort).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
