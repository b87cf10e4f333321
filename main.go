// Command etcd-classic is a drop-in server for etcd's v1 and v2 HTTP+JSON
// keys API, replicated with Raft. main holds only flags and wiring.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/sirupsen/logrus"

	"github.com/etcd-classic/etcd-classic/ops"
	"github.com/etcd-classic/etcd-classic/server"
)

// Version is this build's version; ServerVersion and ClusterVersion are
// what /version reports, the etcd release whose v2 API we serve.
const (
	Version        = "0.1.0"
	ServerVersion  = "2.3.8"
	ClusterVersion = "2.3.0"
)

func main() {
	// Operator subcommands (ops) come before any flag parsing.
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "copy":
			os.Exit(ops.CopyMain(os.Args[2:], os.Stdout, os.Stderr))
		case "snapshot":
			os.Exit(ops.SnapshotMain(os.Args[2:], os.Stdout, os.Stderr))
		case "backup":
			os.Exit(ops.BackupMain(os.Args[2:], os.Stdout, os.Stderr))
		}
	}
	// GOGC=200 for write throughput, with the heap of a large store
	// capped a share above its live size (memlimit.go). GOGC or
	// GOMEMLIMIT in the environment still win.
	startMemoryPolicy()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout)
		return 0
	}
	if err != nil {
		usageError(stderr, err)
		return 2
	}
	if cfg.printVersion {
		printVersion(stdout)
		return 0
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		usageError(stderr, err)
		return 2
	}
	sc, err := cfg.resolve()
	if err != nil {
		usageError(stderr, err)
		return 2
	}
	sc.Log = log
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "etcd-classic: -cpuprofile: %v\n", err)
			return 2
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	member, err := server.Start(sc)
	if err != nil {
		log.WithField("err", err).Error("cannot start")
		fmt.Fprintf(stderr, "etcd-classic: %v\n", err)
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		log.WithField("signal", s.String()).Info("shutting down")
	case err := <-member.Failed():
		log.WithField("err", err).Error("client listener failed")
	case <-member.Removed():
		log.Warn("this member has been removed from the cluster; stopping")
	}
	member.Stop()
	return 0
}

// newLogger configures the process logger from --log-output,
// --log-format and the level flags.
func newLogger(cfg *config, stderr io.Writer) (*logrus.Entry, error) {
	l := logrus.New()
	switch cfg.logOutput {
	case "", "default", "stderr":
		l.SetOutput(stderr)
	case "stdout":
		l.SetOutput(os.Stdout)
	default:
		f, err := os.OpenFile(cfg.logOutput, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("--log-output: %w", err)
		}
		l.SetOutput(f)
	}
	switch cfg.logFormat {
	case "", "text":
	case "json":
		l.SetFormatter(&logrus.JSONFormatter{})
	default:
		return nil, fmt.Errorf("--log-format must be text or json, not %q", cfg.logFormat)
	}
	l.SetLevel(logrus.InfoLevel)
	if cfg.verbose || cfg.veryVerb {
		l.SetLevel(logrus.DebugLevel)
	}
	if cfg.logLevel != "" {
		lvl, err := logrus.ParseLevel(cfg.logLevel)
		if err != nil {
			return nil, fmt.Errorf("--log-level: %w", err)
		}
		l.SetLevel(lvl)
	}
	return logrus.NewEntry(l), nil
}
