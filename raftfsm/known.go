package raftfsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"

	"github.com/etcd-classic/etcd-classic/machines"
)

// learnedPeers is the cluster ID and the members a member learned from the
// cluster itself before its own log could tell it: a -C join's list and
// join reply, a 2.x lookup's reply (Config.KnownMembers). The peer hello
// check accepts these members. It is kept in member/peers.json, so that a
// member restarted before the first log entry reached it still recognises
// its cluster; once the log has arrived, the membership table and raft's
// configuration say more than it does.
type learnedPeers struct {
	path      string
	mu        sync.RWMutex // guards clusterID, ids
	clusterID uint64
	ids       map[uint64]bool
}

// peersFile is the on-disk form: the body and its CRC-32C.
type peersFile struct {
	CRC  uint32          `json:"crc32c"`
	Body json.RawMessage `json:"peers"`
}

type peersBody struct {
	ClusterID string   `json:"clusterID"`
	Members   []string `json:"members"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// peersFileName is the file learnedPeers keeps, in the member directory.
const peersFileName = "peers.json"

// load reads the file at path, if there is one. A damaged file is an
// error naming it.
func (l *learnedPeers) load(path string) error {
	l.path = path
	l.ids = map[uint64]bool{}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("raftfsm: read %s: %w", path, err)
	}
	var f peersFile
	var body peersBody
	damaged := func(why string) error {
		return fmt.Errorf("raftfsm: %s is damaged (%s); it lists the members this member learned when it joined: restore it from a backup, or remove the member and add it again", path, why)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return damaged(err.Error())
	}
	if crc32.Checksum(f.Body, castagnoli) != f.CRC {
		return damaged("checksum mismatch")
	}
	if err := json.Unmarshal(f.Body, &body); err != nil {
		return damaged(err.Error())
	}
	if l.clusterID, err = machines.ParseID(body.ClusterID); err != nil {
		return damaged(err.Error())
	}
	for _, s := range body.Members {
		id, err := machines.ParseID(s)
		if err != nil {
			return damaged(err.Error())
		}
		l.ids[id] = true
	}
	return nil
}

func (l *learnedPeers) has(id uint64) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.ids[id]
}

func (l *learnedPeers) cluster() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.clusterID
}

// learn records a cluster ID and members the cluster told this member,
// and saves them when they add something.
func (l *learnedPeers) learn(clusterID uint64, members []*machines.Member) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	changed := false
	if clusterID != 0 && clusterID != l.clusterID {
		l.clusterID, changed = clusterID, true
	}
	for _, m := range members {
		if m != nil && m.ID != 0 && !l.ids[m.ID] {
			l.ids[m.ID], changed = true, true
		}
	}
	if !changed || l.path == "" {
		return nil
	}
	body := peersBody{ClusterID: machines.IDString(l.clusterID)}
	for id := range l.ids {
		body.Members = append(body.Members, machines.IDString(id))
	}
	bb, _ := json.Marshal(body)
	fb, _ := json.Marshal(peersFile{CRC: crc32.Checksum(bb, castagnoli), Body: bb})
	return writeFileSync(l.path, fb)
}

// writeFileSync replaces path with b: a synced temporary file renamed over
// it, then the directory synced.
func writeFileSync(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("raftfsm: write %s: %w", path, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("raftfsm: write %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
