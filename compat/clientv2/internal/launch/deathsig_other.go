//go:build !linux

package launch

import "syscall"

// sysProcAttr: outside Linux only Stop and the tests' cleanups stop the
// members.
func sysProcAttr() *syscall.SysProcAttr { return nil }
