package store

import "container/heap"

// ttlHeap orders the nodes that have a TTL by expiration time, earliest
// first. Ties are broken by path so that the order of expiry, and with it
// the index each expire event gets, is the same on every replica.
type ttlHeap struct {
	nodes []*node
}

func (h *ttlHeap) Len() int { return len(h.nodes) }

func (h *ttlHeap) Less(i, j int) bool {
	a, b := h.nodes[i], h.nodes[j]
	if a.ttl.expire.Equal(b.ttl.expire) {
		return a.path < b.path
	}
	return a.ttl.expire.Before(b.ttl.expire)
}

func (h *ttlHeap) Swap(i, j int) {
	h.nodes[i], h.nodes[j] = h.nodes[j], h.nodes[i]
	h.nodes[i].ttl.heapIndex = i
	h.nodes[j].ttl.heapIndex = j
}

func (h *ttlHeap) Push(x any) {
	n := x.(*node)
	n.ttl.heapIndex = len(h.nodes)
	h.nodes = append(h.nodes, n)
}

func (h *ttlHeap) Pop() any {
	old := h.nodes
	n := old[len(old)-1]
	old[len(old)-1] = nil
	h.nodes = old[:len(old)-1]
	n.ttl.heapIndex = -1
	return n
}

// top returns the node that expires first, or nil.
func (h *ttlHeap) top() *node {
	if len(h.nodes) == 0 {
		return nil
	}
	return h.nodes[0]
}

// add inserts n, which must have a ttl, or repositions it if it is
// already in the heap.
func (h *ttlHeap) add(n *node) {
	if n.ttl.heapIndex >= 0 {
		heap.Fix(h, n.ttl.heapIndex)
		return
	}
	heap.Push(h, n)
}

// remove takes n out of the heap if it is in it.
func (h *ttlHeap) remove(n *node) {
	if n.ttl != nil && n.ttl.heapIndex >= 0 {
		heap.Remove(h, n.ttl.heapIndex)
	}
}
