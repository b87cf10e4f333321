package certs

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
)

// ErrClientCertAuthNeeded is wrapped by Validate when a setting that checks
// the other side's certificate (a CRL file, an allowed CN or hostname) is
// given without ClientCertAuth: the listener would request no client
// certificate, so the setting would have no effect there.
var ErrClientCertAuthNeeded = errors.New("needs client certificate authentication, or no certificate would be checked")

// ErrUnknownCipherSuite is wrapped by Validate (and the config builders)
// when a cipher suite name is not one Go knows.
var ErrUnknownCipherSuite = errors.New("unknown TLS cipher suite")

// cipherSuiteID returns the ID of a cipher suite named as etcd 3.4's
// --cipher-suites names them: Go's (IANA) names, the insecure ones included,
// plus the two ChaCha20 spellings without "_SHA256" that Go used before 1.13.
func cipherSuiteID(name string) (uint16, bool) {
	for _, list := range [][]*tls.CipherSuite{tls.CipherSuites(), tls.InsecureCipherSuites()} {
		for _, cs := range list {
			if cs.Name == name {
				return cs.ID, true
			}
		}
	}
	switch name {
	case "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305":
		return tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, true
	case "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305":
		return tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, true
	}
	return 0, false
}

// cipherSuiteIDs maps names to IDs in order; the first unknown name is an
// error that names it. Empty entries are skipped.
func cipherSuiteIDs(names []string) ([]uint16, error) {
	var ids []uint16
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		id, ok := cipherSuiteID(n)
		if !ok {
			return nil, fmt.Errorf("certs: %w %q (use Go's names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)", ErrUnknownCipherSuite, n)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// validateChecks reports contradictory or ineffective certificate checks:
// an allowed CN together with an allowed hostname (etcd 3.4 refuses the
// pair too), and any check without client certificate authentication.
func (i Info) validateChecks() error {
	if i.AllowedCN != "" && i.AllowedHostname != "" {
		return fmt.Errorf("certs: an allowed CN and an allowed hostname are mutually exclusive (cn=%q, hostname=%q)", i.AllowedCN, i.AllowedHostname)
	}
	if i.ClientCertAuth {
		return nil
	}
	switch {
	case i.CRLFile != "":
		return fmt.Errorf("certs: CRL file %q %w", i.CRLFile, ErrClientCertAuthNeeded)
	case i.AllowedCN != "":
		return fmt.Errorf("certs: allowed CN %q %w", i.AllowedCN, ErrClientCertAuthNeeded)
	case i.AllowedHostname != "":
		return fmt.Errorf("certs: allowed hostname %q %w", i.AllowedHostname, ErrClientCertAuthNeeded)
	}
	return nil
}

// verifier holds the checks made on the other side's certificate once
// crypto/tls has verified its chain.
type verifier struct {
	role            string // "client" or "server": whose certificate is checked
	allowedCN       string
	allowedHostname string
	crl             *crlFile // nil without a CRL file
}

// install sets cfg.VerifyConnection when there is anything to check.
// VerifyConnection (unlike VerifyPeerCertificate) also runs on resumed
// sessions, so a certificate revoked after the first connection is refused
// on the next one.
func (v *verifier) install(cfg *tls.Config) {
	if v.allowedCN == "" && v.allowedHostname == "" && v.crl == nil {
		return
	}
	cfg.VerifyConnection = v.verify
}

// verify refuses the connection when the verified certificate of the other
// side fails a check. It runs inside the handshake: the failure is sent as
// a TLS alert and no application data is exchanged.
func (v *verifier) verify(cs tls.ConnectionState) error {
	if v.crl != nil {
		if err := v.crl.check(cs); err != nil {
			return err
		}
	}
	if v.allowedCN == "" && v.allowedHostname == "" {
		return nil
	}
	// As in etcd 3.4, only verified certificates count; every chain shares
	// the same leaf.
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return fmt.Errorf("certs: %s certificate authentication failed: no verified certificate to check", v.role)
	}
	leaf := cs.VerifiedChains[0][0]
	if v.allowedCN != "" && leaf.Subject.CommonName != v.allowedCN {
		return fmt.Errorf("certs: %s certificate authentication failed: CN %q is not the allowed CN %q", v.role, leaf.Subject.CommonName, v.allowedCN)
	}
	if v.allowedHostname != "" {
		// etcd 3.4 uses VerifyHostname: subject alternative names only
		// (Go ignores the CN since 1.15), wildcards allowed.
		if err := leaf.VerifyHostname(v.allowedHostname); err != nil {
			return fmt.Errorf("certs: %s certificate authentication failed: not valid for the allowed hostname %q: %w", v.role, v.allowedHostname, err)
		}
	}
	return nil
}

// sameName reports whether two distinguished names are the same, first by
// their DER encoding and then, for encodings that differ only in string
// types, by their parsed form.
func sameName(rawA, rawB []byte) bool {
	if bytes.Equal(rawA, rawB) {
		return true
	}
	a, errA := parseName(rawA)
	b, errB := parseName(rawB)
	return errA == nil && errB == nil && a == b
}
