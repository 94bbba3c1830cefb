package release

import (
	"slices"
	"testing"
	"time"
)

func TestIsRegression(t *testing.T) {
	fixedIn := func(fixed []string, events ...string) Resolution {
		return Resolution{Resolved: true, FixedAt: fixed, EventsAt: events}
	}
	for _, tt := range []struct {
		name     string
		releases []string
		res      Resolution
		event    string
		want     bool
	}{
		{"not resolved", []string{"1.0.0"}, Resolution{FixedAt: []string{"1.0.0"}}, "1.1.0", false},
		{"resolved unconditionally", []string{"1.0.0"}, Resolution{Resolved: true, Unconditionally: true}, "0.1.0", true},
		{"next release not yet materialised", []string{"1.0.0"}, Resolution{Resolved: true, ByNextRelease: true}, "1.0.0", false},
		{"project without releases", nil, Resolution{Resolved: true}, "", true},
		{"project with only no release", []string{""}, Resolution{Resolved: true}, "", true},

		{"fixed in 1.0, event in 1.1", []string{"1.0.0", "1.1.0"}, fixedIn([]string{"1.0.0"}), "1.1.0", true},
		{"fixed in 1.0, event in 0.9", []string{"0.9.0", "1.0.0"}, fixedIn([]string{"1.0.0"}), "0.9.0", false},
		{"fixed in 1.0, event in 1.0", []string{"1.0.0"}, fixedIn([]string{"1.0.0"}), "1.0.0", true},
		{"fixed in 1.0, event in 0.9 created after it", []string{"1.0.0", "0.9.0"}, fixedIn([]string{"1.0.0"}), "0.9.0", false},
		{"fixed in 1.0, event in a release not yet stored", []string{"1.0.0"}, fixedIn([]string{"1.0.0"}), "1.1.0", true},
		{"fixed in 1.0, event in a 1.0 prerelease", []string{"1.0.0", "1.0.0-rc.1"}, fixedIn([]string{"1.0.0"}), "1.0.0-rc.1", false},
		{"non-semver: later by date", []string{"1.0", "1.1"}, fixedIn([]string{"1.0"}), "1.1", true},
		{"non-semver: earlier by date", []string{"0.9", "1.0"}, fixedIn([]string{"1.0"}), "0.9", false},
		{"shas: fixed in the older", []string{"abc", "def"}, fixedIn([]string{"abc"}), "def", true},
		{"moved to semver after the fix", []string{"abc", "1.0.0"}, fixedIn([]string{"abc"}), "1.0.0", true},
		{"package prefixes", []string{"app@1.0.0", "app@1.0.1"}, fixedIn([]string{"app@1.0.0"}), "app@1.0.1", true},

		{"events after the fix clear it", []string{"1.0.0", "1.1.0", "1.2.0"},
			fixedIn([]string{"1.0.0"}, "1.1.0"), "1.2.0", false},
		{"fixed again later", []string{"1.0.0", "1.1.0", "1.2.0"},
			fixedIn([]string{"1.0.0", "1.2.0"}, "1.1.0"), "1.1.0", false},
		{"fixed again later, event after it", []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0"},
			fixedIn([]string{"1.0.0", "1.2.0"}, "1.1.0"), "1.3.0", true},
		{"fixed in several releases, event in between", []string{"1.0.0", "1.1.0", "2.0.0"},
			fixedIn([]string{"1.0.0", "2.0.0"}), "1.1.0", true},

		{"no release event in a project with releases", []string{"1.0.0"}, fixedIn([]string{"1.0.0"}), "", false},
		{"no release fixed", []string{"", "1.0.0"}, fixedIn([]string{""}), "", true},
	} {
		rs := history(tt.releases...)
		if got := IsRegression(rs, tt.res, tt.event); got != tt.want {
			t.Errorf("%s: IsRegression(%q, %+v, %q) = %v, want %v", tt.name, tt.releases, tt.res, tt.event, got, tt.want)
		}
	}
}

// TestResolveInNextRelease walks "resolve in next release" through release
// creation as a digest worker would.
func TestResolveInNextRelease(t *testing.T) {
	rs := history("1.0.0", "1.1.0")
	res := Resolution{Resolved: true, ByNextRelease: true, EventsAt: []string{"1.0.0", "1.1.0"}}
	at := day0.Add(100 * 24 * time.Hour)

	// digest handles one event's release: create it if new, materialise
	// next-release resolutions when it is the new latest, then judge.
	digest := func(version string) (materialised, regressed bool) {
		if !slices.ContainsFunc(rs, func(r Release) bool { return r.Version == version }) {
			r, latest := Create(rs, version, at)
			rs = append(rs, r)
			at = at.Add(time.Hour)
			if latest && res.ByNextRelease {
				res.FixedAt = append(res.FixedAt, r.Version)
				res.ByNextRelease = false
				materialised = true
			}
		}
		regressed = IsRegression(rs, res, version)
		if regressed {
			res.Resolved = false
		}
		if !slices.Contains(res.EventsAt, version) {
			res.EventsAt = append(res.EventsAt, version)
		}
		return materialised, regressed
	}

	for i, step := range []struct {
		version                     string
		materialised, regressed     bool
		wantFixedAt                 []string
		wantResolved, wantByNextRel bool
	}{
		// Still running the current release: nothing happens.
		{"1.1.0", false, false, nil, true, true},
		// A new but older release (a hotfix of 1.0) does not materialise.
		{"1.0.1", false, false, nil, true, true},
		// No release: not a new latest either.
		{"", false, false, nil, true, true},
		// The new latest materialises, and its event regresses at once.
		{"1.2.0", true, true, []string{"1.2.0"}, false, false},
	} {
		m, r := digest(step.version)
		if m != step.materialised || r != step.regressed || !slices.Equal(res.FixedAt, step.wantFixedAt) ||
			res.Resolved != step.wantResolved || res.ByNextRelease != step.wantByNextRel {
			t.Errorf("step %d (%q): materialised %v regressed %v, state %+v; want %v %v fixed at %q resolved %v by next %v",
				i, step.version, m, r, res, step.materialised, step.regressed, step.wantFixedAt, step.wantResolved, step.wantByNextRel)
		}
	}
}

func TestResolveInNextReleaseThenOlderEvent(t *testing.T) {
	rs := history("1.0.0")
	r, latest := Create(rs, "1.1.0", day0.Add(48*time.Hour))
	if !latest {
		t.Fatal("1.1.0 is not the new latest")
	}
	rs = append(rs, r)
	res := Resolution{Resolved: true, FixedAt: []string{r.Version}, EventsAt: []string{"1.0.0"}}
	if IsRegression(rs, res, "1.0.0") {
		t.Error("event in 1.0.0 after materialising 1.1.0 is a regression, want not")
	}
	if !IsRegression(rs, res, "1.1.0") {
		t.Error("event in 1.1.0 after materialising 1.1.0 is not a regression, want one")
	}
}
