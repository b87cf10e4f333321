package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/etcd-classic/etcd-classic/certs/certstest"
)

// writeFile writes data to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatalf("WriteFile(%q) error = %v", p, err)
	}
	return p
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	s := certstest.NewSet(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.crt")
	missingKey := filepath.Join(dir, "missing.key")
	garbage := writeFile(t, dir, "garbage.pem", "this is not PEM\n")
	emptyFile := writeFile(t, dir, "empty.pem", "")
	badCertBlock := writeFile(t, dir, "bad.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	encryptedKey := writeFile(t, dir, "enc.key", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
	badKeyBlock := writeFile(t, dir, "bad.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
	keyAsCA := s.ServerKey

	tests := []struct {
		name       string
		info       Info
		want       string // the error must start with this
		wantNotExi bool   // errors.Is(err, fs.ErrNotExist)
	}{
		{
			name:       "missing certificate",
			info:       Info{CertFile: missing, KeyFile: s.ServerKey},
			want:       `certs: cannot read certificate file "` + missing + `": open ` + missing + ": no such file or directory",
			wantNotExi: true,
		},
		{
			name:       "missing key",
			info:       Info{CertFile: s.ServerCert, KeyFile: missingKey},
			want:       `certs: cannot read key file "` + missingKey + `": open ` + missingKey,
			wantNotExi: true,
		},
		{
			name: "certificate is a directory",
			info: Info{CertFile: dir, KeyFile: s.ServerKey},
			want: `certs: cannot read certificate file "` + dir + `": `,
		},
		{
			name:       "missing CA",
			info:       Info{CertFile: s.ServerCert, KeyFile: s.ServerKey, CAFile: missing, ClientCertAuth: true},
			want:       `certs: cannot read CA file "` + missing + `": open ` + missing,
			wantNotExi: true,
		},
		{
			name: "certificate not PEM",
			info: Info{CertFile: garbage, KeyFile: s.ServerKey},
			want: `certs: no certificates found in certificate file "` + garbage + `"`,
		},
		{
			name: "certificate block corrupt",
			info: Info{CertFile: badCertBlock, KeyFile: s.ServerKey},
			want: `certs: cannot parse certificate file "` + badCertBlock + `": certificate #1: `,
		},
		{
			name: "key not PEM",
			info: Info{CertFile: s.ServerCert, KeyFile: garbage},
			want: `certs: cannot parse key file "` + garbage + `": no PEM private key block found`,
		},
		{
			name: "key is a certificate",
			info: Info{CertFile: s.ServerCert, KeyFile: s.ServerCert},
			want: `certs: cannot parse key file "` + s.ServerCert + `": no PEM private key block found`,
		},
		{
			name: "key block corrupt",
			info: Info{CertFile: s.ServerCert, KeyFile: badKeyBlock},
			want: `certs: cannot parse key file "` + badKeyBlock + `": PRIVATE KEY block is not`,
		},
		{
			name: "encrypted key",
			info: Info{CertFile: s.ServerCert, KeyFile: encryptedKey},
			want: `certs: cannot parse key file "` + encryptedKey + `": encrypted private keys are not supported`,
		},
		{
			name: "certificate and key do not match",
			info: Info{CertFile: s.ServerCert, KeyFile: s.ClientKey},
			want: `certs: certificate "` + s.ServerCert + `" and key "` + s.ClientKey + `" do not match: `,
		},
		{
			name: "CA file empty",
			info: Info{CertFile: s.ServerCert, KeyFile: s.ServerKey, CAFile: emptyFile, ClientCertAuth: true},
			want: `certs: no certificates found in CA file "` + emptyFile + `"`,
		},
		{
			name: "CA file holds a key",
			info: Info{CertFile: s.ServerCert, KeyFile: s.ServerKey, CAFile: keyAsCA, ClientCertAuth: true},
			want: `certs: no certificates found in CA file "` + keyAsCA + `"`,
		},
		{
			name: "CA file corrupt",
			info: Info{CertFile: s.ServerCert, KeyFile: s.ServerKey, CAFile: badCertBlock, ClientCertAuth: true},
			want: `certs: cannot parse CA file "` + badCertBlock + `": certificate #1: `,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, side := range []struct {
				name string
				fn   func(*Info) (*tls.Config, error)
			}{
				{"ServerConfig", (*Info).ServerConfig},
				{"ClientConfig", (*Info).ClientConfig},
			} {
				info := tt.info
				cfg, err := side.fn(&info)
				if err == nil {
					t.Fatalf("%s() = %v, nil; want error starting with %q", side.name, cfg, tt.want)
				}
				if !strings.HasPrefix(err.Error(), tt.want) {
					t.Errorf("%s() error = %q, want it to start with %q", side.name, err, tt.want)
				}
				if got := errors.Is(err, fs.ErrNotExist); got != tt.wantNotExi {
					t.Errorf("%s() errors.Is(err, fs.ErrNotExist) = %v, want %v", side.name, got, tt.wantNotExi)
				}
			}
		})
	}
}

func TestServerConfigFields(t *testing.T) {
	s := certstest.NewSet(t)
	tests := []struct {
		name           string
		info           Info
		wantClientAuth tls.ClientAuthType
		wantClientCAs  bool
	}{
		{"plain TLS", Info{CertFile: s.ServerCert, KeyFile: s.ServerKey}, tls.NoClientCert, false},
		{"CA without client auth", Info{CertFile: s.ServerCert, KeyFile: s.ServerKey, CAFile: s.CA.CertFile}, tls.NoClientCert, false},
		{"client auth", Info{CertFile: s.ServerCert, KeyFile: s.ServerKey, CAFile: s.CA.CertFile, ClientCertAuth: true}, tls.RequireAndVerifyClientCert, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tt.info.ServerConfig()
			if err != nil {
				t.Fatalf("ServerConfig() error = %v, want nil", err)
			}
			if got, want := cfg.MinVersion, uint16(tls.VersionTLS12); got != want {
				t.Errorf("MinVersion = %#x, want %#x", got, want)
			}
			if got, want := cfg.CipherSuites, defaultCipherSuites; !slices.Equal(got, want) {
				t.Errorf("CipherSuites = %v, want %v", got, want)
			}
			for _, id := range cfg.CipherSuites {
				for _, insecure := range tls.InsecureCipherSuites() {
					if id == insecure.ID {
						t.Errorf("CipherSuites contains insecure %s", insecure.Name)
					}
				}
			}
			if got, want := cfg.ClientAuth, tt.wantClientAuth; got != want {
				t.Errorf("ClientAuth = %v, want %v", got, want)
			}
			if got, want := cfg.ClientCAs != nil, tt.wantClientCAs; got != want {
				t.Errorf("ClientCAs set = %v, want %v", got, want)
			}
			if got, want := len(cfg.Certificates), 1; got != want {
				t.Fatalf("len(Certificates) = %d, want %d", got, want)
			}
			if got, want := cfg.Certificates[0].Leaf.Subject.CommonName, "server"; got != want {
				t.Errorf("certificate CN = %q, want %q", got, want)
			}
		})
	}
}

func TestClientConfigFields(t *testing.T) {
	s := certstest.NewSet(t)
	tests := []struct {
		name         string
		info         Info
		wantCerts    int
		wantRootCAs  bool
		wantInsecure bool
	}{
		{"empty", Info{}, 0, false, false},
		{"cert without CA", Info{CertFile: s.PeerCert, KeyFile: s.PeerKey}, 1, false, false},
		{"cert with CA", Info{CertFile: s.PeerCert, KeyFile: s.PeerKey, CAFile: s.CA.CertFile}, 1, true, false},
		{"mutual TLS", Info{CertFile: s.PeerCert, KeyFile: s.PeerKey, CAFile: s.CA.CertFile, ClientCertAuth: true}, 1, true, false},
		{"auto TLS ignored for given cert", Info{AutoTLS: true, AutoDir: filepath.Join(t.TempDir(), "a"), CertFile: s.PeerCert, KeyFile: s.PeerKey}, 1, false, false},
		{"auto TLS without CA", Info{AutoTLS: true, AutoDir: filepath.Join(t.TempDir(), "b")}, 1, false, true},
		{"auto TLS with CA", Info{AutoTLS: true, AutoDir: filepath.Join(t.TempDir(), "c"), CAFile: s.CA.CertFile}, 1, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tt.info.ClientConfig()
			if err != nil {
				t.Fatalf("ClientConfig() error = %v, want nil", err)
			}
			if got, want := cfg.MinVersion, uint16(tls.VersionTLS12); got != want {
				t.Errorf("MinVersion = %#x, want %#x", got, want)
			}
			if got, want := len(cfg.Certificates), tt.wantCerts; got != want {
				t.Errorf("len(Certificates) = %d, want %d", got, want)
			}
			if got, want := cfg.RootCAs != nil, tt.wantRootCAs; got != want {
				t.Errorf("RootCAs set = %v, want %v", got, want)
			}
			if got, want := cfg.InsecureSkipVerify, tt.wantInsecure; got != want {
				t.Errorf("InsecureSkipVerify = %v, want %v", got, want)
			}
		})
	}
}

func TestCABundleLoadsEveryCertificate(t *testing.T) {
	s := certstest.NewSet(t)
	var bundle []byte
	for _, f := range []string{s.OtherCA.CertFile, s.CA.CertFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("ReadFile(%q) error = %v", f, err)
		}
		bundle = append(bundle, b...)
	}
	bundleFile := writeFile(t, t.TempDir(), "bundle.pem", "# two CAs\n"+string(bundle))
	_, pool, err := loadCAs(bundleFile)
	if err != nil {
		t.Fatalf("loadCAs(%q) error = %v, want nil", bundleFile, err)
	}
	tests := []struct{ name, certFile, keyFile string }{
		{"signed by first CA", s.OtherCert, s.OtherKey},
		{"signed by second CA", s.ServerCert, s.ServerKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pair, err := loadKeyPair(tt.certFile, tt.keyFile)
			if err != nil {
				t.Fatalf("loadKeyPair() error = %v, want nil", err)
			}
			opts := x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
			if _, err := pair.Leaf.Verify(opts); err != nil {
				t.Errorf("Verify() against bundle = %v, want nil", err)
			}
		})
	}
}
