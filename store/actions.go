package store

import (
	"errors"
	"fmt"
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
//
// (The key family lives here rather than in keys.go because this file owns
// it; historyKey and historyPrefix are the only places that build it.)

func historyKey(iid uint32, at time.Time) string {
	return fmt.Sprintf("history:%s:%020d", pad10(iid), at.UnixNano())
}
func historyPrefix(iid uint32) string { return "history:" + pad10(iid) + ":" }

// ErrInvalidAction is returned for an action that the issue's state does
// not allow (muting a resolved issue, reopening an open one, …) or that
// is not known.
var ErrInvalidAction = errors.New("store: action not allowed in the issue's state")

// Action is what a user does to an issue, named as in reference §6.2.
// Resolving in a release, resolving in the next release and muting for a
// time or until a volume come with the release lifecycle; Apply rejects
// them (ErrInvalidAction) until then.
type Action string

// The actions Apply knows.
const (
	ActionResolve Action = "resolve"
	ActionReopen  Action = "reopen"
	ActionMute    Action = "mute"
	ActionUnmute  Action = "unmute"
)

// History kinds. Digest will add regressed, unmuted-by-event and
// next-release kinds with the lifecycle change.
const (
	HistoryResolved = "resolved"
	HistoryReopened = "reopened"
	HistoryMuted    = "muted"
	HistoryUnmuted  = "unmuted"
	HistoryComment  = "comment"
)

// HistoryEntry is one change of an issue's state, or a comment.
type HistoryEntry struct {
	Kind    string    `json:"kind"`
	User    string    `json:"user"` // "" for the system
	At      time.Time `json:"at"`
	Comment string    `json:"comment,omitempty"`
}

// MaxCommentLen caps a history comment, in bytes.
const MaxCommentLen = 4000

// Allowed reports whether action a is valid for the issue's current state.
func (a Action) Allowed(iss *Issue) bool {
	switch a {
	case ActionResolve:
		return !iss.IsResolved
	case ActionReopen:
		return iss.IsResolved
	case ActionMute:
		return !iss.IsResolved && !iss.IsMuted
	case ActionUnmute:
		return !iss.IsResolved && iss.IsMuted
	}
	return false
}

// apply changes iss for action a and returns the history kind to record.
// It is the one place that knows what each action does; new actions go
// here and in Allowed.
func (a Action) apply(iss *Issue) (string, error) {
	if !a.Allowed(iss) {
		return "", ErrInvalidAction
	}
	switch a {
	case ActionResolve:
		// Muted and resolved exclude each other: resolving unmutes.
		iss.IsResolved = true
		iss.IsMuted = false
		return HistoryResolved, nil
	case ActionReopen:
		// FixedAt is kept: it records where the issue was fixed before.
		iss.IsResolved = false
		iss.IsResolvedByNextRelease = false
		return HistoryReopened, nil
	case ActionMute:
		iss.IsMuted = true
		return HistoryMuted, nil
	case ActionUnmute:
		iss.IsMuted = false
		return HistoryUnmuted, nil
	}
	return "", ErrInvalidAction
}

// ApplyAction performs action a on issue id as user, with an optional
// comment stored in the history entry. It returns ErrInvalidAction when the
// issue's state does not allow the action, and the changed issue otherwise.
func (db *DB) ApplyAction(id uint32, a Action, user, comment string) (*Issue, error) {
	var iss Issue
	err := db.update(func(tx *buntdb.Tx) error {
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
	err = db.update(func(tx *buntdb.Tx) error {
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

func applyAction(tx *buntdb.Tx, now time.Time, id uint32, a Action, user, comment string, iss *Issue) error {
	if err := getJSON(tx, issueKey(id), iss); err != nil {
		return err
	}
	kind, err := a.apply(iss)
	if err != nil {
		return err
	}
	if err := setJSON(tx, issueKey(id), iss); err != nil {
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
	return db.update(func(tx *buntdb.Tx) error {
		if _, err := tx.Get(issueKey(id)); err != nil {
			if errors.Is(err, buntdb.ErrNotFound) {
				return ErrNotFound
			}
			return err
		}
		return addHistory(tx, id, HistoryEntry{Kind: HistoryComment, User: user, At: db.Now().UTC(), Comment: comment})
	})
}

// addHistory stores e under the first free key at or after e.At.
func addHistory(tx *buntdb.Tx, id uint32, e HistoryEntry) error {
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
	err := db.view(func(tx *buntdb.Tx) error {
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
// issue page's Grouping tab. It scans the project's groupings (one key per
// issue, usually). It sits here, not in issue.go, only because of who owned
// which file when it was written.
func (db *DB) Groupings(iss *Issue) ([]Grouping, error) {
	out := []Grouping{}
	err := db.view(func(tx *buntdb.Tx) error {
		return tx.AscendKeys(groupingKey(iss.ProjectID, "")+"*", func(k, v string) bool {
			var g Grouping
			if jsonUnmarshal(v, &g) == nil && g.Issue == iss.ID {
				out = append(out, g)
			}
			return true
		})
	})
	return out, err
}
