package raftfsm

import (
	"fmt"

	"github.com/etcd-classic/etcd-classic/machines"
)

// strictAddCheck refuses to grow the voters when the enlarged cluster's
// quorum would exceed the members that are running and connected now
// (etcd issue #3477: adding members that never start must not be able to
// deadlock the cluster).
//
// newRunning says whether the new voter is itself running (a join, a
// started member, or a caught-up learner's promotion) and so counts
// towards the quorum; self names it when it is already in the table.
//
// The arithmetic is over the membership table's voting members, started
// or not (an added member that has not started yet counts: it will be a
// voter). As in etcd, growing a one-member cluster is always allowed —
// otherwise it could never grow — and is safe here because an added member
// enters raft's configuration only when it starts.
func (ms *membership) strictAddCheck(c *machines.Cluster, newRunning bool, self uint64) error {
	if !ms.cfg.StrictReconfigCheck {
		return nil
	}
	voters := tableVoters(c, self)
	size := len(voters) + 1
	quorum := size/2 + 1
	running := ms.mon.activeCount(voters)
	if newRunning {
		running++
	}
	if size == 2 && running >= 1 {
		return nil
	}
	if quorum > running {
		return fmt.Errorf("%w: the quorum of the enlarged cluster would be %d members, but only %d of the %d voting members are running", machines.ErrStrictReconfig, quorum, running, len(voters))
	}
	return nil
}

// strictRemoveCheck refuses a removal that would leave the remaining
// voters without a quorum of running, connected members.
func (ms *membership) strictRemoveCheck(c *machines.Cluster, id uint64) error {
	if !ms.cfg.StrictReconfigCheck {
		return nil
	}
	rest := tableVoters(c, id)
	if len(rest) == 0 {
		return fmt.Errorf("%w: cannot remove the last voting member", machines.ErrStrictReconfig)
	}
	quorum := len(rest)/2 + 1
	running := ms.mon.activeCount(rest)
	if running < quorum {
		return fmt.Errorf("%w: after the removal the quorum would be %d members, but only %d of the remaining %d are running", machines.ErrStrictReconfig, quorum, running, len(rest))
	}
	return nil
}

// tableVoters lists the voting members of the table, except one.
func tableVoters(c *machines.Cluster, except uint64) []uint64 {
	var out []uint64
	for _, m := range c.Sorted() {
		if !m.IsLearner && m.ID != except {
			out = append(out, m.ID)
		}
	}
	return out
}
