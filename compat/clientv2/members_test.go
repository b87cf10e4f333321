package clientv2

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/v2"
)

func membersAPI(t *testing.T) client.MembersAPI {
	return client.NewMembersAPI(newClient(t))
}

func mustList(t *testing.T, m client.MembersAPI) []client.Member {
	t.Helper()
	ms, err := m.List(ctxT(t))
	if err != nil {
		t.Fatalf("members List: %v", err)
	}
	return ms
}

// List: one entry per member, etcd's ID format, the client URLs we were
// given, and etcd's order (by numeric ID).
func TestMembersList(t *testing.T) {
	eps := endpoints(t)
	ms := mustList(t, membersAPI(t))
	if len(ms) != len(eps) {
		t.Fatalf("%d members listed, %d endpoints", len(ms), len(eps))
	}
	var clientURLs []string
	var ids []uint64
	for _, m := range ms {
		id, err := strconv.ParseUint(m.ID, 16, 64)
		if err != nil || fmt.Sprintf("%x", id) != m.ID {
			t.Errorf("member ID %q is not lower-case unpadded hex", m.ID)
		}
		ids = append(ids, id)
		if m.Name == "" || len(m.PeerURLs) == 0 || len(m.ClientURLs) == 0 {
			t.Errorf("member %+v lacks a name, peer URLs or client URLs", m)
		}
		clientURLs = append(clientURLs, m.ClientURLs...)
	}
	if !sort.SliceIsSorted(ids, func(i, j int) bool { return ids[i] < ids[j] }) {
		t.Errorf("members not in numeric ID order: %v", ms)
	}
	sort.Strings(clientURLs)
	want := append([]string(nil), eps...)
	sort.Strings(want)
	if strings.Join(clientURLs, ",") != strings.Join(want, ",") {
		t.Errorf("client URLs %v, want %v", clientURLs, want)
	}
}

// Leader: every member names the same leader, one of the listed members.
func TestMembersLeader(t *testing.T) {
	ms := mustList(t, membersAPI(t))
	byID := map[string]client.Member{}
	for _, m := range ms {
		byID[m.ID] = m
	}
	leader := ""
	for _, ep := range endpoints(t) {
		// One client per member, without sync, so each one is asked.
		c, err := client.New(client.Config{Endpoints: []string{ep}, HeaderTimeoutPerRequest: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		l, err := client.NewMembersAPI(c).Leader(ctxT(t))
		if err != nil {
			t.Fatalf("Leader via %s: %v", ep, err)
		}
		if l == nil {
			t.Fatalf("no leader via %s", ep)
		}
		m, ok := byID[l.ID]
		if !ok || m.Name != l.Name || strings.Join(m.ClientURLs, ",") != strings.Join(l.ClientURLs, ",") {
			t.Errorf("leader %+v via %s is not the listed member %+v", *l, ep, m)
		}
		if leader != "" && l.ID != leader {
			t.Errorf("%s names leader %s, others %s", ep, l.ID, leader)
		}
		leader = l.ID
	}
}

// Update: a member's peer URLs can be set (to the same here, which keeps
// the cluster working); unknown IDs are refused with etcd's message.
func TestMembersUpdate(t *testing.T) {
	m := membersAPI(t)
	ms := mustList(t, m)
	target := ms[len(ms)-1]
	if err := m.Update(ctxT(t), target.ID, target.PeerURLs); err != nil {
		t.Fatalf("Update(%s, %v): %v", target.ID, target.PeerURLs, err)
	}
	after := mustList(t, m)
	if len(after) != len(ms) {
		t.Errorf("members after update: %v", after)
	}
	err := m.Update(ctxT(t), "deadbeef", target.PeerURLs)
	if err == nil || err.Error() != "No such member: deadbeef" {
		t.Errorf("Update(deadbeef) error = %v, want \"No such member: deadbeef\"", err)
	}
	// Another member's peer URL is taken.
	if len(ms) > 1 {
		err := m.Update(ctxT(t), ms[0].ID, ms[1].PeerURLs)
		if err == nil || err.Error() != "membership: peerURL exists" {
			t.Errorf("Update to a used peer URL: error = %v, want \"membership: peerURL exists\"", err)
		}
	}
}

// Add, update and remove a member that never starts. In a 1-member
// cluster the add would cost the cluster its quorum (etcd 3.4 too), so
// this needs three members.
func TestMembersAddRemove(t *testing.T) {
	m := membersAPI(t)
	ms := mustList(t, m)
	if len(ms) < 3 {
		t.Skipf("%d member(s): adding one would leave the cluster without a quorum (as in etcd); run with 3 members", len(ms))
	}
	// A peer URL already in use is refused (409).
	_, err := m.Add(ctxT(t), ms[0].PeerURLs[0])
	if err == nil || err.Error() != "membership: peerURL exists" {
		t.Errorf("Add(existing peer URL) error = %v, want \"membership: peerURL exists\"", err)
	}

	peer := freePeerURL(t)
	added, err := m.Add(ctxT(t), peer)
	if err != nil {
		t.Fatalf("Add(%s): %v", peer, err)
	}
	if added.ID == "" || added.Name != "" || len(added.ClientURLs) != 0 || strings.Join(added.PeerURLs, ",") != peer {
		t.Errorf("added member = %+v, want an ID, no name, no client URLs, peer %s", *added, peer)
	}
	removed := false
	defer func() {
		if !removed {
			_ = m.Remove(ctxT(t), added.ID)
		}
	}()
	if got := findMember(mustList(t, m), added.ID); got == nil || got.Name != "" || len(got.ClientURLs) != 0 {
		t.Errorf("listed unstarted member = %+v", got)
	}

	peer2 := freePeerURL(t)
	if err := m.Update(ctxT(t), added.ID, []string{peer2}); err != nil {
		t.Errorf("Update(%s, %s): %v", added.ID, peer2, err)
	}
	if got := findMember(mustList(t, m), added.ID); got == nil || strings.Join(got.PeerURLs, ",") != peer2 {
		t.Errorf("after update: %+v, want peer %s", got, peer2)
	}

	if err := m.Remove(ctxT(t), added.ID); err != nil {
		t.Fatalf("Remove(%s): %v", added.ID, err)
	}
	removed = true
	if got := findMember(mustList(t, m), added.ID); got != nil {
		t.Errorf("removed member still listed: %+v", got)
	}
	// etcd answers a second removal with 410 Gone, which the client
	// counts as done.
	if err := m.Remove(ctxT(t), added.ID); err != nil {
		t.Errorf("second Remove(%s): %v (etcd: 410 Gone, no error)", added.ID, err)
	}
	// An ID that never existed: 404, an error.
	if err := m.Remove(ctxT(t), "deadbeef"); err == nil {
		t.Error("Remove(deadbeef) succeeded")
	}
	if n := len(mustList(t, m)); n != len(ms) {
		t.Errorf("%d members at the end, want %d", n, len(ms))
	}
}

func findMember(ms []client.Member, id string) *client.Member {
	for i := range ms {
		if ms[i].ID == id {
			return &ms[i]
		}
	}
	return nil
}

// freePeerURL is a loopback URL on which nothing listens.
func freePeerURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}
