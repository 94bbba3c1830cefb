package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/buntdb"
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
	// ForwardDSN, when set, is the upstream (Sentry or another
	// Sentry-compatible server) that every accepted item of the project is
	// forwarded to, in place of the installation's -forward-dsn.
	ForwardDSN string `json:"forward_dsn,omitempty"`

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

// ProjectForwardDSN returns project id's own forward DSN ("" if none). It
// reads an in-memory copy and never blocks on a digest batch.
func (db *DB) ProjectForwardDSN(id int) string {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.forwards[id]
}

// HasForwardDSN reports whether any project has a forward DSN.
func (db *DB) HasForwardDSN() bool {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return len(db.forwards) > 0
}

// SetProjectForwardDSN sets (or, with "", removes) a project's forward
// DSN. The caller checks that dsn parses.
func (db *DB) SetProjectForwardDSN(id int, dsn string) error {
	if len(dsn) > 1000 {
		return fmt.Errorf("store: a forward DSN has at most 1000 characters")
	}
	err := db.update(func(tx *kvTx) error {
		var p Project
		if err := getJSON(tx, projectKey(id), &p); err != nil {
			return err
		}
		p.ForwardDSN = dsn
		return setJSON(tx, projectKey(id), &p)
	})
	if err != nil {
		return err
	}
	db.cacheForward(id, dsn)
	return nil
}

func (db *DB) cacheForward(id int, dsn string) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if dsn != "" {
		db.forwards[id] = dsn
	} else {
		delete(db.forwards, id)
	}
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

// projectFamilies are the tree's key families whose keys start with the
// project id ("<family>:<pid 6>:"), deleted with the project.
var projectFamilies = []string{"pissue", "ils", "iec", "inext", "icnt", "grouping", "release", "deploy",
	"artbundle", "artfile", "artdebug", "artrel", "rh", "rhn", "crep", "crepn", "ditem", "ditemn",
	"txday", "txname", "txnamen", "txex", "monitor", "mcheck"}

// DeleteProject deletes a project with its issues, events, releases,
// uploads and settings: its DSN stops working at once, and events of it
// still in the spool are dropped by the digest. Alert services of the
// project, tokens limited to it and grants of it go too.
//
// The issues go first, a chunk at a time (deleteProjectIssues), then the
// project's other keys and its search postings, in chunks too, and the
// project itself last: neither memory nor one transaction grows with the
// project (in one transaction, 20,000 issues of 30 tag values each took a
// peak of 239 MiB of heap). A failure or a crash part way leaves the
// project there with fewer issues, and deleting it again goes on.
func (db *DB) DeleteProject(id int) error {
	db.digestMu.Lock()
	defer db.digestMu.Unlock()
	if _, err := db.Project(id); err != nil {
		return err
	}
	db.mu.Lock()
	dsnKey, hadKey := db.keys[id]
	delete(db.keys, id) // ingest refuses the DSN from now on
	db.mu.Unlock()
	err := db.deleteProjectIssues(id)
	for _, fam := range projectFamilies {
		if err == nil {
			_, err = db.deleteKeysUnder(fmt.Sprintf("%s:%06d:", fam, id))
		}
	}
	if err == nil {
		_, err = db.deleteKeysUnder(searchTermPrefix(id, ""))
	}
	if err == nil {
		err = db.update(func(tx *kvTx) error {
			var keys []string
			keys = append(keys, counterKeys(ProjectSubject(id), db.Now())...)
			// The operator's settings in buntdb: alert services, opt-outs,
			// scoped tokens, grants, teams.
			tx.AscendKeys(alertBackendPattern, func(k, v string) bool {
				var b struct {
					Project int `json:"project"`
				}
				if jsonUnmarshal(v, &b) == nil && b.Project == id {
					keys = append(keys, k)
				}
				return true
			})
			tx.AscendKeys(fmt.Sprintf("alertoptout:%06d:*", id), func(k, v string) bool { keys = append(keys, k); return true })
			tx.AscendKeys(tokenKey("*"), func(k, v string) bool {
				var rec tokenRecord
				if jsonUnmarshal(v, &rec) == nil && rec.Project == int64(id) {
					keys = append(keys, k)
				}
				return true
			})
			keys = append(keys, projectKey(id))
			if err := tx.deleteKeys(keys); err != nil {
				return err
			}
			var users []User
			tx.AscendKeys(userPattern, func(k, v string) bool {
				var u User
				if jsonUnmarshal(v, &u) == nil && slices.Contains(u.Projects, id) {
					users = append(users, u)
				}
				return true
			})
			for _, u := range users {
				u.Projects = slices.DeleteFunc(u.Projects, func(p int) bool { return p == id })
				if err := setJSON(tx, userKey(u.Name), &u); err != nil {
					return err
				}
			}
			return dropFromTeams(tx, "", id)
		})
	}
	if err != nil {
		if hadKey {
			db.mu.Lock()
			db.keys[id] = dsnKey
			db.mu.Unlock()
		}
		return err
	}
	db.mu.Lock()
	el := db.logs[id]
	delete(db.logs, id)
	delete(db.keys, id)
	delete(db.quotas, id)
	db.mu.Unlock()
	if el != nil {
		el.close()
	}
	return db.removeProjectFiles(id)
}

// deleteProjectIssues deletes the project's issues with what is kept per
// issue (tags, history, feedback, groupings, search terms and facts,
// counters), about deleteChunk keys to a transaction; each leaves the
// project's issue indexes as they are for the issues that remain
// (dropIssue).
func (db *DB) deleteProjectIssues(pid int) error {
	for {
		found := false
		err := db.update(func(tx *kvTx) error {
			type ref struct {
				key string // pissue:
				id  uint32
			}
			var refs []ref
			tx.ascend(projectIssuePrefix(pid), func(k, v string) bool {
				n, _ := strconv.ParseUint(v, 10, 32)
				refs = append(refs, ref{k, uint32(n)})
				return len(refs) < deleteChunk/10
			})
			found = len(refs) > 0
			deleted := 0
			for _, r := range refs {
				if deleted >= deleteChunk {
					break
				}
				// Its groupings and postings go with the project's keys.
				keys := db.issueOwnKeys(tx, r.id)
				tx.ascend(issueTermsPrefix(r.id), func(k, v string) bool { keys = append(keys, k); return true })
				keys = append(keys, r.key, issueFactsKey(r.id))
				var iss Issue
				switch err := getJSON(tx, issueKey(r.id), &iss); {
				case err == nil:
					if err := dropIssue(tx, &iss); err != nil {
						return err
					}
				case !errors.Is(err, ErrNotFound):
					return err
				}
				if err := tx.deleteKeys(keys); err != nil {
					return err
				}
				deleted += len(keys)
			}
			return nil
		})
		if err != nil || !found {
			return err
		}
	}
}

// removeProjectFiles removes a deleted project's files: its event log
// (events/<pid>) and its events' attachments (attachments/<pid>, kept by
// store/attach). It runs after the transaction that deleted the project's
// metadata, so a crash before or during it leaves only files of a project
// that no longer exists, which nothing reads; Open finishes the job
// (removeDeletedProjectFiles).
func (db *DB) removeProjectFiles(id int) error {
	return errors.Join(
		os.RemoveAll(db.projectDir(id)),
		os.RemoveAll(filepath.Join(db.dir, "attachments", strconv.Itoa(id))))
}

// removeDeletedProjectFiles removes the files of projects deleted before
// a crash let DeleteProject finish: directories under events/ and
// attachments/ named for a project id that was handed out (seq:project)
// and no longer exists. Ids are never reused, so such a directory cannot
// belong to a project created later.
func (db *DB) removeDeletedProjectFiles(projects []Project) error {
	var last uint64
	err := db.view(func(tx *kvTx) error {
		v, err := tx.Get(seqKey("project"))
		if err == nil {
			last, _ = strconv.ParseUint(v, 10, 64)
		} else if errors.Is(err, buntdb.ErrNotFound) {
			err = nil
		}
		return err
	})
	if err != nil {
		return err
	}
	live := map[int]bool{}
	for _, p := range projects {
		live[p.ID] = true
	}
	var errs []error
	for _, top := range []string{"events", "attachments"} {
		ents, err := os.ReadDir(filepath.Join(db.dir, top))
		if err != nil {
			continue // absent: nothing to remove
		}
		for _, e := range ents {
			id, err := strconv.Atoi(e.Name())
			if err != nil || !e.IsDir() || id < 1 || uint64(id) > last || live[id] || strconv.Itoa(id) != e.Name() {
				continue
			}
			errs = append(errs, os.RemoveAll(filepath.Join(db.dir, top, e.Name())))
		}
	}
	return errors.Join(errs...)
}
