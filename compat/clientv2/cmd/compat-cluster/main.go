// Command compat-cluster starts a loopback cluster of an etcd-compatible
// server, runs one command with COMPAT_ENDPOINTS set to the members'
// client URLs (comma-separated), then kills the cluster and exits with
// the command's status.
//
//	compat-cluster -bin ./etcd-classic -n 3 -- go test -count=1 .
//	compat-cluster -bin /usr/bin/etcd -args=--enable-v2 -n 1 -- go test .
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/etcd-classic/etcd-classic/proctest"
)

func main() {
	os.Exit(run())
}

func run() int {
	bin := flag.String("bin", "", "server binary (required)")
	extra := flag.String("args", "", "space-separated flags put before every member's flags")
	n := flag.Int("n", 1, "number of members")
	dir := flag.String("dir", "", "directory for data and logs (default: a new temporary directory, removed afterwards)")
	ready := flag.Duration("ready", 60*time.Second, "how long to wait for a healthy cluster")
	flag.Parse()
	if *bin == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: compat-cluster -bin BINARY [-args FLAGS] [-n N] -- COMMAND [ARGS...]")
		return 2
	}
	work := *dir
	if work == "" {
		d, err := os.MkdirTemp("", "compat-cluster-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(d)
		work = d
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := proctest.StartCluster(ctx, proctest.ClusterConfig{CleanEnv: true, Binary: *bin, Args: strings.Fields(*extra), Members: *n, Dir: work, Ready: *ready})
	if err != nil {
		fmt.Fprintln(os.Stderr, "compat-cluster:", err)
		return 1
	}
	defer c.Stop()
	eps := strings.Join(c.ClientURLs(), ",")
	fmt.Fprintf(os.Stderr, "compat-cluster: %d member(s) of %s at %s\n", *n, *bin, eps)

	cmd := exec.CommandContext(ctx, flag.Arg(0), flag.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "COMPAT_ENDPOINTS="+eps)
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ee.ExitCode() < 0 {
			return 1
		}
		return ee.ExitCode()
	default:
		fmt.Fprintln(os.Stderr, "compat-cluster:", err)
		return 1
	}
}
