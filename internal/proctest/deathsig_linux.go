package proctest

import "syscall"

// setDeathSignal makes the kernel kill the process when the test binary
// dies, whatever way it dies.
func setDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
