package raftfsm

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/etcd-classic/etcd-classic/machines"
)

// A cluster whose members are all restarted together has no leader, and
// hashicorp/raft stands for election only after a random follower
// timeout of one to two followerTimeouts (667 ms to 1.33 s with etcd's
// 1 s election timeout): the first of three members stood after about
// 0.8 s on average, most of a restart's time to serving. etcd 3.4 does
// the same as here (its initial election tick advance): once a restarted
// member sees its peers, it cuts the wait to a short random remainder.
//
// The kick: a restarted voter of a multi-voter cluster waits until a
// quorum of voters (itself included) answers a status RPC — standing
// earlier would only fail its pre-vote and cost a whole candidate
// timeout — then a random delay in [0, followerTimeout/2), and if by then
// it has still heard from no leader, it lowers raft's follower and
// candidate timeouts to the leader lease (the lowest raft accepts).
// Lowering makes raft look at its follower timer at once
// (ReloadConfig), and a follower that never had contact stands now. The
// configured timeouts come back as soon as a leader is known.
//
// Safety: timeouts are liveness only; raft's votes decide leadership.
// Disruption: pre-vote is on, and a member that knows a leader refuses
// a pre-vote, so a member restarted alone into a running cluster (whose
// leader's heartbeats usually reach it before the delay ends anyway)
// cannot depose the leader. Split votes: two members standing together
// still elect one (the third votes for the first request it gets); only
// all three voting in the same round trip splits the vote, about
// 3(w/S)² for a window w and spread S (≈1% for w = 20 ms, S = 333 ms),
// and it costs one candidate timeout (raft's own randomised retry).

// kickPoll is how often the kick asks again while a quorum is not up.
const kickPoll = 25 * time.Millisecond

// electionKick runs the kick (see above) for one start of a member.
type electionKick struct {
	*raftNode
	// voters are the other voters' peer addresses at start.
	voters []string
}

// newElectionKick returns the kick for a restarted member, or nil when
// it would not help: a first start (bootstrap and joins elect as
// before), a member that is not a voter, or a sole voter (which already
// starts with the short timeout, see startRaft).
func newElectionKick(n *raftNode) *electionKick {
	if !n.hasState {
		return nil
	}
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	self := raft.ServerID(machines.IDString(n.cfg.ID))
	k, isVoter := &electionKick{raftNode: n}, false
	for _, s := range f.Configuration().Servers {
		switch {
		case s.Suffrage != raft.Voter:
		case s.ID == self:
			isVoter = true
		default:
			k.voters = append(k.voters, string(s.Address))
		}
	}
	if !isVoter || len(k.voters) == 0 {
		return nil
	}
	return k
}

// run waits for a quorum, then the random delay, then lowers the
// timeouts if no leader has been heard of, and restores them once a
// leader is known.
func (k *electionKick) run() {
	if !k.waitQuorum() {
		return
	}
	delay := time.Duration(0)
	if spread := followerTimeout(k.cfg.ElectionTimeout) / 2; spread > 0 {
		delay = rand.N(spread)
	}
	if !k.pause(k.ctx, delay) || !k.leaderless() {
		return
	}
	if !k.lowerTimeouts() {
		return
	}
	k.log.Info("peers are up and no leader is known: standing for election now")
	for k.leaderless() {
		if !k.pause(k.ctx, kickPoll) {
			return
		}
	}
	k.restoreTimeouts()
}

// leaderless reports whether this member is a follower or candidate
// that has not heard from a leader since it started.
func (k *electionKick) leaderless() bool {
	if k.raft.State() == raft.Leader || !k.raft.LastContact().IsZero() {
		return false
	}
	addr, _ := k.raft.LeaderWithID()
	return addr == ""
}

// waitQuorum returns true once enough other voters answer for a quorum
// with this member, false if a leader turns up first, the node stops, or
// a request timeout passes (raft's own timers then elect as before).
func (k *electionKick) waitQuorum() bool {
	need := (len(k.voters) + 1) / 2 // a majority of all voters, this member aside
	deadline := time.Now().Add(k.cfg.RequestTimeout)
	up := make(map[string]bool, len(k.voters))
	for len(up) < need {
		if !k.leaderless() || time.Now().After(deadline) {
			return false
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, addr := range k.voters {
			if up[addr] {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(k.ctx, k.cfg.ElectionTimeout)
				defer cancel()
				if _, err := k.peers.call(ctx, addr, opStatus, nil); err == nil {
					mu.Lock()
					up[addr] = true
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(up) < need && !k.pause(k.ctx, kickPoll) {
			return false
		}
	}
	return true
}

// lowerTimeouts sets raft's follower and candidate timeouts to the
// leader lease; raft then checks its follower timer at once.
func (k *electionKick) lowerTimeouts() bool {
	rc := k.raft.ReloadableConfig()
	short := k.cfg.ElectionTimeout / 2 // the leader lease (raftConfig)
	if rc.HeartbeatTimeout <= short {
		return false
	}
	rc.HeartbeatTimeout, rc.ElectionTimeout = short, short
	if err := k.raft.ReloadConfig(rc); err != nil {
		k.log.WithField("err", err).Warn("could not shorten the first election")
		return false
	}
	return true
}
