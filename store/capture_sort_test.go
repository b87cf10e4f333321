package store

import (
	"math/rand"
	"slices"
	"strings"
	"testing"
)

// childSorter orders names exactly as a string sort does, through both
// of its paths (insertion below radixMin children, radix from there), for names
// that tie on their keys, are prefixes of each other, share long
// prefixes or hold the bytes 0x00 and 0xff.
func TestChildSorterOrdersByName(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(7))
	alphabets := []string{"ab", "\x00\xffa", "0123456789"}
	prefixes := []string{"", "x", "common-prefix-", "0000000000000000"}
	for _, n := range []int{0, 1, 2, 31, radixMin - 1, radixMin, radixMin + 1, 1000} {
		for _, alpha := range alphabets {
			for _, pre := range prefixes {
				names := map[string]bool{}
				for len(names) < n {
					var b strings.Builder
					b.WriteString(pre)
					for l := rng.Intn(14); l > 0; l-- {
						b.WriteByte(alpha[rng.Intn(len(alpha))])
					}
					if b.Len() > 0 {
						names[b.String()] = true
					}
				}
				// The children as a Capture holds them: a directory
				// record, then its children in map order.
				c := &Capture{nodes: []capNode{{n: &node{name: "/"}, flags: 1, first: 1, count: int32(n)}}}
				var want []string
				for name := range names {
					c.nodes = append(c.nodes, capNode{n: &node{name: name}})
					want = append(want, name)
				}
				slices.Sort(want)
				cs := &childSorter{c: c}
				keys := cs.children(nil, &c.nodes[0])
				cs.sort(keys)
				got := make([]string, len(keys))
				for i, k := range keys {
					got[i] = c.nodes[k.i].n.name
				}
				if !slices.Equal(got, want) {
					t.Fatalf("n=%d alphabet %q prefix %q: sorted\n%q\nwant\n%q", n, alpha, pre, got, want)
				}
			}
		}
	}
}
