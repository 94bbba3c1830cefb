//go:build race

package testflag

// race: under the race detector tests are CPU-bound, and more of them at
// once only share the same two cores.
const race = true
