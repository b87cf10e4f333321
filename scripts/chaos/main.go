package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout))
}

// options are the command's flags.
type options struct {
	bin       string
	members   string
	scenarios string
	dir       string
	keep      bool
	verbose   bool
	cfg       runConfig
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "", "the etcd-classic binary (scripts/chaos.sh builds it)")
	fs.StringVar(&o.members, "members", "3,5", "cluster sizes, comma-separated")
	fs.StringVar(&o.scenarios, "scenarios", "all", "comma-separated scenarios: "+strings.Join(scenarioNames(), ", "))
	fs.StringVar(&o.dir, "dir", "", "directory for data, logs and violation renderings (default: a temporary one, removed unless -keep)")
	fs.BoolVar(&o.keep, "keep", false, "keep the data and logs")
	fs.BoolVar(&o.verbose, "v", false, "print every finding in full, not only the first few, and the members' logs")
	fs.IntVar(&o.cfg.Clients, "clients-per-member", 2, "concurrent clients per member (each sends to a random member)")
	fs.IntVar(&o.cfg.Keys, "keys", 10, "contended keys")
	fs.DurationVar(&o.cfg.Warmup, "warmup", 2*time.Second, "workload before the fault")
	fs.DurationVar(&o.cfg.Fault, "fault", 5*time.Second, "how long each fault lasts (keep a pause shorter than -client-timeout)")
	fs.DurationVar(&o.cfg.Recover, "recover", 5*time.Second, "workload after the cluster is healthy again")
	fs.IntVar(&o.cfg.Rounds, "rounds", 1, "faults per run: inject, heal, recover, again")
	fs.BoolVar(&o.cfg.StaleReads, "stale-reads", false, "read without quorum=true (self-test: must be found not linearizable)")
	fs.Float64Var(&o.cfg.RYWShare, "ryw", 0.25, "share of acknowledged writes checked with a plain GET on the member that answered")
	fs.DurationVar(&o.cfg.ClientTimeout, "client-timeout", 10*time.Second, "deadline of each client request (then the client tries another member)")
	fs.DurationVar(&o.cfg.CheckTimeout, "check-timeout", 2*time.Minute, "bound on the linearizability check")
	fs.Uint64Var(&o.cfg.Seed, "seed", uint64(time.Now().UnixNano()), "workload seed")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return o, nil
}

func scenarioNames() []string {
	var out []string
	for _, sc := range scenarios {
		out = append(out, sc.Name)
	}
	return out
}

// run runs every scenario for every size and prints one line per run; it
// returns 1 when any run found something wrong or could not finish.
func run(args []string, stdout io.Writer) int {
	o, err := parseFlags(args, os.Stderr)
	if err != nil {
		return 2
	}
	var sizes []int
	for _, s := range strings.Split(o.members, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "chaos: bad -members %q\n", o.members)
			return 2
		}
		sizes = append(sizes, n)
	}
	var chosen []scenario
	for _, name := range strings.Split(o.scenarios, ",") {
		if name == "all" {
			chosen = append(chosen, scenarios...)
			continue
		}
		sc, ok := scenarioNamed(strings.TrimSpace(name))
		if !ok {
			fmt.Fprintf(os.Stderr, "chaos: no scenario %q (%s)\n", name, strings.Join(scenarioNames(), ", "))
			return 2
		}
		chosen = append(chosen, sc)
	}
	for _, sc := range chosen {
		if !sc.InProcess && o.bin == "" {
			fmt.Fprintf(os.Stderr, "chaos: %s needs -bin\n", sc.Name)
			return 2
		}
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "chaos-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			return 1
		}
		o.dir = d
		if !o.keep {
			defer os.RemoveAll(d)
		}
	}
	o.cfg.Dir, o.cfg.Bin = o.dir, o.bin

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(stdout, "seed %d; warmup %v, then %d × (fault %v, recover %v); %d clients per member, %d contended keys; data in %s\n",
		o.cfg.Seed, o.cfg.Warmup, max(o.cfg.Rounds, 1), o.cfg.Fault, o.cfg.Recover, o.cfg.Clients, o.cfg.Keys, o.dir)
	fmt.Fprintln(stdout, header)
	failed := false
	for _, n := range sizes {
		for _, sc := range chosen {
			cfg := o.cfg
			cfg.Members, cfg.Clients = n, o.cfg.Clients*n
			res, err := runScenario(ctx, cfg, sc)
			if err != nil {
				failed = true
				fmt.Fprintf(stdout, "%-17s %7d  did not finish: %v\n", sc.Name, n, firstLine(err))
				fmt.Fprintln(os.Stderr, err)
				continue
			}
			fmt.Fprintln(stdout, res.row())
			if !res.OK() {
				failed = true
				fmt.Fprint(stdout, res.findings(o.verbose))
			}
		}
	}
	if failed {
		return 1
	}
	return 0
}

const header = "scenario          members    ops   ops/s  unknown  acked  lost  dup  ryw  gap      check   linearizable"

// row is the run's line of the table.
func (r *result) row() string {
	lin := map[string]string{"Ok": "yes", "Illegal": "NO", "Unknown": "unknown (check timed out)"}[string(r.Linearizable)]
	return fmt.Sprintf("%-17s %7d %6d %7.0f %8d %6d %5d %4d %4d  %-7s %6s  %s",
		r.Scenario, r.Members, r.Ops, float64(r.Ops)/r.Duration.Seconds(), r.Unknown, r.Acked,
		len(r.Lost), len(r.Dups)+len(r.Divergent), len(r.RYW), r.LongestGap.Round(10*time.Millisecond),
		r.CheckTime.Round(10*time.Millisecond), lin)
}

// findings lists what the run found (the first few of each kind unless
// all), with the violating history.
func (r *result) findings(all bool) string {
	var b strings.Builder
	for _, f := range []struct {
		what  string
		items []string
	}{{"lost", r.Lost}, {"applied twice", r.Dups}, {"divergent", r.Divergent}, {"read-your-writes or monotonic reads", r.RYW}, {"unexpected answers", r.Unexpected}} {
		for i, s := range f.items {
			if i == 5 && !all {
				fmt.Fprintf(&b, "  %s: ... %d more\n", f.what, len(f.items)-i)
				break
			}
			fmt.Fprintf(&b, "  %s: %s\n", f.what, s)
		}
	}
	if r.Excerpt != "" {
		b.WriteString(r.Excerpt)
	}
	if all {
		b.WriteString(r.Logs)
	}
	return b.String()
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
