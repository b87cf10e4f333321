package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"
)

// discardedDir is where -force with -peers moves the member's old state.
const discardedDir = "member.discarded"

// applyForce gives etcd 0.x -f/-force what etcd 0.4 documents for it,
// "force a new configuration to be used", keeping the member's data
// wherever the new configuration allows it. etcd 0.4 deleted the log,
// conf and snapshots (all the keys) before starting; here:
//
//   - a first start: nothing to force;
//   - no -peers: the configuration the flags give is this member alone,
//     so it starts with its data as a new one-member cluster
//     (ForceNewCluster), and others join it with -peers;
//   - -peers: the configuration is that cluster's, which has its own
//     keys: the member joins it anew, as etcd 0.4 did, and its old state
//     is moved to DataDir/member.discarded (replacing an older one)
//     instead of being deleted.
func (c *Config) applyForce() error {
	if !c.Force {
		return nil
	}
	if _, err := os.Stat(c.identityPath()); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if len(c.JoinPeers) == 0 {
		c.Log.WithField("data_dir", c.DataDir).Warn("-force: starting this member with its data as a new one-member cluster")
		c.ForceNewCluster = true
		return nil
	}
	aside := filepath.Join(c.DataDir, discardedDir)
	if err := os.RemoveAll(aside); err != nil {
		return fmt.Errorf("-force: %w", err)
	}
	if err := os.Rename(c.memberDir(), aside); err != nil {
		return fmt.Errorf("-force: %w", err)
	}
	c.Log.WithFields(logrus.Fields{"peers": c.JoinPeers, "old_state": aside}).Warn("-force: joining the cluster at -peers anew; this member's old state is kept aside")
	return nil
}
