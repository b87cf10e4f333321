package raftfsm

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/etcd-classic/etcd-classic/machines"
)

// statsTransport wraps raft's network transport to count append requests
// sent and received, for /v2/stats/self (etcd's recvAppendRequestCnt,
// sendAppendRequestCnt and their per-second rates).
type statsTransport struct {
	*raft.NetworkTransport
	consumer chan raft.RPC
	send     rateCounter
	recv     rateCounter
	done     chan struct{}
	once     sync.Once
}

func newStatsTransport(t *raft.NetworkTransport) *statsTransport {
	s := &statsTransport{NetworkTransport: t, consumer: make(chan raft.RPC), done: make(chan struct{})}
	go s.relay()
	return s
}

// relay counts incoming append requests on their way to raft.
func (s *statsTransport) relay() {
	in := s.NetworkTransport.Consumer()
	for {
		select {
		case rpc := <-in:
			if ae, ok := rpc.Command.(*raft.AppendEntriesRequest); ok {
				s.recv.add(appendBytes(ae))
			}
			select {
			case s.consumer <- rpc:
			case <-s.done:
				return
			}
		case <-s.done:
			return
		}
	}
}

func appendBytes(ae *raft.AppendEntriesRequest) int {
	n := 0
	for _, e := range ae.Entries {
		n += len(e.Data)
	}
	return n
}

func (s *statsTransport) Consumer() <-chan raft.RPC { return s.consumer }

// inject hands raft a request this member built itself (commit.go), as
// if it had come from the network, and returns raft's answer. It gives
// up (ok false) when stop is closed or the transport closes first.
func (s *statsTransport) inject(cmd any, stop <-chan struct{}) (resp raft.RPCResponse, ok bool) {
	ch := make(chan raft.RPCResponse, 1)
	select {
	case s.consumer <- raft.RPC{Command: cmd, RespChan: ch}:
	case <-stop:
		return resp, false
	case <-s.done:
		return resp, false
	}
	select {
	case resp = <-ch:
		return resp, true
	case <-stop:
	case <-s.done:
	}
	return resp, false
}

func (s *statsTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	s.send.add(appendBytes(args))
	return s.NetworkTransport.AppendEntries(id, target, args, resp)
}

func (s *statsTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	p, err := s.NetworkTransport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	return &statsPipeline{AppendPipeline: p, c: &s.send}, nil
}

func (s *statsTransport) Close() error {
	s.once.Do(func() { close(s.done) })
	return s.NetworkTransport.Close()
}

type statsPipeline struct {
	raft.AppendPipeline
	c *rateCounter
}

func (p *statsPipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	p.c.add(appendBytes(args))
	return p.AppendPipeline.AppendEntries(args, resp)
}

// rateCounter counts events and bytes, and their rates over the last
// second (ten 100 ms buckets).
type rateCounter struct {
	total   atomic.Uint64
	mu      sync.Mutex
	buckets [10]struct {
		slot         int64
		count, bytes float64
	}
}

func (r *rateCounter) add(bytes int) {
	r.total.Add(1)
	slot := time.Now().UnixNano() / int64(100*time.Millisecond)
	r.mu.Lock()
	b := &r.buckets[slot%10]
	if b.slot != slot {
		b.slot, b.count, b.bytes = slot, 0, 0
	}
	b.count++
	b.bytes += float64(bytes)
	r.mu.Unlock()
}

// rates returns events per second and bytes per second over the last
// second.
func (r *rateCounter) rates() (float64, float64) {
	slot := time.Now().UnixNano() / int64(100*time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	var c, b float64
	for _, bk := range r.buckets {
		if slot-bk.slot < 10 {
			c += bk.count
			b += bk.bytes
		}
	}
	return c, b
}

// AppendStats returns this member's append traffic.
func (n *Node) AppendStats() machines.AppendStats {
	var s machines.AppendStats
	s.RecvCount, s.SendCount = n.trans.recv.total.Load(), n.trans.send.total.Load()
	s.RecvPkgRate, s.RecvBytesRate = n.trans.recv.rates()
	s.SendPkgRate, s.SendBytesRate = n.trans.send.rates()
	return s
}
