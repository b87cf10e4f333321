package raftfsm

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/etcd-classic/etcd-classic/machines"
)

// leaderDuties are what a member does while it leads: a no-op that makes
// read-index safe in its term, the cluster's first entry if the cluster
// is new, the TTL expiry loop, the probes of the other members and the
// commit notices (commit.go).
type leaderDuties struct {
	*raftNode
	p   *proposer
	mon *monitor
}

// loop starts the leader's duties when this member gains leadership and
// stops them when it loses it.
func (d *leaderDuties) loop() {
	var tasks sync.WaitGroup
	cancels := make([]context.CancelFunc, 0, 1)
	stop := func() {
		for _, c := range cancels {
			c()
		}
		tasks.Wait()
		cancels = cancels[:0]
	}
	defer stop()
	for {
		select {
		case isLeader := <-d.raft.LeaderCh():
			stop()
			if isLeader {
				d.log.WithField("term", d.raft.CurrentTerm()).Info("became leader")
				ctx, cancel := context.WithCancel(d.ctx)
				cancels = append(cancels, cancel)
				tasks.Add(1)
				go func() {
					defer tasks.Done()
					d.run(ctx)
				}()
			} else {
				d.log.Info("lost leadership")
			}
		case <-d.ctx.Done():
			return
		}
	}
}

// run performs the duties until ctx ends (leadership lost).
func (d *leaderDuties) run(ctx context.Context) {
	d.restoreTimeouts()
	term := d.raft.CurrentTerm()
	_, inherited := d.cfg.Store.HasTTLKeys()
	for {
		if _, err := d.p.proposeLocal(ctx, &command{Type: cmdNoop}); err == nil {
			break
		}
		if ctx.Err() != nil || d.raft.State() != raft.Leader {
			return
		}
		if !d.pause(ctx, d.cfg.HeartbeatInterval) {
			return
		}
	}
	d.ready.set(term)
	d.recordCluster(ctx)
	d.finishRecovery(ctx)
	grace := time.Time{}
	if inherited {
		grace = d.cfg.Clock.Now().Add(d.cfg.ExpiryGrace)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, f := range []func(context.Context){d.mon.run, d.notices.lead} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(ctx)
		}()
	}
	d.expire(ctx, grace)
}

// recordCluster proposes the first entry of a new cluster (its ID, its
// members, /_etcd/config) if it has not been recorded yet.
func (d *leaderDuties) recordCluster(ctx context.Context) {
	if d.clusterID() == 0 || len(d.cfg.InitialMembers) == 0 || d.fsm.ClusterID() != 0 {
		return
	}
	self := &machines.Member{ID: d.cfg.ID, Name: d.cfg.Name, PeerURLs: d.cfg.PeerURLs, ClientURLs: d.cfg.ClientURLs}
	c := &command{Type: cmdInit, Cluster: &clusterCmd{ClusterID: d.cfg.ClusterID, Members: d.cfg.InitialMembers, Member: self}}
	if _, err := d.p.proposeLocal(ctx, c); err != nil {
		d.log.WithField("err", err).Warn("could not record the new cluster")
	}
}

// expire proposes a sync command, stamped with the leader's clock,
// whenever a TTL is due. Followers never expire keys on their own.
func (d *leaderDuties) expire(ctx context.Context, grace time.Time) {
	tick, stop := d.cfg.Clock.NewTicker(d.cfg.ExpiryInterval)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		now := d.cfg.Clock.Now()
		if now.Before(grace) {
			continue
		}
		next, ok := d.cfg.Store.HasTTLKeys()
		if !ok || next.After(now) {
			continue
		}
		if _, err := d.p.proposeLocal(ctx, &command{Type: cmdSync}); err != nil && ctx.Err() == nil {
			d.log.WithField("err", err).Debug("expiry sync failed")
		}
	}
}
