package raftfsm

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/etcd-classic/etcd-classic/store"
)

func BenchmarkFSMApply(b *testing.B) {
	f := newFSM(store.New(), quietLog())
	logs := make([]*raft.Log, 1000)
	for i := range logs {
		data, _ := encodeCommand(&command{Type: cmdRequest, Time: fsmT0, Req: &store.Request{Method: "PUT", Path: "/k" + strconv.Itoa(i), Value: "value"}})
		logs[i] = &raft.Log{Type: raft.LogCommand, Data: data}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l := logs[i%len(logs)]
		l.Index = uint64(i + 1)
		f.Apply(l)
	}
}

// BenchmarkPropose3 is an end-to-end write through an in-process
// three-member cluster over loopback TCP (raft, bolt fsync, replication,
// apply), with 256 concurrent proposers; no HTTP.
func BenchmarkPropose3(b *testing.B) {
	ms := startCluster(b, 3)
	eventually(b, "leader", func() bool { return leaderOf(ms) != nil })
	ld := leaderOf(ms)
	const clients = 256
	var wg sync.WaitGroup
	next := make(chan int, clients)
	b.ReportAllocs()
	b.ResetTimer()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if _, err := ld.node.Propose(context.Background(), &store.Request{Method: "PUT", Path: "/b/" + strconv.Itoa(i%10000), Value: "value"}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	for i := 0; i < b.N; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}
