//go:build unix

package store

import (
	"syscall"
	"testing"
	"time"
)

// reportCPU adds the process's CPU time per operation (user + system,
// the collector's workers included) since start, a steadier figure than
// wall time on a shared machine. Call it right after the loop.
func reportCPU(b *testing.B, start time.Duration) {
	b.Helper()
	b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
}

// processCPU is the CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
