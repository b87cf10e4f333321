package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// defaultCipherSuites are the TLS 1.2 suites offered and accepted unless
// Info.CipherSuites names others: ECDHE key exchange with AEAD ciphers
// only. TLS 1.3 suites are not configurable in crypto/tls and are all
// modern.
var defaultCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// baseConfig returns the settings shared by listeners and dialers. TLS 1.2
// is the minimum, as in etcd 3.4, which has no flag to change it; TLS 1.3
// stays enabled (etcd 3.4.23 negotiates it too).
func (i *Info) baseConfig() (*tls.Config, error) {
	suites, err := cipherSuiteIDs(i.CipherSuites)
	if err != nil {
		return nil, err
	}
	if len(suites) == 0 {
		suites = append([]uint16(nil), defaultCipherSuites...)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: suites}, nil
}

// installChecks loads the CRL file and sets the checks made on the other
// side's certificate (role: whose certificate it is).
func (i *Info) installChecks(cfg *tls.Config, role string, cas []*x509.Certificate) error {
	v := &verifier{role: role, allowedCN: i.AllowedCN, allowedHostname: i.AllowedHostname}
	if i.CRLFile != "" {
		crl, err := loadCRLFile(i.CRLFile, cas)
		if err != nil {
			return err
		}
		v.crl = crl
	}
	v.install(cfg)
	return nil
}

// ServerConfig returns the configuration for a TLS listener on this side.
//
// It validates the Info, loads CertFile and KeyFile (or, with auto TLS and no
// certificate given, generates or reuses the self-signed pair in AutoDir and
// records its paths in CertFile and KeyFile), sets TLS 1.2 as the minimum
// version and restricts TLS 1.2 to CipherSuites (by default ECDHE AEAD
// suites). When ClientCertAuth is set, clients must present a certificate
// that verifies against CAFile (tls.RequireAndVerifyClientCert) and passes
// the CRLFile, AllowedCN and AllowedHostname checks; otherwise client
// certificates are not requested. An empty Info is an error: a TLS listener
// needs a certificate. An unreadable CRL file is an error naming it.
func (i *Info) ServerConfig() (*tls.Config, error) {
	if i.Empty() {
		return nil, errors.New("certs: no TLS configured: a TLS listener needs a certificate and key file (or auto TLS)")
	}
	cert, err := i.certificate()
	if err != nil {
		return nil, err
	}
	cfg, err := i.baseConfig()
	if err != nil {
		return nil, err
	}
	cfg.Certificates = []tls.Certificate{cert}
	if i.ClientCertAuth {
		cas, pool, err := loadCAs(i.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		if err := i.installChecks(cfg, "client", cas); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// ClientConfig returns the configuration for dialing the other side's TLS
// listener, typically a peer.
//
// It presents the same certificate as ServerConfig (auto TLS included) as the
// client certificate, whenever the server asks for one, and verifies the server against CAFile when one is
// given. Without a CA file the system roots are used, except when the
// certificate in use is the auto-generated one: then, as etcd 3.x does for
// --peer-auto-tls, the server certificate is not verified at all
// (InsecureSkipVerify), because auto TLS members have no common trust anchor.
// That only gives encryption, not authentication; use real certificates and
// a CA file where peers must be authenticated. As in etcd 3.4, the
// CRLFile, AllowedCN and AllowedHostname checks apply to the server's
// certificate too, so that with peer TLS each member checks the one it
// dials as well as the ones dialing it. An empty Info yields a plain
// configuration (TLS 1.2 minimum, system roots, no client certificate).
func (i *Info) ClientConfig() (*tls.Config, error) {
	if err := i.Validate(); err != nil {
		return nil, err
	}
	cfg, err := i.baseConfig()
	if err != nil {
		return nil, err
	}
	if i.Empty() {
		return cfg, nil
	}
	cert, err := i.certificate()
	if err != nil {
		return nil, err
	}
	cfg.Certificates = []tls.Certificate{cert}
	// Always present the certificate, even when its issuer is not among the
	// CAs the server says it accepts: the server then reports why it rejects
	// it ("unknown authority") instead of "no certificate", which is what an
	// operator needs to see.
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &cert, nil
	}
	switch {
	case i.CAFile != "":
		cas, pool, err := loadCAs(i.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
		// Validate allows the checks only with ClientCertAuth, which
		// implies CAFile: servers are then always verified here.
		if err := i.installChecks(cfg, "server", cas); err != nil {
			return nil, err
		}
	case i.autoInUse:
		cfg.InsecureSkipVerify = true
	}
	return cfg, nil
}

// certificate validates the Info, resolves auto TLS and loads the key pair.
func (i *Info) certificate() (tls.Certificate, error) {
	if err := i.Validate(); err != nil {
		return tls.Certificate{}, err
	}
	if i.CertFile == "" {
		// Validate guarantees AutoTLS and AutoDir here.
		certFile, keyFile, err := ensureAutoCert(i.AutoDir, i.Hosts, time.Now())
		if err != nil {
			return tls.Certificate{}, err
		}
		i.CertFile, i.KeyFile, i.autoInUse = certFile, keyFile, true
	}
	return loadKeyPair(i.CertFile, i.KeyFile)
}

// loadKeyPair reads and checks a certificate and its key, naming the file at
// fault in every error.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: cannot read certificate file %q: %w", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: cannot read key file %q: %w", keyFile, err)
	}
	chain, err := parseCertificates(certPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: cannot parse certificate file %q: %w", certFile, err)
	}
	if len(chain) == 0 {
		return tls.Certificate{}, fmt.Errorf("certs: no certificates found in certificate file %q", certFile)
	}
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: cannot parse key file %q: %w", keyFile, err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if !publicKeysEqual(chain[0].PublicKey, key.Public()) {
			return tls.Certificate{}, fmt.Errorf("certs: certificate %q and key %q do not match: %w", certFile, keyFile, err)
		}
		return tls.Certificate{}, fmt.Errorf("certs: cannot use certificate %q with key %q: %w", certFile, keyFile, err)
	}
	pair.Leaf = chain[0]
	return pair, nil
}

// loadCAs reads every certificate of a PEM bundle, and a pool of them.
func loadCAs(caFile string) ([]*x509.Certificate, *x509.CertPool, error) {
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: cannot read CA file %q: %w", caFile, err)
	}
	cas, err := parseCertificates(data)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: cannot parse CA file %q: %w", caFile, err)
	}
	if len(cas) == 0 {
		return nil, nil, fmt.Errorf("certs: no certificates found in CA file %q", caFile)
	}
	pool := x509.NewCertPool()
	for _, ca := range cas {
		pool.AddCert(ca)
	}
	return cas, pool, nil
}

// parseCertificates parses every CERTIFICATE block of a PEM document, in
// order, skipping blocks of other types.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for n := 1; ; {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out, nil
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate #%d: %w", n, err)
		}
		out = append(out, c)
		n++
	}
}

// parsePrivateKey parses the first private key block of a PEM document in
// PKCS #8, PKCS #1 or SEC 1 form.
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM private key block found")
		}
		if block.Type != "PRIVATE KEY" && !strings.HasSuffix(block.Type, " PRIVATE KEY") {
			continue
		}
		if block.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
			return nil, errors.New("encrypted private keys are not supported")
		}
		if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
			if s, ok := k.(crypto.Signer); ok {
				return s, nil
			}
			return nil, fmt.Errorf("unsupported private key type %T", k)
		}
		if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
			return k, nil
		}
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s block is not a PKCS #8, PKCS #1 or SEC 1 key", block.Type)
		}
		return k, nil
	}
}

// publicKeysEqual reports whether two public keys are the same.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	switch a := a.(type) {
	case *ecdsa.PublicKey:
		return a.Equal(b)
	case *rsa.PublicKey:
		return a.Equal(b)
	case ed25519.PublicKey:
		return a.Equal(b)
	}
	return false
}
