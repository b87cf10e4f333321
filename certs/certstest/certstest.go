// Package certstest mints throwaway PKI material for tests: a CA, server and
// peer certificates signed by it, client certificates, expired certificates
// and certificates from an unrelated CA. Everything is written as PEM files
// (certificates as <name>.crt, PKCS #8 keys as <name>.key with mode 0600) so
// that code under test loads it exactly as it would load operator-supplied
// files.
//
// The package uses only the Go standard library. Its functions report
// failures with t.Fatalf, so they must be called from the test goroutine.
package certstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority whose certificate and key live in PEM files.
type CA struct {
	// CertFile is the path of the CA certificate (<name>.crt).
	CertFile string
	// KeyFile is the path of the CA private key (<name>.key).
	KeyFile string
	// Cert is the parsed CA certificate.
	Cert *x509.Certificate
	// Key is the CA private key.
	Key *ecdsa.PrivateKey
}

// IssueOpts describes a certificate for CA.Issue.
type IssueOpts struct {
	// NotBefore is the start of validity; zero means one hour ago.
	NotBefore time.Time
	// NotAfter is the end of validity; zero means 24 hours from now.
	NotAfter time.Time
	// Hosts are the IP addresses and DNS names put in the subject
	// alternative names. When empty and Server is set, 127.0.0.1 and
	// localhost are used.
	Hosts []string
	// Client adds the client authentication extended key usage.
	Client bool
	// Server adds the server authentication extended key usage. When
	// neither Client nor Server is set, both are.
	Server bool
	// CommonName is the subject common name; empty means the file name.
	CommonName string
}

// NewCA creates a self-signed ECDSA P-256 CA, valid from one hour ago for
// ten years, and writes it to dir/name.crt and dir/name.key. An empty dir
// means a fresh t.TempDir().
func NewCA(t testing.TB, dir, name string) *CA {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	key := newKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(t),
		Subject:               pkix.Name{Organization: []string{"etcd-classic certstest"}, CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("certstest: create CA %q: %v", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("certstest: parse CA %q: %v", name, err)
	}
	certFile, keyFile := writePair(t, dir, name, der, key)
	return &CA{CertFile: certFile, KeyFile: keyFile, Cert: cert, Key: key}
}

// Pool returns a certificate pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue creates an ECDSA P-256 certificate signed by ca as described by opts
// and writes it to dir/name.crt and dir/name.key, returning both paths. An
// empty dir means a fresh t.TempDir().
func (ca *CA) Issue(t testing.TB, dir, name string, opts IssueOpts) (certFile, keyFile string) {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	now := time.Now()
	if opts.NotBefore.IsZero() {
		opts.NotBefore = now.Add(-time.Hour)
	}
	if opts.NotAfter.IsZero() {
		opts.NotAfter = now.Add(24 * time.Hour)
	}
	if !opts.Client && !opts.Server {
		opts.Client, opts.Server = true, true
	}
	if len(opts.Hosts) == 0 && opts.Server {
		opts.Hosts = []string{"127.0.0.1", "localhost"}
	}
	if opts.CommonName == "" {
		opts.CommonName = name
	}
	var eku []x509.ExtKeyUsage
	if opts.Server {
		eku = append(eku, x509.ExtKeyUsageServerAuth)
	}
	if opts.Client {
		eku = append(eku, x509.ExtKeyUsageClientAuth)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(t),
		Subject:               pkix.Name{Organization: []string{"etcd-classic certstest"}, CommonName: opts.CommonName},
		NotBefore:             opts.NotBefore,
		NotAfter:              opts.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           eku,
		BasicConstraintsValid: true,
	}
	for _, h := range opts.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatalf("certstest: issue %q: %v", name, err)
	}
	return writePair(t, dir, name, der, key)
}

// IssueServer issues a server/peer certificate: SANs 127.0.0.1 and
// localhost, server and client authentication, valid now.
func (ca *CA) IssueServer(t testing.TB, dir, name string) (certFile, keyFile string) {
	t.Helper()
	return ca.Issue(t, dir, name, IssueOpts{Server: true, Client: true})
}

// IssueClient issues a client-only certificate (client authentication, no
// SANs), valid now.
func (ca *CA) IssueClient(t testing.TB, dir, name string) (certFile, keyFile string) {
	t.Helper()
	return ca.Issue(t, dir, name, IssueOpts{Client: true})
}

// IssueExpired issues a certificate like IssueServer's that expired a day
// ago.
func (ca *CA) IssueExpired(t testing.TB, dir, name string) (certFile, keyFile string) {
	t.Helper()
	now := time.Now()
	return ca.Issue(t, dir, name, IssueOpts{
		NotBefore: now.Add(-48 * time.Hour),
		NotAfter:  now.Add(-24 * time.Hour),
		Server:    true,
		Client:    true,
	})
}

// CRL writes dir/name.crl, a PEM certificate revocation list signed by ca
// that revokes the certificates in certFiles (PEM files issued by ca),
// valid from one hour ago for a day, and returns its path. An empty dir
// means a fresh t.TempDir(). With no certFiles the list revokes nothing.
func (ca *CA) CRL(t testing.TB, dir, name string, certFiles ...string) string {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	now := time.Now()
	tmpl := &x509.RevocationList{
		Number:     newSerial(t),
		ThisUpdate: now.Add(-time.Hour),
		NextUpdate: now.Add(24 * time.Hour),
	}
	for _, f := range certFiles {
		c := readCert(t, f)
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: now.Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		t.Fatalf("certstest: create CRL %q: %v", name, err)
	}
	path := filepath.Join(dir, name+".crl")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o644); err != nil {
		t.Fatalf("certstest: %v", err)
	}
	return path
}

// readCert parses the first certificate of a PEM file.
func readCert(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("certstest: %v", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("certstest: no certificate in %s", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("certstest: parse %s: %v", path, err)
	}
	return c
}

// Set is a ready-made collection of test material in one directory.
type Set struct {
	// Dir is the directory holding every file of the set.
	Dir string
	// CA signs Server, Peer, Client and Expired.
	CA *CA
	// ServerCert and ServerKey: SANs 127.0.0.1 and localhost, server and
	// client authentication.
	ServerCert, ServerKey string
	// PeerCert and PeerKey: a second server/peer certificate like Server.
	PeerCert, PeerKey string
	// ClientCert and ClientKey: client authentication only.
	ClientCert, ClientKey string
	// ExpiredCert and ExpiredKey: like Server, but expired a day ago.
	ExpiredCert, ExpiredKey string
	// OtherCA is an unrelated CA.
	OtherCA *CA
	// OtherCert and OtherKey: a server/peer certificate signed by OtherCA.
	OtherCert, OtherKey string
}

// NewSet mints a Set in a fresh t.TempDir(): ca, server, peer, client,
// expired, other-ca and other (file names without extension).
func NewSet(t testing.TB) *Set {
	t.Helper()
	s := &Set{Dir: t.TempDir()}
	s.CA = NewCA(t, s.Dir, "ca")
	s.ServerCert, s.ServerKey = s.CA.IssueServer(t, s.Dir, "server")
	s.PeerCert, s.PeerKey = s.CA.IssueServer(t, s.Dir, "peer")
	s.ClientCert, s.ClientKey = s.CA.IssueClient(t, s.Dir, "client")
	s.ExpiredCert, s.ExpiredKey = s.CA.IssueExpired(t, s.Dir, "expired")
	s.OtherCA = NewCA(t, s.Dir, "other-ca")
	s.OtherCert, s.OtherKey = s.OtherCA.IssueServer(t, s.Dir, "other")
	return s
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("certstest: generate key: %v", err)
	}
	return key
}

func newSerial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("certstest: generate serial: %v", err)
	}
	return n.Add(n, big.NewInt(1))
}

// writePair writes dir/name.crt (0644) and dir/name.key (0600).
func writePair(t testing.TB, dir, name string, der []byte, key *ecdsa.PrivateKey) (certFile, keyFile string) {
	t.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("certstest: encode key %q: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatalf("certstest: %v", err)
	}
	certFile = filepath.Join(dir, name+".crt")
	keyFile = filepath.Join(dir, name+".key")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatalf("certstest: %v", err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatalf("certstest: %v", err)
	}
	return certFile, keyFile
}
