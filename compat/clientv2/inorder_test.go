package clientv2

import (
	"fmt"
	"sort"
	"sync"
	"testing"

	"go.etcd.io/etcd/client/v2"
)

// CreateInOrder (POST) names keys after the store index, zero-padded to
// 20 digits, so that sorted listings give creation order.
func TestCreateInOrder(t *testing.T) {
	k := newKeys(t)
	q := dir(t) + "/queue"
	var keys []string
	var last uint64
	for i := 0; i < 5; i++ {
		r, err := k.CreateInOrder(ctxT(t), q, fmt.Sprintf("job%d", i), nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Action != "create" {
			t.Errorf("action = %q, want create", r.Action)
		}
		if want := fmt.Sprintf("%s/%020d", q, r.Node.CreatedIndex); r.Node.Key != want {
			t.Errorf("key = %q, want %q", r.Node.Key, want)
		}
		if r.Node.CreatedIndex <= last {
			t.Errorf("index %d not after %d", r.Node.CreatedIndex, last)
		}
		last = r.Node.CreatedIndex
		keys = append(keys, r.Node.Key)
	}
	g := mustGet(t, k, q, &client.GetOptions{Sort: true})
	if len(g.Node.Nodes) != len(keys) {
		t.Fatalf("%d nodes, want %d", len(g.Node.Nodes), len(keys))
	}
	for i, n := range g.Node.Nodes {
		if n.Key != keys[i] || n.Value != fmt.Sprintf("job%d", i) {
			t.Errorf("sorted node %d = %s=%q, want %s=job%d", i, n.Key, n.Value, keys[i], i)
		}
	}
}

// Concurrent producers all get distinct keys, and the sorted listing is
// the order of the store index.
func TestCreateInOrderConcurrent(t *testing.T) {
	q := dir(t) + "/queue"
	const producers, each = 6, 5
	var mu sync.Mutex
	created := map[string]uint64{}
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		k := newKeys(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r, err := k.CreateInOrder(ctxT(t), q, fmt.Sprintf("p%d-%d", p, i), nil)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if _, dup := created[r.Node.Key]; dup {
					t.Errorf("key %s handed out twice", r.Node.Key)
				}
				created[r.Node.Key] = r.Node.CreatedIndex
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(created) != producers*each {
		t.Fatalf("%d keys, want %d", len(created), producers*each)
	}
	g := mustGet(t, newKeys(t), q, &client.GetOptions{Sort: true, Quorum: true})
	var idx []uint64
	for _, n := range g.Node.Nodes {
		idx = append(idx, n.CreatedIndex)
		if created[n.Key] != n.CreatedIndex {
			t.Errorf("listed %s@%d, created @%d", n.Key, n.CreatedIndex, created[n.Key])
		}
	}
	if len(idx) != producers*each || !sort.SliceIsSorted(idx, func(i, j int) bool { return idx[i] < idx[j] }) {
		t.Errorf("sorted listing indexes = %v", idx)
	}
}
