package release

import (
	"slices"
	"strings"
	"time"

	"github.com/tinysink/tinysink/internal/xsort"
)

// Release is what ordering needs to know about one of a project's releases.
type Release struct {
	// Version is the sanitised version string; "" is the "no release"
	// release that events without a release belong to.
	Version string
	// DateReleased is when the release was first seen (the ingest time of
	// its first event) or the timestamp given when it was created by API.
	DateReleased time.Time
	// SortEpoch is the epoch that Create assigned.
	SortEpoch int
}

// Compare orders two releases of one project; it returns -1, 0 or +1. The
// order is:
//
//  1. The "no release" release ("") comes before every other release.
//  2. Then by SortEpoch.
//  3. Inside an epoch, non-semver releases come before semver ones. (Create
//     never mixes them in one epoch; this only makes the order total.)
//  4. Two semver releases by CompareSemver, two non-semver ones by
//     DateReleased.
//  5. Ties (equal precedence such as 1.0.0+1 and 1.0.0+2, or equal dates)
//     by DateReleased, then by Version as a string, so that the order never
//     depends on the order of the input.
func Compare(a, b Release) int {
	return compareKeys(keyOf(a), keyOf(b))
}

// key is a Release with its version parsed once.
type key struct {
	r Release
	v Version
}

func keyOf(r Release) key { return key{r, Parse(r.Version)} }

func compareKeys(a, b key) int {
	if (a.r.Version == "") != (b.r.Version == "") {
		if a.r.Version == "" {
			return -1
		}
		return 1
	}
	if c := cmpInt(a.r.SortEpoch, b.r.SortEpoch); c != 0 {
		return c
	}
	if a.v.Semver != b.v.Semver {
		if a.v.Semver {
			return 1
		}
		return -1
	}
	if a.v.Semver {
		if c := CompareSemver(a.v, b.v); c != 0 {
			return c
		}
	}
	if c := a.r.DateReleased.Compare(b.r.DateReleased); c != 0 {
		return c
	}
	return strings.Compare(a.r.Version, b.r.Version)
}

// Sort sorts rs in place, oldest first, in the order of Compare.
func Sort(rs []Release) {
	keys := keysOf(rs)
	for i, k := range keys {
		rs[i] = k.r
	}
}

// keysOf returns the keys of rs in the order of Compare.
func keysOf(rs []Release) []key {
	keys := make([]key, len(rs))
	for i, r := range rs {
		keys[i] = keyOf(r)
	}
	xsort.SortFunc(keys, compareKeys)
	return keys
}

// Latest returns the last of rs in the order of Compare, leaving out the "no
// release" release: "" is never the latest. ok is false when rs has no
// release other than "".
func Latest(rs []Release) (latest Release, ok bool) {
	var best key
	for _, r := range rs {
		if r.Version == "" {
			continue
		}
		k := keyOf(r)
		if !ok || compareKeys(k, best) > 0 {
			best, ok = k, true
		}
	}
	return best.r, ok
}

// Create returns the release to store when version (sanitised here) is seen
// for the first time at time at, given the project's existing releases, and
// whether it is the project's new latest release.
//
// Its SortEpoch is the epoch of the current latest release, plus one when
// the new version is semver and the latest is not, or the other way round;
// the first release of a project gets epoch 0. The "no release" release ""
// always gets epoch 0, never switches the epoch and is never the latest.
//
// When latest is true, every issue of the project that is resolved "in the
// next release" materialises to this release (reference §6.3): the caller
// appends r.Version to the fixed-at list and clears its
// resolved-by-next-release flag, so that an event in r (or any later
// release) is from then on a regression.
//
// When version is already among existing, Create returns that release and
// false.
func Create(existing []Release, version string, at time.Time) (r Release, latest bool) {
	version = Sanitize(version)
	for _, e := range existing {
		if e.Version == version {
			return e, false
		}
	}
	r = Release{Version: version, DateReleased: at}
	if version == "" {
		return r, false
	}
	cur, ok := Latest(existing)
	if !ok {
		return r, true
	}
	r.SortEpoch = cur.SortEpoch
	if IsSemver(cur.Version) != IsSemver(version) {
		r.SortEpoch++
	}
	return r, Compare(r, cur) > 0
}

// After reports whether release version v comes after release version f in
// the project's order (Compare). A version not among rs is placed where
// Create would put it if it were seen now, that is with a date after every
// existing release.
func After(rs []Release, v, f string) bool {
	if v == f {
		return false
	}
	keys := ordered(rs, v, f)
	iv, jf := -1, -1
	for i, k := range keys {
		switch k.r.Version {
		case v:
			iv = i
		case f:
			jf = i
		}
	}
	return iv > jf
}

// ordered returns rs in the order of Compare, with any of extra that is not
// a version in rs added as if it had been created now.
func ordered(rs []Release, extra ...string) []key {
	all := rs
	for _, x := range extra {
		if !slices.ContainsFunc(all, func(r Release) bool { return r.Version == x }) {
			if len(all) == len(rs) {
				all = slices.Clip(rs)
			}
			r, _ := Create(all, x, newest(all).Add(time.Nanosecond))
			r.Version = x // x is assumed sanitised; keep it findable
			all = append(all, r)
		}
	}
	return keysOf(all)
}

// newest returns the latest DateReleased in rs (the zero time for none).
func newest(rs []Release) time.Time {
	var t time.Time
	for _, r := range rs {
		if r.DateReleased.After(t) {
			t = r.DateReleased
		}
	}
	return t
}
