package exchange

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tinysink/tinysink/digest/event"
	"github.com/tinysink/tinysink/ingest/forward"
	"github.com/tinysink/tinysink/internal/xsort"
	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/store/attach"
)

// Stats counts what an export wrote or an import read.
type Stats struct {
	Projects int `json:"projects"`
	Releases int `json:"releases"`
	Events   int `json:"events"`
	// Attachments are the events' attachments (minidumps included).
	Attachments int `json:"attachments"`
	Issues      int `json:"issues"`
}

// ExportDir writes every project, release, stored event and issue of db
// into dir, which must be empty or not exist. db must not change
// meanwhile (a store opened by this process alone, or a snapshot).
func ExportDir(db *store.DB, dir, version string) (Stats, error) {
	s, err := newDirSink(dir)
	if err != nil {
		return Stats{}, err
	}
	return export(db, s, time.Now().UTC(), version)
}

// ExportTar writes the export as a tar stream to w (see the package
// comment). Files it must size before writing (issues.ndjson, which grows
// with the installation) are spooled into db's directory, not a /tmp that
// may be memory.
func ExportTar(db *store.DB, w io.Writer, version string) (Stats, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	at := time.Now().UTC()
	tw := tar.NewWriter(bw)
	st, err := export(db, &tarSink{tw: tw, at: at, tmp: db.Dir()}, at, version)
	if err != nil {
		return st, err
	}
	if err := tw.Close(); err != nil {
		return st, err
	}
	return st, bw.Flush()
}

func export(db *store.DB, s sink, at time.Time, version string) (Stats, error) {
	var st Stats
	mb, err := json.MarshalIndent(Manifest{Format: Format, Version: Version, Created: at, Tinysink: version}, "", "  ")
	if err != nil {
		return st, err
	}
	if err := s.file("manifest.json", append(mb, '\n')); err != nil {
		return st, err
	}
	ps, err := db.Projects()
	if err != nil {
		return st, err
	}
	xsort.SortFunc(ps, func(a, b store.Project) int { return a.ID - b.ID })
	var pb bytes.Buffer
	enc := json.NewEncoder(&pb)
	enc.SetEscapeHTML(false)
	for _, p := range ps {
		if err := enc.Encode(Project{Slug: p.Slug, Name: p.Name, CreatedAt: p.CreatedAt}); err != nil {
			return st, err
		}
	}
	if err := s.file("projects.ndjson", pb.Bytes()); err != nil {
		return st, err
	}
	st.Projects = len(ps)
	if st.Releases, err = exportReleases(db, s, ps); err != nil {
		return st, err
	}
	if st.Events, err = exportEvents(db, s, ps, &st); err != nil {
		return st, err
	}
	if st.Issues, err = exportIssues(db, s, ps); err != nil {
		return st, err
	}
	return st, nil
}

// writeLines streams lines to the named file: each call of emit encodes
// one value.
func writeLines(s sink, name string, fill func(emit func(v any) error) error) error {
	w, err := s.create(name)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	err = fill(func(v any) error { return enc.Encode(v) })
	if err == nil {
		err = bw.Flush()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// exportReleases writes each project's releases oldest first: the order
// in which an import creates them again, so that they sort as they did.
func exportReleases(db *store.DB, s sink, ps []store.Project) (n int, err error) {
	err = writeLines(s, "releases.ndjson", func(emit func(v any) error) error {
		for _, p := range ps {
			rs, err := db.Releases(p.ID)
			if err != nil {
				return err
			}
			xsort.SortStableFunc(rs, func(a, b store.Release) int {
				if c := a.DateReleased.Compare(b.DateReleased); c != 0 {
					return c
				}
				return a.SortEpoch - b.SortEpoch
			})
			for _, r := range rs {
				ds, err := db.Deploys(p.ID, r.Version)
				if err != nil {
					return err
				}
				line := Release{Project: p.Slug, Version: r.Version, DateReleased: r.DateReleased, SortEpoch: r.SortEpoch, DateFinalized: r.DateFinalized}
				for _, d := range ds {
					line.Deploys = append(line.Deploys, Deploy{Environment: d.Environment, Name: d.Name, URL: d.URL, DateStarted: d.DateStarted, DateFinished: d.DateFinished})
				}
				if err := emit(line); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	return n, err
}

// exportEvents writes the stored events of every project in digest order,
// ChunkSize at a time: the chunk's index, then its envelopes.
func exportEvents(db *store.DB, s sink, ps []store.Project, st *Stats) (int, error) {
	att, err := openAttachments(db)
	if err != nil {
		return 0, err
	}
	total, chunk := 0, 0
	var batch []store.Event
	slugs := map[int]string{}
	for _, p := range ps {
		slugs[p.ID] = p.Slug
	}
	issueRefs := map[uint32]string{} // of the chunk's events
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		chunk++
		var ib bytes.Buffer
		enc := json.NewEncoder(&ib)
		enc.SetEscapeHTML(false)
		clear(issueRefs)
		for _, ev := range batch {
			ref, ok := issueRefs[ev.IssueID]
			if !ok {
				if iss, err := db.Issue(ev.IssueID); err == nil {
					ref = fmt.Sprintf("%s-%d", strings.ToUpper(slugs[ev.ProjectID]), iss.DigestOrder)
				}
				issueRefs[ev.IssueID] = ref
			}
			line := Event{Project: slugs[ev.ProjectID], EventID: ev.ID, Issue: ref, IngestedAt: ev.IngestedAt,
				Timestamp: ev.Timestamp, File: envelopeName(chunk, ev.ID)}
			if err := enc.Encode(line); err != nil {
				return err
			}
		}
		if err := s.file(chunkName(chunk), ib.Bytes()); err != nil {
			return err
		}
		for i := range batch {
			body, err := db.EventBody(&batch[i])
			if err != nil {
				return fmt.Errorf("read event %s: %w", batch[i].ID, err)
			}
			n, err := writeEnvelope(s, att, envelopeName(chunk, batch[i].ID), &batch[i], body)
			if err != nil {
				return err
			}
			st.Attachments += n
		}
		total += len(batch)
		batch = batch[:0]
		return nil
	}
	for _, p := range ps {
		for from := uint32(0); ; {
			evs, next, err := db.EventsFrom(p.ID, from, ChunkSize-len(batch))
			if err != nil {
				return total, err
			}
			batch = append(batch, evs...)
			if len(batch) >= ChunkSize {
				if err := flush(); err != nil {
					return total, err
				}
			}
			if next == 0 {
				break
			}
			from = next
		}
	}
	return total, flush()
}

// openAttachments returns the attachments of db's events (store/attach
// in <data>/attachments); nil when there are none.
func openAttachments(db *store.DB) (*attach.Store, error) {
	dir := filepath.Join(db.Dir(), "attachments")
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return attach.Open(dir)
}

// writeEnvelope writes the envelope of ev (body is its stored JSON) with
// its attachments, streamed from their files, and returns how many it
// holds.
func writeEnvelope(s sink, att *attach.Store, name string, ev *store.Event, body []byte) (int, error) {
	env := Envelope(ev.ID, body)
	if att == nil {
		return 0, s.file(name, env)
	}
	items, err := att.List(ev.ProjectID, ev.ID)
	if err != nil {
		return 0, fmt.Errorf("attachments of event %s: %w", ev.ID, err)
	}
	if len(items) == 0 {
		return 0, s.file(name, env)
	}
	parts := []io.Reader{bytes.NewReader(env)}
	size := int64(len(env))
	for _, it := range items {
		f, _, err := att.Open(ev.ProjectID, ev.ID, it.N)
		if err != nil {
			return 0, fmt.Errorf("attachment %s of event %s: %w", it.Name, ev.ID, err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return 0, err
		}
		h := forward.AppendAttachmentHeader(nil, forward.AttachmentHeader{Filename: it.Name, ContentType: it.ContentType, Type: it.Type}, fi.Size())
		parts = append(parts, bytes.NewReader(h), io.LimitReader(f, fi.Size()), bytes.NewReader([]byte{'\n'}))
		size += int64(len(h)) + fi.Size() + 1
	}
	return len(items), s.stream(name, size, io.MultiReader(parts...))
}

// exportIssues writes every issue with its state, groupings and history.
func exportIssues(db *store.DB, s sink, ps []store.Project) (n int, err error) {
	err = writeLines(s, "issues.ndjson", func(emit func(v any) error) error {
		for _, p := range ps {
			for after := 0; ; {
				page, err := db.IssuesAfter(p.ID, after, 250)
				if err != nil {
					return err
				}
				if len(page) == 0 {
					break
				}
				for i := range page {
					iss := &page[i]
					after = iss.DigestOrder
					gs, err := db.Groupings(iss)
					if err != nil {
						return err
					}
					hist, err := db.History(iss.ID)
					if err != nil {
						return err
					}
					line := Issue{Project: p.Slug, Ref: store.FriendlyID(&p, iss), Title: iss.Title(), ExportedIssue: iss.Exported(), History: hist}
					for _, g := range gs {
						line.Groupings = append(line.Groupings, Grouping{Hash: event.GroupingHash(g.Key), Key: g.Key, Mechanism: g.Mechanism})
					}
					if err := emit(line); err != nil {
						return err
					}
					n++
				}
			}
		}
		return nil
	})
	return n, err
}
