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
// certificate to serve, and auto TLS without a directory. It does not touch
// the file system; ServerConfig and ClientConfig report unreadable or
// mismatched files. An empty Info is valid.
func (i Info) Validate() error {
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
