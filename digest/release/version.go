// Package release decides how a project's releases are ordered, which one is
// the latest, and whether an event in some release reopens an issue that was
// resolved in others (reference/bugsink-behaviour.md §10 and §6.3).
//
// Everything here is a pure function of version strings and of the
// [Release] records the caller keeps; nothing touches the store.
//
// In short: a version is "semver" when, after an optional "package@" prefix,
// it is a strict SemVer 2.0 version (MAJOR.MINOR.PATCH, no leading zeros, an
// optional -prerelease and +build). Releases are ordered by sort epoch first;
// inside an epoch semver releases are ordered by semver precedence and the
// others by the date they were first seen. A project's epoch goes up by one
// each time a new release switches between semver and non-semver, so a
// project can move from git hashes to semver (or back) and the newest scheme
// always sorts last.
package release

import (
	"strings"
	"unicode/utf8"
)

// MaxLen is the length, in characters (runes), that Sanitize cuts versions to.
const MaxLen = 200

// ShortLen is the length, in characters, that Short cuts non-semver versions to.
const ShortLen = 12

// Sanitize returns the version string as it is stored: newlines, carriage
// returns, tabs, '/' and '\' are removed; a result of ".", ".." or a single
// space becomes "sanitized"; and the result is cut to MaxLen characters.
// Nothing else changes: other whitespace is kept (so " 1.2.3" is a
// different, non-semver, version).
//
// The empty string stays empty: it is the "no release" release. A non-empty
// version made only of removed characters (say "/") becomes "sanitized"
// rather than "", so it is not silently merged into "no release".
func Sanitize(version string) string {
	s := version
	if strings.ContainsAny(s, "\n\r\t/\\") {
		s = strings.Map(func(r rune) rune {
			switch r {
			case '\n', '\r', '\t', '/', '\\':
				return -1
			}
			return r
		}, s)
	}
	switch {
	case s == "." || s == ".." || s == " ":
		return "sanitized"
	case s == "" && version != "":
		return "sanitized"
	}
	if len(s) > MaxLen && utf8.RuneCountInString(s) > MaxLen {
		n := 0
		for i := range s {
			if n == MaxLen {
				return s[:i]
			}
			n++
		}
	}
	return s
}

// Version is a version string taken apart for ordering.
type Version struct {
	// Raw is the version as given.
	Raw string
	// Package is what comes before the last '@' ("myapp" in
	// "myapp@1.2.3"), or "" when there is no '@'.
	Package string
	// Semver reports whether the part after the package prefix is a strict
	// SemVer 2.0 version. The fields below are set only when it is.
	Semver bool
	// Major, Minor and Patch are decimal numbers without leading zeros, kept
	// as strings so that no version is too large to compare.
	Major, Minor, Patch string
	// Prerelease holds the dot-separated identifiers after '-' ("rc", "1"
	// in "1.0.0-rc.1"); nil for a release version.
	Prerelease []string
	// Build is the metadata after '+' ("45" in "2.0.0+45"), or "". It does
	// not take part in precedence.
	Build string
}

// Parse takes version apart. It does not sanitise: pass a stored (already
// sanitised) version. A version that is not semver comes back with only Raw
// and Package set.
//
// The package prefix is split at the last '@', since a semver version
// cannot contain one: "@scope/pkg@1.0.0" (sanitised to "@scopepkg@1.0.0")
// is semver 1.0.0 of "@scopepkg".
func Parse(version string) Version {
	v := Version{Raw: version}
	rest := version
	if i := strings.LastIndexByte(version, '@'); i >= 0 {
		v.Package, rest = version[:i], version[i+1:]
	}
	core, build := rest, ""
	if i := strings.IndexByte(core, '+'); i >= 0 {
		core, build = core[:i], core[i+1:]
		if !identifiers(build, false) {
			return v
		}
	}
	core, pre, hasPre := strings.Cut(core, "-")
	if hasPre && !identifiers(pre, true) {
		return v
	}
	major, rest, ok1 := strings.Cut(core, ".")
	minor, patch, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || !number(major) || !number(minor) || !number(patch) {
		return v
	}
	v.Semver = true
	v.Major, v.Minor, v.Patch, v.Build = major, minor, patch, build
	if hasPre {
		v.Prerelease = strings.Split(pre, ".")
	}
	return v
}

// IsSemver reports whether version, after an optional "package@" prefix, is
// a strict SemVer 2.0 version.
func IsSemver(version string) bool { return Parse(version).Semver }

// number reports whether s is a SemVer numeric identifier: "0" or digits
// without a leading zero.
func number(s string) bool {
	if s == "" || (s[0] == '0' && len(s) > 1) {
		return false
	}
	return digits(s)
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// identifiers reports whether s is a non-empty dot-separated list of
// non-empty [0-9A-Za-z-] identifiers. For prerelease identifiers a purely
// numeric one may not have a leading zero.
func identifiers(s string, pre bool) bool {
	if s == "" {
		return false
	}
	for id := range strings.SplitSeq(s, ".") {
		if id == "" {
			return false
		}
		for i := 0; i < len(id); i++ {
			c := id[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
				return false
			}
		}
		if pre && digits(id) && !number(id) {
			return false
		}
	}
	return true
}

// CompareSemver compares the SemVer precedence of a and b, both of which
// must be semver: it returns -1, 0 or +1. Major, minor and patch compare
// numerically; a version with a prerelease is lower than the same version
// without one (1.0.0-rc1 < 1.0.0); prerelease identifiers compare one by
// one, numeric ones numerically and below alphanumeric ones, alphanumeric
// ones in ASCII order (so rc2 > rc10, while rc.2 < rc.10), and a shorter
// list that is a prefix of a longer one is lower. Build metadata and the
// package prefix are ignored: 1.0.0+1 and app@1.0.0 compare equal to 1.0.0.
func CompareSemver(a, b Version) int {
	if c := compareNum(a.Major, b.Major); c != 0 {
		return c
	}
	if c := compareNum(a.Minor, b.Minor); c != 0 {
		return c
	}
	if c := compareNum(a.Patch, b.Patch); c != 0 {
		return c
	}
	switch {
	case len(a.Prerelease) == 0 && len(b.Prerelease) == 0:
		return 0
	case len(a.Prerelease) == 0:
		return 1
	case len(b.Prerelease) == 0:
		return -1
	}
	for i := 0; i < len(a.Prerelease) && i < len(b.Prerelease); i++ {
		x, y := a.Prerelease[i], b.Prerelease[i]
		xn, yn := digits(x), digits(y)
		var c int
		switch {
		case xn && yn:
			c = compareNum(x, y)
		case xn:
			c = -1
		case yn:
			c = 1
		default:
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	return cmpInt(len(a.Prerelease), len(b.Prerelease))
}

// compareNum compares two decimal numbers without leading zeros.
func compareNum(a, b string) int {
	if len(a) != len(b) {
		return cmpInt(len(a), len(b))
	}
	return strings.Compare(a, b)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Short returns version as the UI shows it: semver versions in full, other
// versions (typically git hashes) cut to ShortLen characters.
func Short(version string) string {
	if IsSemver(version) {
		return version
	}
	n := 0
	for i := range version {
		if n == ShortLen {
			return version[:i]
		}
		n++
	}
	return version
}
