package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"time"
)

// refSave is the reference encoder: Save as it was before captures
// (git show 65cc36b^:store/snapshot.go), encoding straight from the tree
// under the read lock, with the later format-2 additions (the auth state,
// event flag 4) written the same plain way. It is kept, slow and simple,
// as what the streamed encoder's bytes are checked against
// (TestCaptureBytesEqualReference) and what its speed is compared with
// (BenchmarkSnapshotSave/impl=old).
func refSave(s *Store, w io.Writer) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.hub.mu.Lock()
	events := s.hub.history.list()
	s.hub.mu.Unlock()
	auth := s.auth.Load()
	bw := bufio.NewWriterSize(w, 64<<10)
	e := &refEncoder{w: bw}
	if auth.dirs {
		e.raw(snapshotMagic)
	} else {
		e.raw(snapshotMagicV1)
	}
	e.uvarint(s.index)
	e.tree(s.root)
	e.uvarint(uint64(len(events)))
	for _, ev := range events {
		e.event(ev)
	}
	e.uvarint(s.lastWrite)
	if auth.dirs {
		e.authState(auth)
	}
	if e.err != nil {
		return e.err
	}
	return bw.Flush()
}

type refEncoder struct {
	w   *bufio.Writer
	buf [binary.MaxVarintLen64]byte
	err error
}

func (e *refEncoder) raw(s string) {
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
}

func (e *refEncoder) uvarint(v uint64) {
	if e.err == nil {
		n := binary.PutUvarint(e.buf[:], v)
		_, e.err = e.w.Write(e.buf[:n])
	}
}

func (e *refEncoder) varint(v int64) {
	if e.err == nil {
		n := binary.PutVarint(e.buf[:], v)
		_, e.err = e.w.Write(e.buf[:n])
	}
}

func (e *refEncoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.raw(s)
}

func (e *refEncoder) time(t time.Time) {
	e.varint(t.Unix())
	e.uvarint(uint64(t.Nanosecond()))
}

// tree writes the subtree of n in pre-order, children sorted by name.
func (e *refEncoder) tree(n *node) {
	stack := [][]*node{{n}} // per level: the nodes still to write
	for len(stack) > 0 && e.err == nil {
		top := stack[len(stack)-1]
		if len(top) == 0 {
			stack = stack[:len(stack)-1]
			continue
		}
		c := top[0]
		stack[len(stack)-1] = top[1:]
		e.node(c)
		if c.isDir() {
			kids := c.sortedChildren()
			e.uvarint(uint64(len(kids)))
			stack = append(stack, kids)
		}
	}
}

func (e *refEncoder) node(n *node) {
	e.str(n.name)
	var flags uint64
	if n.isDir() {
		flags |= 1
	}
	if !n.isPermanent() {
		flags |= 2
	}
	if n.v01 {
		flags |= 4
	}
	e.uvarint(flags)
	e.uvarint(n.createdIndex)
	e.uvarint(n.modifiedIndex)
	if !n.isPermanent() {
		e.time(n.expireTime())
	}
	if !n.isDir() {
		e.str(n.value)
	}
}

func (e *refEncoder) event(ev *Event) {
	e.str(ev.Action)
	var flags uint64
	if ev.Refresh {
		flags |= 1
	}
	if ev.PrevNode != nil {
		flags |= 2
	}
	if ev.internal {
		flags |= 4
	}
	e.uvarint(flags)
	e.uvarint(ev.EtcdIndex)
	e.extern(ev.Node)
	if ev.PrevNode != nil {
		e.extern(ev.PrevNode)
	}
}

func (e *refEncoder) extern(ne *NodeExtern) {
	e.str(ne.Key)
	var flags uint64
	if ne.Value != nil {
		flags |= 1
	}
	if ne.Dir {
		flags |= 2
	}
	if ne.Expiration != nil {
		flags |= 4
	}
	e.uvarint(flags)
	if ne.Value != nil {
		e.str(*ne.Value)
	}
	if ne.Expiration != nil {
		e.time(*ne.Expiration)
	}
	e.varint(ne.TTL)
	e.uvarint(ne.ModifiedIndex)
	e.uvarint(ne.CreatedIndex)
}

func (e *refEncoder) authState(a *AuthState) {
	var flags uint64
	if a.enabled {
		flags |= 1
	}
	if a.dirs {
		flags |= 2
	}
	e.uvarint(flags)
	users := a.UserNames()
	e.uvarint(uint64(len(users)))
	for _, n := range users {
		b, err := json.Marshal(a.users[n])
		if err != nil && e.err == nil {
			e.err = err
		}
		e.str(string(b))
	}
	var roles []string
	for _, n := range a.RoleNames() {
		if n != RootRole {
			roles = append(roles, n)
		}
	}
	e.uvarint(uint64(len(roles)))
	for _, n := range roles {
		b, err := json.Marshal(a.roles[n])
		if err != nil && e.err == nil {
			e.err = err
		}
		e.str(string(b))
	}
}

// randomStore builds a store from a seeded random mix of writes: deep
// paths, hidden names, names that share long prefixes or are prefixes of
// each other, bytes 0x00 and 0xff in names, TTLs on files and
// directories, v0.1-dialect keys, in-order keys, updates, refreshes,
// deletes, expiry and (withAuth) auth changes, so that the history holds
// every kind of event.
func randomStore(t *testing.T, seed int64, withAuth bool) *Store {
	t.Helper()
	rng := rand.New(rand.NewSource(seed))
	names := []string{"a", "b", "ab", "abc", "_hidden", "_h", "k", "k0", "k00000000", "k00000001",
		"k000000001", "prefix-longer-than-8", "prefix-longer-than-9", "prefix-lo", "z\x00", "z",
		"z\x00\x00", "\xff\xfe", "\xff", "é", "0", "00000000", "000000000"}
	seg := func() string {
		if rng.Intn(3) == 0 {
			return "n" + strconv.Itoa(rng.Intn(200))
		}
		return names[rng.Intn(len(names))]
	}
	randPath := func() string {
		depth := 1 + rng.Intn(4)
		if rng.Intn(20) == 0 {
			depth = 20 + rng.Intn(60)
		}
		var b strings.Builder
		for i := 0; i < depth; i++ {
			b.WriteString("/" + seg())
		}
		return b.String()
	}
	now := t0
	s := New()
	// One large directory of names that differ only after 8 bytes.
	for i := 0; i < 2000; i++ {
		p := "/flat/common-prefix-" + strconv.Itoa(rng.Intn(100000))
		_, _ = s.Apply(&Request{Method: MethodPut, Path: p, Value: "v"}, now)
	}
	for i := 0; i < 3000; i++ {
		r := &Request{Method: MethodPut, Path: randPath(), Value: strings.Repeat("v", rng.Intn(40))}
		switch x := rng.Intn(20); {
		case x < 3:
			r.HasTTL, r.TTL = true, time.Duration(1+rng.Intn(100))*time.Second
		case x < 4:
			r.Dir, r.Value = true, ""
			r.HasTTL, r.TTL = rng.Intn(2) == 0, time.Duration(1+rng.Intn(100))*time.Second
		case x < 5:
			r.V01, r.Path = true, r.Path[1:]
			r.HasTTL, r.TTL = rng.Intn(2) == 0, time.Duration(1+rng.Intn(100))*time.Second
		case x < 6:
			r.Method = MethodPost
		case x < 8:
			r.Method, r.Recursive = MethodDelete, rng.Intn(2) == 0
		case x < 9:
			r.PrevExist = ptrBool(true)
			r.HasTTL, r.TTL = true, time.Duration(1+rng.Intn(100))*time.Second
			r.Refresh, r.Value = rng.Intn(2) == 0, ""
		}
		// Many of these fail (a file in the way, a missing key): that is
		// part of the mix, and a failure changes nothing.
		_, _ = s.Apply(r, now)
		if i%500 == 499 {
			now = now.Add(30 * time.Second)
			s.DeleteExpiredKeys(now)
		}
		if withAuth && i%700 == 0 {
			name := "u" + strconv.Itoa(i)
			for _, c := range []AuthChange{
				{Kind: AuthPutUser, Name: "root", PasswordHash: "h"},
				{Kind: AuthCreateRole, Role: roleWith("r"+name, []string{"/a/*"}, []string{"/b"})},
				{Kind: AuthCreateUser, Name: name, PasswordHash: "p" + name, Roles: []string{"r" + name, "x"}},
				{Kind: AuthEnable},
			} {
				_, _ = s.Apply(authOp(c), now)
			}
		}
	}
	checkMix(t, s, withAuth)
	return s
}

// checkMix fails unless s holds every kind of thing randomStore means to
// make, so that a change in the store's rules cannot quietly turn the
// equality test into one about a trivial tree.
func checkMix(t *testing.T, s *Store, withAuth bool) {
	t.Helper()
	got := map[string]int{}
	checkNodeCount(t, s)
	stack := []*node{s.root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch {
		case n.isDir() && !n.isPermanent():
			got["dir with ttl"]++
		case !n.isPermanent():
			got["file with ttl"]++
		}
		if n.v01 {
			got["v01"]++
		}
		if n.isHidden() {
			got["hidden"]++
		}
		if strings.Count(n.path, "/") >= 20 {
			got["deep"]++
		}
		if strings.IndexByte(n.name, 0) >= 0 || strings.IndexByte(n.name, 0xff) >= 0 {
			got["odd bytes"]++
		}
		for _, c := range n.children {
			stack = append(stack, c)
		}
	}
	for _, ev := range s.hub.history.list() {
		got["event "+ev.Action]++
		if ev.internal {
			got["internal event"]++
		}
	}
	want := []string{"dir with ttl", "file with ttl", "v01", "hidden", "deep", "odd bytes",
		"event set", "event delete", "event create", "event expire"}
	if withAuth {
		want = append(want, "internal event")
		if !s.Auth().Enabled() {
			t.Error("auth is not enabled")
		}
	}
	for _, k := range want {
		if got[k] == 0 {
			t.Errorf("the random store has no %s (has %v)", k, got)
		}
	}
}

// The streamed encoder writes exactly the reference encoder's bytes, and
// they restore to a store that saves them again.
func TestCaptureBytesEqualReference(t *testing.T) {
	t.Parallel()
	for seed := int64(1); seed <= 6; seed++ {
		withAuth := seed%2 == 0
		t.Run(fmt.Sprintf("seed=%d/auth=%v", seed, withAuth), func(t *testing.T) {
			t.Parallel()
			s := randomStore(t, seed, withAuth)
			var want, got bytes.Buffer
			if err := refSave(s, &want); err != nil {
				t.Fatal(err)
			}
			if err := s.Save(&got); err != nil {
				t.Fatal(err)
			}
			if wantV2 := withAuth; strings.HasPrefix(want.String(), snapshotMagic) != wantV2 {
				t.Fatalf("reference wrote %.9q, want format 2 = %v", want.String(), wantV2)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("Save wrote %d bytes, the reference %d; first difference at byte %d",
					got.Len(), want.Len(), firstDiff(got.Bytes(), want.Bytes()))
			}
			r := New()
			if err := r.Restore(bytes.NewReader(got.Bytes())); err != nil {
				t.Fatal(err)
			}
			checkNodeCount(t, r)
			var again bytes.Buffer
			if err := r.Save(&again); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again.Bytes(), want.Bytes()) {
				t.Fatalf("restored store saves %d bytes that differ at byte %d", again.Len(), firstDiff(again.Bytes(), want.Bytes()))
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// checkNodeCount fails unless the store's node count (which sizes a
// Capture) is the number of nodes in its tree.
func checkNodeCount(t *testing.T, s *Store) {
	t.Helper()
	n := 0
	stack := []*node{s.root}
	for len(stack) > 0 {
		top := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n++
		for _, c := range top.children {
			stack = append(stack, c)
		}
	}
	if got := s.nodes.Load(); got != int64(n) {
		t.Errorf("the store counts %d nodes, its tree has %d", got, n)
	}
}
