package certs

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// crlFile is a certificate revocation list file, loaded at start-up and
// loaded again when its size or modification time changes (etcd 3.4 reads
// the file on every connection, so a new CRL takes effect without a
// restart; here it costs one stat per handshake).
type crlFile struct {
	path string
	cas  []*x509.Certificate // CAs that may have signed the lists

	mu      sync.Mutex // guards the fields below
	size    int64
	modTime time.Time
	revoked map[string]struct{} // revocationKey(issuer, serial)
	err     error               // the last reload's failure, if any
}

// loadCRLFile reads and checks path. cas are the trusted CAs of the side:
// a list whose issuer is among them must carry that CA's signature.
func loadCRLFile(path string, cas []*x509.Certificate) (*crlFile, error) {
	f := &crlFile{path: path, cas: cas}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("certs: cannot read CRL file %q: %w", path, err)
	}
	revoked, err := readCRLs(path, cas)
	if err != nil {
		return nil, err
	}
	f.size, f.modTime, f.revoked = fi.Size(), fi.ModTime(), revoked
	return f, nil
}

// check refuses a connection whose peer presented, or was verified
// through, a certificate listed in the CRL by its issuer. While the file
// cannot be read or parsed every connection is refused (fail closed, as
// etcd 3.4 does).
func (f *crlFile) check(cs tls.ConnectionState) error {
	revoked, err := f.current()
	if err != nil {
		return err
	}
	seen := map[*x509.Certificate]bool{}
	certs := append([]*x509.Certificate(nil), cs.PeerCertificates...)
	for _, chain := range cs.VerifiedChains {
		certs = append(certs, chain...)
	}
	for _, c := range certs {
		if seen[c] {
			continue
		}
		seen[c] = true
		if _, ok := revoked[revocationKey(c.RawIssuer, c.SerialNumber.Bytes())]; ok {
			return fmt.Errorf("certs: certificate %q (serial %x) is revoked by CRL file %q", c.Subject.CommonName, c.SerialNumber, f.path)
		}
	}
	return nil
}

// current returns the revoked set, reloading the file if it changed.
func (f *crlFile) current() (map[string]struct{}, error) {
	fi, statErr := os.Stat(f.path)
	f.mu.Lock()
	defer f.mu.Unlock()
	if statErr != nil {
		return nil, fmt.Errorf("certs: cannot read CRL file %q: %w", f.path, statErr)
	}
	if fi.Size() == f.size && fi.ModTime().Equal(f.modTime) {
		if f.err != nil {
			return nil, f.err
		}
		return f.revoked, nil
	}
	revoked, err := readCRLs(f.path, f.cas)
	f.size, f.modTime, f.err = fi.Size(), fi.ModTime(), err
	if err != nil {
		return nil, err
	}
	f.revoked = revoked
	return revoked, nil
}

// readCRLs parses a CRL file: one DER list, or PEM with one or more
// "X509 CRL" blocks. It returns the revoked (issuer, serial) pairs.
func readCRLs(path string, cas []*x509.Certificate) (map[string]struct{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("certs: cannot read CRL file %q: %w", path, err)
	}
	var ders [][]byte
	if block, _ := pem.Decode(data); block == nil {
		ders = [][]byte{data}
	} else {
		for rest := data; ; {
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			if block.Type == "X509 CRL" {
				ders = append(ders, block.Bytes)
			}
		}
		if len(ders) == 0 {
			return nil, fmt.Errorf("certs: no X509 CRL block found in CRL file %q", path)
		}
	}
	revoked := map[string]struct{}{}
	for n, der := range ders {
		l, err := x509.ParseRevocationList(der)
		if err != nil {
			return nil, fmt.Errorf("certs: cannot parse CRL file %q (list #%d): %w", path, n+1, err)
		}
		if err := checkCRLSignature(l, cas); err != nil {
			return nil, fmt.Errorf("certs: CRL file %q (list #%d, issuer %q): %w", path, n+1, l.Issuer.String(), err)
		}
		for _, e := range l.RevokedCertificateEntries {
			revoked[revocationKey(l.RawIssuer, e.SerialNumber.Bytes())] = struct{}{}
		}
	}
	return revoked, nil
}

// checkCRLSignature checks a list against the trusted CAs of its issuer's
// name. A list from an issuer that is not among them (an intermediate CA,
// say) is taken as the operator gave it.
func checkCRLSignature(l *x509.RevocationList, cas []*x509.Certificate) error {
	var err error
	for _, ca := range cas {
		if !sameName(ca.RawSubject, l.RawIssuer) {
			continue
		}
		if err = l.CheckSignatureFrom(ca); err == nil {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("not signed by the CA of that name in the CA file: %w", err)
	}
	return nil
}

// revocationKey identifies a certificate by its issuer and serial number.
// The issuer is normalised so that names differing only in string types
// match.
func revocationKey(rawIssuer, serial []byte) string {
	issuer := string(rawIssuer)
	if n, err := parseName(rawIssuer); err == nil {
		issuer = n
	}
	return issuer + "\x00" + string(serial)
}

// parseName renders a DER distinguished name in RFC 2253 form.
func parseName(raw []byte) (string, error) {
	var seq pkix.RDNSequence
	rest, err := asn1.Unmarshal(raw, &seq)
	if err != nil {
		return "", err
	}
	if len(rest) != 0 {
		return "", errors.New("trailing data after name")
	}
	var n pkix.Name
	n.FillFromRDNSequence(&seq)
	return n.String(), nil
}
