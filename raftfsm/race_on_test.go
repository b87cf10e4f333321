//go:build race

package raftfsm

// raceEnabled: the race detector is on (see TestForwardedValueLimit).
const raceEnabled = true
