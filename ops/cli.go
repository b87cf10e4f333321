package ops

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// copyUsage heads `etcd-classic copy -h`.
const copyUsage = `usage: etcd-classic copy --from URL --to URL [--prefix P]... [--dry-run] [--overwrite] [--verify]

Copies the v2 key trees under the prefixes (default: the whole tree) from
one member serving /v2/keys (etcd 2.x, etcd 3.4 with --enable-v2,
etcd-classic) to another, keeping directories (empty ones too), values,
remaining TTLs and in-order keys' names. Hidden nodes (names starting
with _) are not listed by etcd; name them with --prefix. The target must
show no keys under a prefix unless --overwrite is given.

Exit status: 0 when every node was copied (and, with --verify, read back
the same), 1 when anything failed, 2 for a usage error.

Flags:
`

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

// sideFlags are the TLS and auth flags of one side, or of both.
type sideFlags struct {
	cert, key, ca, user string
}

// register adds the flags with the given name prefix ("" for both
// sides): etcd 2.x spellings (--cert-file) and, for both sides, etcdctl's
// (--cert, --key, --cacert) as aliases.
func (s *sideFlags) register(fs *flag.FlagSet, prefix, who string) {
	fs.StringVar(&s.cert, prefix+"cert-file", "", "client certificate (PEM) presented to "+who)
	fs.StringVar(&s.key, prefix+"key-file", "", "key of the client certificate for "+who)
	fs.StringVar(&s.ca, prefix+"ca-file", "", "CA bundle (PEM) that verifies "+who)
	fs.StringVar(&s.user, prefix+"username", "", "user:password for basic authentication to "+who)
	if prefix == "" {
		fs.StringVar(&s.cert, "cert", "", "alias of --cert-file (etcdctl spelling)")
		fs.StringVar(&s.key, "key", "", "alias of --key-file (etcdctl spelling)")
		fs.StringVar(&s.ca, "cacert", "", "alias of --ca-file (etcdctl spelling)")
		fs.StringVar(&s.user, "u", "", "alias of --username")
	}
}

// endpoint fills ep from the side's flags, falling back to both-sides
// flags for what the side did not set.
func (s sideFlags) endpoint(url string, both sideFlags) (Endpoint, error) {
	pick := func(a, b string) string {
		if a != "" {
			return a
		}
		return b
	}
	ep := Endpoint{URL: url, CertFile: pick(s.cert, both.cert), KeyFile: pick(s.key, both.key), CAFile: pick(s.ca, both.ca)}
	if u := pick(s.user, both.user); u != "" {
		name, pass, ok := strings.Cut(u, ":")
		if !ok || name == "" {
			return Endpoint{}, fmt.Errorf("--username %q: give user:password", u)
		}
		ep.Username, ep.Password = name, pass
	}
	return ep, nil
}

// CopyMain runs `etcd-classic copy` with args (the words after "copy")
// and returns the process exit status: 0 success, 1 failure, 2 usage.
// The dry-run plan and the summary go to stdout; progress, warnings and
// per-key errors to stderr. SIGINT and SIGTERM cancel the copy.
func CopyMain(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseCopyFlags(args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "etcd-classic copy: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := Copy(ctx, cfg)
	if rep != nil {
		summary(stdout, cfg, rep)
	}
	if err != nil {
		fmt.Fprintf(stderr, "etcd-classic copy: %v\n", err)
		return 1
	}
	if len(rep.Failed) > 0 || len(rep.Differences) > 0 {
		return 1
	}
	return 0
}

// parseCopyFlags turns the command line into a Config.
func parseCopyFlags(args []string, stdout, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("etcd-classic copy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, copyUsage)
		fs.PrintDefaults()
	}
	var (
		cfg              Config
		from, to         string
		prefixes         multi
		both, fromS, toS sideFlags
		insecure         bool
		timeout          time.Duration
		maxBytes         int64
		concurrency      int
		progressEvery    time.Duration
	)
	fs.StringVar(&from, "from", "", "client URL of the source member (required)")
	fs.StringVar(&to, "to", "", "client URL of the target member (required)")
	fs.Var(&prefixes, "prefix", "subtree to copy, a key or a directory; repeat for more (default /)")
	fs.BoolVar(&cfg.DryRun, "dry-run", false, "read both sides and print what would be written; write nothing")
	fs.BoolVar(&cfg.Overwrite, "overwrite", false, "merge into a target that has keys, replacing keys present on both")
	fs.BoolVar(&cfg.Verify, "verify", false, "read the target back and report every difference")
	fs.IntVar(&concurrency, "concurrency", 16, "requests in flight on each side")
	fs.DurationVar(&timeout, "timeout", 10*time.Second, "timeout of each request")
	fs.Int64Var(&maxBytes, "max-response-bytes", DefaultMaxResponseBytes, "largest response accepted (one directory's listing)")
	fs.DurationVar(&progressEvery, "progress-interval", time.Second, "interval between progress lines on stderr")
	fs.BoolVar(&insecure, "insecure-skip-tls-verify", false, "do not verify the members' server certificates")
	both.register(fs, "", "both members (--from-... and --to-... override)")
	fromS.register(fs, "from-", "the source")
	toS.register(fs, "to-", "the target")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if from == "" || to == "" {
		return Config{}, errors.New("--from and --to are required")
	}
	if concurrency < 1 || concurrency > 256 {
		return Config{}, fmt.Errorf("--concurrency %d: give 1 to 256", concurrency)
	}
	var err error
	if cfg.From, err = fromS.endpoint(from, both); err != nil {
		return Config{}, err
	}
	if cfg.To, err = toS.endpoint(to, both); err != nil {
		return Config{}, err
	}
	for _, ep := range []*Endpoint{&cfg.From, &cfg.To} {
		ep.InsecureSkipVerify, ep.Timeout, ep.MaxResponseBytes = insecure, timeout, maxBytes
	}
	if sameMember(from, to) {
		return Config{}, errors.New("--from and --to name the same member")
	}
	cfg.Prefixes = prefixes
	cfg.Concurrency = concurrency
	cfg.ProgressEvery = progressEvery
	cfg.Out, cfg.Progress = stdout, stderr
	return cfg, nil
}

// sameMember compares two URLs loosely (scheme, host, port).
func sameMember(a, b string) bool {
	norm := func(s string) string { return strings.TrimRight(strings.ToLower(s), "/") }
	return norm(a) == norm(b)
}

// summary prints the outcome on one line, plus the failures' count.
func summary(w io.Writer, cfg Config, r *Report) {
	if cfg.DryRun {
		return // the plan ends with its own summary line
	}
	fmt.Fprintf(w, "copied %d directories and %d keys from %s to %s (%d read, %d expired during the copy, %d failed",
		r.Dirs, r.Keys, cfg.From.URL, cfg.To.URL, r.Read, r.Expired, len(r.Failed))
	if cfg.Verify {
		fmt.Fprintf(w, ", %d differences on verify", len(r.Differences))
	}
	fmt.Fprintf(w, ", %d warnings)\n", len(r.Warnings))
}
