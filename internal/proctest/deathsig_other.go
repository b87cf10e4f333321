//go:build !linux

package proctest

import "syscall"

// setDeathSignal has no equivalent outside Linux: Main's cleanup and
// t.Cleanup are all there is.
func setDeathSignal(*syscall.SysProcAttr) {}
