package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	// AutoCertName is the file name of the auto TLS certificate inside
	// Info.AutoDir.
	AutoCertName = "cert.pem"
	// AutoKeyName is the file name of the auto TLS private key inside
	// Info.AutoDir; it is written with mode 0600.
	AutoKeyName = "key.pem"
)

const (
	// autoValidity is how long a generated certificate is valid.
	autoValidity = 365 * 24 * time.Hour
	// autoBackdate moves NotBefore into the past to tolerate clock skew
	// between members.
	autoBackdate = time.Hour
)

// ensureAutoCert makes sure dir holds a usable auto TLS pair and returns its
// paths. An existing pair is reused unless its certificate has expired at
// now; a key without a certificate (an interrupted generation) is replaced;
// a certificate without its key is an error, never silently overwritten.
func ensureAutoCert(dir string, hosts []string, now time.Time) (certFile, keyFile string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("certs: cannot create auto TLS directory %q: %w", dir, err)
	}
	certFile = filepath.Join(dir, AutoCertName)
	keyFile = filepath.Join(dir, AutoKeyName)
	certExists, err := fileExists(certFile)
	if err != nil {
		return "", "", fmt.Errorf("certs: cannot inspect auto TLS certificate file %q: %w", certFile, err)
	}
	keyExists, err := fileExists(keyFile)
	if err != nil {
		return "", "", fmt.Errorf("certs: cannot inspect auto TLS key file %q: %w", keyFile, err)
	}
	switch {
	case certExists && keyExists:
		expired, err := certExpired(certFile, now)
		if err != nil {
			return "", "", err
		}
		if !expired {
			return certFile, keyFile, nil
		}
	case certExists:
		return "", "", fmt.Errorf("certs: auto TLS certificate file %q exists but its key file %q does not; remove the certificate to have a new pair generated", certFile, keyFile)
	}
	if err := writeSelfSigned(certFile, keyFile, hosts, now); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// fileExists reports whether path exists.
func fileExists(path string) (bool, error) {
	_, err := os.Lstat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// certExpired reports whether the first certificate in certFile is past its
// NotAfter at now.
func certExpired(certFile string, now time.Time) (bool, error) {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return false, fmt.Errorf("certs: cannot read certificate file %q: %w", certFile, err)
	}
	chain, err := parseCertificates(data)
	if err != nil {
		return false, fmt.Errorf("certs: cannot parse certificate file %q: %w", certFile, err)
	}
	if len(chain) == 0 {
		return false, fmt.Errorf("certs: no certificates found in certificate file %q", certFile)
	}
	return now.After(chain[0].NotAfter), nil
}

// writeSelfSigned generates an ECDSA P-256 key and a self-signed
// certificate for hosts and writes them, the key with mode 0600. The key is
// written first and the certificate last, so an existing certificate always
// has its key next to it.
func writeSelfSigned(certFile, keyFile string, hosts []string, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("certs: cannot generate auto TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return fmt.Errorf("certs: cannot generate auto TLS serial number: %w", err)
	}
	ips, names := splitHosts(hosts)
	notBefore := now.Add(-autoBackdate)
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)),
		Subject: pkix.Name{
			Organization: []string{"etcd-classic"},
			CommonName:   "etcd-classic auto TLS",
		},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(autoValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IPAddresses:           ips,
		DNSNames:              names,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("certs: cannot create auto TLS certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("certs: cannot encode auto TLS key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return fmt.Errorf("certs: cannot write auto TLS key file %q: %w", keyFile, err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writeFileAtomic(certFile, certPEM, 0o644); err != nil {
		return fmt.Errorf("certs: cannot write auto TLS certificate file %q: %w", certFile, err)
	}
	return nil
}

// splitHosts turns host names, IP addresses, host:port pairs and URLs into
// de-duplicated IP and DNS subject alternative names, always including
// 127.0.0.1 and localhost.
func splitHosts(hosts []string) ([]net.IP, []string) {
	var ips []net.IP
	var names []string
	add := func(h string) {
		if h == "" {
			return
		}
		if ip := net.ParseIP(h); ip != nil {
			for _, have := range ips {
				if have.Equal(ip) {
					return
				}
			}
			ips = append(ips, ip)
			return
		}
		h = strings.ToLower(h)
		for _, have := range names {
			if have == h {
				return
			}
		}
		names = append(names, h)
	}
	for _, h := range hosts {
		add(hostOnly(strings.TrimSpace(h)))
	}
	add("127.0.0.1")
	add("localhost")
	return ips, names
}

// hostOnly strips a scheme, port, path and IPv6 brackets from h.
func hostOnly(h string) string {
	if strings.Contains(h, "://") {
		if u, err := url.Parse(h); err == nil {
			return u.Hostname()
		}
	}
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
}

// writeFileAtomic writes data to a temporary file in the target's directory
// with the given mode and renames it over path.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
