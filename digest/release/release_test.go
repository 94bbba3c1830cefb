package release

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var day0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// history creates the versions one after the other, a day apart, as events
// first seen in that order would, and returns the project's releases.
func history(versions ...string) []Release {
	var rs []Release
	for i, v := range versions {
		r, _ := Create(rs, v, day0.Add(time.Duration(i)*24*time.Hour))
		rs = append(rs, r)
	}
	return rs
}

func versionsOf(rs []Release) []string {
	var vs []string
	for _, r := range rs {
		vs = append(vs, r.Version)
	}
	return vs
}

func TestSortOrder(t *testing.T) {
	for _, tt := range []struct {
		name    string
		created []string // in order of first appearance
		want    []string // in release order
	}{
		{"semver by precedence, not by date",
			[]string{"1.1.0", "1.0.0", "2.0.0", "1.10.0", "1.2.0"},
			[]string{"1.0.0", "1.1.0", "1.2.0", "1.10.0", "2.0.0"}},
		{"non-semver by date",
			[]string{"zzz", "abc123", "1.0", "1.2.3.4", "2024.03.01"},
			[]string{"zzz", "abc123", "1.0", "1.2.3.4", "2024.03.01"}},
		{"git shas by date",
			[]string{"9f2c1e7", "0ab44d1", "5be09ff"},
			[]string{"9f2c1e7", "0ab44d1", "5be09ff"}},
		{"prereleases before the release",
			[]string{"1.0.0", "1.0.0-rc.2", "1.0.0-rc.1", "1.0.0-beta", "0.9.0"},
			[]string{"0.9.0", "1.0.0-beta", "1.0.0-rc.1", "1.0.0-rc.2", "1.0.0"}},
		{"build metadata: equal precedence, then by date",
			[]string{"1.0.0+b", "1.0.0+a", "0.1.0+z"},
			[]string{"0.1.0+z", "1.0.0+b", "1.0.0+a"}},
		{"package prefixes are ignored for precedence",
			[]string{"myapp@1.2.3", "myapp@1.2.10", "com.example.app@2.0.0+45", "myapp@0.1.0"},
			[]string{"myapp@0.1.0", "myapp@1.2.3", "myapp@1.2.10", "com.example.app@2.0.0+45"}},
		{"from git shas to semver: semver sorts after",
			[]string{"abc123", "def456", "1.0.0", "0.9.0"},
			[]string{"abc123", "def456", "0.9.0", "1.0.0"}},
		{"from semver to shas and back: each switch starts an epoch",
			[]string{"2.0.0", "1.0.0", "abc123", "def456", "0.5.0", "0.1.0"},
			[]string{"1.0.0", "2.0.0", "abc123", "def456", "0.1.0", "0.5.0"}},
		{"no release sorts first",
			[]string{"1.0.0", "", "0.9.0"},
			[]string{"", "0.9.0", "1.0.0"}},
		{"no release does not switch the epoch",
			[]string{"1.0.0", "", "2.0.0"},
			[]string{"", "1.0.0", "2.0.0"}},
	} {
		rs := history(tt.created...)
		rand.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
		Sort(rs)
		if got := versionsOf(rs); !slices.Equal(got, tt.want) {
			t.Errorf("%s: order = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestCompareMixedInOneEpoch(t *testing.T) {
	// Create never puts both kinds in one epoch, but Compare is total anyway.
	sem := Release{Version: "1.0.0", DateReleased: day0}
	sha := Release{Version: "abc123", DateReleased: day0.Add(time.Hour)}
	if got := Compare(sha, sem); got != -1 {
		t.Errorf("Compare(sha, semver) in one epoch = %d, want -1", got)
	}
	if got := Compare(sem, sha); got != 1 {
		t.Errorf("Compare(semver, sha) in one epoch = %d, want 1", got)
	}
	later := Release{Version: "0.1.0", DateReleased: day0, SortEpoch: 1}
	if got := Compare(later, sem); got != 1 {
		t.Errorf("Compare across epochs = %d, want 1", got)
	}
	same := Release{Version: "abc123", DateReleased: day0.Add(time.Hour)}
	if got := Compare(sha, same); got != 0 {
		t.Errorf("Compare(r, r) = %d, want 0", got)
	}
	tie := Release{Version: "abd", DateReleased: day0.Add(time.Hour)}
	if got := Compare(sha, tie); got != -1 {
		t.Errorf("Compare with equal dates = %d, want -1 (by version)", got)
	}
}

func TestCreate(t *testing.T) {
	for _, tt := range []struct {
		name       string
		existing   []string
		version    string
		wantEpoch  int
		wantLatest bool
		wantStored string
	}{
		{"first release", nil, "1.0.0", 0, true, "1.0.0"},
		{"first release, non-semver", nil, "abc", 0, true, "abc"},
		{"newer semver", []string{"1.0.0"}, "1.1.0", 0, true, "1.1.0"},
		{"older semver is not latest", []string{"1.0.0", "2.0.0"}, "1.5.0", 0, false, "1.5.0"},
		{"prerelease of the latest is not latest", []string{"1.0.0"}, "1.0.0-rc.1", 0, false, "1.0.0-rc.1"},
		{"next non-semver by date", []string{"abc"}, "def", 0, true, "def"},
		{"switch to semver", []string{"abc", "def"}, "0.0.1", 1, true, "0.0.1"},
		{"switch to non-semver", []string{"1.0.0"}, "1.0", 1, true, "1.0"},
		{"switch back", []string{"1.0.0", "abc"}, "0.1.0", 2, true, "0.1.0"},
		{"no release", []string{"1.0.0"}, "", 0, false, ""},
		{"no release first", nil, "", 0, false, ""},
		{"after no release", []string{""}, "abc", 0, true, "abc"},
		{"sanitised", []string{"1.0.0"}, "1.1.0\n", 0, true, "1.1.0"},
		{"existing is not new", []string{"1.0.0", "2.0.0"}, "2.0.0", 0, false, "2.0.0"},
		{"existing after sanitising", []string{"1.0.0", "2.0.0"}, "2.0.0\t", 0, false, "2.0.0"},
	} {
		existing := history(tt.existing...)
		at := day0.Add(1000 * time.Hour)
		r, latest := Create(existing, tt.version, at)
		if r.Version != tt.wantStored || r.SortEpoch != tt.wantEpoch || latest != tt.wantLatest {
			t.Errorf("%s: Create(%q, %q) = %q epoch %d latest %v, want %q epoch %d latest %v",
				tt.name, tt.existing, tt.version, r.Version, r.SortEpoch, latest, tt.wantStored, tt.wantEpoch, tt.wantLatest)
		}
	}
}

func TestLatest(t *testing.T) {
	for _, tt := range []struct {
		name    string
		created []string
		want    string
		wantOK  bool
	}{
		{"none", nil, "", false},
		{"only no release", []string{""}, "", false},
		{"highest semver", []string{"1.0.0", "3.0.0", "2.0.0"}, "3.0.0", true},
		{"newest non-semver", []string{"abc", "zzz", "def"}, "def", true},
		{"newest epoch wins", []string{"9.0.0", "abc"}, "abc", true},
		{"no release is never latest", []string{"1.0.0", ""}, "1.0.0", true},
		{"release beats its prerelease", []string{"1.0.0", "1.0.0-rc.1"}, "1.0.0", true},
	} {
		rs := history(tt.created...)
		got, ok := Latest(rs)
		if got.Version != tt.want || ok != tt.wantOK {
			t.Errorf("%s: Latest(%q) = %q, %v; want %q, %v", tt.name, tt.created, got.Version, ok, tt.want, tt.wantOK)
		}
	}
}

func TestAfter(t *testing.T) {
	rs := history("0.9.0", "1.1.0", "1.0.0")
	for _, tt := range []struct {
		v, f string
		want bool
	}{
		{"1.1.0", "1.0.0", true},
		{"0.9.0", "1.0.0", false},
		{"1.0.0", "1.0.0", false},
		{"1.0.0", "0.9.0", true},
		{"2.0.0", "1.1.0", true},  // not yet a release: placed as if new
		{"0.1.0", "0.9.0", false}, // not yet a release, but older semver
		{"abc", "1.1.0", true},    // would start a new epoch
		{"1.1.0", "", true},       // no release sorts first
		{"", "0.9.0", false},
	} {
		if got := After(rs, tt.v, tt.f); got != tt.want {
			t.Errorf("After(%q, %q) = %v, want %v", tt.v, tt.f, got, tt.want)
		}
	}
}
