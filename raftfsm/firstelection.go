package raftfsm

import (
	"math/rand/v2"
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
// The kick: a restarted voter of a multi-voter cluster waits a random
// delay in [0, followerTimeout/2) after raft starts, and if by then it
// has still heard from no leader, it lowers raft's follower and
// candidate timeouts to the leader lease (the lowest raft accepts).
// Lowering makes raft look at its follower timer at once
// (ReloadConfig), and a follower that never had contact stands now. The
// configured timeouts come back as soon as a leader is known, or after
// two follower timeouts. Members started together have bound their peer
// ports before they restore their state, so a pre-vote sent to one that
// is still restoring waits in its accept queue and is answered once its
// raft runs; one sent to a member that is down fails, and the candidate
// tries again after its (shortened) candidate timeout, as it would have
// anyway. (etcd also waits for an active peer before advancing; a
// status RPC as that probe was tried and dropped: a member restarted
// from its log alone does not know its cluster ID before the first
// commit, refuses cluster RPCs until then, and logs each refusal.)
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

// electionKick runs the kick (see above) for one start of a member.
type electionKick struct{ *raftNode }

// newElectionKick returns the kick for a restarted member, or nil when
// it would not help: a first start (bootstrap and joins elect as
// before), a member that is not a voter, or a sole voter (which already
// starts with the short timeout, see startRaft).
func newElectionKick(n *raftNode) *electionKick {
	if !n.hasState || n.cfg.NoEarlyElection {
		return nil
	}
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	self := raft.ServerID(machines.IDString(n.cfg.ID))
	voters, isVoter := 0, false
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters++
			isVoter = isVoter || s.ID == self
		}
	}
	if !isVoter || voters < 2 {
		return nil
	}
	return &electionKick{n}
}

// run waits the random delay, lowers the timeouts if no leader has been
// heard of, and restores them once a leader is known or the shortened
// first attempt has had two follower timeouts (raft's own timers then
// go on as configured).
func (k *electionKick) run() {
	configured := followerTimeout(k.cfg.ElectionTimeout)
	delay := time.Duration(0)
	if spread := configured / 2; spread > 0 {
		delay = rand.N(spread)
	}
	if !k.pause(k.ctx, delay) || !k.leaderless() || !k.lowerTimeouts() {
		return
	}
	k.log.Info("no leader known since the restart: standing for election now")
	deadline := time.Now().Add(2 * configured)
	for k.leaderless() && time.Now().Before(deadline) {
		if !k.pause(k.ctx, k.cfg.HeartbeatInterval/4) {
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
