package store

import (
	"errors"
	"time"

	"github.com/tidwall/buntdb"
)

// What export and import (store/exchange) need beyond the UI's reads: a
// walk of a project's events in digest order and of its issues by digest
// order, both in pages, so that neither holds more than a page in memory;
// a replay mode for digest batches; and a merge of an exported issue's
// state and history into the issue its events landed on.

// EventsFrom returns up to limit of the project's stored events in digest
// order, starting at record from (0 for the first page), and the record to
// pass for the next page, 0 when there is none.
func (db *DB) EventsFrom(pid int, from uint32, limit int) ([]Event, uint32, error) {
	el := db.eventLog(pid)
	if el == nil {
		return nil, 0, nil
	}
	el.mu.RLock()
	defer el.mu.RUnlock()
	var out []Event
	n := from
	for ; n < el.n && len(out) < limit; n++ {
		r, err := el.readRecord(n)
		if err != nil {
			return nil, 0, err
		}
		if r.Flags&flagDeleted == 0 {
			out = append(out, eventFrom(pid, n, r))
		}
	}
	if n >= el.n {
		n = 0
	}
	return out, n, nil
}

// IssuesAfter returns up to limit of the project's issues in digest order
// whose digest order is greater than after.
func (db *DB) IssuesAfter(pid, after, limit int) ([]Issue, error) {
	var out []Issue
	err := db.view(func(tx *kvTx) error {
		var ierr error
		tx.ascendFrom(projectIssuePrefix(pid), projectIssueKey(pid, after+1), func(k, v string) bool {
			var iss Issue
			if err := getJSON(tx, issueKey(parseID(v)), &iss); errors.Is(err, ErrNotFound) {
				return true
			} else if err != nil {
				ierr = err
				return false
			}
			out = append(out, iss)
			return len(out) < limit
		})
		return ierr
	})
	return out, err
}

// IssueByGrouping returns the project's issue that the grouping key with
// the given sha256 hex hash leads to.
func (db *DB) IssueByGrouping(pid int, hash string) (*Issue, error) {
	var iss Issue
	err := db.view(func(tx *kvTx) error {
		var g Grouping
		if err := getJSON(tx, groupingKey(pid, hash), &g); err != nil {
			return err
		}
		return getJSON(tx, issueKey(g.Issue), &iss)
	})
	if err != nil {
		return nil, err
	}
	return &iss, nil
}

// Replay marks the batch as a replay of exported events (store/exchange):
// it writes no history entries and enqueues no alerts, because the import
// restores the exported history afterwards and the events are not news.
func (t *Tx) Replay() { t.replay = true }

// ExportedIssue is the part of an issue an export carries besides its events:
// its resolution and mute state, first and last sighting and event count.
type ExportedIssue struct {
	FirstSeen               time.Time        `json:"first_seen"`
	LastSeen                time.Time        `json:"last_seen"`
	DigestedEventCount      int64            `json:"digested_event_count"`
	IsResolved              bool             `json:"is_resolved"`
	IsResolvedByNextRelease bool             `json:"is_resolved_by_next_release"`
	ResolvedUnconditionally bool             `json:"is_resolved_unconditionally"`
	FixedAt                 []string         `json:"fixed_at,omitempty"`
	IsMuted                 bool             `json:"is_muted"`
	UnmuteAfter             time.Time        `json:"unmute_after,omitzero"`
	UnmuteOnVolume          *VolumeCondition `json:"unmute_on_volume,omitempty"`
}

// Exported returns the part of iss that an export carries.
func (iss *Issue) Exported() ExportedIssue {
	return ExportedIssue{
		FirstSeen: iss.FirstSeen, LastSeen: iss.LastSeen, DigestedEventCount: iss.DigestedEventCount,
		IsResolved: iss.IsResolved, IsResolvedByNextRelease: iss.IsResolvedByNextRelease,
		ResolvedUnconditionally: iss.ResolvedUnconditionally, FixedAt: iss.FixedAt, IsMuted: iss.IsMuted,
		UnmuteAfter: iss.UnmuteAfter, UnmuteOnVolume: iss.UnmuteOnVolume,
	}
}

// MergeImportedIssue gives issue id the state of an exported issue (its
// resolution and mute state replace the issue's; first and last seen widen
// to cover both; the event count is the larger of the two, so that a
// second import counts nothing twice) and adds the exported history
// entries the issue does not have yet, at their own times. It returns the
// number of history entries added.
func (db *DB) MergeImportedIssue(id uint32, src *ExportedIssue, hist []HistoryEntry) (added int, err error) {
	err = db.update(func(tx *kvTx) error {
		added = 0
		var iss Issue
		if err := getJSON(tx, issueKey(id), &iss); err != nil {
			return err
		}
		// The imported events carry their ingest times to the microsecond
		// (an event's "received"); the source's issue has them to the
		// nanosecond, and wins within that rounding.
		const slack = time.Millisecond
		if !src.FirstSeen.IsZero() && (iss.FirstSeen.IsZero() || src.FirstSeen.Add(-slack).Before(iss.FirstSeen)) {
			iss.FirstSeen = src.FirstSeen.UTC()
		}
		if !src.LastSeen.IsZero() && src.LastSeen.Add(slack).After(iss.LastSeen) {
			iss.LastSeen = src.LastSeen.UTC()
		}
		iss.DigestedEventCount = max(iss.DigestedEventCount, src.DigestedEventCount)
		iss.IsResolved = src.IsResolved
		iss.IsResolvedByNextRelease = src.IsResolvedByNextRelease
		iss.ResolvedUnconditionally = src.ResolvedUnconditionally
		iss.FixedAt = src.FixedAt
		iss.IsMuted = src.IsMuted
		iss.UnmuteAfter = src.UnmuteAfter.UTC()
		if src.UnmuteAfter.IsZero() {
			iss.UnmuteAfter = time.Time{}
		}
		iss.UnmuteOnVolume = src.UnmuteOnVolume
		if err := putIssue(tx, &iss); err != nil {
			return err
		}
		for _, e := range hist {
			e.At = e.At.UTC()
			e.Comment = cleanComment(e.Comment)
			v, err := tx.Get(historyKey(id, e.At))
			if err == nil {
				var have HistoryEntry
				if jsonUnmarshal(v, &have) == nil && sameEntry(have, e) {
					continue // imported before
				}
			} else if !errors.Is(err, buntdb.ErrNotFound) {
				return err
			}
			if err := addHistory(tx, id, e); err != nil {
				return err
			}
			added++
		}
		return nil
	})
	return added, err
}

func sameEntry(a, b HistoryEntry) bool {
	return a.Kind == b.Kind && a.User == b.User && a.At.Equal(b.At) && a.Comment == b.Comment && a.EventID == b.EventID
}
