package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SummaryKeepDays is the longest, and the default, number of days a
// project's daily summaries are kept.
const SummaryKeepDays = 90

// SummaryRetention is how many days p's daily summaries are kept.
func (p *Project) SummaryRetention() int {
	if p.SummaryDays < 1 || p.SummaryDays > SummaryKeepDays {
		return SummaryKeepDays
	}
	return p.SummaryDays
}

// DefaultRetention is the number of events a project keeps by default.
const DefaultRetention = 10000

// Project is one project: a DSN key and the issues and events sent with it.
type Project struct {
	ID                 int       `json:"id"`
	Name               string    `json:"name"`
	Slug               string    `json:"slug"`
	Key                string    `json:"key"` // 32 hex, the DSN's public key
	CreatedAt          time.Time `json:"created_at"`
	DigestedEventCount int64     `json:"digested_event_count"`
	StoredEventCount   int64     `json:"stored_event_count"`
	// IssueCount is the number of issues ever created: the digest order
	// (friendly number) of the newest issue.
	IssueCount   int `json:"issue_count"`
	RetentionMax int `json:"retention_max_event_count"`
	// SummaryDays is how many days the project's daily summaries
	// (transactions, release health, client reports, dropped items) are
	// kept: 1 to SummaryKeepDays; 0 means SummaryKeepDays.
	SummaryDays       int  `json:"summary_retention_days,omitempty"`
	AlertOnNewIssue   bool `json:"alert_on_new_issue"`
	AlertOnRegression bool `json:"alert_on_regression"`
	AlertOnUnmute     bool `json:"alert_on_unmute"`

	// Quota, when set, replaces the installation's default per-project
	// limits for this project.
	Quota *QuotaLimits `json:"quota,omitempty"`
	// Scrub holds the project's server-side scrubbing settings.
	Scrub ScrubSettings `json:"scrub"`

	// Committed extent of the event log and body segments (eventlog.go):
	// the segments in use are SegFirst..Seg, the last up to SegOff.
	LogLen   uint32 `json:"log_len"`
	Seg      uint32 `json:"seg"`
	SegOff   uint32 `json:"seg_off"`
	SegFirst uint32 `json:"seg_first,omitempty"`
	// LogNext says that a committed compaction's log.new has not yet been
	// renamed over log (compact.go).
	LogNext bool `json:"log_next,omitempty"`

	// GroupingRules is the version of the grouping rules the project's
	// issues were made with (0: before GroupingRulesMessage).
	// GroupingUpgradedAt is when digest first grouped one of its events
	// with newer rules; for GroupingTransitionPeriod after it, an event
	// whose key is unknown is also looked up by its previous key
	// (reference §5.5), so that existing issues do not split.
	GroupingRules      int       `json:"grouping_rules,omitempty"`
	GroupingUpgradedAt time.Time `json:"grouping_upgraded_at,omitzero"`
}

// Grouping rule versions (Project.GroupingRules).
const (
	// GroupingRulesMessage: a message sent with a synthetic exception
	// groups by its text and function (event.MechanismMessage).
	GroupingRulesMessage = 1
	// CurrentGroupingRules is what new projects start with.
	CurrentGroupingRules = GroupingRulesMessage
	// GroupingTransitionPeriod is how long after an upgrade of the rules
	// previous keys are looked up, as Bugsink's
	// GROUPING_TRANSITION_PERIOD.
	GroupingTransitionPeriod = 30 * 24 * time.Hour
)

// GroupingTransition brings p to the current grouping rules, starting the
// transition window when it was on older ones, and reports whether the
// window is open at now.
func (p *Project) GroupingTransition(now time.Time) bool {
	if p.GroupingRules < CurrentGroupingRules {
		p.GroupingRules = CurrentGroupingRules
		p.GroupingUpgradedAt = now.UTC()
	}
	return !p.GroupingUpgradedAt.IsZero() && now.Before(p.GroupingUpgradedAt.Add(GroupingTransitionPeriod))
}

// QuotaLimits are event counts allowed per window; 0 means no limit.
type QuotaLimits struct {
	FiveMin int64 `json:"per_5_minutes"`
	Hour    int64 `json:"per_hour"`
	Month   int64 `json:"per_month"`
}

// ScrubSettings control server-side scrubbing of a project's events.
type ScrubSettings struct {
	// Off turns scrubbing off (it is on by default).
	Off bool `json:"off,omitempty"`
	// ExtraKeys are more key names to scrub.
	ExtraKeys []string `json:"extra_keys,omitempty"`
	// IP removes client IP addresses too.
	IP bool `json:"ip,omitempty"`
}

// Slugify turns a project name into its slug: lower-case letters, digits
// and single dashes.
func Slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case b.Len() > 0 && !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// CreateProject creates a project with a fresh DSN key. It returns
// ErrExists when a project with the same slug exists.
func (db *DB) CreateProject(name string) (*Project, error) {
	name = strings.TrimSpace(name)
	slug := Slugify(name)
	if slug == "" {
		return nil, fmt.Errorf("store: project name %q has no letters or digits", name)
	}
	var key [16]byte
	rand.Read(key[:])
	p := &Project{
		Name: name, Slug: slug, Key: hex.EncodeToString(key[:]), CreatedAt: db.Now().UTC(),
		RetentionMax: DefaultRetention, AlertOnNewIssue: true, AlertOnRegression: true, AlertOnUnmute: true,
		GroupingRules: CurrentGroupingRules, // no issues of older rules to carry over
	}
	err := db.update(func(tx *kvTx) error {
		exists := false
		err := tx.AscendKeys(projectPattern, func(k, v string) bool {
			var q Project
			if jsonUnmarshal(v, &q) == nil && q.Slug == slug {
				exists = true
				return false
			}
			return true
		})
		if err != nil {
			return err
		}
		if exists {
			return &ValidationError{Kind: ErrExists, Field: "name", Msg: fmt.Sprintf("gives the slug %q, which another project has", slug)}
		}
		id, err := nextSeq(tx, "project")
		if err != nil {
			return err
		}
		p.ID = int(id)
		return setJSON(tx, projectKey(p.ID), p)
	})
	if err != nil {
		return nil, err
	}
	if err := db.openProject(p); err != nil {
		return nil, err
	}
	return p, nil
}

// Project returns the project with the given id.
func (db *DB) Project(id int) (*Project, error) {
	var p Project
	err := db.view(func(tx *kvTx) error { return getJSON(tx, projectKey(id), &p) })
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// ProjectBySlug returns the project with the given slug.
func (db *DB) ProjectBySlug(slug string) (*Project, error) {
	ps, err := db.Projects()
	if err != nil {
		return nil, err
	}
	for i := range ps {
		if strings.EqualFold(ps[i].Slug, slug) {
			return &ps[i], nil
		}
	}
	return nil, ErrNotFound
}

// Projects returns every project, ordered by name.
func (db *DB) Projects() ([]Project, error) {
	var out []Project
	err := db.view(func(tx *kvTx) error {
		var ierr error
		err := tx.AscendKeys(projectPattern, func(k, v string) bool {
			var p Project
			if ierr = jsonUnmarshal(v, &p); ierr != nil {
				return false
			}
			out = append(out, p)
			return true
		})
		return errors.Join(err, ierr)
	})
	sortProjects(out)
	return out, err
}

// ProjectKey returns the DSN key of project id, for ingest authentication.
// It reads an in-memory copy and never blocks on a digest batch.
func (db *DB) ProjectKey(id int) (string, bool) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	k, ok := db.keys[id]
	return k, ok
}

// SetProjectKey replaces a project's DSN key, for example to keep the DSNs
// of an installation that tinysink replaces. A key is 8 to 64 ASCII
// letters and digits.
func (db *DB) SetProjectKey(id int, key string) error {
	if !validKey(key) {
		return fmt.Errorf("store: a project key is 8 to 64 letters and digits")
	}
	err := db.update(func(tx *kvTx) error {
		var p Project
		if err := getJSON(tx, projectKey(id), &p); err != nil {
			return err
		}
		p.Key = key
		return setJSON(tx, projectKey(id), &p)
	})
	if err != nil {
		return err
	}
	db.mu.Lock()
	db.keys[id] = key
	db.mu.Unlock()
	return nil
}

func validKey(k string) bool {
	if len(k) < 8 || len(k) > 64 {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// ProjectQuota returns a project's own quota limits, if it has any. It
// reads an in-memory copy and never blocks on a digest batch.
func (db *DB) ProjectQuota(id int) (QuotaLimits, bool) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	q, ok := db.quotas[id]
	if !ok {
		return QuotaLimits{}, false
	}
	return q, true
}

// SetProjectQuota sets (or, with nil, removes) a project's own quota.
func (db *DB) SetProjectQuota(id int, q *QuotaLimits) error {
	err := db.update(func(tx *kvTx) error {
		var p Project
		if err := getJSON(tx, projectKey(id), &p); err != nil {
			return err
		}
		p.Quota = q
		return setJSON(tx, projectKey(id), &p)
	})
	if err != nil {
		return err
	}
	db.cacheProject(id, "", q, false)
	return nil
}

// cacheProject updates the in-memory copies ingest reads; key "" keeps the
// key.
func (db *DB) cacheProject(id int, key string, q *QuotaLimits, setKey bool) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if setKey {
		db.keys[id] = key
	}
	if q != nil {
		db.quotas[id] = *q
	} else {
		delete(db.quotas, id)
	}
}

// SetProjectScrub changes a project's scrubbing settings.
func (db *DB) SetProjectScrub(id int, s ScrubSettings) error {
	return db.update(func(tx *kvTx) error {
		var p Project
		if err := getJSON(tx, projectKey(id), &p); err != nil {
			return err
		}
		p.Scrub = s
		return setJSON(tx, projectKey(id), &p)
	})
}
