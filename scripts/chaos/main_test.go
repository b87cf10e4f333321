package main

import (
	"io"
	"strings"
	"testing"
)

// Bad command lines are refused before anything starts (exit 2).
func TestCommandLine(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-members", "three"},
		{"-members", "0"},
		{"-scenarios", "kill-everything"},
		{"-scenarios", "kill-leader"}, // a process scenario without -bin
		{},                            // all of them, without -bin
		{"-no-such-flag"},
	} {
		if got := run(args, io.Discard); got != 2 {
			t.Errorf("%s: exit %d, want 2", strings.Join(args, " "), got)
		}
	}
}
