package exchange

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/tinysink/tinysink/digest"
	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/store/attach"
)

// ImportStats counts what an import did.
type ImportStats struct {
	ProjectsCreated int `json:"projects_created"`
	Releases        int `json:"releases_created"`
	Events          int `json:"events_imported"`
	// Duplicates are events the installation had already (an export
	// imported twice adds nothing).
	Duplicates int `json:"events_already_there"`
	Issues     int `json:"issues_merged"`
	// IssuesWithoutEvents are exported issues none of whose events the
	// export holds (all evicted by retention), so there is no issue to
	// give their state to.
	IssuesWithoutEvents int `json:"issues_without_events"`
	History             int `json:"history_entries_added"`
	// Attachments are the events' attachments stored; AttachmentsDropped
	// those over the attachment size caps.
	Attachments        int `json:"attachments_imported"`
	AttachmentsDropped int `json:"attachments_dropped,omitempty"`
}

// importBatch is the number of events digested per store batch.
const importBatch = 256

// Import reads the export r into db: projects are matched by slug (then
// by the slug of their name) and created when missing; releases are
// created with their dates; events are digested as the worker digests
// them, keeping their ids (an event the project has is skipped), their
// bodies and ingest times, without alerts; then each issue gets the
// exported state and history. Scrubbing is not applied again: the events
// were scrubbed when first stored.
func Import(db *store.DB, r *Reader) (ImportStats, error) {
	var st ImportStats
	pids := map[string]int{}
	err := r.Projects(func(p Project) error {
		id, created, err := importProject(db, p)
		if err != nil {
			return fmt.Errorf("project %s: %w", p.Slug, err)
		}
		pids[p.Slug] = id
		if created {
			st.ProjectsCreated++
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	err = r.Releases(func(rel Release) error {
		pid := pids[rel.Project]
		_, created, err := db.CreateRelease(pid, rel.Version, rel.DateReleased, digest.ReleaseEpoch)
		if err != nil {
			return fmt.Errorf("release %s of %s: %w", rel.Version, rel.Project, err)
		}
		if !created {
			return nil
		}
		st.Releases++
		if !rel.DateFinalized.IsZero() {
			if err := db.FinalizeRelease(pid, rel.Version, rel.DateFinalized); err != nil {
				return err
			}
		}
		for _, d := range rel.Deploys {
			err := db.AddDeploy(&store.Deploy{Project: pid, Version: rel.Version, Environment: d.Environment, Name: d.Name,
				URL: d.URL, DateStarted: d.DateStarted, DateFinished: d.DateFinished})
			if err != nil {
				return fmt.Errorf("deploy of release %s of %s: %w", rel.Version, rel.Project, err)
			}
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	loader := digest.NewLoader()
	var batch []*digest.Prepared
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		added := 0
		err := db.Digest(func(tx *store.Tx) error {
			tx.Replay()
			added = 0
			for _, p := range batch {
				ok, err := p.Add(tx)
				if err != nil {
					return err
				}
				if ok {
					added++
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		st.Events += added
		st.Duplicates += len(batch) - added
		batch = batch[:0]
		return nil
	}
	var att *attach.Store
	err = r.Events(func(ev Event, env, payload []byte) error {
		at := receivedAt(payload, ev.IngestedAt)
		p, err := loader.PrepareID(pids[ev.Project], ev.EventID, payload, at)
		if err != nil {
			return fmt.Errorf("event %s: %w", ev.EventID, err)
		}
		as, err := EnvelopeAttachments(env)
		if err != nil {
			return fmt.Errorf("event %s: %w", ev.EventID, err)
		}
		if len(as) > 0 {
			if att == nil {
				if att, err = attach.Open(filepath.Join(db.Dir(), "attachments")); err != nil {
					return err
				}
			}
			n, dropped, err := importAttachments(att, pids[ev.Project], ev.EventID, as)
			if err != nil {
				return fmt.Errorf("attachments of event %s: %w", ev.EventID, err)
			}
			st.Attachments += n
			st.AttachmentsDropped += dropped
		}
		batch = append(batch, p)
		if len(batch) == importBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return st, err
	}
	err = r.Issues(func(iss Issue) error {
		pid := pids[iss.Project]
		var target *store.Issue
		for _, g := range iss.Groupings {
			t, err := db.IssueByGrouping(pid, g.Hash)
			if errors.Is(err, store.ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			target = t
			break
		}
		if target == nil {
			st.IssuesWithoutEvents++
			return nil
		}
		n, err := db.MergeImportedIssue(target.ID, &iss.ExportedIssue, iss.History)
		if err != nil {
			return fmt.Errorf("issue %s: %w", iss.Ref, err)
		}
		st.Issues++
		st.History += n
		return nil
	})
	if err != nil {
		return st, err
	}
	return st, r.End()
}

// importAttachments stores the attachments of an event before the event
// is digested, as ingest does; those of an event the installation has
// already are kept as they are. An attachment over the store's caps is
// dropped (counted).
func importAttachments(att *attach.Store, project int, id string, as []Attachment) (n, dropped int, err error) {
	if have, err := att.List(project, id); err != nil || len(have) > 0 {
		return 0, 0, err
	}
	w, err := att.Begin(project)
	if err != nil {
		return 0, 0, err
	}
	for _, a := range as {
		if _, err := w.Add(a.Filename, a.ContentType, a.Type, bytes.NewReader(a.Data)); errors.Is(err, attach.ErrTooLarge) {
			dropped++
		} else if err != nil {
			w.Abort()
			return 0, 0, err
		}
	}
	n = len(w.Items())
	return n, dropped, w.Commit(id)
}

// importProject returns the id of the installation's project for p,
// creating it when there is none.
func importProject(db *store.DB, p Project) (id int, created bool, err error) {
	for _, slug := range []string{p.Slug, store.Slugify(p.Name)} {
		q, err := db.ProjectBySlug(slug)
		if err == nil {
			return q.ID, false, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return 0, false, err
		}
	}
	q, err := db.CreateProject(p.Name)
	if err != nil {
		return 0, false, err
	}
	return q.ID, true, nil
}

// receivedAt returns the event's "received" time, which the store set to
// its ingest time to the microsecond (digest/event), so that the imported
// copy says the same; else the index's ingest time.
func receivedAt(payload []byte, fallback time.Time) time.Time {
	v, err := fastjson.ParseBytes(payload)
	if err != nil {
		return fallback
	}
	r := v.Get("received")
	if r == nil || r.Type() != fastjson.TypeNumber {
		return fallback
	}
	us, ok := parseEpochMicro(string(r.MarshalTo(nil)))
	if !ok {
		return fallback
	}
	return time.UnixMicro(us).UTC()
}

// parseEpochMicro parses decimal seconds ("1712345678.5") into
// microseconds exactly, without going through a float.
func parseEpochMicro(s string) (int64, bool) {
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || n < 0 || n > 1<<40 || len(frac) > 6 {
		return 0, false
	}
	var f int64
	for i := 0; i < 6; i++ {
		f *= 10
		if i < len(frac) {
			c := frac[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			f += int64(c - '0')
		}
	}
	return n*1e6 + f, true
}
