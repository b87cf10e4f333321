package certs

import (
	"errors"
	"fmt"
)

// Info describes one side's (client or peer) TLS material as given by flags.
//
// The zero value means "no TLS": Empty reports true and Scheme returns
// "http". ServerConfig and ClientConfig take a pointer because, when auto TLS
// is used, they record the generated certificate and key paths in CertFile
// and KeyFile, so that the listener and the dialer of one side present the
// same pair. An Info is not safe for concurrent use by several goroutines.
type Info struct {
	// CertFile is the PEM certificate (chain) the side presents, as a
	// server and, when dialing peers, as a client. Both CertFile and
	// KeyFile are set, or neither is.
	CertFile string
	// KeyFile is the PEM private key matching CertFile.
	KeyFile string
	// CAFile is a PEM bundle of trusted CA certificates; every certificate
	// in the file is loaded. It verifies client certificates when
	// ClientCertAuth is set, and the servers this side dials.
	CAFile string
	// ClientCertAuth makes the listener require a client certificate and
	// verify it against CAFile.
	ClientCertAuth bool
	// AutoTLS asks for a self-signed certificate, generated in AutoDir at
	// the first start and reused afterwards, when CertFile and KeyFile are
	// empty. When they are set, AutoTLS is ignored.
	AutoTLS bool
	// AutoDir is where the auto TLS material lives, for example
	// <data-dir>/fixtures/client. It is created with mode 0700.
	AutoDir string
	// Hosts are the host names and IP addresses put in the auto-generated
	// certificate's subject alternative names, in addition to 127.0.0.1
	// and localhost which are always present. Entries may carry a port or
	// be URLs; only the host part is used.
	Hosts []string

	// CRLFile is a certificate revocation list (DER, or PEM with one or
	// more "X509 CRL" blocks). A certificate the other side presents is
	// refused in the handshake when a list of its issuer names its serial
	// number. It needs ClientCertAuth; the dialer checks servers too.
	CRLFile string
	// AllowedCN, when set, is the only subject common name accepted in the
	// other side's verified certificate (etcd 3.4 --peer-cert-allowed-cn).
	// It needs ClientCertAuth and excludes AllowedHostname.
	AllowedCN string
	// AllowedHostname, when set, is a host name or IP address the other
	// side's verified certificate must be valid for, by its subject
	// alternative names (etcd 3.4 --peer-cert-allowed-hostname and
	// --client-cert-allowed-hostname). It needs ClientCertAuth.
	AllowedHostname string
	// CipherSuites names the TLS 1.2 cipher suites offered and accepted,
	// in Go's (IANA) spelling as etcd 3.4's --cipher-suites takes them.
	// Empty means the default: ECDHE with AES-GCM or ChaCha20-Poly1305.
	// TLS 1.3 suites cannot be chosen in Go and stay enabled, as in etcd
	// 3.4; their names are accepted and have no effect.
	CipherSuites []string

	// autoInUse is set once CertFile and KeyFile have been filled in with
	// auto TLS material by ServerConfig or ClientConfig.
	autoInUse bool
}

// Empty reports whether no TLS was requested at all: no certificate, key or
// CA file, no client-certificate authentication and no auto TLS.
func (i Info) Empty() bool {
	return i.CertFile == "" && i.KeyFile == "" && i.CAFile == "" &&
		!i.ClientCertAuth && !i.AutoTLS
}

// Scheme returns "https" when TLS is requested and "http" otherwise. It is
// meant for building the URLs a side advertises and dials.
func (i Info) Scheme() string {
	if i.Empty() {
		return "http"
	}
	return "https"
}

// Validate reports a half-configured Info: a certificate without its key or
// a key without its certificate, client-certificate authentication without a
// CA file, a CA file (or client-certificate authentication) without a
// certificate to serve, auto TLS without a directory, an unknown cipher
// suite name, both an allowed CN and an allowed hostname, and a CRL file,
// allowed CN or allowed hostname without client-certificate authentication
// (wrapping ErrClientCertAuthNeeded). It does not touch the file system;
// ServerConfig and ClientConfig report unreadable or mismatched files. An
// empty Info is valid.
func (i Info) Validate() error {
	if _, err := cipherSuiteIDs(i.CipherSuites); err != nil {
		return err
	}
	if err := i.validateChecks(); err != nil {
		return err
	}
	if i.CertFile != "" && i.KeyFile == "" {
		return fmt.Errorf("certs: certificate file %q given without a key file", i.CertFile)
	}
	if i.KeyFile != "" && i.CertFile == "" {
		return fmt.Errorf("certs: key file %q given without a certificate file", i.KeyFile)
	}
	if i.ClientCertAuth && i.CAFile == "" {
		return errors.New("certs: client certificate authentication requested without a CA file to verify client certificates against")
	}
	hasCert := i.CertFile != "" || i.AutoTLS
	if i.CAFile != "" && !hasCert {
		if i.ClientCertAuth {
			return fmt.Errorf("certs: client certificate authentication with CA file %q requested without a certificate and key file (or auto TLS) for the listener", i.CAFile)
		}
		return fmt.Errorf("certs: CA file %q given without a certificate and key file (or auto TLS)", i.CAFile)
	}
	if i.AutoTLS && i.CertFile == "" && i.AutoDir == "" {
		return errors.New("certs: auto TLS requested without a directory (AutoDir) to keep the generated certificate in")
	}
	return nil
}
