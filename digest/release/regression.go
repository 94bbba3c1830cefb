package release

import "slices"

// Resolution is the part of an issue's state that regression detection
// reads (reference §6.1).
type Resolution struct {
	// Resolved is set by every kind of resolve and cleared by reopen.
	Resolved bool
	// Unconditionally is set by a plain "resolve".
	Unconditionally bool
	// ByNextRelease is set by "resolve in next release" until a new latest
	// release materialises it (see Create).
	ByNextRelease bool
	// FixedAt lists the versions the issue was resolved in.
	FixedAt []string
	// EventsAt lists the versions the earlier events were seen in.
	// It must not yet include the release of the event being judged when
	// that release was not in it before.
	EventsAt []string
}

// IsRegression reports whether an event in release version reopens an issue
// in state res, given all the project's releases rs (reference §6.3). Call
// it after the event's release has been created (or pass rs without it: a
// missing version is placed as Create would place it now).
//
//   - An issue that is not resolved never regresses.
//   - Resolved in the next release, not yet materialised: no regression,
//     since that release has not appeared.
//   - Resolved unconditionally: every event is a regression.
//   - A project without releases (none but "", and the event has none
//     either): every event is a regression.
//   - Otherwise walk the releases in the order of Compare with a flag that
//     starts false: at a release in FixedAt set it, else at a release in
//     EventsAt clear it; the answer is the flag at the event's release. So
//     with FixedAt [1.0], an event in 1.1 (or in 1.0 itself) regresses and an
//     event in the older 0.9 does not; an event in a version that the issue
//     had events in after its last fix does not either.
//
// An event without a release ("") in a project that has releases sorts
// before every release, so it regresses only if "" itself is in FixedAt.
func IsRegression(rs []Release, res Resolution, version string) bool {
	switch {
	case !res.Resolved, res.ByNextRelease:
		return false
	case res.Unconditionally:
		return true
	}
	if version == "" && !slices.ContainsFunc(rs, func(r Release) bool { return r.Version != "" }) {
		return true
	}
	flag := false
	for _, k := range ordered(rs, version) {
		switch v := k.r.Version; {
		case slices.Contains(res.FixedAt, v):
			flag = true
		case slices.Contains(res.EventsAt, v):
			flag = false
		}
		if k.r.Version == version {
			return flag
		}
	}
	return flag
}
