package raftfsm

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/etcd-classic/etcd-classic/store"
)

// rawPutEntry encodes a PUT the way appendRequest does but without its
// limit check: what an older build, or a peer that skipped the check,
// could have put in the log.
func rawPutEntry(path, value string) []byte {
	b := []byte{commandVersion, byte(cmdRequest)}
	b = binary.AppendVarint(b, time.Now().UnixNano())
	b = append(b, methodPut)
	b = binary.AppendUvarint(b, 0)
	b = appendString(b, path)
	b = appendString(b, value)
	b = appendString(b, "")
	b = binary.AppendUvarint(b, 0)
	return binary.AppendVarint(b, 0)
}

func wantCode(t *testing.T, what string, err error, code int) {
	t.Helper()
	var se *store.Error
	if !errors.As(err, &se) || se.Code != code {
		t.Fatalf("%s: got %v, want error %d", what, err, code)
	}
}

// TestPoisonKeyRefusedAndHarmlessOnRestart: keys 40,000 and 60,000 levels
// deep (the poison pills of issue 17, which took 1.6 GB or ran a member
// out of memory, again at every restart) are refused before they are
// proposed; the same entries forced into the log are refused by the FSM,
// and a member restarted on that log starts, replays them harmlessly and
// serves writes.
func TestPoisonKeyRefusedAndHarmlessOnRestart(t *testing.T) {
	ms := startCluster(t, 1)
	tm := ms[0]
	eventually(t, "a leader", func() bool { return tm.node.IsLeader() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := tm.node.Propose(ctx, &store.Request{Method: store.MethodPut, Path: "/before", Value: "1"}); err != nil {
		t.Fatal(err)
	}
	for _, depth := range []int{40000, 60000} {
		key := strings.Repeat("/a", depth)
		before := tm.node.RaftIndex()
		_, err := tm.node.Propose(ctx, &store.Request{Method: store.MethodPut, Path: key, Value: "x"})
		wantCode(t, "proposing a deep key", err, store.EcodeInvalidField)
		if after := tm.node.RaftIndex(); after != before {
			t.Fatalf("a refused proposal reached the log: raft index %d -> %d", before, after)
		}
		// Force the entry into the log, as an older build would have.
		f := tm.node.raft.Apply(rawPutEntry(key, "x"), 10*time.Second)
		if err := f.Error(); err != nil {
			t.Fatal(err)
		}
		res, _ := f.Response().(*applyResult)
		if res == nil {
			t.Fatalf("apply gave %#v", f.Response())
		}
		wantCode(t, "applying a deep key", res.Err, store.EcodeInvalidField)
	}
	index := tm.st.Index()
	if err := tm.node.Close(); err != nil {
		t.Fatal(err)
	}

	initial, cid := bootstrapOf(ms)
	startMember(t, tm, initial, cid)
	if err := tm.node.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if got := tm.st.Index(); got != index {
		t.Fatalf("store index after replay %d, want %d", got, index)
	}
	if _, err := tm.st.Get("/a", false, false, time.Now()); err == nil {
		t.Fatal("a refused deep key exists after replay")
	}
	eventually(t, "a leader after restart", func() bool { return tm.node.IsLeader() })
	if _, err := tm.node.Propose(ctx, &store.Request{Method: store.MethodPut, Path: "/after", Value: "2"}); err != nil {
		t.Fatalf("write after restart: %v", err)
	}
}
