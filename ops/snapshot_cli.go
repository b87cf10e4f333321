package ops

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/etcd-classic/etcd-classic/server"
)

// snapshotUsage is `etcd-classic snapshot -h`.
const snapshotUsage = `usage: etcd-classic snapshot save FILE --endpoints URL [TLS and auth flags]
       etcd-classic snapshot status FILE [-w simple|table|json]
       etcd-classic snapshot restore FILE --name N --initial-cluster N=URL,... --initial-advertise-peer-urls URL --data-dir D [--initial-cluster-token T]

save     downloads a consistent snapshot of a running member's whole state
         (every key, directory, TTL, hidden key and the v2 auth state) from
         its client URL, checks it and writes it to FILE
status   checks FILE and prints its hash, raft index, store index, keys and size
restore  makes D the data dir of one member of a new cluster holding FILE's
         state; restore every member of the new cluster from the same FILE
         with the same --initial-cluster and token, then start them with
         those flags (--initial-cluster-state new)
`

// SnapshotMain runs `etcd-classic snapshot` with args (the words after
// "snapshot") and returns the exit status: 0 success, 1 failure, 2 usage.
func SnapshotMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, snapshotUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var err error
	switch args[0] {
	case "save":
		err = snapshotSave(args[1:], stdout, stderr)
	case "status":
		err = snapshotStatus(args[1:], stdout, stderr)
	case "restore":
		err = snapshotRestore(args[1:], stdout, stderr)
	default:
		err = usageErr{fmt.Errorf("unknown command %q (save, status or restore)", args[0])}
	}
	return exitStatus(stderr, "etcd-classic snapshot "+args[0], err)
}

// usageErr marks a command-line mistake (exit status 2).
type usageErr struct{ error }

func (u usageErr) Unwrap() error { return u.error }

// exitStatus prints err (if any) and returns the exit status it means.
func exitStatus(stderr io.Writer, cmd string, err error) int {
	var u usageErr
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &u):
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return 2
	default:
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return 1
	}
}

// parseArgs parses flags placed before, between or after the positional
// arguments (etcdctl's commands allow that) and returns the positional
// ones, which must number exactly want.
func parseArgs(fs *flag.FlagSet, args []string, want int, what string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageErr{err}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	if len(pos) != want {
		return nil, usageErr{fmt.Errorf("give %s", what)}
	}
	return pos, nil
}

// newFlagSet makes a command's flag set, its usage on stderr.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	return fs
}

// snapshotSave is `etcd-classic snapshot save FILE --endpoints URL`.
func snapshotSave(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("etcd-classic snapshot save", "usage: etcd-classic snapshot save FILE --endpoints URL [flags]\n\nFlags:\n", stderr)
	var c saveFlags
	c.register(fs)
	pos, err := parseArgs(fs, args, 1, "one file name")
	if err != nil {
		return err
	}
	ep, err := c.endpoint()
	if err != nil {
		return usageErr{err}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := SaveSnapshot(ctx, ep, pos[0], stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Snapshot saved at %s\n", pos[0])
	fmt.Fprintf(stderr, "snapshot: raft index %d, store index %d, %d keys, %s, sha256 %s\n",
		st.Info.RaftIndex, st.Info.StoreIndex, st.Keys, humanBytes(st.Size), hex.EncodeToString(st.SHA256[:]))
	return nil
}

// snapshotStatus is `etcd-classic snapshot status FILE`: etcdctl's output
// shape, with the revision as two columns, the raft and the store index.
func snapshotStatus(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("etcd-classic snapshot status", "usage: etcd-classic snapshot status FILE [-w simple|table|json]\n\nFlags:\n", stderr)
	var format string
	fs.StringVar(&format, "write-out", "simple", "output format: simple, table or json")
	fs.StringVar(&format, "w", "simple", "alias of --write-out")
	pos, err := parseArgs(fs, args, 1, "one file name")
	if err != nil {
		return err
	}
	if format != "simple" && format != "table" && format != "json" {
		return usageErr{fmt.Errorf("--write-out %q: give simple, table or json", format)}
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := server.ReadSnapshotStatus(f)
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	printStatus(stdout, format, st)
	return nil
}

// printStatus writes st as etcdctl 3.4 prints a snapshot's status (its
// hash is a 32-bit number: here the first four bytes of the SHA-256).
func printStatus(w io.Writer, format string, st *server.SnapshotStatus) {
	hash := binary.BigEndian.Uint32(st.SHA256[:4])
	row := []string{fmt.Sprintf("%08x", hash), strconv.FormatUint(st.Info.RaftIndex, 10), strconv.FormatUint(st.Info.StoreIndex, 10),
		strconv.Itoa(st.Keys), humanBytes(st.Size)}
	switch format {
	case "json":
		b, _ := json.Marshal(map[string]any{"hash": hash, "sha256": hex.EncodeToString(st.SHA256[:]),
			"raftIndex": st.Info.RaftIndex, "raftTerm": st.Info.RaftTerm, "storeIndex": st.Info.StoreIndex,
			"totalKey": st.Keys, "totalDir": st.Dirs, "totalSize": st.Size, "takenAt": st.Info.TakenAt.Format(time.RFC3339Nano),
			"clusterID": st.Info.ClusterID, "memberID": st.Info.MemberID, "authEnabled": st.AuthEnabled})
		fmt.Fprintf(w, "%s\n", b)
	case "table":
		printTable(w, []string{"HASH", "RAFT INDEX", "STORE INDEX", "TOTAL KEYS", "TOTAL SIZE"}, row)
	default:
		fmt.Fprintln(w, strings.Join(row, ", "))
	}
}

// printTable draws etcdctl's table: a ruled box, headers centred, cells
// right-aligned.
func printTable(w io.Writer, header, row []string) {
	widths := make([]int, len(header))
	for i := range header {
		widths[i] = max(len(header[i]), len(row[i]))
	}
	rule := "+"
	for _, n := range widths {
		rule += strings.Repeat("-", n+2) + "+"
	}
	line := func(cells []string, centre bool) string {
		s := "|"
		for i, c := range cells {
			pad := widths[i] - len(c)
			left := pad
			if centre {
				left = pad / 2
			}
			s += " " + strings.Repeat(" ", left) + c + strings.Repeat(" ", pad-left) + " |"
		}
		return s
	}
	fmt.Fprintf(w, "%s\n%s\n%s\n%s\n%s\n", rule, line(header, true), rule, line(row, false), rule)
}

// humanBytes is go-humanize's Bytes (SI units), which etcdctl prints.
func humanBytes(n int64) string {
	if n < 10 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	v, i := float64(n), 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if v < 10 {
		return fmt.Sprintf("%.1f %s", v, units[i])
	}
	return fmt.Sprintf("%.0f %s", v, units[i])
}

// snapshotRestore is `etcd-classic snapshot restore FILE ...`, with
// etcdctl's flags and defaults.
func snapshotRestore(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("etcd-classic snapshot restore", "usage: etcd-classic snapshot restore FILE [flags]\n\nFlags:\n", stderr)
	var name, initial, token, peerURLs, dataDir, walDir string
	var skipHash bool
	fs.StringVar(&name, "name", "default", "human-readable name for this member")
	fs.StringVar(&initial, "initial-cluster", "default=http://localhost:2380", "the new cluster's members: name=peerURL,...")
	fs.StringVar(&token, "initial-cluster-token", "etcd-cluster", "the new cluster's token (its IDs derive from it)")
	fs.StringVar(&peerURLs, "initial-advertise-peer-urls", "http://localhost:2380", "this member's peer URLs, as in --initial-cluster")
	fs.StringVar(&dataDir, "data-dir", "", "the new data dir (default <name>.etcd)")
	fs.StringVar(&walDir, "wal-dir", "", "refused: the raft log lives in the data dir")
	fs.BoolVar(&skipHash, "skip-hash-check", false, "refused: a snapshot file's checksum is always checked")
	pos, err := parseArgs(fs, args, 1, "one snapshot file")
	if err != nil {
		return err
	}
	switch {
	case walDir != "":
		return usageErr{errors.New("--wal-dir: the raft log lives in the data dir (member/raft.db); there is no separate WAL dir")}
	case skipHash:
		return usageErr{errors.New("--skip-hash-check: a snapshot file's checksum is always checked; a data dir is copied with etcd-classic backup instead")}
	}
	if dataDir == "" {
		dataDir = name + ".etcd"
	}
	cluster, err := parseInitialCluster(initial)
	if err != nil {
		return usageErr{err}
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := server.Restore(f, server.RestoreConfig{Name: name, DataDir: dataDir, InitialCluster: cluster,
		InitialClusterToken: token, AdvertisePeerURLs: splitURLs(peerURLs)})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Restored %s (raft index %d, store index %d) into %s as member %s of a new cluster; start it with the same --name, --initial-cluster, --initial-cluster-token and --initial-advertise-peer-urls\n",
		pos[0], res.Info.RaftIndex, res.Info.StoreIndex, dataDir, name)
	return nil
}

// parseInitialCluster parses name=URL,name=URL (a name may repeat, one
// URL each, as etcd allows).
func parseInitialCluster(s string) ([]server.InitialMember, error) {
	var out []server.InitialMember
	at := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		name, u, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || name == "" || u == "" {
			return nil, fmt.Errorf("--initial-cluster: %q is not name=URL", part)
		}
		if i, seen := at[name]; seen {
			out[i].PeerURLs = append(out[i].PeerURLs, u)
			continue
		}
		at[name] = len(out)
		out = append(out, server.InitialMember{Name: name, PeerURLs: []string{u}})
	}
	return out, nil
}

// splitURLs splits a comma-separated URL list.
func splitURLs(s string) []string {
	var out []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}
