//go:build race

package httpapi

// raceEnabled: the race detector inflates memory, so memory tests skip.
const raceEnabled = true
