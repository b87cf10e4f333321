package raftfsm

import "time"

// Clock is the source of wall time for stamping commands and driving the
// expiry loop. Tests inject a fake; production uses SystemClock.
type Clock interface {
	Now() time.Time
	// NewTicker returns a channel ticking every d and a stop function.
	NewTicker(d time.Duration) (<-chan time.Time, func())
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTicker wraps time.NewTicker.
func (SystemClock) NewTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}
