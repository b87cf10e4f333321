package ops

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/proctest"
)

// An offline backup (`etcd-classic backup`) of a member killed with -9
// right after its last acknowledged write restores: started with
// --force-new-cluster on new ports it serves every key, directory and
// hidden key, under a new member and cluster ID; two members added with
// POST /v2/members and --initial-cluster-state=existing make it a
// three-member cluster holding exactly the source's keys. The backup of a
// running member is refused, and so is starting the backup without
// --force-new-cluster.
//
// Slow (about 10 s).
func TestOfflineBackupRestores(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	bin := classicBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src, err := proctest.StartCluster(ctx, proctest.ClusterConfig{Binary: bin, Members: 1, Dir: t.TempDir(), T: t})
	if err != nil {
		t.Fatal(err)
	}
	m := src.Members[0]
	for _, w := range [][3]string{
		{"PUT", "/d/a", "value=1"}, {"PUT", "/d/e", "dir=true"}, {"PUT", "/ttl", "value=t&ttl=600"},
		{"POST", "/q", "value=j1"}, {"POST", "/q", "value=j2"}, {"PUT", "/d/_h", "value=h"},
	} {
		if a := call(t, w[0], m.ClientURL+"/v2/keys"+w[1], "", formCT, w[2]); a.status >= 300 {
			t.Fatalf("%s %s: %d %s", w[0], w[1], a.status, a.body)
		}
	}
	for i := 0; i < 200; i++ {
		mustCall(t, 201, "PUT", m.ClientURL+"/v2/keys/k/"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+"-"+strconv.Itoa(i), "", formCT, "value=v"+strconv.Itoa(i))
	}
	want, _ := visible(t, m.ClientURL, "")
	oldID := call(t, "GET", m.ClientURL+"/v2/members", "", "", "").header.Get("X-Etcd-Cluster-Id")
	dir := t.TempDir()
	backupDir := filepath.Join(dir, "backup")
	if code, out := runTool(t, "backup", "--data-dir", m.DataDir, "--backup-dir", backupDir); code != 1 || !strings.Contains(out, "locked") {
		t.Errorf("backup of a running member: exit %d\n%s", code, out)
	}
	m.Kill()
	if code, out := runTool(t, "backup", "--data-dir", m.DataDir, "--backup-dir", backupDir, "--with-v3"); code != 0 || !strings.Contains(out, "--force-new-cluster") {
		t.Fatalf("backup: exit %d\n%s", code, out)
	}

	ms, _ := newMembers(t, "b", dir, 3)
	first := ms[0]
	first.DataDir = backupDir
	first.Name = m.Name
	first.Args = memberArgs(first)
	if code, out := runTool(t, first.Args...); code != 1 || !strings.Contains(out, "--force-new-cluster") {
		t.Errorf("the backup started without --force-new-cluster: exit %d\n%s", code, out)
	}
	first.Args = append(first.Args, "--force-new-cluster")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	waitCluster(t, ms[:1])
	got, _ := visible(t, first.ClientURL, "")
	diffVisible(t, "the backup", want, got)
	if newID := call(t, "GET", first.ClientURL+"/v2/members", "", "", "").header.Get("X-Etcd-Cluster-Id"); newID == "" || newID == oldID {
		t.Errorf("cluster IDs: old %q, backup's %q", oldID, newID)
	}
	mustCall(t, 200, "GET", first.ClientURL+"/v2/keys/d/_h", "", "", "")
	if ttl := ttlOf(t, first.ClientURL, "/ttl", ""); ttl < 500 || ttl > 600 {
		t.Errorf("/ttl has %d s left", ttl)
	}
	for _, n := range ms[1:] {
		// The strict reconfiguration check waits for the last member
		// added to be seen running.
		for deadline := time.Now().Add(60 * time.Second); ; {
			a := call(t, "POST", first.ClientURL+"/v2/members", "", "application/json", `{"peerURLs":["`+n.PeerURL+`"]}`)
			if a.status == 201 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("member add: %d %s", a.status, a.body)
			}
			time.Sleep(100 * time.Millisecond)
		}
		n.Args = memberArgs(n, "--initial-cluster", first.Name+"="+first.PeerURL+","+n.Name+"="+n.PeerURL, "--initial-cluster-state", "existing")
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
		waitUp(t, n)
	}
	waitCluster(t, ms)
	for _, n := range ms {
		got, _ := visible(t, n.ClientURL, "")
		diffVisible(t, "member "+n.Name, want, got)
	}
}

// waitUp waits until m answers.
func waitUp(t *testing.T, m *proctest.Member) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.WaitUp(ctx); err != nil {
		t.Fatal(err)
	}
}
