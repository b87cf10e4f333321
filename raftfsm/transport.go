package raftfsm

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The peer port carries two protocols. The first byte a dialer writes on
// a new connection says which one: raft's own RPCs (hashicorp/raft's
// NetworkTransport) or the cluster RPCs of this package (forwarded
// proposals, read index, joins). With peer TLS the byte comes after the
// handshake, so both are encrypted and mutually authenticated.
const (
	protoRaft    byte = 0x01
	protoCluster byte = 0x02
)

// muxHandshakeTimeout bounds how long an accepted connection may take to
// finish TLS and send its protocol byte.
const muxHandshakeTimeout = 10 * time.Second

// peerMux accepts peer connections and hands each to the listener of its
// protocol.
type peerMux struct {
	ln      net.Listener
	raft    *subListener
	cluster *subListener
	wg      sync.WaitGroup
	once    sync.Once
}

func newPeerMux(ln net.Listener) *peerMux {
	m := &peerMux{ln: ln}
	m.raft = newSubListener(ln.Addr())
	m.cluster = newSubListener(ln.Addr())
	m.wg.Add(1)
	go m.serve()
	return m
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
		go m.route(c)
	}
}

func (m *peerMux) route(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(muxHandshakeTimeout))
	if tc, ok := c.(*tls.Conn); ok {
		if err := tc.Handshake(); err != nil {
			_ = c.Close()
			return
		}
	}
	var b [1]byte
	if _, err := c.Read(b[:]); err != nil {
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	switch b[0] {
	case protoRaft:
		m.raft.deliver(c)
	case protoCluster:
		m.cluster.deliver(c)
	default:
		_ = c.Close()
	}
}

// Close stops accepting; connections already handed out stay open.
func (m *peerMux) Close() error {
	var err error
	m.once.Do(func() {
		err = m.ln.Close()
		m.wg.Wait()
	})
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
}

func (d dialer) dial(addr string, timeout time.Duration) (net.Conn, error) {
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
	if _, err := c.Write([]byte{d.proto}); err != nil {
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
