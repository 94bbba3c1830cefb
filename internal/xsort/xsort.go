// Package xsort sorts slices with a comparison function, as slices.SortFunc
// and slices.SortStableFunc do, through sort.Slice's one copy of the
// sorting code. slices.SortFunc compiles its pdqsort (~15 KB of code and
// its function metadata) once per element shape; two dozen call sites on
// struct slices of different shapes made ~400 KB of the binary, and every
// MB of the binary is resident memory. Here each shape costs only a small
// wrapper. For hot paths over large slices keep slices.SortFunc.
package xsort

import "sort"

// SortFunc sorts s in the order cmp gives (negative: a before b); it is
// not stable.
func SortFunc[S ~[]E, E any](s S, cmp func(a, b E) int) {
	sort.Slice(s, func(i, j int) bool { return cmp(s[i], s[j]) < 0 })
}

// SortStableFunc sorts s in the order cmp gives, keeping equal elements
// in their original order.
func SortStableFunc[S ~[]E, E any](s S, cmp func(a, b E) int) {
	sort.SliceStable(s, func(i, j int) bool { return cmp(s[i], s[j]) < 0 })
}
