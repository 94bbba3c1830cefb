package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// dumpStore renders everything a user can read from the store through its
// public API, for comparing a directory before and after a migration. It
// must stay the same code in the generator of testdata/format1.tar.zst
// (see TestGenerateFormat1) and in the migration test. now is the frozen
// clock: hourly counts are read for its day and the day before, daily
// counts for the 120 days before it.
func dumpStore(t *testing.T, db *DB, now time.Time) string {
	t.Helper()
	out := map[string]any{}
	ps, err := db.Projects()
	if err != nil {
		t.Fatal(err)
	}
	day := now.UTC().Truncate(24 * time.Hour)
	counts := func(subject string) map[string]any {
		h, err := db.Hourly(subject, day.Add(-24*time.Hour), day.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		d, err := db.Daily(subject, day.AddDate(0, 0, -120), day.AddDate(0, 0, 1))
		if err != nil {
			t.Fatal(err)
		}
		return map[string]any{"hourly": h, "daily": d}
	}
	out["install"] = counts(InstallSubject)
	for _, p := range ps {
		po := map[string]any{"project": p, "counts": counts(ProjectSubject(p.ID))}
		issues, _, err := db.Issues(IssueFilter{Project: p.ID, Limit: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		var il []any
		for _, iss := range issues {
			hist, _ := db.History(iss.ID)
			tags, _ := db.IssueTags(iss.ID)
			groups, _ := db.Groupings(&iss)
			var evs []string
			for cur := uint32(0); ; {
				pg, err := db.Events(&iss, true, cur, 100)
				if err != nil {
					t.Fatal(err)
				}
				for _, ev := range pg.Events {
					body, err := db.EventBody(&ev)
					if err != nil {
						t.Fatal(err)
					}
					sum := sha256.Sum256(body)
					evs = append(evs, fmt.Sprintf("%+v %s", ev, hex.EncodeToString(sum[:8])))
				}
				if pg.Next == 0 {
					break
				}
				cur = pg.Next
			}
			il = append(il, map[string]any{
				"issue": iss, "history": hist, "tags": tags, "groupings": groups, "events": evs,
				"counts": counts(IssueSubject(iss.ID)),
			})
		}
		po["issues"] = il
		rels, _ := db.Releases(p.ID)
		var rl []any
		for _, r := range rels {
			ds, _ := db.Deploys(p.ID, r.Version)
			rl = append(rl, map[string]any{"release": r, "deploys": ds})
		}
		po["releases"] = rl
		out[fmt.Sprint("project-", p.ID)] = po
	}
	ob, err := db.Outbox()
	if err != nil {
		t.Fatal(err)
	}
	out["outbox"] = ob
	out["spool_pos"], _ = db.SpoolPos()
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
