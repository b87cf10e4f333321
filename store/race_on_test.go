//go:build race

package store

// raceEnabled: the race detector inflates memory, so memory tests skip.
const raceEnabled = true
