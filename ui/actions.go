package ui

import (
	"fmt"
	"strings"

	"github.com/tinysink/tinysink/digest/release"
	"github.com/tinysink/tinysink/store"
)

// The actions the UI offers (reference §6.2): the four plain ones as
// buttons, and the release-based resolves and the mute presets behind a
// "More" disclosure.

// actionButton is one action on a button.
type actionButton struct {
	Value   store.Action
	Label   string
	Enabled bool
}

// basicActions are the plain actions, in button order.
var basicActions = []actionButton{
	{Value: store.ActionResolve, Label: "Resolve"},
	{Value: store.ActionReopen, Label: "Reopen"},
	{Value: store.ActionMute, Label: "Mute"},
	{Value: store.ActionUnmute, Label: "Unmute"},
}

// mutePresets are the timed and volume mutes offered (Bugsink's presets).
var mutePresets = []actionButton{
	{Value: store.MuteFor("day", 1), Label: "Mute for 1 day"},
	{Value: store.MuteFor("week", 1), Label: "Mute for 1 week"},
	{Value: store.MuteFor("month", 1), Label: "Mute for 1 month"},
	{Value: store.MuteFor("month", 3), Label: "Mute for 3 months"},
	{Value: store.MuteUntil("hour", 1, 5), Label: "Mute until 5 events in an hour"},
	{Value: store.MuteUntil("hour", 24, 5), Label: "Mute until 5 events in 24 hours"},
	{Value: store.MuteUntil("hour", 24, 100), Label: "Mute until 100 events in 24 hours"},
}

// moreActions returns the release resolves (resolving in the latest
// release only when the project has one) and the mute presets.
func moreActions(latest string) []actionButton {
	out := []actionButton{{Value: store.ActionResolveNext, Label: "Resolve in the next release"}}
	if latest != "" {
		out = append(out, actionButton{Value: store.ResolveInRelease(latest), Label: "Resolve in the latest release (" + truncate(40, clean(latest, 200, false)) + ")"})
	}
	return append(out, mutePresets...)
}

// offered reports whether the UI offers action a for a project whose
// latest release is latest. Other actions are refused before they reach
// the store.
func offered(a store.Action, latest string) bool {
	for _, b := range basicActions {
		if b.Value == a {
			return true
		}
	}
	for _, b := range moreActions(latest) {
		if b.Value == a {
			return true
		}
	}
	return false
}

// actionLabel names action a for the notice after a bulk action: its
// button's label, or "The action" for one the UI does not offer.
func actionLabel(a store.Action, latest string) string {
	for _, b := range append(append([]actionButton{}, basicActions...), moreActions(latest)...) {
		if b.Value == a {
			return b.Label
		}
	}
	return "The action"
}

// latestRelease returns the version of the project's latest release, or ""
// when it has none.
func (u *UI) latestRelease(pid int) (string, error) { return latestRelease(u.db, pid) }

// latestRelease returns the version of project pid's latest release by
// digest/release's ordering rules, or "" when it has none: the one place
// the UI and the API ask.
func latestRelease(db *store.DB, pid int) (string, error) {
	rs, err := db.Releases(pid)
	if err != nil {
		return "", err
	}
	rr := make([]release.Release, len(rs))
	for i, r := range rs {
		rr[i] = release.Release{Version: r.Version, DateReleased: r.DateReleased, SortEpoch: r.SortEpoch}
	}
	l, ok := release.Latest(rr)
	if !ok {
		return "", nil
	}
	return l.Version, nil
}

// issueActions returns the buttons the issue's state allows: the plain
// actions, and the others for the "More" disclosure.
func issueActions(iss *store.Issue, latest string) (basic, more []actionButton) {
	for _, b := range basicActions {
		if b.Value.Allowed(iss) {
			b.Enabled = true
			basic = append(basic, b)
		}
	}
	for _, b := range moreActions(latest) {
		if b.Value.Allowed(iss) {
			b.Enabled = true
			more = append(more, b)
		}
	}
	return basic, more
}

// bulkActions returns every action for the issue list, enabled when it can
// apply to some issue the tab shows.
func bulkActions(tab issueTab, latest string) (basic, more []actionButton) {
	can := func(a store.Action) bool {
		for _, t := range tab.actions {
			if t == a {
				return true
			}
		}
		return false
	}
	for _, b := range basicActions {
		b.Enabled = can(b.Value)
		basic = append(basic, b)
	}
	for _, b := range moreActions(latest) {
		// Release resolves go with Resolve, presets with Mute.
		if strings.HasPrefix(string(b.Value), "mute") {
			b.Enabled = can(store.ActionMute)
		} else {
			b.Enabled = can(store.ActionResolve)
		}
		more = append(more, b)
	}
	return basic, more
}

// issueState describes the issue's state for the side box.
func issueState(iss *store.Issue) string {
	switch {
	case iss.IsResolved && iss.IsResolvedByNextRelease:
		return "Resolved in the next release"
	case iss.IsResolved && len(iss.FixedAt) > 0 && !iss.ResolvedUnconditionally:
		return "Resolved in " + clean(strings.Join(iss.FixedAt, ", "), maxText, false)
	case iss.IsResolved:
		return "Resolved"
	case iss.IsMuted && !iss.UnmuteAfter.IsZero():
		return "Muted until " + when(iss.UnmuteAfter)
	case iss.IsMuted && iss.UnmuteOnVolume != nil:
		c := iss.UnmuteOnVolume
		return fmt.Sprintf("Muted until %d events in %s", c.Volume, plural(int64(c.N), c.Period))
	case iss.IsMuted:
		return "Muted"
	}
	return "Open"
}

// historyLabel names a history entry's kind.
func historyLabel(kind string) string {
	switch kind {
	case store.HistoryFirstSeen:
		return "First seen"
	case store.HistoryResolved:
		return "Resolved"
	case store.HistoryReopened:
		return "Reopened"
	case store.HistoryMuted:
		return "Muted"
	case store.HistoryUnmuted:
		return "Unmuted"
	case store.HistoryUnmutedByEvent:
		return "Unmuted by an event"
	case store.HistoryRegressed:
		return "Regressed"
	case store.HistoryNextMaterialized:
		return "Resolved in the release that came next"
	case store.HistoryGroupingChanged:
		return "Grouping changed"
	case store.HistoryComment:
		return "Comment"
	case store.HistoryAssigned:
		return "Assigned"
	}
	return kind
}
