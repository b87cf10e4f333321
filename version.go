package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// printVersion writes --version in etcd's format, so that scripts that
// read etcd's version keep working: the first line is exactly
// "etcd Version: <the etcd release whose API this server serves>" (what
// `grep 'etcd Version:' | awk '{print $3}'` and etcd's own tooling
// parse), then etcd's Git SHA, Go Version and Go OS/Arch lines, then one
// line naming this server and its own version.
func printVersion(w io.Writer) {
	fmt.Fprintf(w, "etcd Version: %s\n", ServerVersion)
	fmt.Fprintf(w, "Git SHA: %s\n", gitSHA())
	fmt.Fprintf(w, "Go Version: %s\n", runtime.Version())
	fmt.Fprintf(w, "Go OS/Arch: %s/%s\n", runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "etcd-classic Version: %s\n", Version)
}

// gitSHA is the commit the binary was built from, as etcd prints it (7
// hex digits), or etcd's own words when the build did not record it.
func gitSHA() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 7 {
				return s.Value[:7]
			}
		}
	}
	return "Not provided (use ./build instead of go build)"
}

// usageError writes a command-line mistake as one line that says where
// to look, instead of the whole flag table.
func usageError(w io.Writer, err error) {
	fmt.Fprintf(w, "etcd-classic: %v (etcd-classic --help lists every flag)\n", err)
}
