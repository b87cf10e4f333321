package clientv2

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/client/v2"
)

// ttlLock is the classic etcd v2 lock: create the key with
// prevExist=false and a TTL, keep it alive with refreshes while holding
// it, release with a compare-and-delete on the owner's value. Waiters
// watch the key from the index of their failed create.
type ttlLock struct {
	k     client.KeysAPI
	key   string
	owner string
	ttl   time.Duration
}

func (l *ttlLock) lock(ctx context.Context) (uint64, error) {
	for {
		r, err := l.k.Set(ctx, l.key, l.owner, &client.SetOptions{PrevExist: client.PrevNoExist, TTL: l.ttl})
		if err == nil {
			return r.Node.ModifiedIndex, nil
		}
		var ce client.Error
		if !errors.As(err, &ce) || ce.Code != client.ErrorCodeNodeExist {
			return 0, err
		}
		w := l.k.Watcher(l.key, &client.WatcherOptions{AfterIndex: ce.Index})
		for gone := false; !gone; {
			ev, err := w.Next(ctx)
			if err != nil {
				return 0, err
			}
			switch ev.Action {
			case "delete", "compareAndDelete", "expire":
				gone = true
			}
		}
	}
}

// refresh extends the TTL without waking watchers, only while we hold it.
func (l *ttlLock) refresh(ctx context.Context) error {
	_, err := l.k.Set(ctx, l.key, "", &client.SetOptions{PrevExist: client.PrevExist, PrevValue: l.owner, TTL: l.ttl, Refresh: true})
	return err
}

func (l *ttlLock) unlock(ctx context.Context) error {
	_, err := l.k.Delete(ctx, l.key, &client.DeleteOptions{PrevValue: l.owner})
	return err
}

// Goroutines with their own clients (so, in a cluster, their own
// members) take turns: an unprotected read-modify-write of a counter
// inside the lock loses no update, and no two hold the lock at once.
func TestTTLLockMutualExclusion(t *testing.T) {
	d := dir(t)
	const workers, rounds = 4, 5
	var holders, overlaps atomic.Int32
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		k := newKeys(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := &ttlLock{k: k, key: d + "/lock", owner: fmt.Sprintf("worker-%d", w), ttl: 10 * time.Second}
			for i := 0; i < rounds; i++ {
				if _, err := l.lock(ctxT(t)); err != nil {
					t.Errorf("%s lock: %v", l.owner, err)
					return
				}
				if holders.Add(1) != 1 {
					overlaps.Add(1)
				}
				n := 0
				if r, err := k.Get(ctxT(t), d+"/counter", &client.GetOptions{Quorum: true}); err == nil {
					n, _ = strconv.Atoi(r.Node.Value)
				} else {
					var ce client.Error
					if !errors.As(err, &ce) || ce.Code != client.ErrorCodeKeyNotFound {
						t.Errorf("read counter: %v", err)
					}
				}
				if err := l.refresh(ctxT(t)); err != nil {
					t.Errorf("%s refresh: %v", l.owner, err)
				}
				if _, err := k.Set(ctxT(t), d+"/counter", strconv.Itoa(n+1), nil); err != nil {
					t.Errorf("write counter: %v", err)
				}
				holders.Add(-1)
				if err := l.unlock(ctxT(t)); err != nil {
					t.Errorf("%s unlock: %v", l.owner, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := overlaps.Load(); n != 0 {
		t.Errorf("the lock was held by two goroutines at once %d time(s)", n)
	}
	r := mustGet(t, newKeys(t), d+"/counter", &client.GetOptions{Quorum: true})
	if r.Node.Value != strconv.Itoa(workers*rounds) {
		t.Errorf("counter = %s, want %d (lost updates)", r.Node.Value, workers*rounds)
	}
}

// A holder that stops refreshing loses the lock when the TTL runs out;
// the waiter gets it through the expire event, and the old holder can no
// longer release it.
func TestTTLLockExpiry(t *testing.T) {
	d := dir(t)
	a := &ttlLock{k: newKeys(t), key: d + "/lock", owner: "a", ttl: 2 * time.Second}
	b := &ttlLock{k: newKeys(t), key: d + "/lock", owner: "b", ttl: 10 * time.Second}
	if _, err := a.lock(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := b.lock(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("b got the lock after %v, before a's 2s TTL could run out", waited)
	}
	err := a.refresh(ctxT(t))
	wantCode(t, err, client.ErrorCodeTestFailed)
	err = a.unlock(ctxT(t))
	wantCode(t, err, client.ErrorCodeTestFailed)
	if err := b.unlock(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// Optimistic concurrency with CompareAndSwap on the modified index:
// concurrent increments retried on "Compare failed" lose nothing.
func TestCompareAndSwapCounter(t *testing.T) {
	key := dir(t) + "/counter"
	mustSet(t, newKeys(t), key, "0", nil)
	const workers, each = 4, 10
	var conflicts atomic.Int32
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		k := newKeys(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; {
				r, err := k.Get(ctxT(t), key, &client.GetOptions{Quorum: true})
				if err != nil {
					t.Error(err)
					return
				}
				n, _ := strconv.Atoi(r.Node.Value)
				_, err = k.Set(ctxT(t), key, strconv.Itoa(n+1), &client.SetOptions{PrevIndex: r.Node.ModifiedIndex})
				var ce client.Error
				switch {
				case err == nil:
					i++
				case errors.As(err, &ce) && ce.Code == client.ErrorCodeTestFailed:
					conflicts.Add(1)
				default:
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	r := mustGet(t, newKeys(t), key, &client.GetOptions{Quorum: true})
	if r.Node.Value != strconv.Itoa(workers*each) {
		t.Errorf("counter = %s, want %d", r.Node.Value, workers*each)
	}
	t.Logf("%d compare failures retried", conflicts.Load())
}
