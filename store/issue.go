package store

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/buntdb"
)

// Issue is a group of events that share a grouping key.
type Issue struct {
	ID                 uint32    `json:"id"`
	ProjectID          int       `json:"project"`
	DigestOrder        int       `json:"digest_order"`
	FirstSeen          time.Time `json:"first_seen"`
	LastSeen           time.Time `json:"last_seen"`
	DigestedEventCount int64     `json:"digested_event_count"`
	StoredEventCount   int64     `json:"stored_event_count"`
	CalculatedType     string    `json:"calculated_type"`
	CalculatedValue    string    `json:"calculated_value"`
	Transaction        string    `json:"transaction"`
	LastFrameFilename  string    `json:"last_frame_filename"`
	LastFrameModule    string    `json:"last_frame_module"`
	LastFrameFunction  string    `json:"last_frame_function"`
	// LastFramePackage names the binary of a native crash frame.
	LastFramePackage string `json:"last_frame_package,omitempty"`
	Level            string `json:"level"`
	Platform         string `json:"platform"`
	// Environment and Release are those of the latest event ("" when it
	// had none), for the list's rows and the issue's header.
	Environment string `json:"environment,omitempty"`
	Release     string `json:"release,omitempty"`
	// AssignedTo names the user the issue is assigned to, "" for nobody.
	AssignedTo string `json:"assigned_to,omitempty"`

	IsResolved              bool `json:"is_resolved"`
	IsResolvedByNextRelease bool `json:"is_resolved_by_next_release"`
	// ResolvedUnconditionally is set by a plain resolve: any later event
	// regresses the issue, whatever its release.
	ResolvedUnconditionally bool     `json:"is_resolved_unconditionally,omitempty"`
	FixedAt                 []string `json:"fixed_at,omitempty"`
	IsMuted                 bool     `json:"is_muted"`
	// UnmuteAfter, when set on a muted issue, unmutes it at the first event
	// after that time.
	UnmuteAfter time.Time `json:"unmute_after,omitzero"`
	// UnmuteOnVolume, when set on a muted issue, unmutes it once its events
	// reach the volume within the window.
	UnmuteOnVolume *VolumeCondition `json:"unmute_on_volume,omitempty"`
	// EventsAt lists the releases this issue's events were seen in.
	EventsAt []string `json:"events_at,omitempty"`

	// FirstRec and LastRec are record numbers + 1 of the issue's first and
	// last stored events in the project's event log (0 = none).
	FirstRec uint32 `json:"first_rec"`
	LastRec  uint32 `json:"last_rec"`
}

// VolumeCondition is "at least Volume events within N periods".
type VolumeCondition struct {
	Period string `json:"period"` // minute, hour, day, week, month, year
	N      int    `json:"nr_of_periods"`
	Volume int64  `json:"volume"`
}

// Window returns the length of the condition's window ending at now.
func (c *VolumeCondition) Window(now time.Time) time.Duration {
	return now.Sub(AddPeriods(now, c.Period, -c.N))
}

// AddPeriods adds n calendar periods to t.
func AddPeriods(t time.Time, period string, n int) time.Time {
	switch period {
	case "minute":
		return t.Add(time.Duration(n) * time.Minute)
	case "hour":
		return t.Add(time.Duration(n) * time.Hour)
	case "day":
		return t.AddDate(0, 0, n)
	case "week":
		return t.AddDate(0, 0, 7*n)
	case "month":
		return addMonths(t, n)
	case "year":
		return addMonths(t, 12*n)
	}
	return t
}

// addMonths adds n calendar months, clamping the day to the end of the
// target month (Jan 31 + 1 month = Feb 28 or 29), as calendar arithmetic
// does; time.AddDate would roll over into March.
func addMonths(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(n), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(d, last)-1)
}

// ValidPeriod reports whether p names a period.
func ValidPeriod(p string) bool {
	switch p {
	case "minute", "hour", "day", "week", "month", "year":
		return true
	}
	return false
}

// History kinds written by digest (the actions' kinds are in actions.go).
const (
	HistoryFirstSeen        = "first_seen"
	HistoryRegressed        = "regressed"
	HistoryUnmutedByEvent   = "unmuted_by_event"
	HistoryNextMaterialized = "next_release_materialized"
	// HistoryGroupingChanged: the issue's events are grouped by a new key
	// (Comment says which and why).
	HistoryGroupingChanged = "grouping_changed"
)

// Title returns "<type>: <first line of value>", or just the message for
// log messages.
func (i *Issue) Title() string {
	first, _, _ := strings.Cut(i.CalculatedValue, "\n")
	if i.CalculatedType == "Log Message" {
		return first
	}
	if first == "" {
		return i.CalculatedType
	}
	return i.CalculatedType + ": " + first
}

// Issue returns the issue with the given id.
func (db *DB) Issue(id uint32) (*Issue, error) {
	var iss Issue
	if err := db.view(func(tx *kvTx) error { return getJSON(tx, issueKey(id), &iss) }); err != nil {
		return nil, err
	}
	return &iss, nil
}

// IssueByRef returns the issue named by ref: its numeric id, or a friendly
// id "SLUG-N" (case-insensitive).
func (db *DB) IssueByRef(ref string) (*Issue, error) {
	if n, err := strconv.ParseUint(ref, 10, 32); err == nil {
		return db.Issue(uint32(n))
	}
	i := strings.LastIndexByte(ref, '-')
	if i <= 0 {
		return nil, ErrNotFound
	}
	order, err := strconv.Atoi(ref[i+1:])
	if err != nil {
		return nil, ErrNotFound
	}
	p, err := db.ProjectBySlug(ref[:i])
	if err != nil {
		return nil, err
	}
	var iss Issue
	err = db.view(func(tx *kvTx) error {
		s, err := tx.Get(projectIssueKey(p.ID, order))
		if errors.Is(err, buntdb.ErrNotFound) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		n, _ := strconv.ParseUint(s, 10, 32)
		return getJSON(tx, issueKey(uint32(n)), &iss)
	})
	if err != nil {
		return nil, err
	}
	return &iss, nil
}

// FriendlyID returns the issue's "SLUG-N" name.
func FriendlyID(p *Project, iss *Issue) string {
	return fmt.Sprintf("%s-%d", strings.ToUpper(p.Slug), iss.DigestOrder)
}

// IssueSort names an order for Issues.
type IssueSort string

// The orders Issues knows.
const (
	SortDigestOrder IssueSort = "digest_order"
	SortLastSeen    IssueSort = "last_seen"
	SortEventCount  IssueSort = "digested_event_count"
)

// IssueFilter selects and orders a page of a project's issues.
type IssueFilter struct {
	Project int
	Sort    IssueSort // default SortDigestOrder
	Desc    bool
	State   IssueState // default StateAll
	// Tags, when set, keeps only issues whose events carried every one of
	// these key=value pairs.
	Tags []TagCount
	// Match, when set, keeps only the issues it accepts. It must not call
	// the store.
	Match func(*Issue) bool
	// AssignedTo, when set, keeps only the issues assigned to that user.
	// They are read from their own index and sorted in memory: one user's
	// assigned issues are few next to a project's.
	AssignedTo string
	// Offset and Limit count the issues that pass the filter.
	Offset int
	Limit  int // default 250
}

// Issues returns one page of the project's issues in the filter's order,
// and whether more follow. It walks an index in that order and decodes
// only the issues it examines, so the first pages cost the same however
// many issues the project has. It returns an empty slice, not an error,
// when none match.
func (db *DB) Issues(f IssueFilter) ([]Issue, bool, error) {
	if f.Limit <= 0 {
		f.Limit = 250
	}
	if f.State == "" {
		f.State = StateAll
	}
	if f.AssignedTo != "" {
		return db.assignedIssues(f)
	}
	var prefix string
	byOrder := false
	switch f.Sort {
	case SortLastSeen:
		prefix = lastSeenPrefix(f.Project, f.State)
	case SortEventCount:
		prefix = eventCountPrefix(f.Project, f.State)
	default:
		prefix, byOrder = projectIssuePrefix(f.Project), true
	}
	// Without a filter on the issue itself, skipping needs no decoding.
	plain := f.Match == nil && len(f.Tags) == 0 && f.AssignedTo == "" && (!byOrder || f.State == StateAll)
	// Room for a few; once more come, for the page: a full page of 100
	// then costs two allocations, not eight doubling ones.
	out := make([]Issue, 0, min(f.Limit, 16))
	more := false
	skip := f.Offset
	err := db.view(func(tx *kvTx) error {
		var ierr error
		visit := func(k, v string) bool {
			if plain && skip > 0 {
				skip--
				return true
			}
			id := issueIDOfIndexKey(k)
			if byOrder {
				id = parseID(v)
			}
			var iss Issue
			if err := getJSON(tx, issueKey(id), &iss); errors.Is(err, ErrNotFound) {
				return true
			} else if err != nil {
				ierr = err
				return false
			}
			if byOrder && !contains(iss.states(), f.State) || f.Match != nil && !f.Match(&iss) ||
				f.AssignedTo != "" && iss.AssignedTo != f.AssignedTo {
				return true
			}
			for _, t := range f.Tags {
				if _, err := tx.Get(issueTagKey(id, t.Key, t.Value)); err != nil {
					return true
				}
			}
			if skip > 0 {
				skip--
				return true
			}
			if len(out) == f.Limit {
				more = true
				return false
			}
			if len(out) == cap(out) {
				out = slices.Grow(out, f.Limit-len(out))
			}
			out = append(out, iss)
			return true
		}
		if f.Desc {
			tx.descend(prefix, visit)
		} else {
			tx.ascend(prefix, visit)
		}
		return ierr
	})
	if err != nil {
		return nil, false, err
	}
	return out, more, nil
}

// maxAssigned bounds the issues assignedIssues reads for one list.
const maxAssigned = 10000

// assignedIssues is Issues for a filter with AssignedTo: the issues of the
// user's index that pass the filter, sorted in memory.
func (db *DB) assignedIssues(f IssueFilter) ([]Issue, bool, error) {
	var all []Issue
	err := db.view(func(tx *kvTx) error {
		var ierr error
		tx.ascend(assignedPrefix(f.Project, f.AssignedTo), func(k, v string) bool {
			var iss Issue
			id := parseID(k[strings.LastIndexByte(k, 0)+1:])
			if err := getJSON(tx, issueKey(id), &iss); errors.Is(err, ErrNotFound) {
				return true
			} else if err != nil {
				ierr = err
				return false
			}
			if iss.AssignedTo != f.AssignedTo || !contains(iss.states(), f.State) || f.Match != nil && !f.Match(&iss) {
				return true
			}
			for _, t := range f.Tags {
				if _, err := tx.Get(issueTagKey(id, t.Key, t.Value)); err != nil {
					return true
				}
			}
			all = append(all, iss)
			return len(all) < maxAssigned
		})
		return ierr
	})
	if err != nil {
		return nil, false, err
	}
	less := func(a, b *Issue) int {
		switch f.Sort {
		case SortLastSeen:
			if c := a.LastSeen.Compare(b.LastSeen); c != 0 {
				return c
			}
		case SortEventCount:
			if c := cmp.Compare(a.DigestedEventCount, b.DigestedEventCount); c != 0 {
				return c
			}
		default:
			return cmp.Compare(a.DigestOrder, b.DigestOrder)
		}
		return cmp.Compare(a.ID, b.ID)
	}
	slices.SortFunc(all, func(a, b Issue) int {
		if f.Desc {
			return less(&b, &a)
		}
		return less(&a, &b)
	})
	if f.Offset >= len(all) {
		return []Issue{}, false, nil
	}
	all = all[f.Offset:]
	if len(all) > f.Limit {
		return all[:f.Limit], true, nil
	}
	return all, false, nil
}

func parseID(s string) uint32 {
	n, _ := strconv.ParseUint(s, 10, 32)
	return uint32(n)
}

// TagCount is how many of an issue's events carried a tag value.
type TagCount struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Count int64  `json:"count"`
}

// OtherTagValue stands for the values counted after an issue already has
// maxTagValues distinct values for a key.
const OtherTagValue = "\x00other"

// IssueTags returns the tag counts of an issue, ordered by key, then by
// count (highest first).
func (db *DB) IssueTags(id uint32) ([]TagCount, error) {
	var out []TagCount
	prefix := issueTagPrefix(id)
	err := db.view(func(tx *kvTx) error {
		return tx.AscendKeys(prefix+"*", func(k, v string) bool {
			kv := strings.TrimPrefix(k, prefix)
			key, val, ok := strings.Cut(kv, "\x00")
			if !ok {
				return true
			}
			n, _ := strconv.ParseInt(v, 10, 64)
			out = append(out, TagCount{Key: key, Value: val, Count: n})
			return true
		})
	})
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Key != out[j].Key {
			return out[i].Key < out[j].Key
		}
		return out[i].Count > out[j].Count
	})
	return out, err
}

// IssueView is an issue as the JSON API shows it (reference §12); the
// generic alert webhook sends the same fields.
type IssueView struct {
	ID                      string    `json:"id"`
	FriendlyID              string    `json:"friendly_id"`
	Project                 int       `json:"project"`
	DigestOrder             int       `json:"digest_order"`
	LastSeen                time.Time `json:"last_seen"`
	FirstSeen               time.Time `json:"first_seen"`
	DigestedEventCount      int64     `json:"digested_event_count"`
	StoredEventCount        int64     `json:"stored_event_count"`
	CalculatedType          string    `json:"calculated_type"`
	CalculatedValue         string    `json:"calculated_value"`
	Title                   string    `json:"title"`
	Transaction             string    `json:"transaction"`
	LastFrameFilename       string    `json:"last_frame_filename"`
	LastFrameModule         string    `json:"last_frame_module"`
	LastFrameFunction       string    `json:"last_frame_function"`
	IsResolved              bool      `json:"is_resolved"`
	IsResolvedByNextRelease bool      `json:"is_resolved_by_next_release"`
	IsResolvedInRelease     bool      `json:"is_resolved_in_release"`
	IsMuted                 bool      `json:"is_muted"`
}

// View returns the issue as the JSON API shows it.
func (i *Issue) View(p *Project) IssueView {
	return IssueView{
		ID: strconv.FormatUint(uint64(i.ID), 10), FriendlyID: FriendlyID(p, i), Project: i.ProjectID,
		DigestOrder: i.DigestOrder, LastSeen: i.LastSeen.UTC(), FirstSeen: i.FirstSeen.UTC(),
		DigestedEventCount: i.DigestedEventCount, StoredEventCount: i.StoredEventCount,
		CalculatedType: i.CalculatedType, CalculatedValue: i.CalculatedValue, Title: i.Title(),
		Transaction: i.Transaction, LastFrameFilename: i.LastFrameFilename, LastFrameModule: i.LastFrameModule,
		LastFrameFunction: i.LastFrameFunction, IsResolved: i.IsResolved,
		IsResolvedByNextRelease: i.IsResolvedByNextRelease, IsResolvedInRelease: i.IsResolved && len(i.FixedAt) > 0,
		IsMuted: i.IsMuted,
	}
}
