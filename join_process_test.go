package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// An etcd 0.4 join whose peers never answer gives up after
// -max-retry-attempts rounds, -retry-interval apart, with etcd 0.4's
// message, and exits non-zero (it used to try for a minute).
func TestLegacyJoinGivesUp(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	start := time.Now()
	p, out := startJoiner(t, "lonely", dead, nil)
	select {
	case <-p.Done():
	case <-time.After(45 * time.Second):
		t.Fatalf("still trying after 45 s: %s", out)
	}
	if p.Err() == nil || !strings.Contains(out.String(), "cannot join the cluster via the peers ["+dead+"] after 2 rounds") {
		t.Fatalf("exit %v, want the give-up line: %s", p.Err(), out)
	}
	// Two rounds are one pause of 0.2 s.
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("gave up after %v, before the retry interval passed", d)
	}
	t.Logf("gave up after %v:\n%s", time.Since(start), out)
}

// A join whose peer is not up yet is retried round after round (a
// connection refused is worth another try) and gets in once it is.
func TestLegacyJoinRetriesUntilPeerUp(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	cp, pp := freePort(t), freePort(t)
	seedPeer := fmt.Sprintf("127.0.0.1:%d", pp)
	p, out := startJoiner(t, "late", seedPeer, []string{"-max-retry-attempts", "300", "-retry-interval", "0.1"})
	waitFor(t, "a failed round", func() bool { return strings.Contains(out.String(), "no member answered; retrying") })
	seedClient := fmt.Sprintf("http://127.0.0.1:%d", cp)
	seedDir := t.TempDir()
	startProc(t, seedClient, seedDir, "-name", "seed", "-data-dir", seedDir, "-addr", fmt.Sprintf("127.0.0.1:%d", cp), "-peer-addr", seedPeer)
	waitFor(t, "the joiner listed", func() bool {
		n, body := peerTLSMembers(t, seedClient)
		return n == 2 && strings.Contains(body, `"late"`)
	})
	select {
	case <-p.Done():
		t.Fatalf("the joiner exited: %v: %s", p.Err(), out)
	default:
	}
}
