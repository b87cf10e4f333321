//go:build !unix

package store

import (
	"testing"
	"time"
)

// reportCPU reports nothing where getrusage is missing.
func reportCPU(*testing.B, time.Duration) {}

func processCPU() time.Duration { return 0 }
