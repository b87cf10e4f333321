package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
)

// The client port answers only once the member is ready (DESIGN.md,
// "Ready when it answers"). Its listeners are bound at start, so the
// port is taken (or the start fails) at once, but nothing accepts a
// connection before the member is ready: a client's connection waits in
// the kernel's accept queue and its request is answered then — as etcd
// 3.4 does (its client listeners are bound at start and served after
// ReadyNotify).
// readyPoll is how often a member that is not yet ready checks again.
const readyPoll = 50 * time.Millisecond

// proxyReadyTimeout bounds a proxy's wait for its first member list:
// after it the proxy answers anyway, with etcd's 503 "zero endpoints
// currently available" until it finds the cluster. (A variable for a
// test.)
var proxyReadyTimeout = 10 * time.Second

// openWhenReady serves h on lns once ready(ctx) returns nil, then closes
// m.ready. If the member stops first, ready's context ends and the
// listeners are closed (connections waiting in their queue are reset).
func (m *Member) openWhenReady(lns []net.Listener, h http.Handler, ready func(ctx context.Context) error) {
	m.gate.Add(1)
	go func() {
		defer m.gate.Done()
		start := time.Now()
		if err := ready(m.gateCtx); err != nil {
			closeAll(lns)
			return
		}
		m.serve(lns, h)
		close(m.ready)
		m.log.WithFields(logrus.Fields{"node": m.cfg.Name, "client_urls": m.clientURLs,
			"dur_ms": time.Since(start).Milliseconds()}).Info("ready to serve client requests")
	}()
}

// stopGate ends a wait for readiness and waits for openWhenReady's
// goroutine: afterwards m.servers no longer changes.
func (m *Member) stopGate() {
	if m.gateCancel != nil {
		m.gateCancel()
	}
	m.gate.Wait()
}

// memberReady returns once a member may answer clients: it has caught
// up with the log it restarted with (Node.WaitReady), a leader has
// confirmed its commit index and this member has applied it (one
// read-index round, which needs a quorum, as /health does), and the
// replicated member table lists it with its name and client URLs (its
// own publish, or an earlier one, is applied here). Only ctx's end stops
// the wait: a member without a quorum never opens its client port, as
// etcd 3.4's does not.
func (m *Member) memberReady(ctx context.Context) error {
	for m.node.WaitReady(ctx) != nil || m.node.ReadBarrier(ctx) != nil || !m.published() {
		if err := pause(ctx, readyPoll); err != nil {
			return err
		}
	}
	if m.newCluster {
		return m.awaitPeersPublished(ctx)
	}
	return nil
}

// awaitPeersPublished gives the other members of a new cluster, at its
// first start, up to two election timeouts to publish themselves too, so
// that the first member list a start-up script reads is complete and
// etcdctl cluster-health does not call the cluster degraded for a member
// that is starting as well. (etcd 3.4 opens without this wait, and at
// once after a three-member start its cluster-health said "cluster is
// degraded" in one run of five.) A member that does not publish in time
// (not started) costs the wait once.
func (m *Member) awaitPeersPublished(ctx context.Context) error {
	settle := 2 * m.cfg.ElectionTimeout
	if settle == 0 {
		settle = 2 * DefaultElectionTimeout
	}
	wait, cancel := context.WithTimeout(ctx, settle)
	defer cancel()
	for !allPublished(m.node.Cluster()) {
		if pause(wait, readyPoll) != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			m.log.WithField("wait_ms", settle.Milliseconds()).Warn("not every member of the new cluster has published itself; serving clients anyway")
			return nil
		}
	}
	return nil
}

// allPublished reports whether every member of c has a name and client
// URLs.
func allPublished(c *machines.Cluster) bool {
	for _, mb := range c.Members {
		if mb.Name == "" || len(mb.ClientURLs) == 0 {
			return false
		}
	}
	return true
}

// published reports whether the replicated member table lists this
// member with the name and client URLs it was started with.
func (m *Member) published() bool {
	self := m.node.Cluster().Members[m.node.ID()]
	return self != nil && self.Name == m.cfg.Name && slices.Equal(self.ClientURLs, m.cfg.AdvertiseClientURLs)
}

// proxyReady returns once endpoints() lists a member's client URL, or
// after proxyReadyTimeout (a proxy holds no data, so answering early
// cannot show an old state; it then answers etcd's 503 until it finds
// the cluster).
func (m *Member) proxyReady(endpoints func() []string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		ctx2, cancel := context.WithTimeout(ctx, proxyReadyTimeout)
		defer cancel()
		for len(endpoints()) == 0 {
			if err := pause(ctx2, readyPoll); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				m.log.WithField("wait_ms", proxyReadyTimeout.Milliseconds()).Warn("proxy: no member found yet; serving clients anyway")
				return nil
			}
		}
		return nil
	}
}

// WaitReady returns once the client listeners serve (the member is
// ready; a proxy has found the cluster or stopped waiting), or an error
// when ctx ends first.
func (m *Member) WaitReady(ctx context.Context) error {
	select {
	case <-m.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("server: %s does not serve clients yet: %w", m.cfg.Name, ctx.Err())
	}
}

// pause waits d, or returns ctx's error if it ends first.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
