package store

import (
	"testing"
	"time"
)

// Every action against every state (§6.2): resolving needs an unresolved
// issue, reopening a resolved one, muting an open unmuted one, unmuting a
// muted one; malformed parameters are never allowed.
func TestLifecycleActionValidity(t *testing.T) {
	t.Parallel()
	states := map[string]Issue{
		"open":     {},
		"muted":    {IsMuted: true},
		"resolved": {IsResolved: true},
		"next":     {IsResolved: true, IsResolvedByNextRelease: true},
	}
	for _, tt := range []struct {
		a       Action
		allowed []string // states where a is allowed
	}{
		{ActionResolve, []string{"open", "muted"}},
		{ActionResolveNext, []string{"open", "muted"}},
		{ResolveInRelease("1.0.0"), []string{"open", "muted"}},
		{ActionReopen, []string{"resolved", "next"}},
		{ActionMute, []string{"open"}},
		{MuteFor("day", 1), []string{"open"}},
		{MuteUntil("hour", 24, 100), []string{"open"}},
		{ActionUnmute, []string{"muted"}},
		{MuteFor("fortnight", 1), nil},
		{Action("mute_for:day,0"), nil},
		{Action("mute_for:day"), nil},
		{Action("mute_until:hour,1,0"), nil},
		{Action("mute_until:hour,1"), nil},
		{Action("resolve_release:"), nil},
		{Action("resolve:x"), nil},
		{Action("delete"), nil},
	} {
		for name, st := range states {
			want := false
			for _, a := range tt.allowed {
				want = want || a == name
			}
			if got := tt.a.Allowed(&st); got != want {
				t.Errorf("%q on a %s issue: allowed = %v, want %v", tt.a, name, got, want)
			}
		}
	}
}

func TestLifecycleActionEffects(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		a     Action
		from  Issue
		check func(*Issue) bool
	}{
		{ActionResolve, Issue{IsMuted: true, UnmuteAfter: now}, func(i *Issue) bool {
			return i.IsResolved && i.ResolvedUnconditionally && !i.IsMuted && i.UnmuteAfter.IsZero()
		}},
		{ResolveInRelease("2.0"), Issue{FixedAt: []string{"1.0"}}, func(i *Issue) bool {
			return i.IsResolved && !i.ResolvedUnconditionally && len(i.FixedAt) == 2 && i.FixedAt[1] == "2.0"
		}},
		{ActionResolveNext, Issue{}, func(i *Issue) bool { return i.IsResolved && i.IsResolvedByNextRelease }},
		{ActionReopen, Issue{IsResolved: true, ResolvedUnconditionally: true, IsResolvedByNextRelease: true, FixedAt: []string{"1.0"}}, func(i *Issue) bool {
			return !i.IsResolved && !i.ResolvedUnconditionally && !i.IsResolvedByNextRelease && len(i.FixedAt) == 1
		}},
		{MuteFor("month", 1), Issue{}, func(i *Issue) bool {
			return i.IsMuted && i.UnmuteAfter.Equal(time.Date(2026, 2, 28, 12, 0, 0, 0, time.UTC)) // a calendar month, clamped
		}},
		{MuteUntil("day", 1, 100), Issue{}, func(i *Issue) bool {
			return i.IsMuted && i.UnmuteOnVolume != nil && *i.UnmuteOnVolume == VolumeCondition{Period: "day", N: 1, Volume: 100}
		}},
		{ActionUnmute, Issue{IsMuted: true, UnmuteOnVolume: &VolumeCondition{Period: "day", N: 1, Volume: 5}}, func(i *Issue) bool {
			return !i.IsMuted && i.UnmuteOnVolume == nil
		}},
	} {
		iss := tt.from
		if _, err := tt.a.apply(&iss, now); err != nil {
			t.Errorf("%s: %v", tt.a, err)
			continue
		}
		if !tt.check(&iss) {
			t.Errorf("%s from %+v gave %+v", tt.a, tt.from, iss)
		}
	}
}

func TestAddPeriods(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 1, 31, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		period string
		n      int
		want   time.Time
	}{
		{"minute", 5, at.Add(5 * time.Minute)},
		{"hour", -2, at.Add(-2 * time.Hour)},
		{"day", 1, time.Date(2024, 2, 1, 10, 0, 0, 0, time.UTC)},
		{"week", 2, time.Date(2024, 2, 14, 10, 0, 0, 0, time.UTC)},
		{"month", 1, time.Date(2024, 2, 29, 10, 0, 0, 0, time.UTC)},
		{"month", -2, time.Date(2023, 11, 30, 10, 0, 0, 0, time.UTC)},
		{"year", 1, time.Date(2025, 1, 31, 10, 0, 0, 0, time.UTC)},
	} {
		if got := AddPeriods(at, tt.period, tt.n); !got.Equal(tt.want) {
			t.Errorf("AddPeriods(%s, %d) = %v, want %v", tt.period, tt.n, got, tt.want)
		}
	}
}
