package machines

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestIDs(t *testing.T) {
	t.Parallel()
	// Static members: the ID depends only on the sorted peer URLs and the
	// token, so every member computes the same IDs.
	a := NewMemberID([]string{"http://127.0.0.1:2380", "http://127.0.0.1:7001"}, "etcd-cluster", nil)
	b := NewMemberID([]string{"http://127.0.0.1:7001", "http://127.0.0.1:2380"}, "etcd-cluster", nil)
	if a != b {
		t.Errorf("peer URL order changed the ID: %x vs %x", a, b)
	}
	if c := NewMemberID([]string{"http://127.0.0.1:2380", "http://127.0.0.1:7001"}, "other", nil); c == a {
		t.Error("the token does not change the ID")
	}
	now := time.Unix(1700000000, 0)
	if d := NewMemberID([]string{"http://127.0.0.1:2380"}, "", &now); d == NewMemberID([]string{"http://127.0.0.1:2380"}, "", nil) {
		t.Error("the time does not change a runtime member's ID")
	}
	if NewClusterID([]uint64{3, 1, 2}) != NewClusterID([]uint64{1, 2, 3}) {
		t.Error("member order changed the cluster ID")
	}
	if got := IDString(0x0e5a); got != "e5a" {
		t.Errorf("IDString: %q, want unpadded lowercase hex", got)
	}
	if id, err := ParseID("8e9e05c52164694d"); err != nil || IDString(id) != "8e9e05c52164694d" {
		t.Errorf("ParseID round trip: %x %v", id, err)
	}
}

func TestRegistryValue(t *testing.T) {
	t.Parallel()
	got := RegistryValue("http://127.0.0.1:4001", "http://127.0.0.1:7001")
	want := "etcd=http%3A%2F%2F127.0.0.1%3A4001&raft=http%3A%2F%2F127.0.0.1%3A7001"
	if got != want || RegistryKey("n1") != "/_etcd/machines/n1" {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestValidateURLs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		urls []string
		want string
	}{
		{[]string{"http://127.0.0.1:2380"}, ""},
		{[]string{"https://h:1", "unix://x:2"}, ""},
		{nil, "no valid URLs given"},
		{[]string{"ftp://h:1"}, "URL scheme must be http, https, unix, or unixs: ftp://h:1"},
		{[]string{"http://h"}, `URL address does not have the form "host:port": http://h`},
		{[]string{"http://h:1/"}, "URL must not contain a path: http://h:1/"},
		{[]string{"http://h:1/p"}, "URL must not contain a path: http://h:1/p"},
	}
	for _, tc := range cases {
		err := ValidateURLs(tc.urls)
		got := ""
		if err != nil {
			got = err.Error()
			if !errors.Is(err, ErrBadURL) {
				t.Errorf("%v: error does not match ErrBadURL", tc.urls)
			}
		}
		if got != tc.want {
			t.Errorf("%v: got %q, want %q", tc.urls, got, tc.want)
		}
	}
	if got := TrimURLs([]string{" http://h:1 "}); got[0] != "http://h:1" {
		t.Errorf("TrimURLs: %q", got)
	}
}

func TestClusterTable(t *testing.T) {
	t.Parallel()
	c := NewCluster()
	c.ID = 7
	m1 := &Member{ID: 1, PeerURLs: []string{"http://a:1"}}
	if err := c.Add(m1); err != nil {
		t.Fatal(err)
	}
	if err := c.Add(&Member{ID: 1, PeerURLs: []string{"http://b:1"}}); !errors.Is(err, ErrIDExists) {
		t.Errorf("duplicate ID: %v", err)
	}
	if err := c.Add(&Member{ID: 2, PeerURLs: []string{"http://a:1"}}); !errors.Is(err, ErrPeerURLExists) {
		t.Errorf("duplicate peer URL: %v", err)
	}
	if changed, err := c.Publish(1, "n1", []string{"http://a:2"}); !changed || err != nil {
		t.Errorf("publish: %v %v", changed, err)
	}
	if changed, _ := c.Publish(1, "n1", []string{"http://a:2"}); changed {
		t.Error("publishing the same attributes reported a change")
	}
	_ = c.Add(&Member{ID: 3, PeerURLs: []string{"http://c:1"}})
	if _, err := c.Publish(3, "n1", nil); !errors.Is(err, ErrNameExists) {
		t.Errorf("duplicate name: %v", err)
	}
	if err := c.UpdatePeerURLs(3, []string{"http://a:1"}); !errors.Is(err, ErrPeerURLExists) {
		t.Errorf("update to a used peer URL: %v", err)
	}
	if _, err := c.Remove(3); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Remove(3); !errors.Is(err, ErrIDRemoved) {
		t.Errorf("second removal: %v", err)
	}
	if err := c.Add(&Member{ID: 3, PeerURLs: []string{"http://d:1"}}); !errors.Is(err, ErrIDRemoved) {
		t.Errorf("re-adding a removed ID: %v", err)
	}
	if urls := c.ClientURLs(); len(urls) != 1 || urls[0] != "http://a:2" {
		t.Errorf("client URLs: %v", urls)
	}
	// Deterministic JSON (snapshots) and a faithful round trip.
	b1, _ := json.Marshal(c)
	b2, _ := json.Marshal(c.Clone())
	if string(b1) != string(b2) {
		t.Error("clone encodes differently")
	}
	r := NewCluster()
	if err := json.Unmarshal(b1, r); err != nil {
		t.Fatal(err)
	}
	b3, _ := json.Marshal(r)
	if string(b1) != string(b3) {
		t.Errorf("round trip: %s vs %s", b1, b3)
	}
}
