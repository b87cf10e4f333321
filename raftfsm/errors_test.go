package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/etcd-classic/etcd-classic/store"
)

// Every error of the wire table comes back from the other member as the
// same sentinel, marked as the other member's answer; raft trouble comes
// back as etcd's error 300 with its cause, the membership errors with the
// text the other member gave.
func TestWireErrorsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, w := range wireErrors {
		t.Run(w.name, func(t *testing.T) {
			sent := fmt.Errorf("%w: more detail", w.err)
			if w.cause != "" {
				sent = apiError(w.err)
			}
			got := decodeRPCError(encodeRPCError(sent))
			if !errors.Is(got, w.err) || !errors.Is(got, errRemote) {
				t.Fatalf("%q came back as %v", sent, got)
			}
			var se *store.Error
			switch {
			case w.cause != "" && (!errors.As(got, &se) || se.Code != store.EcodeRaftInternal || se.Cause != w.cause):
				t.Errorf("store error %+v, want 300 with cause %q", se, w.cause)
			case w.cause == "" && got.Error() != sent.Error():
				t.Errorf("text %q, want %q", got.Error(), sent.Error())
			}
		})
	}
	plain := decodeRPCError(encodeRPCError(errors.New("something else")))
	if !errors.Is(plain, errRemote) || plain.Error() != "something else" {
		t.Errorf("a plain error came back as %v", plain)
	}
}

// What a follower's caller sees when the leader answered with an error:
// the leader's error, not an unknown outcome. (A leader that refused a
// forwarded write for lack of space used to be reported as "leadership
// lost".)
func TestCallFailureKeepsTheLeadersAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, sent := range []error{apiError(ErrNoSpace), apiError(ErrNoLeader), errNotLeader} {
		got := callFailure(ctx, quietLog(), decodeRPCError(encodeRPCError(sent)))
		for _, w := range wireErrors {
			if errors.Is(sent, w.err) && !errors.Is(got, w.err) {
				t.Errorf("%v became %v", sent, got)
			}
		}
		if errors.Is(got, ErrLeadershipLost) {
			t.Errorf("%v reported as an unknown outcome: %v", sent, got)
		}
	}
	if got := callFailure(ctx, quietLog(), fmt.Errorf("%w: dial refused", errNotSent)); !errors.Is(got, errNotLeader) {
		t.Errorf("a call that never left: %v, want errNotLeader (ask the next leader)", got)
	}
}
