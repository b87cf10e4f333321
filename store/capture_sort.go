package store

import (
	"slices"
	"strings"
)

// Capture.WriteTo sorts each directory's children as it reaches them.
// It sorts small keys, not the 48-byte records, and a key is almost
// always enough to order two names: one integer compare, or one radix
// pass per byte that differs, instead of a string comparison through a
// function value for each of n log n pairs.

// sortKey orders one child among its siblings: key is the first 8 bytes
// of its name after the prefix all the siblings share, big-endian and
// zero-padded, so that keys order as the names do (equal keys fall back
// to comparing the names); i is its position in Capture.nodes.
type sortKey struct {
	key uint64
	i   int32
}

// childSorter sorts the children of one directory at a time. Its zero
// value with c set is ready.
type childSorter struct {
	c   *Capture
	tmp []sortKey // radix sort's second buffer, reused
	// touched keeps the bytes children loads ahead of encoding (so that
	// the compiler cannot drop the loads).
	touched byte
}

// children appends the sort keys of dir's children to order, unsorted.
// Siblings often share a long prefix (etcd's in-order keys are 20
// digits, mostly zeros; "node-", "pod-" ...): keying on the bytes after
// it keeps almost every key distinct.
func (cs *childSorter) children(order []sortKey, dir *capNode) []sortKey {
	nodes := cs.c.nodes
	kids := nodes[dir.first : dir.first+dir.count]
	if len(kids) == 0 {
		return order
	}
	common := kids[0].n.name
	for j := 1; j < len(kids) && common != ""; j++ {
		common = common[:commonPrefix(common, kids[j].n.name)]
	}
	skip := len(common)
	var t byte
	for j := range kids {
		k := &kids[j]
		order = append(order, sortKey{prefixKey(k.n.name[skip:]), dir.first + int32(j)})
		// Load now what encoding the child will read: here the loads
		// are independent and overlap; there, in sorted order, each
		// would be a cache miss of its own.
		if k.value != "" {
			t ^= k.value[0]
		}
		if k.ttl != 0 {
			t ^= byte(cs.c.ttls[k.ttl-1].expire.Nanosecond())
		}
	}
	cs.touched ^= t
	return order
}

// less orders two children by key, then by name.
func (cs *childSorter) less(a, b sortKey) bool {
	if a.key != b.key {
		return a.key < b.key
	}
	return cs.c.nodes[a.i].n.name < cs.c.nodes[b.i].n.name
}

// sort orders keys by name: by insertion when they are few, else by a
// radix sort on the key bytes that differ, then by name among equal
// keys.
func (cs *childSorter) sort(keys []sortKey) {
	if len(keys) <= 32 {
		for i := 1; i < len(keys); i++ {
			for j := i; j > 0 && cs.less(keys[j], keys[j-1]); j-- {
				keys[j], keys[j-1] = keys[j-1], keys[j]
			}
		}
		return
	}
	and, or := ^uint64(0), uint64(0)
	for _, k := range keys {
		and &= k.key
		or |= k.key
	}
	varies := and ^ or
	if cap(cs.tmp) < len(keys) {
		cs.tmp = make([]sortKey, len(keys))
	}
	// Least significant byte first; each pass is stable, so the keys end
	// up ordered by all of their bytes. Bytes equal in every key are
	// skipped (a short name's padding, a digit's high bits).
	src, dst := keys, cs.tmp[:len(keys)]
	for shift := 0; shift < 64; shift += 8 {
		if byte(varies>>shift) == 0 {
			continue
		}
		var at [256]int
		for _, k := range src {
			at[byte(k.key>>shift)]++
		}
		sum := 0
		for b, n := range at {
			at[b] = sum
			sum += n
		}
		for _, k := range src {
			b := byte(k.key >> shift)
			dst[at[b]] = k
			at[b]++
		}
		src, dst = dst, src
	}
	if &src[0] != &keys[0] {
		copy(keys, src)
	}
	// Names that share their key: order each run by the whole name.
	for i := 0; i < len(keys); {
		j := i + 1
		for j < len(keys) && keys[j].key == keys[i].key {
			j++
		}
		if j-i > 1 {
			slices.SortFunc(keys[i:j], func(a, b sortKey) int {
				return strings.Compare(cs.c.nodes[a.i].n.name, cs.c.nodes[b.i].n.name)
			})
		}
		i = j
	}
}

// commonPrefix is the length of the longest common prefix of a and b.
func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// prefixKey is the first 8 bytes of s as a big-endian integer, padded
// with zeros. If prefixKey(a) < prefixKey(b) then a < b: at the first
// byte where the keys differ either both strings have that byte, or the
// shorter one ended there and is a prefix of the other.
func prefixKey(s string) uint64 {
	if len(s) >= 8 {
		return uint64(s[0])<<56 | uint64(s[1])<<48 | uint64(s[2])<<40 | uint64(s[3])<<32 |
			uint64(s[4])<<24 | uint64(s[5])<<16 | uint64(s[6])<<8 | uint64(s[7])
	}
	var k uint64
	for i := 0; i < 8; i++ {
		k <<= 8
		if i < len(s) {
			k |= uint64(s[i])
		}
	}
	return k
}
