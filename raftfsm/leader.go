package raftfsm

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
)

// leaderLoop starts the leader's duties when this member gains leadership
// and stops them when it loses it.
func (n *Node) leaderLoop() {
	defer n.wg.Done()
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
		case isLeader := <-n.raft.LeaderCh():
			stop()
			n.leader.Store(isLeader)
			if isLeader {
				n.log.WithField("term", n.raft.CurrentTerm()).Info("became leader")
				ctx, cancel := context.WithCancel(n.ctx)
				cancels = append(cancels, cancel)
				tasks.Add(1)
				go func() {
					defer tasks.Done()
					n.leaderTasks(ctx)
				}()
			} else {
				n.log.Info("lost leadership")
			}
		case <-n.ctx.Done():
			return
		}
	}
}

// leaderTasks runs while this member leads: a no-op that makes
// read-index safe in this term, the cluster's first entry if it is new,
// and the TTL expiry loop.
func (n *Node) leaderTasks(ctx context.Context) {
	n.restoreTimeouts()
	term := n.raft.CurrentTerm()
	_, inherited := n.cfg.Store.HasTTLKeys()
	for {
		if _, err := n.proposeLocal(ctx, &command{Type: cmdNoop}); err == nil {
			break
		}
		if ctx.Err() != nil || n.raft.State() != raft.Leader {
			return
		}
		if !n.pause(ctx, n.cfg.HeartbeatInterval) {
			return
		}
	}
	n.ready.set(term)
	if n.ClusterID() != 0 && len(n.cfg.InitialMembers) > 0 {
		n.fsm.mu.RLock()
		initialised := n.fsm.cluster.ID != 0
		n.fsm.mu.RUnlock()
		if !initialised {
			self := &machines.Member{ID: n.cfg.ID, Name: n.cfg.Name, PeerURLs: n.cfg.PeerURLs, ClientURLs: n.cfg.ClientURLs}
			c := &command{Type: cmdInit, Cluster: &clusterCmd{ClusterID: n.cfg.ClusterID, Members: n.cfg.InitialMembers, Member: self}}
			if _, err := n.proposeLocal(ctx, c); err != nil {
				n.log.WithField("err", err).Warn("could not record the new cluster")
			}
		}
	}
	grace := time.Time{}
	if inherited {
		grace = n.cfg.Clock.Now().Add(n.cfg.ExpiryGrace)
	}
	go n.probeLoop(ctx)
	n.expiryLoop(ctx, grace)
}

// expiryLoop proposes a sync command, stamped with the leader's clock,
// whenever a TTL is due. Followers never expire keys on their own.
func (n *Node) expiryLoop(ctx context.Context, grace time.Time) {
	tick, stop := n.cfg.Clock.NewTicker(n.cfg.ExpiryInterval)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		now := n.cfg.Clock.Now()
		if now.Before(grace) {
			continue
		}
		next, ok := n.cfg.Store.HasTTLKeys()
		if !ok || next.After(now) {
			continue
		}
		if _, err := n.proposeLocal(ctx, &command{Type: cmdSync}); err != nil && ctx.Err() == nil {
			n.log.WithField("err", err).Debug("expiry sync failed")
		}
	}
}

// publishLoop announces this member's name and client URLs to the
// cluster whenever the replicated table does not hold them (first start,
// changed URLs), retrying until it does.
func (n *Node) publishLoop() {
	defer n.wg.Done()
	retry := time.NewTicker(500 * time.Millisecond)
	defer retry.Stop()
	for {
		if n.needsPublish() {
			ctx, cancel := context.WithTimeout(n.ctx, n.cfg.RequestTimeout)
			self := &machines.Member{ID: n.cfg.ID, Name: n.cfg.Name, ClientURLs: n.cfg.ClientURLs}
			_, err := n.propose(ctx, &command{Type: cmdPublish, Cluster: &clusterCmd{Member: self}})
			cancel()
			if err != nil && n.ctx.Err() == nil {
				n.log.WithField("err", err).Debug("publish failed, will retry")
			} else if err == nil {
				n.log.WithFields(logrus.Fields{"node": n.cfg.Name}).Info("published member attributes")
			}
		}
		select {
		case <-n.ctx.Done():
			return
		case <-n.memberCh:
		case <-retry.C:
		}
	}
}

// needsPublish reports whether the table lists this member with other
// attributes than its configuration.
func (n *Node) needsPublish() bool {
	n.fsm.mu.RLock()
	defer n.fsm.mu.RUnlock()
	m, ok := n.fsm.cluster.Members[n.cfg.ID]
	if !ok {
		return false
	}
	if m.Name != n.cfg.Name || len(m.ClientURLs) != len(n.cfg.ClientURLs) {
		return true
	}
	for i := range m.ClientURLs {
		if m.ClientURLs[i] != n.cfg.ClientURLs[i] {
			return true
		}
	}
	return false
}
