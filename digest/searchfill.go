package digest

import (
	"context"
	"errors"
	"log/slog"

	"github.com/tinysink/tinysink/digest/event"
	"github.com/tinysink/tinysink/store"
)

// fillEvents is how many of an issue's newest events the fill reads: the
// events of an issue share their stack (it made their grouping key), and
// their tags are what the issue's later events carry too.
const fillEvents = 4

// fillBatchDone, when set (by tests), is called after each batch.
var fillBatchDone func()

// FillSearch indexes the issues stored before the search index existed
// (store.UnindexedIssues: no terms, or no ifact: facts), batch issues at a
// time, and returns when every issue is indexed or ctx is done. Each
// batch reads the issues' newest events outside the digest's lock, then
// indexes them in one Digest batch that also records how far the fill got
// (store.SearchFill), so ingest waits at most one small batch and a
// restart goes on where the fill stopped. Memory holds one batch's fields.
// Progress goes to log (every 10,000 issues) and is kept in the store
// (store.SearchFillProgress).
func FillSearch(ctx context.Context, db *store.DB, log *slog.Logger, batch int) error {
	f, err := db.SearchFillProgress()
	if err != nil || f.Done {
		return err
	}
	if batch <= 0 {
		batch = 100
	}
	log.Info("indexing the issues stored before the search index, in the background", "from_issue", f.After)
	n := event.NewNormalizer()
	filled := 0
	type fields struct {
		id    uint32
		tags  [][2]string
		texts []string
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		issues, last, done, err := db.UnindexedIssues(f.After, batch)
		if err != nil {
			return err
		}
		work := make([]fields, 0, len(issues))
		for i := range issues {
			u := &issues[i]
			w := fields{id: u.ID}
			if u.NeedTerms {
				page, err := db.Events(&u.Issue, false, 0, fillEvents)
				if err != nil {
					log.Warn("search fill: cannot read the issue's events", "issue", u.ID, "err", err)
				}
				for j := range page.Events {
					body, err := db.EventBody(&page.Events[j])
					if err != nil {
						continue // removed since, or unreadable: the others may do
					}
					ev, err := n.Reindex(body, event.Meta{EventID: page.Events[j].ID, IngestedAt: page.Events[j].IngestedAt})
					if err != nil {
						continue
					}
					ev.SearchFields(true, func(k, v string) { w.tags = append(w.tags, [2]string{k, v}) },
						func(s string) { w.texts = append(w.texts, s) })
				}
			}
			work = append(work, w)
		}
		err = db.Digest(func(tx *store.Tx) error {
			for _, w := range work {
				// Read again under the lock: storing it back writes its
				// facts, and the index keeps what events added meanwhile.
				iss, err := tx.Issue(w.id)
				if errors.Is(err, store.ErrNotFound) {
					continue // deleted since
				} else if err != nil {
					return err
				}
				for _, kv := range w.tags {
					if err := tx.IndexTag(iss, kv[0], kv[1]); err != nil {
						return err
					}
				}
				for _, s := range w.texts {
					if err := tx.IndexText(iss, s); err != nil {
						return err
					}
				}
			}
			return tx.SetSearchFill(store.SearchFill{After: last, Done: done})
		})
		if err != nil {
			return err
		}
		filled += len(work)
		f.After = last
		if fillBatchDone != nil {
			fillBatchDone()
		}
		if done {
			log.Info("search index filled", "issues", filled)
			return nil
		}
		if filled/10000 != (filled-len(work))/10000 {
			log.Info("search fill progress", "issues", filled, "up_to_issue", last)
		}
	}
}
