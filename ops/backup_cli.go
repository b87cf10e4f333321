package ops

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/etcd-classic/etcd-classic/server"
)

// backupUsage heads `etcd-classic backup -h`.
const backupUsage = `usage: etcd-classic backup --data-dir D --backup-dir B

Copies the state of the stopped member whose data dir is D into B, as
etcdctl backup does: B holds everything D's raft log held, under a new
member ID and a new cluster ID, so that a cluster started from it never
talks to the old one. Start it with --force-new-cluster (and the member's
other flags), then add members to it. A running member's data dir is
refused (use etcd-classic snapshot save instead).

Flags:
`

// BackupMain runs `etcd-classic backup` with args (the words after
// "backup") and returns the exit status: 0 success, 1 failure, 2 usage.
func BackupMain(args []string, stdout, stderr io.Writer) int {
	return exitStatus(stderr, "etcd-classic backup", backup(args, stdout, stderr))
}

func backup(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("etcd-classic backup", backupUsage, stderr)
	var dataDir, backupDir, walDir, backupWALDir string
	var withV3 bool
	fs.StringVar(&dataDir, "data-dir", "", "data dir of the stopped member (required)")
	fs.StringVar(&backupDir, "backup-dir", "", "the backup's data dir, new or empty (required)")
	fs.StringVar(&walDir, "wal-dir", "", "refused unless it is the data dir's: the raft log lives in DATA-DIR/member/raft.db")
	fs.StringVar(&backupWALDir, "backup-wal-dir", "", "refused unless it is the backup dir's: the raft log lives in the data dir")
	fs.BoolVar(&withV3, "with-v3", false, "accepted, no effect: there is no v3 backend, the backup holds the whole v2 store")
	if _, err := parseArgs(fs, args, 0, "no arguments besides the flags"); err != nil {
		return err
	}
	switch {
	case dataDir == "" || backupDir == "":
		return usageErr{errors.New("--data-dir and --backup-dir are required")}
	case sameDir(dataDir, backupDir):
		return usageErr{errors.New("--backup-dir must not be the data dir")}
	case walDir != "" && !sameDir(walDir, filepath.Join(dataDir, "member")):
		return usageErr{errors.New("--wal-dir: the raft log lives in the data dir (member/raft.db); there is no separate WAL dir")}
	case backupWALDir != "" && !sameDir(backupWALDir, filepath.Join(backupDir, "member")):
		return usageErr{errors.New("--backup-wal-dir: the backup's raft log lives in the backup dir; there is no separate WAL dir")}
	}
	if withV3 {
		fmt.Fprintln(stderr, "[ignored] --with-v3: there is no v3 backend; the backup holds the whole v2 store")
	}
	res, err := server.Backup(dataDir, backupDir, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Backed up %s (member %s, raft index %d, store index %d) into %s as member %x of a new cluster %x; start it with --force-new-cluster\n",
		dataDir, res.Name, res.RaftIndex, res.StoreIndex, backupDir, res.MemberID, res.ClusterID)
	return nil
}

// sameDir compares two paths once cleaned and made absolute.
func sameDir(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}
