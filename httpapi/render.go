package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/etcd-classic/etcd-classic/store"
)

// appendEvent renders an event as etcd's JSON encoder does: compact, in
// struct field order, HTML characters escaped, followed by "\n".
func appendEvent(b []byte, e *store.Event) []byte {
	b = append(b, `{"action":`...)
	b = appendString(b, e.Action)
	if e.Node != nil {
		b = append(b, `,"node":`...)
		b = appendNode(b, e.Node)
	}
	if e.PrevNode != nil {
		b = append(b, `,"prevNode":`...)
		b = appendNode(b, e.PrevNode)
	}
	return append(b, '}', '\n')
}

// appendNode renders a NodeExtern with etcd's omission rules (every zero
// field is left out; a file's value is kept even when empty).
func appendNode(b []byte, n *store.NodeExtern) []byte {
	b, first := appendNodeHead(b, n)
	if len(n.Nodes) > 0 {
		b = append(appendField(b, first, "nodes"), '[')
		for i, c := range n.Nodes {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendNode(b, c)
		}
		b = append(b, ']')
		first = false
	}
	return appendNodeTail(b, n, first)
}

// appendField writes the name of a field, after a comma unless it is the
// object's first.
func appendField(b []byte, first bool, name string) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

// appendNodeHead opens a node's object and writes the fields that come
// before "nodes"; first reports whether none was written.
func appendNodeHead(b []byte, n *store.NodeExtern) (_ []byte, first bool) {
	b = append(b, '{')
	first = true
	if n.Key != "" {
		b = appendString(appendField(b, first, "key"), n.Key)
		first = false
	}
	if n.Value != nil {
		b = appendString(appendField(b, first, "value"), *n.Value)
		first = false
	}
	if n.Dir {
		b = append(appendField(b, first, "dir"), "true"...)
		first = false
	}
	if n.Expiration != nil {
		b = appendTime(appendField(b, first, "expiration"), *n.Expiration)
		first = false
	}
	if n.TTL != 0 {
		b = strconv.AppendInt(appendField(b, first, "ttl"), n.TTL, 10)
		first = false
	}
	return b, first
}

// appendNodeTail writes the fields that come after "nodes" and closes
// the object; first tells whether no field was written yet.
func appendNodeTail(b []byte, n *store.NodeExtern, first bool) []byte {
	if n.ModifiedIndex != 0 {
		b = strconv.AppendUint(appendField(b, first, "modifiedIndex"), n.ModifiedIndex, 10)
		first = false
	}
	if n.CreatedIndex != 0 {
		b = strconv.AppendUint(appendField(b, first, "createdIndex"), n.CreatedIndex, 10)
	}
	return append(b, '}')
}

// appendTime renders a time as Go's time.Time JSON does (RFC 3339 with
// nanoseconds, trailing zeros trimmed); years outside 0..9999, which Go
// refuses to encode, fall back to the same layout unquoted-safe.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendString writes s as a JSON string exactly like encoding/json
// (HTML-safe escaping, invalid UTF-8 replaced), without allocating: a
// value holding JSON, or any non-ASCII text, used to go through
// json.Marshal and a copy for every node rendered. The bytes are
// encoding/json's (FuzzAppendString): `"` and `\` escaped, \b \f \n \r
// \t by name, other control characters and < > & as \u00XX, U+2028 and
// U+2029 as \u2028 and \u2029, each invalid UTF-8 byte as \ufffd.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	done := 0 // s[:done] is in b
	for i := 0; i < len(s); {
		c := s[i]
		if plainByte[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[done:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			done = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[done:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[done:i]...), '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		done = i
	}
	b = append(b, s[done:]...)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// plainByte tells the ASCII bytes that stand for themselves in a JSON
// string of encoding/json's HTML-safe kind.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// writeError renders any error as etcd does on /v2/keys: store errors as
// themselves, everything else as 300 Raft Internal Error with the error
// text as cause and index 0. Headers: Content-Type and X-Etcd-Index.
func writeError(w http.ResponseWriter, err error) {
	var se *store.Error
	if !errors.As(err, &se) {
		se = store.NewError(store.EcodeRaftInternal, err.Error(), 0)
	}
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Etcd-Index"] = []string{strconv.FormatUint(se.Index, 10)}
	w.WriteHeader(se.StatusCode())
	_, _ = w.Write(append(se.JSON(), '\n'))
}

// writeText answers a plain body (Go's sniffing would call it text/plain).
func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// methodNotAllowed is etcd's 405: Allow lists the methods, comma-separated.
func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
}

// allowMethod answers 405 and returns false unless m is one of allowed.
func allowMethod(w http.ResponseWriter, m string, allowed ...string) bool {
	for _, a := range allowed {
		if m == a {
			return true
		}
	}
	allow := ""
	for i, a := range allowed {
		if i > 0 {
			allow += ","
		}
		allow += a
	}
	methodNotAllowed(w, allow)
	return false
}

// writeJSON answers a JSON document without a trailing newline (etcd's
// stats and version bodies).
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
