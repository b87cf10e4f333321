package machines

import (
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Member is one member of the cluster.
type Member struct {
	ID         uint64   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	IsLearner  bool     `json:"isLearner,omitempty"`
}

// Clone returns a deep copy.
func (m *Member) Clone() *Member {
	c := *m
	c.PeerURLs = append([]string(nil), m.PeerURLs...)
	c.ClientURLs = append([]string(nil), m.ClientURLs...)
	return &c
}

// Started reports whether the member has ever published its name and
// client URLs (etcd's notion of "started").
func (m *Member) Started() bool { return m.Name != "" }

// IDString is the member ID as etcd prints it: lowercase hex, no padding.
func IDString(id uint64) string { return strconv.FormatUint(id, 16) }

// ParseID parses an ID printed by IDString.
func ParseID(s string) (uint64, error) { return strconv.ParseUint(s, 16, 64) }

// PeerAddr is the host:port raft uses to reach the member: the host part
// of its first peer URL.
func (m *Member) PeerAddr() string {
	if len(m.PeerURLs) == 0 {
		return ""
	}
	return HostPort(m.PeerURLs[0])
}

// HostPort returns the host:port of a URL, or the input if it does not
// parse as one.
func HostPort(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return u
	}
	return p.Host
}

// NewMemberID derives a member ID the way etcd 2.x does: SHA-1 over the
// sorted peer URLs concatenated, the cluster token and, for members added
// at run time, the Unix time in seconds; the first 8 bytes, big-endian.
func NewMemberID(peerURLs []string, token string, now *time.Time) uint64 {
	urls := append([]string(nil), peerURLs...)
	sort.Strings(urls)
	b := []byte(strings.Join(urls, "") + token)
	if now != nil {
		b = append(b, strconv.FormatInt(now.Unix(), 10)...)
	}
	sum := sha1.Sum(b)
	return binary.BigEndian.Uint64(sum[:8])
}

// NewClusterID derives the cluster ID from the initial member IDs: SHA-1
// over the sorted IDs, 8 big-endian bytes each; the first 8 bytes.
func NewClusterID(ids []uint64) uint64 {
	sorted := append([]uint64(nil), ids...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	b := make([]byte, 8*len(sorted))
	for i, id := range sorted {
		binary.BigEndian.PutUint64(b[8*i:], id)
	}
	sum := sha1.Sum(b)
	return binary.BigEndian.Uint64(sum[:8])
}

// RegistryValue is the value etcd 0.4 keeps under /_etcd/machines/<name>:
// the URL-query encoding, keys sorted, of the client ("etcd") and peer
// ("raft") URL.
func RegistryValue(clientURL, peerURL string) string {
	return url.Values{"etcd": {clientURL}, "raft": {peerURL}}.Encode()
}

// RegistryKey is the hidden key that holds a member's registry value.
func RegistryKey(name string) string { return "/_etcd/machines/" + name }

// ConfigKey holds the cluster configuration record of etcd 0.4.
const ConfigKey = "/_etcd/config"

// ConfigValue is what etcd 0.4 wrote under ConfigKey at cluster creation.
const ConfigValue = `{"activeSize":9,"removeDelay":1800,"syncInterval":5}`

// ErrBadURL matches (errors.Is) every URL validation failure; the error
// text itself is etcd's message, e.g. "no valid URLs given".
var ErrBadURL = errors.New("bad URL")

type urlError struct{ msg string }

func (e *urlError) Error() string { return e.msg }
func (e *urlError) Unwrap() error { return ErrBadURL }

// TrimURLs removes the spaces around each URL, as etcd does before
// parsing member URLs.
func TrimURLs(urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = strings.TrimSpace(u)
	}
	return out
}

// ValidateURLs checks peer or client URLs as etcd does: at least one, each
// with scheme http, https, unix or unixs, a host:port and no path (not
// even "/").
func ValidateURLs(urls []string) error {
	if len(urls) == 0 {
		return &urlError{"no valid URLs given"}
	}
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil {
			return &urlError{err.Error()}
		}
		switch u.Scheme {
		case "http", "https", "unix", "unixs":
		default:
			return &urlError{"URL scheme must be http, https, unix, or unixs: " + s}
		}
		if _, _, err := net.SplitHostPort(u.Host); err != nil {
			return &urlError{`URL address does not have the form "host:port": ` + s}
		}
		if u.Path != "" {
			return &urlError{"URL must not contain a path: " + s}
		}
	}
	return nil
}
