package raftfsm

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// rpcPool keeps one multiplexed connection per peer address, and closes
// the ones left unused for rpcClientIdle — before the server would.
type rpcPool struct {
	d     dialer
	idle  time.Duration
	mu    sync.Mutex
	conns map[string]*rpcConn
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

func newRPCPool(d dialer) *rpcPool { return newRPCPoolIdle(d, rpcClientIdle) }

// newRPCPoolIdle is newRPCPool with another idle time (tests).
func newRPCPoolIdle(d dialer, idle time.Duration) *rpcPool {
	p := &rpcPool{d: d, idle: idle, conns: map[string]*rpcConn{}, stop: make(chan struct{}), done: make(chan struct{})}
	go p.sweep()
	return p
}

// errNotSent marks a call that failed before anything reached the peer
// (it could not be dialled): retrying it elsewhere is safe.
var errNotSent = errors.New("raftfsm: request not sent")

// call sends one request to addr and waits for its reply.
func (p *rpcPool) call(ctx context.Context, addr string, op byte, payload []byte) ([]byte, error) {
	if len(payload) > maxRequestFrame {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", errFrameTooLarge, len(payload), maxRequestFrame)
	}
	for attempt := 0; ; attempt++ {
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
			// The connection closed (idle, or the peer went away) before
			// this call was written: a fresh one may carry it.
			if errors.Is(err, errNotSent) && attempt == 0 && ctx.Err() == nil {
				continue
			}
		}
		return reply, err
	}
}

func (p *rpcPool) get(ctx context.Context, addr string) (*rpcConn, error) {
	p.mu.Lock()
	if c, ok := p.conns[addr]; ok && !c.closeIfIdle(p.idle) {
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

// sweep closes idle connections until the pool is closed.
func (p *rpcPool) sweep() {
	defer close(p.done)
	t := time.NewTicker(p.idle / 4)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		p.mu.Lock()
		for a, c := range p.conns {
			if c.closeIfIdle(p.idle) {
				delete(p.conns, a)
			}
		}
		p.mu.Unlock()
	}
}

// Close closes every connection and stops the sweeper; it is idempotent.
func (p *rpcPool) Close() {
	p.once.Do(func() { close(p.stop) })
	<-p.done
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
	w       frameWriter
	mu      sync.Mutex // guards the fields below
	next    uint32
	pending map[uint32]chan rpcReply
	lastUse time.Time // last call sent or reply received
	broken  error
}

func newRPCConn(nc net.Conn) *rpcConn {
	c := &rpcConn{nc: nc, w: frameWriter{bw: bufio.NewWriter(nc)}, pending: map[uint32]chan rpcReply{}, lastUse: time.Now()}
	go c.readLoop()
	return c
}

func (c *rpcConn) isBroken() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.broken != nil
}

// errIdle closes a client connection nobody used for rpcClientIdle.
var errIdle = errors.New("raftfsm: idle connection closed")

// closeIfIdle closes the connection if no call is waiting on it and it was
// not used for idle; it reports whether the connection is now closed.
// A call registers under the same lock, so it either finds the
// connection closed (and is not sent) or keeps it open.
func (c *rpcConn) closeIfIdle(idle time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return true
	}
	if len(c.pending) > 0 || time.Since(c.lastUse) < idle {
		return false
	}
	c.broken = errIdle
	_ = c.nc.Close()
	return true
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
	for {
		// Wait as long as it takes for a reply to start (calls bound
		// themselves with their contexts), then read it within the frame
		// timeout.
		if _, err := br.Peek(1); err != nil {
			c.fail(err)
			return
		}
		_ = c.nc.SetReadDeadline(time.Now().Add(frameTimeout))
		id, status, payload, err := readFrame(br, maxReplyFrame)
		if err != nil {
			c.fail(err)
			return
		}
		_ = c.nc.SetReadDeadline(time.Time{})
		c.mu.Lock()
		ch := c.pending[id]
		delete(c.pending, id)
		c.lastUse = time.Now()
		c.mu.Unlock()
		if ch != nil {
			ch <- rpcReply{status: status, payload: payload}
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
	c.lastUse = time.Now()
	c.mu.Unlock()

	err := c.w.write(c.nc, func(bw *bufio.Writer) error {
		var hdr [9]byte
		binary.BigEndian.PutUint32(hdr[0:4], id)
		hdr[4] = op
		binary.BigEndian.PutUint32(hdr[5:9], uint32(len(payload)))
		_, _ = bw.Write(hdr[:])
		_, err := bw.Write(payload)
		return err
	})
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

// brokenErr is why the connection closed (nil while open).
func (c *rpcConn) brokenErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.broken
}
