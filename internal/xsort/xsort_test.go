package xsort

import (
	"cmp"
	"slices"
	"testing"
)

func TestSortFunc(t *testing.T) {
	type kv struct{ k, v int }
	s := []kv{{3, 0}, {1, 1}, {2, 2}, {1, 3}, {3, 4}, {0, 5}}
	byK := func(a, b kv) int { return cmp.Compare(a.k, b.k) }
	u := slices.Clone(s)
	SortFunc(u, byK)
	if !slices.IsSortedFunc(u, byK) {
		t.Errorf("SortFunc: %v", u)
	}
	st := slices.Clone(s)
	SortStableFunc(st, byK)
	want := slices.Clone(s)
	slices.SortStableFunc(want, byK)
	if !slices.Equal(st, want) {
		t.Errorf("SortStableFunc = %v, want %v", st, want)
	}
}
