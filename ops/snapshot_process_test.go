package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/proctest"
	"github.com/etcd-classic/etcd-classic/store"
)

// loadAck is one acknowledged write of the load.
type loadAck struct {
	index      uint64
	key, value string
}

// loadLog records the load's acknowledged writes, and the keys whose
// write failed (outcome unknown).
type loadLog struct {
	mu     sync.Mutex
	acks   []loadAck
	failed map[string]bool
}

func (l *loadLog) count() int { l.mu.Lock(); defer l.mu.Unlock(); return len(l.acks) }

// at is the load's keys as of store index idx: each key's acknowledged
// value with the largest index up to idx. Keys with a failed write are
// left out (their state is unknown) and listed.
func (l *loadLog) at(idx uint64) (map[string]string, map[string]bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	best := map[string]loadAck{}
	for _, a := range l.acks {
		if a.index <= idx && a.index > best[a.key].index {
			best[a.key] = a
		}
	}
	out := map[string]string{}
	for k, a := range best {
		if !l.failed[k] {
			out[k] = "=" + a.value
		}
	}
	return out, l.failed
}

// runLoad sets keys /load/k0../load/k199 as root through every member,
// eight writers, until stop is closed.
func runLoad(t *testing.T, ms []*proctest.Member, stop chan struct{}, log *loadLog) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key, val := fmt.Sprintf("/load/k%d", (w*37+i*11)%200), fmt.Sprintf("w%d-%d", w, i)
				a := call(t, "PUT", ms[(w+i)%len(ms)].ClientURL+"/v2/keys"+key, "root:rootpw", formCT, "value="+val)
				var ev store.Event
				if a.status >= 300 || json.Unmarshal([]byte(a.body), &ev) != nil || ev.Node == nil {
					log.mu.Lock()
					log.failed[key] = true
					log.mu.Unlock()
					continue
				}
				log.mu.Lock()
				log.acks = append(log.acks, loadAck{ev.Node.ModifiedIndex, key, val})
				log.mu.Unlock()
			}
		}(w)
	}
	return &wg
}

// fillWithAuth writes the tree every kind of node comes from — nested
// and empty directories, a TTL key and a TTL directory, in-order keys,
// hidden keys — then users and roles, and turns v2 auth on with the guest
// locked out.
func fillWithAuth(t *testing.T, base string) {
	t.Helper()
	for _, w := range [][3]string{
		{"PUT", "/pre/dir/a", "value=1"}, {"PUT", "/pre/dir/b", "value=2"}, {"PUT", "/pre/empty", "dir=true"},
		{"PUT", "/pre/ttl", "value=t&ttl=300"}, {"PUT", "/pre/ttldir", "dir=true&ttl=300"},
		{"POST", "/pre/queue", "value=j1"}, {"POST", "/pre/queue", "value=j2"}, {"POST", "/pre/queue", "value=j3"},
		{"PUT", "/pre/_hidden", "value=h"}, {"PUT", "/_top/x", "value=x"},
	} {
		a := call(t, w[0], base+"/v2/keys"+w[1], "", formCT, w[2])
		if a.status >= 300 {
			t.Fatalf("%s %s: %d %s", w[0], w[1], a.status, a.body)
		}
	}
	const ctJSON = "application/json"
	mustCall(t, 201, "PUT", base+"/v2/auth/users/root", "", ctJSON, `{"user":"root","password":"rootpw"}`)
	mustCall(t, 201, "PUT", base+"/v2/auth/roles/loader", "", ctJSON, `{"role":"loader","permissions":{"kv":{"read":["/load/*"],"write":[]}}}`)
	mustCall(t, 200, "PUT", base+"/v2/auth/users/alice", "", ctJSON, `{"user":"alice","password":"alicepw","roles":["loader"]}`)
	mustCall(t, 200, "PUT", base+"/v2/auth/enable", "", "", "")
	mustCall(t, 200, "PUT", base+"/v2/auth/roles/guest", "root:rootpw", ctJSON, `{"role":"guest","revoke":{"kv":{"read":["/*"],"write":["/*"]}}}`)
}

// A snapshot saved from a follower of a three-member cluster under a
// write load (`etcd-classic snapshot save`, as root: auth is on) restores
// into a new three-member cluster (`snapshot restore` for each, then a
// start) that holds exactly the keys of the snapshot's store index: the
// tree read before the load plus, for each load key, its acknowledged
// value with the largest index up to the snapshot's. Hidden keys and the
// auth state come back; the TTL key keeps the time it had left when the
// snapshot was taken although the restore starts five seconds later; the
// new cluster's writes go on from the snapshot's index, under a cluster
// ID of its own. Without credentials the save is refused.
//
// Slow (about 20 s): two clusters of real processes, a write load.
func TestSnapshotUnderLoadRestoresIntoNewCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	bin := classicBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src, err := proctest.StartCluster(ctx, proctest.ClusterConfig{Binary: bin, Members: 3, Dir: t.TempDir(), T: t})
	if err != nil {
		t.Fatal(err)
	}
	base := src.Members[0].ClientURL
	fillWithAuth(t, base)
	before, _ := visible(t, base, "root:rootpw")
	ttlBefore, ttlAt := ttlOf(t, base, "/pre/ttl", "root:rootpw"), time.Now()

	log := &loadLog{failed: map[string]bool{}}
	stop := make(chan struct{})
	wg := runLoad(t, src.Members, stop, log)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	waitN := func(n int) {
		for deadline := time.Now().Add(60 * time.Second); log.count() < n; {
			if time.Now().After(deadline) {
				t.Fatalf("the load reached %d writes, want %d", log.count(), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitN(300)
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.snap")
	follower := src.Members[1].ClientURL
	if code, out := runTool(t, "snapshot", "save", file, "--endpoints", follower); code != 1 || !strings.Contains(out, "401") {
		t.Errorf("save without credentials: exit %d\n%s", code, out)
	}
	if code, out := runTool(t, "snapshot", "save", file, "--endpoints", follower, "--user", "root:rootpw"); code != 0 || !strings.Contains(out, "Snapshot saved at "+file) {
		t.Fatalf("snapshot save: exit %d\n%s", code, out)
	}
	savedAt := time.Now()
	waitN(log.count() + 200) // the load goes on past the snapshot
	close(stop)
	wg.Wait()
	code, out := runTool(t, "snapshot", "status", file, "-w", "json")
	var st struct{ StoreIndex, RaftIndex uint64 }
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.StoreIndex == 0 {
		t.Fatalf("snapshot status: exit %d: %s", code, out)
	}
	want, failed := log.at(st.StoreIndex)
	all, _ := log.at(^uint64(0))
	t.Logf("snapshot at store index %d (raft %d); %d acknowledged writes, %d keys with a failed write", st.StoreIndex, st.RaftIndex, log.count(), len(failed))
	checkTracker(t, base, before, all, failed)

	// The gap the TTL check is about: the new cluster starts later.
	time.Sleep(5 * time.Second)
	ms, initial := newMembers(t, "r", dir, 3)
	for _, m := range ms {
		if code, out := runTool(t, "snapshot", "restore", file, "--name", m.Name, "--initial-cluster", initial,
			"--initial-cluster-token", "restored", "--initial-advertise-peer-urls", m.PeerURL, "--data-dir", m.DataDir); code != 0 {
			t.Fatalf("restore %s: exit %d\n%s", m.Name, code, out)
		}
		m.Args = memberArgs(m, "--initial-cluster", initial, "--initial-cluster-token", "restored")
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
	}
	waitCluster(t, ms)
	for k, v := range before {
		want[k] = v
	}
	if len(want) > 0 {
		want["/load"] = "dir"
	}
	for _, m := range ms {
		got, idx := visible(t, m.ClientURL, "root:rootpw")
		for k := range failed {
			delete(got, k)
		}
		diffVisible(t, "restored "+m.Name, want, got)
		if n, _ := strconv.ParseUint(idx, 10, 64); n < st.StoreIndex {
			t.Errorf("%s: X-Etcd-Index %s, below the snapshot's %d", m.Name, idx, st.StoreIndex)
		}
		mustCall(t, 200, "GET", m.ClientURL+"/v2/keys/pre/_hidden", "root:rootpw", "", "")
		mustCall(t, 200, "GET", m.ClientURL+"/v2/keys/_top/x", "root:rootpw", "", "")
		mustCall(t, 401, "GET", m.ClientURL+"/v2/keys/pre/dir/a", "", "", "")
		mustCall(t, 401, "GET", m.ClientURL+"/v2/keys/pre/dir/a", "alice:alicepw", "", "")
		mustCall(t, 200, "GET", m.ClientURL+"/v2/keys/load/k1", "alice:alicepw", "", "")
	}
	leftAtSave := ttlBefore - int64(savedAt.Sub(ttlAt).Seconds()+1)
	if got := ttlOf(t, ms[0].ClientURL, "/pre/ttl", "root:rootpw"); got < leftAtSave-3 || got > 300 {
		t.Errorf("restored /pre/ttl has %d s left; about %d were left when the snapshot was taken", got, leftAtSave)
	}
	a := mustCall(t, 201, "PUT", ms[2].ClientURL+"/v2/keys/after", "root:rootpw", formCT, "value=1")
	var ev store.Event
	if json.Unmarshal([]byte(a.body), &ev) != nil || ev.Node.ModifiedIndex <= st.StoreIndex {
		t.Errorf("first write of the new cluster: %s; the snapshot's index is %d", a.body, st.StoreIndex)
	}
	oldID := call(t, "GET", base+"/v2/members", "", "", "").header.Get("X-Etcd-Cluster-Id")
	if newID := call(t, "GET", ms[0].ClientURL+"/v2/members", "", "", "").header.Get("X-Etcd-Cluster-Id"); newID == "" || newID == oldID {
		t.Errorf("cluster IDs: old %q, restored %q", oldID, newID)
	}
}

// checkTracker compares the source's tree, read once the load is over,
// with the load's record (so that the record can be trusted for the
// snapshot's index).
func checkTracker(t *testing.T, base string, before, load map[string]string, failed map[string]bool) {
	t.Helper()
	now, _ := visible(t, base, "root:rootpw")
	want := map[string]string{"/load": "dir"}
	for k, v := range before {
		want[k] = v
	}
	for k, v := range load {
		want[k] = v
	}
	for k := range failed {
		delete(now, k)
	}
	diffVisible(t, "the source after the load", want, now)
}
