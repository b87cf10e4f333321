package raftfsm

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// Cluster RPCs travel on the peer port (protocol byte protoCluster) as
// length-prefixed frames, many in flight on one connection:
//
//	request:  id uint32 | op byte     | len uint32 | payload
//	response: id uint32 | status byte | len uint32 | payload
//
// status 0 carries the op's reply, status 1 an encoded error.
const (
	opPropose   byte = 1 // payload: encoded command; reply: proposeReply JSON
	opReadIndex byte = 2 // reply: uvarint commit index, leadership verified
	opJoin      byte = 3 // payload: joinRequest JSON; reply: joinReply JSON
	opMember    byte = 4 // payload: memberRequest JSON; reply: member JSON
	// opProposeBin (6) is opPropose with the reply in binary (reply.go).
	opProposeBin byte = 6

	statusOK  byte = 0
	statusErr byte = 1

	// maxFrame bounds a frame: a 10 MiB value plus its key and envelope.
	maxFrame = 64 << 20
)

type rpcHandler func(ctx context.Context, op byte, payload []byte) ([]byte, error)

// rpcServer serves cluster RPCs on the connections the mux hands it.
type rpcServer struct {
	ln      net.Listener
	handle  rpcHandler
	log     *logrus.Entry
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closing bool
}

func newRPCServer(ln net.Listener, h rpcHandler, log *logrus.Entry) *rpcServer {
	ctx, cancel := context.WithCancel(context.Background())
	s := &rpcServer{ln: ln, handle: h, log: log, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s
}

func (s *rpcServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serveConn(c)
	}
}

func (s *rpcServer) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.Close()
	}()
	br := bufio.NewReader(c)
	var wmu sync.Mutex
	bw := bufio.NewWriter(c)
	var hdr [9]byte
	var inflight sync.WaitGroup
	defer inflight.Wait()
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		id := binary.BigEndian.Uint32(hdr[0:4])
		op := hdr[4]
		n := binary.BigEndian.Uint32(hdr[5:9])
		if n > maxFrame {
			return
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			return
		}
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			reply, err := s.handle(s.ctx, op, payload)
			status := statusOK
			if err != nil {
				status, reply = statusErr, encodeRPCError(err)
			}
			wmu.Lock()
			defer wmu.Unlock()
			writeFrame(bw, id, status, reply)
			_ = bw.Flush()
		}()
	}
}

func writeFrame(w *bufio.Writer, id uint32, b byte, payload []byte) {
	var hdr [9]byte
	binary.BigEndian.PutUint32(hdr[0:4], id)
	hdr[4] = b
	binary.BigEndian.PutUint32(hdr[5:9], uint32(len(payload)))
	_, _ = w.Write(hdr[:])
	_, _ = w.Write(payload)
}

func (s *rpcServer) Close() {
	s.mu.Lock()
	s.closing = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	_ = s.ln.Close()
	s.wg.Wait()
}

// rpcError is an error that crossed the wire: a sentinel of this package
// (by name) or a plain message.
func encodeRPCError(err error) []byte {
	for kind, sentinel := range sentinelsByName {
		if errors.Is(err, sentinel) {
			return []byte("S" + kind)
		}
	}
	return []byte("M" + err.Error())
}

var sentinelsByName = map[string]error{
	"noleader": ErrNoLeader,
	"timeout":  ErrTimeout,
	"lost":     ErrLeadershipLost,
	"stopped":  ErrStopped,
}

// errRemote is a failure reported by the remote member.
var errRemote = errors.New("raftfsm: remote error")

func decodeRPCError(b []byte) error {
	if len(b) > 0 && b[0] == 'S' {
		if s, ok := sentinelsByName[string(b[1:])]; ok {
			return apiError(s)
		}
	}
	if len(b) > 0 {
		b = b[1:]
	}
	return fmt.Errorf("%w: %s", errRemote, b)
}

// rpcPool keeps one multiplexed connection per peer address.
type rpcPool struct {
	d     dialer
	mu    sync.Mutex
	conns map[string]*rpcConn
}

func newRPCPool(d dialer) *rpcPool { return &rpcPool{d: d, conns: map[string]*rpcConn{}} }

// errNotSent marks a call that failed before anything reached the peer
// (it could not be dialled): retrying it elsewhere is safe.
var errNotSent = errors.New("raftfsm: request not sent")

// call sends one request to addr and waits for its reply.
func (p *rpcPool) call(ctx context.Context, addr string, op byte, payload []byte) ([]byte, error) {
	c, err := p.get(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNotSent, err)
	}
	reply, err := c.call(ctx, op, payload)
	if err != nil && c.isBroken() {
		p.mu.Lock()
		if p.conns[addr] == c {
			delete(p.conns, addr)
		}
		p.mu.Unlock()
	}
	return reply, err
}

func (p *rpcPool) get(ctx context.Context, addr string) (*rpcConn, error) {
	p.mu.Lock()
	if c, ok := p.conns[addr]; ok && !c.isBroken() {
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	nc, err := p.d.dial(addr, timeout)
	if err != nil {
		return nil, err
	}
	c := newRPCConn(nc)
	p.mu.Lock()
	if old, ok := p.conns[addr]; ok && !old.isBroken() {
		p.mu.Unlock()
		c.close()
		return old, nil
	}
	p.conns[addr] = c
	p.mu.Unlock()
	return c, nil
}

func (p *rpcPool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for a, c := range p.conns {
		c.close()
		delete(p.conns, a)
	}
}

type rpcReply struct {
	status  byte
	payload []byte
}

// rpcConn is one multiplexed client connection.
type rpcConn struct {
	nc      net.Conn
	wmu     sync.Mutex // serialises writes
	bw      *bufio.Writer
	mu      sync.Mutex // guards the fields below
	next    uint32
	pending map[uint32]chan rpcReply
	broken  error
}

func newRPCConn(nc net.Conn) *rpcConn {
	c := &rpcConn{nc: nc, bw: bufio.NewWriter(nc), pending: map[uint32]chan rpcReply{}}
	go c.readLoop()
	return c
}

func (c *rpcConn) isBroken() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.broken != nil
}

func (c *rpcConn) close() { c.fail(net.ErrClosed) }

func (c *rpcConn) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return
	}
	c.broken = err
	_ = c.nc.Close()
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
}

func (c *rpcConn) readLoop() {
	br := bufio.NewReader(c.nc)
	var hdr [9]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			c.fail(err)
			return
		}
		id := binary.BigEndian.Uint32(hdr[0:4])
		n := binary.BigEndian.Uint32(hdr[5:9])
		if n > maxFrame {
			c.fail(errors.New("raftfsm: oversized reply"))
			return
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			c.fail(err)
			return
		}
		c.mu.Lock()
		ch := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if ch != nil {
			ch <- rpcReply{status: hdr[4], payload: payload}
		}
	}
}

func (c *rpcConn) call(ctx context.Context, op byte, payload []byte) ([]byte, error) {
	ch := make(chan rpcReply, 1)
	c.mu.Lock()
	if c.broken != nil {
		err := c.broken
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", errNotSent, err)
	}
	c.next++
	id := c.next
	c.pending[id] = ch
	c.mu.Unlock()

	c.wmu.Lock()
	var hdr [9]byte
	binary.BigEndian.PutUint32(hdr[0:4], id)
	hdr[4] = op
	binary.BigEndian.PutUint32(hdr[5:9], uint32(len(payload)))
	_, err := c.bw.Write(hdr[:])
	if err == nil {
		_, err = c.bw.Write(payload)
	}
	if err == nil {
		err = c.bw.Flush()
	}
	c.wmu.Unlock()
	if err != nil {
		c.fail(err)
		return nil, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("raftfsm: connection to peer lost")
		}
		if r.status != statusOK {
			return nil, decodeRPCError(r.payload)
		}
		return r.payload, nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return nil, ctx.Err()
	}
}
