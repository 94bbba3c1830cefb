//go:build race

package scrub

// raceEnabled is set when testing with -race, under which sync.Pool drops
// items at random and allocation counts mean nothing.
const raceEnabled = true
