package raftfsm

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
)

// The peer port carries two protocols. The first byte a dialer writes on
// a new connection says which one: raft's own RPCs (hashicorp/raft's
// NetworkTransport) or the cluster RPCs of this package (forwarded
// proposals, read index, joins). The hello (peerauth.go) follows it. With
// peer TLS both come after the handshake, so everything is encrypted and
// mutually authenticated.
const (
	protoRaft    byte = 0x01
	protoCluster byte = 0x02
)

// muxHandshakeTimeout bounds how long an accepted connection may take to
// finish TLS, send its protocol byte and hello, and take the answer.
const muxHandshakeTimeout = 10 * time.Second

// Connection caps of the peer port. A member holds a handful of
// connections to each other member (raft pools up to four and opens more
// while RPCs overlap; the cluster RPCs use one), so the per-address cap is
// far above what a cluster of members on one host needs, and far below
// what would exhaust the process.
// Anonymous connections (processes that are not members) have their own,
// smaller cap, so that they can never take the members' places.
const (
	maxPeerConns        = 1024
	maxPeerConnsPerHost = 128
	maxAnonymousConns   = 64
)

// peerMux accepts peer connections, checks each one's hello and hands it
// to the listener of its protocol.
type peerMux struct {
	ln        net.Listener
	raft      *subListener
	cluster   *subListener
	check     func(proto byte, h hello) error // set by start
	refusals  refusalLog
	handshake time.Duration
	maxConns  int
	maxHost   int
	maxAnon   int

	mu      sync.Mutex // guards open, perHost, anon
	open    int
	perHost map[string]int
	anon    int

	wg      sync.WaitGroup
	once    sync.Once
	started bool
}

// newPeerMux prepares a mux on ln; it accepts nothing until start.
func newPeerMux(ln net.Listener, log *logrus.Entry) *peerMux {
	m := &peerMux{ln: ln, handshake: muxHandshakeTimeout, maxConns: maxPeerConns, maxHost: maxPeerConnsPerHost,
		maxAnon: maxAnonymousConns, perHost: map[string]int{}}
	m.refusals.log = log
	m.raft = newSubListener(ln.Addr())
	m.cluster = newSubListener(ln.Addr())
	return m
}

// start begins accepting; check decides on each hello. Connections that
// arrive before start wait in the listen backlog.
func (m *peerMux) start(check func(proto byte, h hello) error) {
	m.check = check
	m.started = true
	m.wg.Add(1)
	go m.serve()
}

func (m *peerMux) serve() {
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			m.raft.close()
			m.cluster.close()
			return
		}
		host := remoteHost(c)
		if reason := m.acquire(host); reason != "" {
			m.refusals.warn(logrus.Fields{"remote": c.RemoteAddr().String()}, "peer connection refused: "+reason)
			_ = c.Close()
			continue
		}
		go m.route(&peerConn{Conn: c, release: func() { m.releaseSlot(host) }})
	}
}

// acquire takes a connection slot for host, or says why there is none.
func (m *peerMux) acquire(host string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.open >= m.maxConns {
		return "too many peer connections"
	}
	if m.perHost[host] >= m.maxHost {
		return "too many peer connections from this address"
	}
	m.open++
	m.perHost[host]++
	return ""
}

func (m *peerMux) releaseSlot(host string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.open--
	if m.perHost[host]--; m.perHost[host] <= 0 {
		delete(m.perHost, host)
	}
}

// acquireAnon takes one of the anonymous connections' slots for pc, given
// back when pc closes.
func (m *peerMux) acquireAnon(pc *peerConn) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.anon >= m.maxAnon {
		return errors.New("too many connections from processes that are not members")
	}
	m.anon++
	release := pc.release
	pc.release = func() {
		m.mu.Lock()
		m.anon--
		m.mu.Unlock()
		release()
	}
	return nil
}

// conns reports how many peer connections hold a slot.
func (m *peerMux) conns() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.open
}

func remoteHost(c net.Conn) string {
	a := c.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(a); err == nil {
		return h
	}
	return a
}

// route runs the handshake of one connection: TLS, the protocol byte, the
// hello and its answer, all within the handshake deadline; nothing the
// peer sends is acted on before the hello is accepted.
func (m *peerMux) route(pc *peerConn) {
	handed := false
	defer func() {
		if !handed {
			_ = pc.Close()
		}
	}()
	_ = pc.SetDeadline(time.Now().Add(m.handshake))
	if tc, ok := pc.Conn.(*tls.Conn); ok {
		if err := tc.Handshake(); err != nil {
			// A peer without an acceptable certificate is a refusal
			// worth a line; a bare connect-and-close (a port check) not.
			if !errors.Is(err, io.EOF) {
				m.refusals.warn(logrus.Fields{"remote": pc.RemoteAddr().String(), "err": err.Error()}, "peer TLS handshake failed")
			}
			return
		}
	}
	var buf [1 + helloSize]byte
	if _, err := io.ReadFull(pc, buf[:1]); err != nil {
		return
	}
	proto := buf[0]
	fields := logrus.Fields{"remote": pc.RemoteAddr().String(), "proto": proto}
	if proto != protoRaft && proto != protoCluster {
		m.refusals.warn(fields, "peer connection refused: unknown protocol byte")
		return
	}
	if _, err := io.ReadFull(pc, buf[1:]); err != nil {
		m.refusals.warn(fields, "peer connection refused: no hello")
		return
	}
	h, err := decodeHello(buf[1:])
	if err == nil {
		err = m.check(proto, h)
	}
	if err == nil && h.MemberID == 0 {
		err = m.acquireAnon(pc)
	}
	if err != nil {
		fields["cluster_id"], fields["member_id"], fields["err"] = idField(h.ClusterID), idField(h.MemberID), err.Error()
		m.refusals.warn(fields, "peer connection refused")
		_ = answerHello(pc, err)
		return
	}
	if err := answerHello(pc, nil); err != nil {
		return
	}
	_ = pc.SetDeadline(time.Time{})
	pc.from = peerIdentity{Member: h.MemberID, Cluster: h.ClusterID, Remote: pc.RemoteAddr().String()}
	handed = true
	if proto == protoRaft {
		m.raft.deliver(pc)
	} else {
		m.cluster.deliver(pc)
	}
}

// Close stops accepting; connections already handed out stay open.
func (m *peerMux) Close() error {
	var err error
	m.once.Do(func() {
		err = m.ln.Close()
		if m.started {
			m.wg.Wait()
		}
		m.raft.close()
		m.cluster.close()
	})
	return err
}

// peerConn is an accepted peer connection: it holds a slot of the mux's
// connection cap until closed, and the identity its hello established.
type peerConn struct {
	net.Conn
	from    peerIdentity
	release func()
	closed  sync.Once
}

// Close closes the connection and gives its slot back (once).
func (c *peerConn) Close() error {
	err := c.Conn.Close()
	c.closed.Do(c.release)
	return err
}

// subListener is a net.Listener fed by the mux.
type subListener struct {
	addr   net.Addr
	ch     chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newSubListener(addr net.Addr) *subListener {
	return &subListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *subListener) deliver(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *subListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *subListener) close() { l.closed.Do(func() { close(l.done) }) }

func (l *subListener) Close() error { l.close(); return nil }

func (l *subListener) Addr() net.Addr { return l.addr }

// dialer opens peer connections for one protocol.
type dialer struct {
	tls   *tls.Config // nil: plain TCP
	proto byte
	// base, when set, opens the connection in place of a net.Dialer
	// (Config.PeerDial); TLS, if any, runs over what it returns.
	base func(addr string, timeout time.Duration) (net.Conn, error)
	// hello says who is dialling; nil dials anonymously.
	hello func() hello
}

// dial opens a connection to addr and runs the handshake: TLS, the
// protocol byte and the hello, whose refusal comes back as ErrPeerRefused.
func (d dialer) dial(addr string, timeout time.Duration) (net.Conn, error) {
	start := time.Now()
	var c net.Conn
	var err error
	nd := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	switch {
	case d.base != nil:
		c, err = d.base(addr, timeout)
		if err == nil && d.tls != nil {
			c, err = clientTLS(c, addr, timeout, d.tls)
		}
	case d.tls != nil:
		c, err = tls.DialWithDialer(nd, "tcp", addr, d.tls)
	default:
		c, err = nd.Dial("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	h := anonymousHello
	if d.hello != nil {
		h = d.hello()
	}
	if err := dialHello(c, d.proto, h, start.Add(timeout)); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// streamLayer adapts the mux to raft.StreamLayer. Addr reports the
// advertised peer address (raft refuses an unspecified bind address).
type streamLayer struct {
	*subListener
	d         dialer
	advertise net.Addr
}

func (s *streamLayer) Addr() net.Addr { return s.advertise }

func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return s.d.dial(string(addr), timeout)
}

// clientTLS runs a TLS client handshake over c, naming the server as
// tls.Dial would.
func clientTLS(c net.Conn, addr string, timeout time.Duration, cfg *tls.Config) (net.Conn, error) {
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		} else {
			cfg.ServerName = addr
		}
	}
	tc := tls.Client(c, cfg)
	_ = tc.SetDeadline(time.Now().Add(timeout))
	if err := tc.Handshake(); err != nil {
		_ = c.Close()
		return nil, err
	}
	_ = tc.SetDeadline(time.Time{})
	return tc, nil
}
