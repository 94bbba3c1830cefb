package store

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidwall/buntdb"
)

// Issue actions (reference §6.2) and the issue history they write (§6.6).
// Each action is one buntdb update that checks the action is valid for the
// issue's current state, changes the issue and appends a history entry:
//
//	history:<iid 10>:<unix nanos 20>   HistoryEntry JSON

// ErrInvalidAction is returned for an action that the issue's state does
// not allow (muting a resolved issue, reopening an open one, …) or that
// is not known.
var ErrInvalidAction = errors.New("store: action not allowed in the issue's state")

// errActionNotAllowed is what apply returns: a *ValidationError of Kind
// ErrInvalidAction.
var errActionNotAllowed = &ValidationError{Kind: ErrInvalidAction, Msg: "action not allowed in the issue's state"}

// Action is what a user does to an issue, named as in reference §6.2. The
// parameterised ones are built with ResolveInRelease, MuteFor and
// MuteUntil.
type Action string

// The actions without parameters.
const (
	ActionResolve     Action = "resolve"
	ActionResolveNext Action = "resolve_next"
	ActionReopen      Action = "reopen"
	ActionMute        Action = "mute"
	ActionUnmute      Action = "unmute"
)

// ResolveInRelease resolves an issue in a release: an event in a later
// release regresses it, one in an earlier release does not.
func ResolveInRelease(version string) Action { return Action("resolve_release:" + version) }

// MuteFor mutes an issue until n periods have passed; the first event after
// that unmutes it.
func MuteFor(period string, n int) Action { return Action(fmt.Sprintf("mute_for:%s,%d", period, n)) }

// MuteUntil mutes an issue until it sees volume events within n periods.
func MuteUntil(period string, n int, volume int64) Action {
	return Action(fmt.Sprintf("mute_until:%s,%d,%d", period, n, volume))
}

// parts splits a parameterised action into its name and arguments, and
// checks them.
func (a Action) parts() (name string, version string, cond VolumeCondition, ok bool) {
	name, arg, _ := strings.Cut(string(a), ":")
	switch name {
	case "resolve", "resolve_next", "reopen", "mute", "unmute":
		return name, "", cond, arg == ""
	case "resolve_release":
		return name, arg, cond, arg != "" && len(arg) <= MaxVersionLen
	case "mute_for", "mute_until":
		f := strings.Split(arg, ",")
		if name == "mute_for" && len(f) != 2 || name == "mute_until" && len(f) != 3 {
			return name, "", cond, false
		}
		cond.Period = f[0]
		n, err := strconv.Atoi(f[1])
		if err != nil || n < 1 || n > 1000 || !ValidPeriod(cond.Period) {
			return name, "", cond, false
		}
		cond.N = n
		if name == "mute_until" {
			v, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil || v < 1 {
				return name, "", cond, false
			}
			cond.Volume = v
		}
		return name, "", cond, true
	}
	return name, "", cond, false
}

// History kinds. Digest will add regressed, unmuted-by-event and
// next-release kinds with the lifecycle change.
const (
	HistoryResolved = "resolved"
	HistoryReopened = "reopened"
	HistoryMuted    = "muted"
	HistoryUnmuted  = "unmuted"
	HistoryComment  = "comment"
	// HistoryAssigned records an assignment; Assignee is "" when the
	// issue was unassigned.
	HistoryAssigned = "assigned"
)

// HistoryEntry is one change of an issue's state, or a comment.
type HistoryEntry struct {
	Kind    string    `json:"kind"`
	User    string    `json:"user"` // "" for the system
	At      time.Time `json:"at"`
	Comment string    `json:"comment,omitempty"`
	// EventID is the event that caused the change (32 hex), for the
	// changes digest makes.
	EventID string `json:"event_id,omitempty"`
	// Assignee is who a HistoryAssigned entry assigned the issue to.
	Assignee string `json:"assignee,omitempty"`
	// Edited is when a comment was last edited.
	Edited time.Time `json:"edited,omitzero"`
}

// Ref names the entry within its issue's history: its key's time, for
// EditComment and DeleteComment.
func (e HistoryEntry) Ref() int64 { return e.At.UnixNano() }

// MaxCommentLen caps a history comment, in bytes.
const MaxCommentLen = 4000

// Allowed reports whether action a is valid for the issue's current state.
func (a Action) Allowed(iss *Issue) bool {
	name, _, _, ok := a.parts()
	if !ok {
		return false
	}
	switch name {
	case "resolve", "resolve_next", "resolve_release":
		return !iss.IsResolved
	case "reopen":
		return iss.IsResolved
	case "mute", "mute_for", "mute_until":
		return !iss.IsResolved && !iss.IsMuted
	case "unmute":
		return !iss.IsResolved && iss.IsMuted
	}
	return false
}

// apply changes iss for action a at time now and returns the history kind
// to record. It is the one place that knows what each action does; new
// actions go here and in Allowed.
func (a Action) apply(iss *Issue, now time.Time) (string, error) {
	if !a.Allowed(iss) {
		return "", errActionNotAllowed
	}
	name, version, cond, _ := a.parts()
	unmute := func() {
		iss.IsMuted = false
		iss.UnmuteAfter = time.Time{}
		iss.UnmuteOnVolume = nil
	}
	switch name {
	case "resolve":
		// Muted and resolved exclude each other: resolving unmutes.
		iss.IsResolved = true
		iss.ResolvedUnconditionally = true
		unmute()
		return HistoryResolved, nil
	case "resolve_release":
		iss.IsResolved = true
		if !slices.Contains(iss.FixedAt, version) {
			iss.FixedAt = append(iss.FixedAt, version)
		}
		unmute()
		return HistoryResolved, nil
	case "resolve_next":
		iss.IsResolved = true
		iss.IsResolvedByNextRelease = true
		unmute()
		return HistoryResolved, nil
	case "reopen":
		// FixedAt is kept: it records where the issue was fixed before.
		iss.IsResolved = false
		iss.IsResolvedByNextRelease = false
		iss.ResolvedUnconditionally = false
		return HistoryReopened, nil
	case "mute":
		iss.IsMuted = true
		return HistoryMuted, nil
	case "mute_for":
		iss.IsMuted = true
		iss.UnmuteAfter = AddPeriods(now, cond.Period, cond.N)
		return HistoryMuted, nil
	case "mute_until":
		iss.IsMuted = true
		iss.UnmuteOnVolume = &cond
		return HistoryMuted, nil
	case "unmute":
		unmute()
		return HistoryUnmuted, nil
	}
	return "", errActionNotAllowed
}

// ApplyAction performs action a on issue id as user, with an optional
// comment stored in the history entry. It returns ErrInvalidAction when the
// issue's state does not allow the action, and the changed issue otherwise.
func (db *DB) ApplyAction(id uint32, a Action, user, comment string) (*Issue, error) {
	var iss Issue
	err := db.update(func(tx *kvTx) error {
		return applyAction(tx, db.Now().UTC(), id, a, user, comment, &iss)
	})
	if err != nil {
		return nil, err
	}
	return &iss, nil
}

// ApplyActions performs action a on every issue in ids, in one update, and
// returns the ids for which the action was not valid. An unknown id is an
// error and changes nothing.
func (db *DB) ApplyActions(ids []uint32, a Action, user string) (unapplied []uint32, err error) {
	err = db.update(func(tx *kvTx) error {
		unapplied = unapplied[:0]
		now := db.Now().UTC()
		for i, id := range ids {
			var iss Issue
			// Distinct times keep the history keys of one bulk action apart.
			err := applyAction(tx, now.Add(time.Duration(i)), id, a, user, "", &iss)
			if errors.Is(err, ErrInvalidAction) {
				unapplied = append(unapplied, id)
				continue
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return unapplied, err
}

func applyAction(tx *kvTx, now time.Time, id uint32, a Action, user, comment string, iss *Issue) error {
	if err := getJSON(tx, issueKey(id), iss); err != nil {
		return err
	}
	kind, err := a.apply(iss, now)
	if err != nil {
		return err
	}
	if err := putIssue(tx, iss); err != nil {
		return err
	}
	return addHistory(tx, id, HistoryEntry{Kind: kind, User: user, At: now, Comment: cleanComment(comment)})
}

// AddComment adds a comment by user to the issue's history.
func (db *DB) AddComment(id uint32, user, comment string) error {
	comment = cleanComment(comment)
	if comment == "" {
		return fmt.Errorf("store: empty comment")
	}
	return db.update(func(tx *kvTx) error {
		if _, err := tx.Get(issueKey(id)); err != nil {
			if errors.Is(err, buntdb.ErrNotFound) {
				return ErrNotFound
			}
			return err
		}
		return addHistory(tx, id, HistoryEntry{Kind: HistoryComment, User: user, At: db.Now().UTC(), Comment: comment})
	})
}

// Assign assigns issue id to the user named assignee ("" to unassign), as
// user by, and records the change in the history. Assigning to the current
// assignee changes nothing. The caller checks that the assignee exists and
// may see the issue's project.
func (db *DB) Assign(id uint32, assignee, by string) (*Issue, error) {
	var iss Issue
	err := db.update(func(tx *kvTx) error {
		if err := getJSON(tx, issueKey(id), &iss); err != nil {
			return err
		}
		if iss.AssignedTo == assignee {
			return nil
		}
		iss.AssignedTo = assignee
		if err := putIssue(tx, &iss); err != nil {
			return err
		}
		return addHistory(tx, id, HistoryEntry{Kind: HistoryAssigned, User: by, At: db.Now().UTC(), Assignee: assignee})
	})
	if err != nil {
		return nil, err
	}
	return &iss, nil
}

// EditComment replaces the text of the comment ref (HistoryEntry.Ref) of
// issue id, after may accepts the entry as it stands; an error from may is
// returned as is. ErrNotFound: no such comment.
func (db *DB) EditComment(id uint32, ref int64, may func(*HistoryEntry) error, text string) error {
	text = cleanComment(text)
	if text == "" {
		return &ValidationError{Kind: ErrInvalid, Msg: "empty comment"}
	}
	return db.changeComment(id, ref, may, func(tx *kvTx, k string, e *HistoryEntry) error {
		e.Comment, e.Edited = text, db.Now().UTC()
		return setJSON(tx, k, e)
	})
}

// DeleteComment deletes the comment ref of issue id, after may accepts it.
func (db *DB) DeleteComment(id uint32, ref int64, may func(*HistoryEntry) error) error {
	return db.changeComment(id, ref, may, func(tx *kvTx, k string, e *HistoryEntry) error {
		_, err := tx.Delete(k)
		return err
	})
}

func (db *DB) changeComment(id uint32, ref int64, may func(*HistoryEntry) error, change func(*kvTx, string, *HistoryEntry) error) error {
	return db.update(func(tx *kvTx) error {
		k := historyKey(id, time.Unix(0, ref))
		var e HistoryEntry
		if err := getJSON(tx, k, &e); err != nil {
			return err
		}
		if e.Kind != HistoryComment {
			return ErrNotFound
		}
		if err := may(&e); err != nil {
			return err
		}
		return change(tx, k, &e)
	})
}

// addHistory stores e under the first free key at or after e.At.
func addHistory(tx *kvTx, id uint32, e HistoryEntry) error {
	for {
		k := historyKey(id, e.At)
		if _, err := tx.Get(k); errors.Is(err, buntdb.ErrNotFound) {
			return setJSON(tx, k, &e)
		} else if err != nil {
			return err
		}
		e.At = e.At.Add(time.Nanosecond)
	}
}

// History returns the issue's history, oldest first.
func (db *DB) History(id uint32) ([]HistoryEntry, error) {
	out := []HistoryEntry{}
	err := db.view(func(tx *kvTx) error {
		return tx.AscendKeys(historyPrefix(id)+"*", func(k, v string) bool {
			var e HistoryEntry
			if jsonUnmarshal(v, &e) == nil {
				out = append(out, e)
			}
			return true
		})
	})
	return out, err
}

// cleanComment trims a comment, drops invalid UTF-8 and cuts it to
// MaxCommentLen bytes on a character boundary.
func cleanComment(s string) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) <= MaxCommentLen {
		return s
	}
	s = s[:MaxCommentLen]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// Groupings returns the grouping keys that lead to the issue, for the
// issue page's Grouping tab. It sits here, not in issue.go, only because of
// who owned which file when it was written.
func (db *DB) Groupings(iss *Issue) ([]Grouping, error) {
	out := []Grouping{}
	err := db.view(func(tx *kvTx) error {
		var hashes []string
		tx.ascend(issueGroupingPrefix(iss.ID), func(k, v string) bool {
			hashes = append(hashes, k[len(issueGroupingPrefix(iss.ID)):])
			return true
		})
		for _, h := range hashes {
			var g Grouping
			if err := getJSON(tx, groupingKey(iss.ProjectID, h), &g); err == nil && g.Issue == iss.ID {
				out = append(out, g)
			} else if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
		return nil
	})
	return out, err
}
