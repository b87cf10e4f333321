package launch

import "syscall"

// sysProcAttr makes the kernel kill a member when the process that
// launched it dies, even by SIGKILL or a test timeout, so that no member
// outlives its test run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
