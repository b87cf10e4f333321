package server

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
)

// The etcd 0.4 discovery protocol (etcd 0.4's Documentation/
// discovery-protocol.md), used with the 0.x flags:
//
//   - each machine registers <token>/<name> = its peer URL with a TTL of
//     a week, and refreshes it every TTL/8 while it runs;
//   - the machine that creates <token>/_state = "started" (prevExist=
//     false) starts the cluster alone;
//   - every other machine joins through the peers registered there, as
//     with -peers. When discovery fails, -peers is the fallback; without
//     it the start fails.

// legacyTTL is the registration's TTL: a week, as etcd 0.4.
const legacyTTL = 7 * 24 * time.Hour

// legacyStateKey and legacyStarted mark a token whose cluster started.
const (
	legacyStateKey = "_state"
	legacyStarted  = "started"
)

// legacyTries bounds the attempts on an unreachable service: 0.4 then
// falls back to -peers.
const legacyTries = 3

// legacyRegistration is a machine's <token>/<name> key, refreshed while
// the member runs.
type legacyRegistration struct {
	c     *keysClient
	name  string
	value string // the advertised peer URL
	every time.Duration
}

// newLegacyRegistration is the registration of cfg's member; nil unless
// cfg uses the 0.4 protocol.
func newLegacyRegistration(cfg *Config) (*legacyRegistration, error) {
	if cfg.Discovery == "" || !cfg.DiscoveryLegacy || len(cfg.AdvertisePeerURLs) == 0 {
		return nil, nil
	}
	c, err := newKeysClient(cfg.Discovery, cfg.DiscoveryProxy, cfg.Log)
	if err != nil {
		return nil, err
	}
	c.tries = legacyTries
	return &legacyRegistration{c: c, name: cfg.Name, value: cfg.AdvertisePeerURLs[0], every: legacyTTL / 8}, nil
}

// register writes the registration with its TTL.
func (r *legacyRegistration) register(ctx context.Context) error {
	return r.c.retry(ctx, "registration", func() error {
		_, err := r.c.put(ctx, r.name, r.value, url.Values{"ttl": {strconv.Itoa(int(legacyTTL / time.Second))}})
		return err
	})
}

// keepAlive refreshes the registration every TTL/8 (at once when now is
// set) until the returned stop function is called; stop waits for it.
func (r *legacyRegistration) keepAlive(log *logrus.Entry, now bool) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer r.c.close()
		wait := r.every
		if now {
			wait = 0
		}
		for sleepCtx(ctx, wait) == nil {
			if err := r.register(ctx); err != nil && ctx.Err() == nil {
				log.WithFields(logrus.Fields{"url": r.c.String(), "err": err}).Warn("discovery: refreshing the registration failed")
			}
			wait = r.every
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { cancel(); wg.Wait() }) }
}

// discoverLegacy runs the 0.4 protocol for a first start: it registers,
// then either claims the token's _state (this member starts the cluster:
// cfg is left as it is) or sets cfg.JoinPeers to the registered peers.
// It returns the registration to keep alive.
func discoverLegacy(ctx context.Context, cfg *Config) (*legacyRegistration, error) {
	reg, err := newLegacyRegistration(cfg)
	if err != nil {
		return nil, err
	}
	peers, err := reg.discover(ctx)
	if err != nil {
		if len(cfg.JoinPeers) == 0 {
			reg.c.close()
			return nil, fmt.Errorf("-discovery %s: %w (a new member must register with the discovery service, or be given -peers)", reg.c, err)
		}
		cfg.Log.WithFields(logrus.Fields{"url": reg.c.String(), "err": err, "peers": cfg.JoinPeers}).Warn("discovery failed; joining the -peers instead")
		return reg, nil
	}
	// What discovery found wins over -peers (etcd 0.4): no peers means
	// this machine starts the cluster.
	cfg.JoinPeers = peers
	if len(peers) == 0 {
		cfg.Log.WithField("url", reg.c.String()).Info("discovery: this machine claimed the token; it starts the cluster")
	} else {
		cfg.Log.WithField("peers", peers).Info("discovery: joining the registered peers")
	}
	return reg, nil
}

// discover registers the machine, then claims _state (no peers: start
// the cluster) or returns the other registered peers.
func (r *legacyRegistration) discover(ctx context.Context) ([]string, error) {
	if err := r.register(ctx); err != nil {
		return nil, err
	}
	err := r.c.retry(ctx, "claiming the cluster", func() error {
		_, err := r.c.put(ctx, legacyStateKey, legacyStarted, url.Values{"prevExist": {"false"}})
		return err
	})
	switch {
	case err == nil:
		return nil, nil
	case keysCode(err) != codeNodeExist:
		return nil, err
	}
	return legacyPeers(ctx, r.c, r.name)
}

// legacyPeers lists the peers (host:port) registered in a 0.4 token's
// directory, but self's.
func legacyPeers(ctx context.Context, c *keysClient, self string) ([]string, error) {
	var a *keysAnswer
	err := c.retry(ctx, "finding the peers", func() (err error) {
		a, err = c.get(ctx, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	var peers []string
	for _, n := range a.Node.Nodes {
		if n.Dir || n.name() == self || n.name() == legacyStateKey {
			continue
		}
		peers = append(peers, machines.HostPort(n.Value))
	}
	if len(peers) == 0 {
		return nil, errors.New("the cluster has started but no peer is registered")
	}
	return peers, nil
}
