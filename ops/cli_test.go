package ops

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
	"testing"

	"github.com/etcd-classic/etcd-classic/certs/certstest"
)

func TestParseCopyFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "minimal", args: []string{"--from", "http://a:2379", "--to", "http://b:2379"},
			check: func(t *testing.T, c Config) {
				if c.From.URL != "http://a:2379" || c.To.URL != "http://b:2379" || c.Prefixes != nil || c.Concurrency != 16 {
					t.Errorf("config = %+v", c)
				}
			}},
		{name: "repeated prefixes, dry run", args: []string{"--from", "http://a", "--to", "http://b", "--prefix", "/x", "--prefix", "/_y", "--dry-run"},
			check: func(t *testing.T, c Config) {
				if len(c.Prefixes) != 2 || c.Prefixes[1] != "/_y" || !c.DryRun {
					t.Errorf("config = %+v", c)
				}
			}},
		{name: "shared TLS and auth in etcdctl spelling, one side overridden",
			args: []string{"--from", "https://a", "--to", "https://b", "--cert", "c.pem", "--key", "k.pem", "--cacert", "ca.pem",
				"--username", "root:s3:cr3t", "--to-ca-file", "other-ca.pem", "--to-username", "admin:pw"},
			check: func(t *testing.T, c Config) {
				f, to := c.From, c.To
				if f.CertFile != "c.pem" || f.KeyFile != "k.pem" || f.CAFile != "ca.pem" || f.Username != "root" || f.Password != "s3:cr3t" {
					t.Errorf("from = %+v", f)
				}
				if to.CertFile != "c.pem" || to.CAFile != "other-ca.pem" || to.Username != "admin" || to.Password != "pw" {
					t.Errorf("to = %+v", to)
				}
			}},
		{name: "missing --to", args: []string{"--from", "http://a"}, wantErr: "--from and --to are required"},
		{name: "same member", args: []string{"--from", "http://a:1/", "--to", "http://A:1"}, wantErr: "same member"},
		{name: "username without password", args: []string{"--from", "http://a", "--to", "http://b", "--username", "root"}, wantErr: "user:password"},
		{name: "stray argument", args: []string{"--from", "http://a", "--to", "http://b", "extra"}, wantErr: "unexpected argument"},
		{name: "concurrency", args: []string{"--from", "http://a", "--to", "http://b", "--concurrency", "0"}, wantErr: "--concurrency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			c, err := parseCopyFlags(tc.args, &out, &errb)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestCopyMainExitStatus(t *testing.T) {
	src := fillSource(t)
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := CopyMain(args, &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, _, _ := run("--from", src.srv.URL); code != 2 {
		t.Errorf("usage error: exit %d, want 2", code)
	}
	dst := newFakeMember(t)
	code, out, errs := run("--from", src.srv.URL, "--to", dst.srv.URL, "--verify")
	if code != 0 || !strings.Contains(out, "copied 5 directories and 6 keys") || !strings.Contains(out, "0 differences") {
		t.Errorf("copy: exit %d\n%s\n%s", code, out, errs)
	}
	// A second run meets the keys of the first: refused, nothing written.
	before := dst.writes.Load()
	code, _, errs = run("--from", src.srv.URL, "--to", dst.srv.URL)
	if code != 1 || !strings.Contains(errs, "--overwrite") || dst.writes.Load() != before {
		t.Errorf("copy into a full target: exit %d, %d writes\n%s", code, dst.writes.Load()-before, errs)
	}
	// A conflict on one key fails the run (exit 1) and names the key.
	dst2 := newFakeMember(t)
	dst2.mustPut("/a/c", false, "a key", 0)
	code, _, errs = run("--from", src.srv.URL, "--to", dst2.srv.URL, "--overwrite")
	if code != 1 || !strings.Contains(errs, "/a/c: the target has a key where the source has a directory") {
		t.Errorf("conflict: exit %d\n%s", code, errs)
	}
}

func TestCopyBasicAuth(t *testing.T) {
	src, dst := fillSource(t), newFakeMember(t)
	src.auth, dst.auth = "root:pw", "admin:other"
	var out, errb bytes.Buffer
	code := CopyMain([]string{"--from", src.srv.URL, "--to", dst.srv.URL, "--from-username", "root:pw"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "requires user authentication") || dst.writes.Load() != 0 {
		t.Errorf("without target credentials: exit %d, %d writes\n%s", code, dst.writes.Load(), errb.String())
	}
	errb.Reset()
	code = CopyMain([]string{"--from", src.srv.URL, "--to", dst.srv.URL, "--from-username", "root:pw", "--to-username", "admin:other"}, &out, &errb)
	if code != 0 || dst.writes.Load() != 11 {
		t.Errorf("with credentials: exit %d, %d writes\n%s", code, dst.writes.Load(), errb.String())
	}
}

func TestCopyOverTLS(t *testing.T) {
	set := certstest.NewSet(t)
	pair, err := tls.LoadX509KeyPair(set.ServerCert, set.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(set.CA.CertFile)
	pool.AppendCertsFromPEM(pem)
	src := newFakeTLSMember(t, &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool})
	src.mustPut("/secure/k", false, "v", 0)
	dst := newFakeMember(t)
	var out, errb bytes.Buffer
	// Trusting the CA is not enough: the source wants a client certificate.
	code := CopyMain([]string{"--from", src.srv.URL, "--to", dst.srv.URL, "--from-ca-file", set.CA.CertFile}, &out, &errb)
	if code != 1 || dst.writes.Load() != 0 {
		t.Errorf("without a client certificate: exit %d\n%s", code, errb.String())
	}
	errb.Reset()
	code = CopyMain([]string{"--from", src.srv.URL, "--to", dst.srv.URL,
		"--from-ca-file", set.CA.CertFile, "--from-cert-file", set.ClientCert, "--from-key-file", set.ClientKey}, &out, &errb)
	if code != 0 || dst.tree(t)["/secure/k"].Value != "v" {
		t.Errorf("with a client certificate: exit %d\n%s", code, errb.String())
	}
}
