package httpapi

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"
)

// SnapshotPath serves the member's whole state as a snapshot file, for
// `etcd-classic snapshot save`. etcd's v2 API has no such endpoint and its
// v3 snapshot is a gRPC call (/v3/maintenance/snapshot through the
// gateway), so the path lives under a prefix of this server's own, which
// no etcd path can take.
const SnapshotPath = "/etcd-classic/snapshot"

// Snapshots takes consistent snapshots of the member (the server package
// adapts raftfsm's SnapshotSource).
type Snapshots interface {
	// OpenSnapshot captures the member's state; the caller closes it.
	OpenSnapshot(ctx context.Context) (Snapshot, error)
}

// Snapshot is one captured state: its raft and store position, and the
// snapshot file's bytes (WriteTo writes exactly Size bytes).
type Snapshot interface {
	io.WriterTo
	io.Closer
	RaftIndex() uint64
	RaftTerm() uint64
	StoreIndex() uint64
	Size() int64
}

// snapshotWriteTimeout bounds each write of a snapshot download: a
// client that stops reading is cut off, one that reads slowly is not.
const snapshotWriteTimeout = 30 * time.Second

// snapshot serves GET (and HEAD) SnapshotPath:
//
//	curl -o backup.snap http://127.0.0.1:2379/etcd-classic/snapshot
//
// Only root once v2 auth is on (the file holds every key and the users'
// password hashes), as etcd's snapshot RPC needs root. The member answers
// once it is ready (as a local read). Headers: X-Etcd-Index (the
// snapshot's store index), X-Raft-Index and X-Raft-Term (its raft
// position), Content-Length; the body is the file (raftfsm/snapfile.go),
// which carries its own checksum.
func (a *API) snapshot(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r.Method, http.MethodGet, http.MethodHead) {
		return
	}
	if !a.rootAccess(r) {
		writeNoAuth(w)
		return
	}
	if a.cfg.Snapshots == nil {
		http.NotFound(w, r)
		return
	}
	if err := a.waitReady(r); err != nil {
		writeError(w, err)
		return
	}
	ss, err := a.cfg.Snapshots.OpenSnapshot(r.Context())
	if err != nil {
		a.log.WithField("err", err).Warn("snapshot failed")
		writeError(w, err)
		return
	}
	defer ss.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(ss.Size(), 10))
	h.Set("Content-Disposition", `attachment; filename="etcd-classic-`+strconv.FormatUint(ss.StoreIndex(), 10)+`.snap"`)
	h.Set("X-Etcd-Index", strconv.FormatUint(ss.StoreIndex(), 10))
	h.Set("X-Raft-Index", strconv.FormatUint(ss.RaftIndex(), 10))
	h.Set("X-Raft-Term", strconv.FormatUint(ss.RaftTerm(), 10))
	if r.Method == http.MethodHead {
		return
	}
	dw := &deadlineWriter{w: w, rc: http.NewResponseController(w)}
	defer dw.rc.SetWriteDeadline(time.Time{})
	if _, err := ss.WriteTo(dw); err != nil {
		// The headers are gone: the client sees a body shorter than
		// Content-Length (and a file that fails its checksum).
		a.log.WithField("err", err).Warn("snapshot download cut short")
	}
}

// deadlineWriter gives every write its own deadline.
type deadlineWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	// Network deadlines are wall-clock times (not Config.Now).
	_ = d.rc.SetWriteDeadline(time.Now().Add(snapshotWriteTimeout))
	return d.w.Write(p)
}
