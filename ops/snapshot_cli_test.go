package ops

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/etcd-classic/etcd-classic/certs/certstest"
	"github.com/etcd-classic/etcd-classic/server"
	"github.com/etcd-classic/etcd-classic/server/servertest"
)

// run runs a subcommand's main with args and returns its exit status,
// stdout and stderr.
func run(main func([]string, *bytes.Buffer, *bytes.Buffer) int, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func snapshotMain(args []string, out, errb *bytes.Buffer) int { return SnapshotMain(args, out, errb) }
func backupMain(args []string, out, errb *bytes.Buffer) int   { return BackupMain(args, out, errb) }

// `snapshot save` from an in-process member, then `status` in every
// format and `restore`, and the refusals: usage mistakes exit 2, a
// damaged file, a taken data dir and a member that is not etcd-classic
// exit 1, and no FILE.part is left behind.
func TestSnapshotCommands(t *testing.T) {
	t.Parallel()
	c := servertest.NewCluster(t, 1)
	m := c.Members[0]
	for _, kv := range [][2]string{{"/a", "1"}, {"/d/_h", "h"}} {
		if st, body := m.Do(t, http.MethodPut, "/v2/keys"+kv[0], url.Values{"value": {kv[1]}}); st != http.StatusCreated {
			t.Fatalf("PUT %s: %d %s", kv[0], st, body)
		}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "s.snap")
	code, out, errOut := run(snapshotMain, "save", "--endpoints", m.ClientURL(), file)
	if code != 0 || out != "Snapshot saved at "+file+"\n" || !strings.Contains(errOut, "sha256") {
		t.Fatalf("save: %d %q %q", code, out, errOut)
	}
	if _, err := os.Stat(file + ".part"); !os.IsNotExist(err) {
		t.Errorf("%s.part left behind: %v", file, err)
	}
	// Keys: /a, /d/_h, and the registry's /_etcd/config and /_etcd/machines/m0.
	code, out, _ = run(snapshotMain, "status", file)
	if code != 0 || !regexp.MustCompile(`^[0-9a-f]{8}, \d+, \d+, 4, \d+ B\n$`).MatchString(out) {
		t.Errorf("status: %d %q", code, out)
	}
	code, out, _ = run(snapshotMain, "status", "-w", "table", file)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 5 || !strings.Contains(lines[1], "| RAFT INDEX | STORE INDEX |") {
		t.Errorf("status -w table: %d\n%s", code, out)
	}
	code, out, _ = run(snapshotMain, "status", file, "--write-out=json")
	var js struct {
		StoreIndex uint64 `json:"storeIndex"`
		TotalKey   int    `json:"totalKey"`
		SHA256     string `json:"sha256"`
	}
	if err := json.Unmarshal([]byte(out), &js); code != 0 || err != nil || js.TotalKey != 4 || len(js.SHA256) != 64 || js.StoreIndex < 4 {
		t.Errorf("status -w json: %d %q %v", code, out, err)
	}

	raw, _ := os.ReadFile(file)
	raw[len(raw)/2] ^= 1
	bad := filepath.Join(dir, "bad.snap")
	_ = os.WriteFile(bad, raw, 0o600)
	if code, _, errOut := run(snapshotMain, "status", bad); code != 1 || !strings.Contains(errOut, "not an intact") {
		t.Errorf("status of a damaged file: %d %q", code, errOut)
	}

	restore := func(extra ...string) (int, string) {
		args := append([]string{"restore", file, "--name", "n1", "--initial-cluster", "n1=http://127.0.0.1:1,n2=http://127.0.0.1:2",
			"--initial-advertise-peer-urls", "http://127.0.0.1:1"}, extra...)
		code, out, errOut := run(snapshotMain, args...)
		return code, out + errOut
	}
	if code, out := restore("--data-dir", filepath.Join(dir, "n1")); code != 0 || !strings.Contains(out, "Restored "+file) {
		t.Fatalf("restore: %d %s", code, out)
	}
	for _, tc := range []struct {
		name  string
		extra []string
		code  int
		says  string
	}{
		{"a taken data dir", []string{"--data-dir", filepath.Join(dir, "n1")}, 1, "already holds a member"},
		{"advertise differs", []string{"--data-dir", filepath.Join(dir, "n9"), "--initial-advertise-peer-urls", "http://127.0.0.1:9"}, 1, "--initial-advertise-peer-urls"},
		{"skip hash", []string{"--data-dir", filepath.Join(dir, "n8"), "--skip-hash-check"}, 2, "always checked"},
		{"wal dir", []string{"--data-dir", filepath.Join(dir, "n7"), "--wal-dir", dir}, 2, "no separate WAL"},
		{"second file", []string{"--data-dir", filepath.Join(dir, "n6"), file}, 2, "one snapshot file"},
	} {
		if code, out := restore(tc.extra...); code != tc.code || !strings.Contains(out, tc.says) {
			t.Errorf("%s: %d %s", tc.name, code, out)
		}
	}

	notClassic := httptest.NewServer(http.NotFoundHandler())
	defer notClassic.Close()
	for _, tc := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"no endpoint", []string{"save", file + "2"}, 2, "--endpoints"},
		{"two endpoints", []string{"save", file + "2", "--endpoints", m.ClientURL() + "," + m.ClientURL()}, 2, "one member"},
		{"no file", []string{"save", "--endpoints", m.ClientURL()}, 2, "one file name"},
		{"not etcd-classic", []string{"save", file + "2", "--endpoints", notClassic.URL}, 1, "HTTP 404"},
		{"bad format", []string{"status", file, "-w", "yaml"}, 2, "--write-out"},
		{"unknown", []string{"load", file}, 2, "unknown command"},
	} {
		if code, out, errOut := run(snapshotMain, tc.args...); code != tc.code || !strings.Contains(out+errOut, tc.says) {
			t.Errorf("%s: %d %q %q", tc.name, code, out, errOut)
		}
	}
	if _, err := os.Stat(file + "2.part"); !os.IsNotExist(err) {
		t.Errorf("a failed save left %s2.part: %v", file, err)
	}
}

// `backup`'s flags: etcdctl's, the WAL dirs refused unless they are the
// data dirs' own, --with-v3 accepted with a note.
func TestBackupFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d, b := filepath.Join(dir, "d"), filepath.Join(dir, "b")
	for _, tc := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"nothing", nil, 2, "required"},
		{"same dir", []string{"--data-dir", d, "--backup-dir", d}, 2, "must not be"},
		{"wal dir", []string{"--data-dir", d, "--backup-dir", b, "--wal-dir", dir}, 2, "no separate WAL"},
		{"backup wal dir", []string{"--data-dir", d, "--backup-dir", b, "--backup-wal-dir", dir}, 2, "no separate WAL"},
		{"stray argument", []string{"--data-dir", d, "--backup-dir", b, "extra"}, 2, "no arguments"},
		{"no member", []string{"--data-dir", d, "--backup-dir", b, "--with-v3", "--wal-dir", filepath.Join(d, "member")}, 1, "holds no member"},
	} {
		code, out, errOut := run(backupMain, tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.says) {
			t.Errorf("%s: %d %q %q", tc.name, code, out, errOut)
		}
	}
	if _, err := os.Stat(b); !os.IsNotExist(err) {
		t.Errorf("a refused backup created %s: %v", b, err)
	}
}

func TestHumanBytesAndInitialCluster(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0 B", 9: "9 B", 904: "904 B", 32768: "33 kB", 2100000: "2.1 MB", 52_000_000_000: "52 GB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
	got, err := parseInitialCluster("a=http://1,b=http://2,a=http://3")
	if err != nil || len(got) != 2 || len(got[0].PeerURLs) != 2 || got[1].Name != "b" {
		t.Errorf("parseInitialCluster: %+v %v", got, err)
	}
	if _, err := parseInitialCluster("a=http://1,b"); err == nil {
		t.Errorf("parseInitialCluster accepted a member without URL")
	}
}

// `snapshot save` over client TLS: a member that demands a client
// certificate refuses the download without one, and serves it with
// --cacert, --cert and --key (here a TLS server handing out a real
// snapshot file, as a member's snapshot endpoint does).
func TestSnapshotSaveOverTLS(t *testing.T) {
	t.Parallel()
	c := servertest.NewCluster(t, 1)
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.snap")
	if code, _, errOut := run(snapshotMain, "save", plain, "--endpoints", c.Members[0].ClientURL()); code != 0 {
		t.Fatalf("save: %d %s", code, errOut)
	}
	raw, _ := os.ReadFile(plain)
	set := certstest.NewSet(t)
	pair, err := tls.LoadX509KeyPair(set.ServerCert, set.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(set.CA.CertFile)
	pool.AppendCertsFromPEM(pem)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != server.SnapshotPath {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(raw)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	defer srv.Close()
	file := filepath.Join(dir, "tls.snap")
	if code, _, errOut := run(snapshotMain, "save", file, "--endpoints", srv.URL, "--cacert", set.CA.CertFile); code != 1 {
		t.Errorf("without a client certificate: %d %s", code, errOut)
	}
	code, out, errOut := run(snapshotMain, "save", file, "--endpoints", srv.URL, "--cacert", set.CA.CertFile, "--cert", set.ClientCert, "--key", set.ClientKey)
	if got, _ := os.ReadFile(file); code != 0 || !bytes.Equal(got, raw) {
		t.Errorf("with a client certificate: %d %q %q", code, out, errOut)
	}
}
