package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"slices"
)

// Capture.WriteTo sorts each directory's children as it reaches them.
// It sorts small keys, not the 48-byte records, and a key is almost
// always enough to order two names: an integer compare, or for all but
// the smallest directories one radix pass per byte that differs, instead
// of a string comparison for each of n log n pairs.
//
// The nodes, names and expirations of a large tree lie all over the
// heap, so the first touch of each costs a cache and TLB miss; in map
// order (the records' order) those misses are independent and overlap,
// in sorted order each would wait for the one before. So children reads
// each child's node once, in map order, and encodes what the format
// writes of it before its value into heads; the sorted walk then copies
// heads from there and touches only the records and the values.

// sortKey orders one child among its siblings: key is the first 8 bytes
// of its name after the prefix all the siblings share, big-endian and
// zero-padded, so that keys order as the names do (equal keys fall back
// to comparing the names); i is its position in Capture.nodes and head
// that of its encoded head in childSorter.heads.
type sortKey struct {
	key  uint64
	i    int32
	head int32
}

// childSorter sorts the children of one directory at a time. Its zero
// value with c set is ready.
type childSorter struct {
	c     *Capture
	heads []byte // per child: its length (uvarint), then appendHead's bytes
	one   []byte // one child's head, before its length is known
	// touched is where touch's loads go.
	touched uint64
	err     error // set by children when heads would overflow
}

// children appends the sort keys of dir's children to order, unsorted,
// and their encoded heads to cs.heads. Siblings often share a long
// prefix (etcd's in-order keys are 20 digits, mostly zeros; "node-",
// "pod-" ...): keying on the bytes after it keeps almost every key
// distinct.
func (cs *childSorter) children(order []sortKey, dir *capNode) []sortKey {
	kids := cs.c.nodes[dir.first : dir.first+dir.count]
	if len(kids) == 0 {
		return order
	}
	// Sized once: growing by appends would allocate several times the
	// final size of a large directory's keys and heads.
	order = slices.Grow(order, len(kids))
	start, headStart := len(order), len(cs.heads)
	common := kids[0].n.name
	for b := 0; b < len(kids); b += childBlock {
		block := kids[b:min(len(kids), b+childBlock)]
		if b == childBlock {
			// The first block's heads are a good guess at the rest's.
			per := (len(cs.heads) - headStart) / childBlock
			cs.heads = slices.Grow(cs.heads, (len(kids)-b)*(per+per/16+1))
		}
		cs.touch(block)
		for j := range block {
			k := &block[j]
			name := k.n.name
			common = common[:commonPrefix(common, name)]
			at := len(cs.heads)
			if at > math.MaxInt32-len(name)-64 {
				// heads holds a name per child of the directories on one
				// path: 2 GiB of them is a store no member could hold.
				cs.err = errors.New("store: snapshot: the names of one path's directories exceed 2 GiB")
				return order
			}
			cs.one = appendHead(cs.one[:0], k, name, cs.c.ttls)
			cs.heads = binary.AppendUvarint(cs.heads, uint64(len(cs.one)))
			cs.heads = append(cs.heads, cs.one...)
			order = append(order, sortKey{i: dir.first + int32(b+j), head: int32(at)})
		}
	}
	skip := len(common)
	for j := start; j < len(order); j++ {
		order[j].key = prefixKey(cs.name(order[j])[skip:])
	}
	return order
}

// childBlock is how many children children reads ahead at a time: their
// nodes, names and expirations stay in the L1 or L2 cache until their
// heads are encoded.
const childBlock = 128

// touch loads what appendHead will read of the children in block, in
// two short loops of independent loads (the nodes, then the names and
// expirations they point to) that the processor overlaps, where
// appendHead's longer body would take each miss in turn. The sum only
// keeps the compiler from dropping the loads.
func (cs *childSorter) touch(block []capNode) {
	var t uint64
	for j := range block {
		n := block[j].n
		t += n.createdIndex + uint64(len(n.name))
	}
	for j := range block {
		k := &block[j]
		if name := k.n.name; name != "" {
			t += uint64(name[0])
		}
		if k.ttl != 0 {
			t += uint64(cs.c.ttls[k.ttl-1].expire.Nanosecond())
		}
	}
	cs.touched += t
}

// head is the encoded head of k's child.
func (cs *childSorter) head(k sortKey) []byte {
	b := cs.heads[k.head:]
	n, w := binary.Uvarint(b)
	return b[w : w+int(n)]
}

// name is k's child's name, read back from its head.
func (cs *childSorter) name(k sortKey) []byte {
	h := cs.head(k)
	n, w := binary.Uvarint(h)
	return h[w : w+int(n)]
}

// radixMin is the fewest children sorted by radix: below it a radix
// pass's 256 counters cost more than sorting by insertion.
const radixMin = 33

// sort orders keys by name: by key (by insertion when they are few, else
// by a radix sort on the key bytes that differ), then by name among keys
// that are equal.
func (cs *childSorter) sort(keys []sortKey) {
	sortKeys(keys, func(a, b sortKey) int { return bytes.Compare(cs.name(a), cs.name(b)) })
}

// sortKeys orders keys by key (by insertion when they are few, else by a
// radix sort on the key bytes that differ), then each run of equal keys
// by byName, which compares the whole names.
func sortKeys(keys []sortKey, byName func(a, b sortKey) int) {
	if len(keys) < radixMin {
		insertion(keys)
	} else {
		radix(keys)
	}
	for i := 0; i < len(keys); {
		j := i + 1
		for j < len(keys) && keys[j].key == keys[i].key {
			j++
		}
		if j-i > 1 {
			slices.SortFunc(keys[i:j], byName)
		}
		i = j
	}
}

// radix orders keys by key in place, most significant byte first: it
// deals the keys into 256 buckets by the highest byte that differs among
// them (bytes equal in every key, a short name's padding, a digit's high
// bits, cost nothing), then orders each bucket the same way, by
// insertion when it is small. At most 8 levels deep.
func radix(keys []sortKey) {
	and, or := ^uint64(0), uint64(0)
	for _, k := range keys {
		and &= k.key
		or |= k.key
	}
	varies := and ^ or
	if varies == 0 {
		return // all equal: the caller orders them by name
	}
	shift := 56
	for byte(varies>>shift) == 0 {
		shift -= 8
	}
	var next, end [256]int
	for _, k := range keys {
		end[byte(k.key>>shift)]++
	}
	sum := 0
	for b, n := range end {
		next[b] = sum
		sum += n
		end[b] = sum
	}
	// Swap each key into the next free place of its bucket; every swap
	// settles one key, so this is linear.
	for b := range next {
		for next[b] < end[b] {
			i := next[b]
			d := byte(keys[i].key >> shift)
			if int(d) == b {
				next[b]++
				continue
			}
			j := next[d]
			next[d]++
			keys[i], keys[j] = keys[j], keys[i]
		}
	}
	start := 0
	for _, stop := range end {
		bucket := keys[start:stop]
		start = stop
		if len(bucket) < radixMin {
			insertion(bucket)
		} else {
			radix(bucket)
		}
	}
}

// insertion orders a few keys by key.
func insertion(keys []sortKey) {
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j].key < keys[j-1].key; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
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
func prefixKey[T string | []byte](s T) uint64 {
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
