package raftfsm

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pipeListener hands out the server ends of in-memory pipes. A write on a
// pipe returns only once the other end has read it, which lets a test
// know what the server has consumed.
type pipeListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial returns the client end of a new pipe whose server end the listener
// hands out.
func (l *pipeListener) dial() (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case l.ch <- s:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

func frameHeader(id uint32, op byte, n uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, id)
	b = append(b, op)
	return binary.BigEndian.AppendUint32(b, n)
}

// waitClosed reads c until the server closes it and fails if that takes
// longer than within.
func waitClosed(t *testing.T, c net.Conn, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(within))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection was still open after %v", within)
	}
	return time.Since(start)
}

// Finding 2 of issue 17: a frame header announcing 64 MiB allocated it
// up front. A header announcing more than the limit closes the
// connection; one within the limit costs only the bytes that arrive.
func TestFrameAnnouncementsAllocateNothing(t *testing.T) {
	served := atomic.Int64{}
	ln := newPipeListener()
	srv := newRPCServer(ln, func(context.Context, peerIdentity, byte, []byte) ([]byte, error) {
		served.Add(1)
		return nil, nil
	}, quietLog())
	defer srv.Close()
	allocated := func(announce uint32, sent int) (uint64, net.Conn) {
		c, err := ln.dial()
		if err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		// On a pipe a write returns once the server has read it: after
		// the second write the server has taken the header and gone on
		// to wait for the payload.
		if _, err := c.Write(append(frameHeader(1, opJoin, announce), make([]byte, sent)...)); err != nil {
			return 0, c
		}
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = c.Write([]byte{0})
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc, c
	}
	for _, announce := range []uint32{maxRequestFrame, maxRequestFrame + 1, 64 << 20, 1<<32 - 1} {
		got, c := allocated(announce, 100)
		if got > 1<<20 {
			t.Errorf("announcing %d bytes and sending 100 allocated %d bytes", announce, got)
		}
		if announce > maxRequestFrame {
			waitClosed(t, c, 5*time.Second)
		}
		_ = c.Close()
	}
	if served.Load() != 0 {
		t.Fatalf("%d incomplete or oversized frames were served", served.Load())
	}
	// A full frame of the largest size still goes through.
	c, err := ln.dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		_, _ = c.Write(append(frameHeader(7, opJoin, maxRequestFrame), make([]byte, maxRequestFrame)...))
	}()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	id, status, _, err := readFrame(bufio.NewReader(c), maxReplyFrame)
	if err != nil || id != 7 || status != statusOK || served.Load() != 1 {
		t.Fatalf("largest frame: id %d status %d err %v served %d", id, status, err, served.Load())
	}
}

// readPayload returns exactly the bytes announced, whether they come in
// one piece or many, and fails on a short stream.
func TestReadPayload(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, readChunk, readChunk + 1, 3*readChunk + 17} {
		want := make([]byte, n)
		for i := range want {
			want[i] = byte(i * 7)
		}
		got, err := readPayload(iotestHalf{r: bytesReader(want)}, n)
		if err != nil || string(got) != string(want) {
			t.Fatalf("%d bytes: got %d bytes, err %v", n, len(got), err)
		}
		if n > 0 {
			if _, err := readPayload(bytesReader(want[:n-1]), n); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%d bytes, one short: err %v", n, err)
			}
		}
	}
}

type iotestHalf struct{ r io.Reader }

// Read returns at most half of what was asked (at least one byte).
func (h iotestHalf) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:len(p)/2]
	}
	return h.r.Read(p)
}

func bytesReader(b []byte) io.Reader { return &sliceReader{b: b} }

type sliceReader struct{ b []byte }

func (s *sliceReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

// A silent connection is closed after the idle timeout, a frame that
// stops half way after the frame timeout; a call that runs longer than
// the idle timeout keeps its connection open and gets its answer.
func TestRPCServerDeadlines(t *testing.T) {
	t.Parallel()
	ln := newPipeListener()
	release := make(chan struct{})
	srv := newRPCServer(ln, func(_ context.Context, _ peerIdentity, op byte, _ []byte) ([]byte, error) {
		if op == opStatus {
			<-release
		}
		return []byte("ok"), nil
	}, quietLog())
	// (Connections that do not come through the mux are anonymous.)
	srv.idleAnon, srv.frameDur = 300*time.Millisecond, 300*time.Millisecond
	defer srv.Close()

	idle, err := ln.dial()
	if err != nil {
		t.Fatal(err)
	}
	if d := waitClosed(t, idle, 10*time.Second); d < srv.idleAnon-50*time.Millisecond {
		t.Errorf("an idle connection was closed after %v, before the idle timeout", d)
	}
	slow, err := ln.dial()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := slow.Write(frameHeader(1, opJoin, 10)[:5]); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, slow, 10*time.Second)
	slowPayload, err := ln.dial()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := slowPayload.Write(append(frameHeader(1, opJoin, 10), 1, 2, 3)); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, slowPayload, 10*time.Second)

	busy, err := ln.dial()
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := busy.Write(frameHeader(9, opStatus, 0)); err != nil {
		t.Fatal(err)
	}
	replies := make(chan error, 1)
	go func() {
		_ = busy.SetReadDeadline(time.Now().Add(20 * time.Second))
		id, _, payload, err := readFrame(bufio.NewReader(busy), maxReplyFrame)
		if err == nil && (id != 9 || string(payload) != "ok") {
			err = errors.New("wrong reply")
		}
		replies <- err
	}()
	select {
	case err := <-replies:
		t.Fatalf("the call ended before it was answered: %v", err)
	case <-time.After(4 * srv.idleAnon): // the gap the test is about
	}
	close(release)
	if err := <-replies; err != nil {
		t.Fatalf("a call that outlasted the idle timeout: %v", err)
	}
}

// The client pool closes a connection it has not used for its idle time
// itself, before the server would: whatever the pause between two calls,
// no call meets a connection the server is dropping (which would leave
// its outcome unknown).
func TestRPCPoolClosesIdleConnectionsFirst(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newRPCServer(protoListener{ln}, func(context.Context, peerIdentity, byte, []byte) ([]byte, error) {
		return []byte("ok"), nil
	}, quietLog())
	defer srv.Close()
	srv.idleAnon = 400 * time.Millisecond // (protoListener's connections are anonymous)
	p := newRPCPoolIdle(dialer{proto: protoCluster}, srv.idleAnon/2)
	defer p.Close()
	serverConns := func() int {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.conns)
	}
	call := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := p.call(ctx, ln.Addr().String(), opStatus, nil); err != nil {
			t.Fatalf("call: %v", err)
		}
	}
	call()
	for _, gap := range []time.Duration{100, 190, 210, 350, 390, 410, 600, 900} {
		time.Sleep(gap * time.Millisecond) // the pause the test is about
		call()
	}
	p.mu.Lock()
	last := p.conns[ln.Addr().String()]
	p.mu.Unlock()
	eventually(t, "the idle connection closed", func() bool { return serverConns() == 0 })
	if !errors.Is(last.brokenErr(), errIdle) {
		t.Fatalf("the connection was closed by %v, not by the client's idle timeout", last.brokenErr())
	}
}

// The mux holds at most its cap of connections per remote address (and
// in all); a connection over the cap is closed at once, and a slot comes
// back when a connection closes. A connection that sends no hello is
// closed after the handshake timeout.
func TestPeerConnectionCap(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := newPeerMux(ln, quietLog())
	m.maxHost, m.handshake = 3, time.Minute
	m.start(func(byte, hello) error { return nil })
	defer m.Close()
	dial := func(ln net.Listener) net.Conn {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	var held []net.Conn
	for i := 0; i < 3; i++ {
		held = append(held, dial(ln))
	}
	eventually(t, "three connections held", func() bool { return m.conns() == 3 })
	if d := waitClosed(t, dial(ln), 10*time.Second); d > time.Second {
		t.Errorf("a connection over the cap stayed open %v", d)
	}
	_ = held[0].Close()
	eventually(t, "a slot back", func() bool { return m.conns() == 2 })
	dial(ln)
	eventually(t, "the slot taken", func() bool { return m.conns() == 3 })

	// Processes that are not members have a cap of their own.
	m.maxAnon = 1
	for _, c := range held[1:] {
		_ = c.Close()
	}
	eventually(t, "slots back", func() bool { return m.conns() == 1 })
	anon := dialer{proto: protoCluster}
	c1, err := anon.dial(ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	if _, err := anon.dial(ln.Addr().String(), 5*time.Second); !errors.Is(err, ErrPeerRefused) || !strings.Contains(err.Error(), "not members") {
		t.Fatalf("a second anonymous connection: %v", err)
	}

	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m2 := newPeerMux(ln2, quietLog())
	m2.handshake = 500 * time.Millisecond
	m2.start(func(byte, hello) error { return nil })
	defer m2.Close()
	c := dial(ln2)
	if _, err := c.Write([]byte{protoRaft, 'E'}); err != nil {
		t.Fatal(err)
	}
	if d := waitClosed(t, c, 10*time.Second); d < 400*time.Millisecond {
		t.Errorf("a slow handshake was cut after %v, before the handshake timeout", d)
	}
	eventually(t, "its slot back", func() bool { return m2.conns() == 0 })
}
