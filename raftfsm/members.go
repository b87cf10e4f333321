package raftfsm

import (
	"context"
	"fmt"
)

// handleMemberRPC serves joins and membership changes (see issue: clusters).
func (n *Node) handleMemberRPC(ctx context.Context, op byte, payload []byte) ([]byte, error) {
	return nil, fmt.Errorf("raftfsm: membership RPC %d not supported yet", op)
}
