package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/certs/certstest"
)

// readCert parses the first certificate of a PEM file.
func readCert(t *testing.T, path string) (*x509.Certificate, []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile(%q) error = %v", path, err)
	}
	chain, err := parseCertificates(data)
	if err != nil || len(chain) == 0 {
		t.Fatalf("parseCertificates(%q) = %d certs, %v; want 1, nil", path, len(chain), err)
	}
	return chain[0], data
}

func TestAutoTLSGeneratesCertificate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "fixtures", "peer")
	info := Info{AutoTLS: true, AutoDir: dir, Hosts: []string{"10.0.0.7", "https://node1.example:2380", "127.0.0.1", "[::1]:2379", "NODE1.example"}}
	start := time.Now()
	cfg, err := info.ServerConfig()
	if err != nil {
		t.Fatalf("ServerConfig() error = %v, want nil", err)
	}
	wantCert, wantKey := filepath.Join(dir, AutoCertName), filepath.Join(dir, AutoKeyName)
	if info.CertFile != wantCert || info.KeyFile != wantKey {
		t.Errorf("CertFile, KeyFile = %q, %q; want %q, %q", info.CertFile, info.KeyFile, wantCert, wantKey)
	}
	cert, _ := readCert(t, wantCert)
	if !bytes.Equal(cfg.Certificates[0].Certificate[0], cert.Raw) {
		t.Errorf("ServerConfig certificate differs from %q", wantCert)
	}

	t.Run("modes", func(t *testing.T) {
		for _, tt := range []struct {
			path string
			want os.FileMode
		}{{dir, 0o700}, {wantKey, 0o600}} {
			fi, err := os.Stat(tt.path)
			if err != nil {
				t.Fatalf("Stat(%q) error = %v", tt.path, err)
			}
			if got := fi.Mode().Perm(); got != tt.want {
				t.Errorf("mode of %q = %v, want %v", tt.path, got, tt.want)
			}
		}
	})
	t.Run("key", func(t *testing.T) {
		pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
		if !ok {
			t.Fatalf("public key type = %T, want *ecdsa.PublicKey", cert.PublicKey)
		}
		if got, want := pub.Curve, elliptic.P256(); got != want {
			t.Errorf("curve = %v, want %v", got.Params().Name, want.Params().Name)
		}
	})
	t.Run("SANs", func(t *testing.T) {
		var gotIPs []string
		for _, ip := range cert.IPAddresses {
			gotIPs = append(gotIPs, ip.String())
		}
		if want := []string{"10.0.0.7", "127.0.0.1", "::1"}; !slices.Equal(gotIPs, want) {
			t.Errorf("IPAddresses = %v, want %v", gotIPs, want)
		}
		if want := []string{"node1.example", "localhost"}; !slices.Equal(cert.DNSNames, want) {
			t.Errorf("DNSNames = %v, want %v", cert.DNSNames, want)
		}
	})
	t.Run("usages", func(t *testing.T) {
		if got, want := cert.KeyUsage, x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment; got != want {
			t.Errorf("KeyUsage = %v, want %v", got, want)
		}
		want := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		if !slices.Equal(cert.ExtKeyUsage, want) {
			t.Errorf("ExtKeyUsage = %v, want %v", cert.ExtKeyUsage, want)
		}
		if cert.IsCA {
			t.Errorf("IsCA = true, want false")
		}
	})
	t.Run("validity", func(t *testing.T) {
		if got, want := cert.NotAfter.Sub(cert.NotBefore), autoValidity; got != want {
			t.Errorf("validity = %v, want %v", got, want)
		}
		if cert.NotBefore.After(start) {
			t.Errorf("NotBefore = %v, want at or before %v", cert.NotBefore, start)
		}
		if min := start.Add(autoValidity - 2*autoBackdate); cert.NotAfter.Before(min) {
			t.Errorf("NotAfter = %v, want after %v", cert.NotAfter, min)
		}
	})
	t.Run("self-signed", func(t *testing.T) {
		if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
			t.Errorf("CheckSignature(own key) = %v, want nil", err)
		}
		if got, want := cert.Issuer.String(), cert.Subject.String(); got != want {
			t.Errorf("Issuer = %q, want the subject %q", got, want)
		}
	})
}

func TestAutoTLSReusesCertificate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fixtures", "client")
	first := Info{AutoTLS: true, AutoDir: dir}
	if _, err := first.ServerConfig(); err != nil {
		t.Fatalf("first ServerConfig() error = %v, want nil", err)
	}
	_, certPEM := readCert(t, first.CertFile)
	keyPEM, err := os.ReadFile(first.KeyFile)
	if err != nil {
		t.Fatalf("ReadFile(%q) error = %v", first.KeyFile, err)
	}

	// Restarts with a fresh Info, through both entry points.
	tests := []struct {
		name string
		fn   func(*Info) error
	}{
		{"ServerConfig", func(i *Info) error { _, err := i.ServerConfig(); return err }},
		{"ClientConfig", func(i *Info) error { _, err := i.ClientConfig(); return err }},
		{"ServerConfig with other hosts", func(i *Info) error {
			i.Hosts = []string{"10.9.9.9"}
			_, err := i.ServerConfig()
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := Info{AutoTLS: true, AutoDir: dir}
			if err := tt.fn(&next); err != nil {
				t.Fatalf("%s error = %v, want nil", tt.name, err)
			}
			_, gotCert := readCert(t, next.CertFile)
			if !bytes.Equal(gotCert, certPEM) {
				t.Errorf("certificate was regenerated, want the first one reused")
			}
			gotKey, err := os.ReadFile(next.KeyFile)
			if err != nil {
				t.Fatalf("ReadFile(%q) error = %v", next.KeyFile, err)
			}
			if !bytes.Equal(gotKey, keyPEM) {
				t.Errorf("key was regenerated, want the first one reused")
			}
		})
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir(%q) error = %v", dir, err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{AutoCertName, AutoKeyName}; !slices.Equal(names, want) {
		t.Errorf("files in %q = %v, want %v", dir, names, want)
	}
}

func TestAutoTLSRegeneratesExpiredCertificate(t *testing.T) {
	dir := t.TempDir()
	longAgo := time.Now().Add(-2 * autoValidity)
	certFile, _, err := ensureAutoCert(dir, nil, longAgo)
	if err != nil {
		t.Fatalf("ensureAutoCert(%v) error = %v, want nil", longAgo, err)
	}
	old, _ := readCert(t, certFile)
	info := Info{AutoTLS: true, AutoDir: dir}
	if _, err := info.ServerConfig(); err != nil {
		t.Fatalf("ServerConfig() error = %v, want nil", err)
	}
	renewed, _ := readCert(t, info.CertFile)
	if renewed.SerialNumber.Cmp(old.SerialNumber) == 0 {
		t.Fatalf("serial = %v, want a new certificate", renewed.SerialNumber)
	}
	if now := time.Now(); !renewed.NotAfter.After(now) {
		t.Errorf("NotAfter = %v, want after %v", renewed.NotAfter, now)
	}
}

func TestAutoTLSErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) Info
		want  []string
	}{
		{
			name: "certificate without key",
			setup: func(t *testing.T, dir string) Info {
				writeFile(t, dir, AutoCertName, "x")
				return Info{AutoTLS: true, AutoDir: dir}
			},
			want: []string{filepath.Join("DIR", AutoCertName), filepath.Join("DIR", AutoKeyName), "does not"},
		},
		{
			name: "corrupt certificate",
			setup: func(t *testing.T, dir string) Info {
				writeFile(t, dir, AutoCertName, "not PEM")
				writeFile(t, dir, AutoKeyName, "not PEM")
				return Info{AutoTLS: true, AutoDir: dir}
			},
			want: []string{`no certificates found in certificate file "` + filepath.Join("DIR", AutoCertName)},
		},
		{
			name: "directory is a file",
			setup: func(t *testing.T, dir string) Info {
				return Info{AutoTLS: true, AutoDir: writeFile(t, dir, "plain", "")}
			},
			want: []string{`cannot create auto TLS directory "` + filepath.Join("DIR", "plain") + `"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			info := tt.setup(t, dir)
			_, err := info.ServerConfig()
			if err == nil {
				t.Fatalf("ServerConfig() error = nil, want one containing %q", tt.want)
			}
			for _, w := range tt.want {
				w = strings.ReplaceAll(w, "DIR", dir)
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ServerConfig() error = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestAutoTLSGivenCertificateWins(t *testing.T) {
	s := certstest.NewSet(t)
	dir := filepath.Join(t.TempDir(), "auto")
	info := Info{AutoTLS: true, AutoDir: dir, CertFile: s.ServerCert, KeyFile: s.ServerKey}
	cfg, err := info.ServerConfig()
	if err != nil {
		t.Fatalf("ServerConfig() error = %v, want nil", err)
	}
	if got, want := cfg.Certificates[0].Leaf.Subject.CommonName, "server"; got != want {
		t.Errorf("certificate CN = %q, want %q", got, want)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Stat(%q) error = %v, want not-exist (no auto TLS material)", dir, err)
	}
}

func TestAutoTLSPeersTalk(t *testing.T) {
	base := t.TempDir()
	a := Info{AutoTLS: true, AutoDir: filepath.Join(base, "a")}
	b := Info{AutoTLS: true, AutoDir: filepath.Join(base, "b")}
	serverCfg, err := a.ServerConfig()
	if err != nil {
		t.Fatalf("a.ServerConfig() error = %v, want nil", err)
	}
	clientCfg, err := b.ClientConfig()
	if err != nil {
		t.Fatalf("b.ClientConfig() error = %v, want nil", err)
	}
	if !clientCfg.InsecureSkipVerify {
		t.Fatalf("auto TLS ClientConfig InsecureSkipVerify = false, want true")
	}
	got, err := roundTrip(t, serverCfg, clientCfg)
	if err != nil {
		t.Fatalf("round trip error = %v, want nil", err)
	}
	if want := "-"; got != want {
		t.Errorf("server saw client CN %q, want %q (no client certificate requested)", got, want)
	}
}

func TestSplitHosts(t *testing.T) {
	tests := []struct {
		name      string
		hosts     []string
		wantIPs   []string
		wantNames []string
	}{
		{"defaults", nil, []string{"127.0.0.1"}, []string{"localhost"}},
		{"blank entries", []string{"", "  "}, []string{"127.0.0.1"}, []string{"localhost"}},
		{"duplicates", []string{"LOCALHOST", "127.0.0.1", "a.example", "A.example"}, []string{"127.0.0.1"}, []string{"localhost", "a.example"}},
		{"ports and URLs", []string{"10.1.2.3:2380", "http://b.example:2379/x", "[fe80::1]:7001"}, []string{"10.1.2.3", "fe80::1", "127.0.0.1"}, []string{"b.example", "localhost"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ips, names := splitHosts(tt.hosts)
			var gotIPs []string
			for _, ip := range ips {
				gotIPs = append(gotIPs, ip.String())
			}
			if !slices.Equal(gotIPs, tt.wantIPs) {
				t.Errorf("IPs = %v, want %v", gotIPs, tt.wantIPs)
			}
			if !slices.Equal(names, tt.wantNames) {
				t.Errorf("names = %v, want %v", names, tt.wantNames)
			}
		})
	}
}
