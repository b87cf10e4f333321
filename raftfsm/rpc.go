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
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// Cluster RPCs travel on the peer port (protocol byte protoCluster) as
// length-prefixed frames, many in flight on one connection:
//
//	request:  id uint32 | op byte     | len uint32 | payload
//	response: id uint32 | status byte | len uint32 | payload
//
// status 0 carries the op's reply, status 1 an encoded error
// (errors.go). The ops and their handlers are rpcops.go's table.
const (
	statusOK  byte = 0
	statusErr byte = 1
)

// Limits of the cluster RPC connections.
const (
	// maxValueBytes is the largest value the client API accepts: httpapi's
	// cap on a form body (10 MiB, Go's and etcd's) less "value=". The
	// leader refuses a forwarded write with a larger value.
	maxValueBytes = 10<<20 - len("value=")
	// maxRequestFrame bounds a request: one forwarded write, whose value,
	// previous value and key the client API bounds (a 10 MiB body and
	// 1 MiB of request line and headers), plus the command envelope.
	maxRequestFrame = 12 << 20
	// maxReplyFrame bounds a reply: a node and its previous node, each a
	// value and a key, plus the envelope.
	maxReplyFrame = 24 << 20
	// frameTimeout bounds the reading of one frame once its first byte
	// has arrived (12 MiB in 30 s is 400 KB/s), and the writing of one.
	frameTimeout = 30 * time.Second
	// rpcServerIdle closes a server connection that has carried no frame
	// and had no call in flight for this long; rpcServerIdleAnonymous is
	// the same for a process that is not a member (a joiner, a proxy),
	// which makes a call or two and goes.
	rpcServerIdle          = 2 * time.Minute
	rpcServerIdleAnonymous = 15 * time.Second
	// rpcClientIdle closes a pooled client connection unused for this
	// long. It is well below rpcServerIdle, so the server never drops a
	// connection a client may still send on (a call lost that way would
	// end as "outcome unknown"); rpcClientIdleAnonymous likewise.
	rpcClientIdle          = time.Minute
	rpcClientIdleAnonymous = 5 * time.Second
	// readChunk is how much of a payload is allocated before more bytes
	// have arrived.
	readChunk = 64 << 10
	// Calls served at once on one connection; the connection is not read
	// further until one ends.
	maxInflightMember    = 1024
	maxInflightAnonymous = 4
)

// errFrameTooLarge marks a frame header announcing more than the limit.
var errFrameTooLarge = errors.New("raftfsm: frame too large")

type rpcHandler func(ctx context.Context, from peerIdentity, op byte, payload []byte) ([]byte, error)

// rpcServer serves cluster RPCs on the connections the mux hands it.
type rpcServer struct {
	ln       net.Listener
	handle   rpcHandler
	log      *logrus.Entry
	idle     time.Duration // rpcServerIdle
	idleAnon time.Duration // rpcServerIdleAnonymous
	frameDur time.Duration // frameTimeout
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	closing  bool
}

func newRPCServer(ln net.Listener, h rpcHandler, log *logrus.Entry) *rpcServer {
	ctx, cancel := context.WithCancel(context.Background())
	s := &rpcServer{ln: ln, handle: h, log: log, idle: rpcServerIdle, idleAnon: rpcServerIdleAnonymous, frameDur: frameTimeout,
		ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
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

// connActivity tracks what the idle timeout of a server connection needs.
type connActivity struct {
	inflight atomic.Int64
	last     atomic.Int64 // Unix ns of the last frame read or reply written
}

func (a *connActivity) touch() { a.last.Store(time.Now().UnixNano()) }

func (s *rpcServer) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.Close()
	}()
	from := identityOf(c)
	br := bufio.NewReader(c)
	fw := frameWriter{bw: bufio.NewWriter(c), timeout: s.frameDur}
	var act connActivity
	act.touch()
	slots, idle := make(chan struct{}, maxInflightMember), s.idle
	if from.anonymous() {
		slots, idle = make(chan struct{}, maxInflightAnonymous), s.idleAnon
	}
	var inflight sync.WaitGroup
	defer inflight.Wait()
	for {
		if err := awaitFrame(c, br, &act, idle); err != nil {
			return
		}
		_ = c.SetReadDeadline(time.Now().Add(s.frameDur))
		id, op, payload, err := readFrame(br, maxRequestFrame)
		if err != nil {
			if errors.Is(err, errFrameTooLarge) {
				s.log.WithFields(logrus.Fields{"remote": from.Remote, "member_id": idField(from.Member), "op": op}).Warn("peer sent an oversized frame; connection closed")
			}
			return
		}
		act.touch()
		select {
		case slots <- struct{}{}:
		case <-s.ctx.Done():
			return
		}
		act.inflight.Add(1)
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			defer func() { <-slots }()
			reply, err := s.handle(s.ctx, from, op, payload)
			status := statusOK
			if err != nil {
				status, reply = statusErr, encodeRPCError(err)
			}
			err = fw.write(c, func(bw *bufio.Writer) error {
				writeFrame(bw, id, status, reply)
				return nil
			})
			if err != nil {
				// A peer that does not read its answers (or a write that
				// timed out, which leaves TLS unusable) ends the connection.
				_ = c.Close()
			}
			act.touch()
			act.inflight.Add(-1)
		}()
	}
}

// awaitFrame waits until the next frame starts. A connection with no call
// in flight that stays silent for the idle timeout is closed; nothing is
// consumed from br while waiting, so a wait that times out only to be
// extended leaves the stream intact.
func awaitFrame(c net.Conn, br *bufio.Reader, act *connActivity, idle time.Duration) error {
	for {
		deadline := time.Unix(0, act.last.Load()).Add(idle)
		if act.inflight.Load() > 0 {
			deadline = time.Now().Add(idle)
		}
		_ = c.SetReadDeadline(deadline)
		_, err := br.Peek(1)
		if err == nil {
			return nil
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			return err
		}
		if act.inflight.Load() == 0 && time.Since(time.Unix(0, act.last.Load())) >= idle {
			return err
		}
	}
}

// readFrame reads one frame whose payload may announce at most limit
// bytes. The payload is allocated as its bytes arrive, never up front.
func readFrame(br *bufio.Reader, limit uint32) (id uint32, kind byte, payload []byte, err error) {
	var hdr [9]byte
	if _, err = io.ReadFull(br, hdr[:]); err != nil {
		return 0, 0, nil, err
	}
	id, kind = binary.BigEndian.Uint32(hdr[0:4]), hdr[4]
	n := binary.BigEndian.Uint32(hdr[5:9])
	if n > limit {
		return id, kind, nil, fmt.Errorf("%w: %d bytes announced, the limit is %d", errFrameTooLarge, n, limit)
	}
	payload, err = readPayload(br, int(n))
	return id, kind, payload, err
}

// readPayload reads exactly n bytes, growing the buffer as they arrive so
// that an announced length costs nothing until it is sent.
func readPayload(r io.Reader, n int) ([]byte, error) {
	if n <= readChunk {
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return b, nil
	}
	b := make([]byte, 0, readChunk)
	for len(b) < n {
		if len(b) == cap(b) {
			nb := make([]byte, len(b), min(2*cap(b), n))
			copy(nb, b)
			b = nb
		}
		k, err := r.Read(b[len(b):min(cap(b), n)])
		b = b[:len(b)+k]
		if err != nil && len(b) < n {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return b, nil
}

// frameWriter writes the frames of one connection. Writers that find
// others waiting leave the flush to the last of them, so frames written
// at about the same time share one write to the socket (and, with TLS,
// one record) instead of one system call each.
type frameWriter struct {
	waiting atomic.Int32 // writers waiting for mu
	mu      sync.Mutex   // serialises writes
	bw      *bufio.Writer
	timeout time.Duration // per write; 0 means frameTimeout
}

// write runs fill (which writes one frame into bw) and flushes unless
// another writer is waiting, which then flushes both. The error is the
// first the buffer met (bufio keeps it: every later write fails too).
func (w *frameWriter) write(c net.Conn, fill func(bw *bufio.Writer) error) error {
	w.waiting.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waiting.Add(-1)
	d := w.timeout
	if d == 0 {
		d = frameTimeout
	}
	_ = c.SetWriteDeadline(time.Now().Add(d))
	err := fill(w.bw)
	if err == nil && w.waiting.Load() == 0 {
		err = w.bw.Flush()
	}
	return err
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
