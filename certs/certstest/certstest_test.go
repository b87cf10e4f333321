package certstest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"
)

func TestIssuedCertificatesVerify(t *testing.T) {
	s := NewSet(t)
	tests := []struct {
		name      string
		certFile  string
		keyFile   string
		roots     *x509.CertPool
		usage     x509.ExtKeyUsage
		dnsName   string
		wantValid bool
	}{
		{"server as server", s.ServerCert, s.ServerKey, s.CA.Pool(), x509.ExtKeyUsageServerAuth, "localhost", true},
		{"server as server by IP", s.ServerCert, s.ServerKey, s.CA.Pool(), x509.ExtKeyUsageServerAuth, "127.0.0.1", true},
		{"server as client", s.ServerCert, s.ServerKey, s.CA.Pool(), x509.ExtKeyUsageClientAuth, "", true},
		{"peer as server", s.PeerCert, s.PeerKey, s.CA.Pool(), x509.ExtKeyUsageServerAuth, "localhost", true},
		{"client as client", s.ClientCert, s.ClientKey, s.CA.Pool(), x509.ExtKeyUsageClientAuth, "", true},
		{"client as server", s.ClientCert, s.ClientKey, s.CA.Pool(), x509.ExtKeyUsageServerAuth, "", false},
		{"expired", s.ExpiredCert, s.ExpiredKey, s.CA.Pool(), x509.ExtKeyUsageClientAuth, "", false},
		{"other CA against CA", s.OtherCert, s.OtherKey, s.CA.Pool(), x509.ExtKeyUsageClientAuth, "", false},
		{"other CA against other CA", s.OtherCert, s.OtherKey, s.OtherCA.Pool(), x509.ExtKeyUsageClientAuth, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pair, err := tls.LoadX509KeyPair(tt.certFile, tt.keyFile)
			if err != nil {
				t.Fatalf("LoadX509KeyPair(%q, %q) error = %v, want nil", tt.certFile, tt.keyFile, err)
			}
			_, err = pair.Leaf.Verify(x509.VerifyOptions{
				Roots:     tt.roots,
				DNSName:   tt.dnsName,
				KeyUsages: []x509.ExtKeyUsage{tt.usage},
			})
			if got := err == nil; got != tt.wantValid {
				t.Errorf("Verify() valid = %v (err %v), want %v", got, err, tt.wantValid)
			}
		})
	}
}

func TestKeyFilesArePrivate(t *testing.T) {
	s := NewSet(t)
	for _, f := range []string{s.CA.KeyFile, s.ServerKey, s.ClientKey, s.OtherCA.KeyFile} {
		t.Run(f, func(t *testing.T) {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatalf("Stat(%q) error = %v", f, err)
			}
			if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
				t.Errorf("mode of %q = %v, want %v", f, got, want)
			}
		})
	}
}

func TestCRLRevokesTheGivenCertificates(t *testing.T) {
	s := NewSet(t)
	path := s.CA.CRL(t, s.Dir, "revoked", s.ClientCert)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "X509 CRL" {
		t.Fatalf("%s: no X509 CRL block", path)
	}
	l, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		t.Fatalf("ParseRevocationList error = %v", err)
	}
	if err := l.CheckSignatureFrom(s.CA.Cert); err != nil {
		t.Errorf("CRL signature: %v, want signed by the CA", err)
	}
	client := readCert(t, s.ClientCert)
	if len(l.RevokedCertificateEntries) != 1 || l.RevokedCertificateEntries[0].SerialNumber.Cmp(client.SerialNumber) != 0 {
		t.Errorf("revoked entries = %+v, want only the client's serial %x", l.RevokedCertificateEntries, client.SerialNumber)
	}
}
