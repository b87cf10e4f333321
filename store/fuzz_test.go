package store

import (
	"bytes"
	"testing"
	"time"
)

// FuzzApplyDeterminism decodes arbitrary bytes into a sequence of store
// operations and applies it to two stores: neither may panic, both must
// end with identical snapshots, and a snapshot must restore to the same
// bytes.
//
//	go test ./store -run XXX -fuzz FuzzApplyDeterminism -fuzztime 60s
func FuzzApplyDeterminism(f *testing.F) {
	f.Add([]byte("put a 1;post q;del a;cas b"))
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	paths := []string{"/", "/a", "/a/b", "/a/b/c", "/q", "/_h", "/a/_h/x", "/d", "/d/e"}
	values := []string{"", "1", "x"}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := New(), New()
		now := t0
		for i := 0; i+3 < len(data) && i < 400; i += 4 {
			op, p, v, x := data[i], data[i+1], data[i+2], data[i+3]
			r := &Request{Path: paths[int(p)%len(paths)], Value: values[int(v)%len(values)]}
			switch op % 8 {
			case 0, 1:
				r.Method = MethodPut
			case 2:
				r.Method = MethodPost
			case 3:
				r.Method = MethodDelete
			case 4:
				now = now.Add(time.Duration(x) * 100 * time.Millisecond)
				a.DeleteExpiredKeys(now)
				b.DeleteExpiredKeys(now)
				continue
			case 5:
				r.Method, r.V01 = MethodPut, true
			case 6:
				r.Method, r.V01 = MethodDelete, true
			default:
				r.Method = MethodPut
				r.Refresh = true
			}
			r.Dir = x&1 != 0
			r.Recursive = x&2 != 0
			if x&4 != 0 {
				pe := x&8 != 0
				r.PrevExist = &pe
			}
			if x&16 != 0 {
				r.PrevValue = values[int(x>>5)%len(values)]
			}
			if x&32 != 0 {
				r.PrevIndex = uint64(x >> 6)
			}
			if x&64 != 0 {
				r.HasTTL, r.TTL = true, TTLDuration(uint64(v%4))
			}
			_, errA := a.Apply(r, now)
			_, errB := b.Apply(r, now)
			if (errA == nil) != (errB == nil) {
				t.Fatalf("replicas disagree on %+v: %v vs %v", r, errA, errB)
			}
		}
		var sa, sb bytes.Buffer
		if err := a.Save(&sa); err != nil {
			t.Fatal(err)
		}
		if err := b.Save(&sb); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sa.Bytes(), sb.Bytes()) {
			t.Fatal("two stores fed the same operations differ")
		}
		c := New()
		if err := c.Restore(bytes.NewReader(sa.Bytes())); err != nil {
			t.Fatal(err)
		}
		var sc bytes.Buffer
		_ = c.Save(&sc)
		if !bytes.Equal(sa.Bytes(), sc.Bytes()) {
			t.Fatal("restore changed the snapshot")
		}
	})
}
