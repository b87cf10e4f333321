package servertest

import (
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
)

// DNS is a small authoritative DNS server on 127.0.0.1 (UDP) for tests of
// --discovery-srv: it answers SRV and A queries from the records added to
// it, NXDOMAIN for names it has no record of, and an empty answer for a
// known name's other types. Point a member at it with
// server.ResolverAt(d.Addr) (in-process) or ETCDCLASSIC_DNS_SERVER=d.Addr
// (a process). It stops when the test ends.
type DNS struct {
	// Addr is the server's host:port.
	Addr string

	conn net.PacketConn
	mu   sync.Mutex
	srv  map[string][]srvRecord // by lower-case name with the final dot
	a    map[string][]net.IP
	wg   sync.WaitGroup
}

type srvRecord struct {
	target string
	port   uint16
}

// DNS record types and the class it serves.
const (
	dnsTypeA   = 1
	dnsTypeSRV = 33
	dnsClassIN = 1
)

// NewDNS starts a DNS server on 127.0.0.1 and stops it in t.Cleanup.
func NewDNS(t testing.TB) *DNS {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &DNS{Addr: conn.LocalAddr().String(), conn: conn, srv: map[string][]srvRecord{}, a: map[string][]net.IP{}}
	d.wg.Add(1)
	go d.serve()
	t.Cleanup(func() {
		conn.Close()
		d.wg.Wait()
	})
	return d
}

// AddSRV adds an SRV record (priority 0, weight 0): name (such as
// "_etcd-server._tcp.example.test") points at target:port.
func (d *DNS) AddSRV(name, target string, port uint16) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := fqdn(name)
	d.srv[k] = append(d.srv[k], srvRecord{target: fqdn(target), port: port})
}

// AddA adds an A record.
func (d *DNS) AddA(name string, ip net.IP) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.a[fqdn(name)] = append(d.a[fqdn(name)], ip.To4())
}

func fqdn(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) + "." }

func (d *DNS) serve() {
	defer d.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := d.conn.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		if resp, err := d.answer(buf[:n]); err == nil {
			_, _ = d.conn.WriteTo(resp, from)
		}
	}
}

// answer builds the response to one query: the header, the question
// echoed, the answers (names uncompressed).
func (d *DNS) answer(q []byte) ([]byte, error) {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil, errors.New("not a one-question query")
	}
	name, end, err := readName(q, 12)
	if err != nil || end+4 > len(q) {
		return nil, errors.New("bad question")
	}
	qtype := binary.BigEndian.Uint16(q[end:])
	question := q[12 : end+4]

	d.mu.Lock()
	srvs, as := d.srv[name], d.a[name]
	known := len(srvs) > 0 || len(as) > 0
	var answers [][]byte
	switch {
	case qtype == dnsTypeSRV:
		for _, r := range srvs {
			rdata := binary.BigEndian.AppendUint16(make([]byte, 4), r.port) // priority, weight 0
			answers = append(answers, rr(name, dnsTypeSRV, append(rdata, encodeName(r.target)...)))
		}
	case qtype == dnsTypeA:
		for _, ip := range as {
			answers = append(answers, rr(name, dnsTypeA, ip))
		}
	}
	d.mu.Unlock()

	flags := uint16(0x8000 | 0x0400 | 0x0080)        // response, authoritative, recursion available
	flags |= binary.BigEndian.Uint16(q[2:]) & 0x7900 // opcode and RD from the query
	if !known {
		flags |= 3 // NXDOMAIN
	}
	out := make([]byte, 12, 512)
	copy(out, q[:2]) // ID
	binary.BigEndian.PutUint16(out[2:], flags)
	binary.BigEndian.PutUint16(out[4:], 1)
	binary.BigEndian.PutUint16(out[6:], uint16(len(answers)))
	out = append(out, question...)
	for _, a := range answers {
		out = append(out, a...)
	}
	return out, nil
}

// rr is one resource record of class IN with a TTL of 60 s.
func rr(name string, typ uint16, rdata []byte) []byte {
	b := encodeName(name)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, dnsClassIN)
	b = binary.BigEndian.AppendUint32(b, 60)
	b = binary.BigEndian.AppendUint16(b, uint16(len(rdata)))
	return append(b, rdata...)
}

// readName reads an uncompressed name at off (queries carry no
// compression) and returns it lower-cased with its final dot, and the
// offset after it.
func readName(b []byte, off int) (string, int, error) {
	var labels []string
	for total := 0; ; {
		if off >= len(b) {
			return "", 0, errors.New("short name")
		}
		l := int(b[off])
		off++
		if l == 0 {
			break
		}
		if l > 63 || off+l > len(b) || total+l+1 > 255 {
			return "", 0, errors.New("bad label")
		}
		labels = append(labels, strings.ToLower(string(b[off:off+l])))
		off += l
		total += l + 1
	}
	return strings.Join(labels, ".") + ".", off, nil
}

// encodeName writes a name ("a.b.") as DNS labels.
func encodeName(name string) []byte {
	var b []byte
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if l != "" {
			b = append(b, byte(len(l)))
			b = append(b, l...)
		}
	}
	return append(b, 0)
}
