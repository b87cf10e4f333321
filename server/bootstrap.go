package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/machines"
	"github.com/etcd-classic/etcd-classic/raftfsm"
)

// joinTimeout bounds a new member's attempts to reach its cluster.
const joinTimeout = 60 * time.Second

// identity is persisted in the data dir at first start, so that a
// restarted member keeps its member and cluster IDs whatever its flags.
type identity struct {
	Name      string `json:"name"`
	ID        string `json:"id"`
	ClusterID string `json:"clusterID"`
	// Backup marks a data dir written by `etcd-classic backup`: its raft
	// state names the old cluster's members, so it must be started with
	// --force-new-cluster, which clears the mark.
	Backup bool `json:"backup,omitempty"`
}

// bootstrap is what a start decided from the data dir and the
// configuration: a restart (identity.json found), a new cluster, a member
// an administrator added (JoinExisting), or an etcd 0.x join (JoinPeers).
type bootstrap struct {
	id        identity
	memberID  uint64
	clusterID uint64
	existing  bool               // identity.json was there: a restart
	initial   []*machines.Member // a new cluster's members
	known     []*machines.Member // the members a lookup returned
	joinPeers []string           // etcd 0.x: ask these to add us once raft runs
	// registration is an etcd 0.4 discovery registration, kept alive
	// while the member runs (discovery_legacy.go).
	registration *legacyRegistration
}

// decide reads the identity in the data dir, or works out a first
// start's: a new cluster's IDs from InitialCluster, the IDs of a member
// added to a running cluster (a lookup through its other members), or a
// fresh member ID for an etcd 0.x join.
func decide(cfg *Config, peerTLS *tls.Config) (*bootstrap, error) {
	b := &bootstrap{}
	raw, err := os.ReadFile(cfg.identityPath())
	if err == nil {
		if err := json.Unmarshal(raw, &b.id); err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.identityPath(), err)
		}
		if b.id.Backup && !cfg.ForceNewCluster {
			return nil, fmt.Errorf("%s holds a backup (etcd-classic backup: a new member and cluster ID, the old cluster's members): start it with --force-new-cluster", cfg.DataDir)
		}
		b.existing = true
		b.memberID, _ = machines.ParseID(b.id.ID)
		b.clusterID, _ = machines.ParseID(b.id.ClusterID)
		cfg.Log.WithFields(logrus.Fields{"id": b.id.ID, "data_dir": cfg.DataDir}).Info("restarting member from its data dir")
		// Discovery is for a first start; etcd 0.4 still refreshes its
		// registration.
		b.registration, err = newLegacyRegistration(cfg)
		return b, err
	}
	// Discovery sets the initial cluster, or (etcd 0.4) the peers to join.
	if b.registration, err = discoverCluster(cfg); err != nil {
		return nil, err
	}
	switch {
	case len(cfg.JoinPeers) > 0:
		// etcd 0.x -peers: ask the cluster to add us under a fresh ID.
		now := time.Now()
		b.memberID = machines.NewMemberID(cfg.AdvertisePeerURLs, cfg.InitialClusterToken, &now)
		b.joinPeers = cfg.JoinPeers
	case cfg.JoinExisting:
		if err := b.lookup(cfg, peerTLS); err != nil {
			return nil, err
		}
	default:
		if err := b.newCluster(cfg); err != nil {
			return nil, err
		}
	}
	b.id = identity{Name: cfg.Name, ID: machines.IDString(b.memberID), ClusterID: machines.IDString(b.clusterID)}
	return b, nil
}

// newCluster derives a new cluster's member IDs and cluster ID.
func (b *bootstrap) newCluster(cfg *Config) error {
	var ids []uint64
	for _, im := range initialCluster(cfg) {
		id := machines.NewMemberID(im.PeerURLs, cfg.InitialClusterToken, nil)
		ids = append(ids, id)
		b.initial = append(b.initial, &machines.Member{ID: id, PeerURLs: im.PeerURLs})
		if im.Name == cfg.Name {
			b.memberID = id
		}
	}
	if b.memberID == 0 {
		return fmt.Errorf("the initial cluster has no member named %q (this member's name)", cfg.Name)
	}
	b.clusterID = machines.NewClusterID(ids)
	return nil
}

// lookup finds the IDs of a member added with POST /v2/members through the
// other members of the initial cluster (etcd 2.x).
func (b *bootstrap) lookup(cfg *Config, peerTLS *tls.Config) error {
	var peers []string
	for _, im := range cfg.InitialCluster {
		if im.Name != cfg.Name {
			for _, u := range im.PeerURLs {
				peers = append(peers, machines.HostPort(u))
			}
		}
	}
	if len(peers) == 0 {
		return errors.New("--initial-cluster-state=existing needs the other members in --initial-cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	defer cancel()
	res, err := raftfsm.LookupMember(ctx, peers, cfg.AdvertisePeerURLs, peerTLS)
	if err != nil {
		return fmt.Errorf("looking up this member in the existing cluster: %w", err)
	}
	b.memberID, b.clusterID, b.known = res.Member.ID, res.ClusterID, res.Members
	return nil
}

// finish records a first start's identity once raft's files exist (an
// identity without a raft log is damage, raftfsm.ErrDamaged); an etcd 0.x
// join first asks the cluster to add the member. On error node is closed.
func (b *bootstrap) finish(cfg *Config, node *raftfsm.Node) error {
	switch {
	case b.existing && b.id.Backup:
		// The forced new cluster has replaced the old members.
		b.id.Backup = false
	case b.existing:
		return nil
	case len(b.joinPeers) > 0:
		return b.join(cfg, node)
	}
	if err := writeIdentity(cfg.identityPath(), b.id); err != nil {
		_ = node.Close()
		return err
	}
	return nil
}

// join runs an etcd 0.x join on the started node and records the cluster
// it joined. A failed join leaves nothing behind in the data dir.
func (b *bootstrap) join(cfg *Config, node *raftfsm.Node) error {
	// The rounds bound the tries; the timeout bounds the rest (the calls,
	// and the log reaching this member once it is added).
	r := raftfsm.JoinRetry{Rounds: cfg.JoinRounds, Interval: cfg.JoinRetryInterval, Log: cfg.Log}
	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout+time.Duration(r.Rounds)*r.Interval)
	res, err := raftfsm.JoinWithRetry(ctx, node, b.joinPeers, r)
	cancel()
	if err != nil {
		_ = node.Close()
		_ = os.RemoveAll(cfg.memberDir())
		return fmt.Errorf("joining the cluster at %v: %w", b.joinPeers, err)
	}
	b.id.ClusterID = machines.IDString(res.ClusterID)
	if err := writeIdentity(cfg.identityPath(), b.id); err != nil {
		_ = node.Close()
		return err
	}
	cfg.Log.WithFields(logrus.Fields{"peers": b.joinPeers, "id": b.id.ID}).Info("joined the cluster")
	return nil
}

// initialCluster is the configured initial cluster, or this member alone.
func initialCluster(cfg *Config) []InitialMember {
	if len(cfg.InitialCluster) > 0 {
		return cfg.InitialCluster
	}
	return []InitialMember{{Name: cfg.Name, PeerURLs: cfg.AdvertisePeerURLs}}
}

// clusterPeers are the peer addresses (host:port) of the other members a
// proxy asks for the member list.
func clusterPeers(cfg *Config) []string {
	peers := slices.Clone(cfg.JoinPeers)
	for _, im := range cfg.InitialCluster {
		for _, u := range im.PeerURLs {
			if !slices.Contains(cfg.AdvertisePeerURLs, u) {
				peers = append(peers, machines.HostPort(u))
			}
		}
	}
	return peers
}

// writeIdentity replaces path with id: a synced temporary file renamed
// over it.
func writeIdentity(path string, id identity) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, _ := json.Marshal(id)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
