package digest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store"
)

// sendRaw digests one event built from the JSON members in body and
// returns its issue.
func (r *rig) sendRaw(pid int, body string) *store.Issue {
	r.t.Helper()
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	ev := fmt.Sprintf(`{"event_id":"%s","platform":"node",%s}`, id, body)
	_, iss := r.sendBody(pid, id, []byte(ev))
	return iss
}

// message is what @sentry/node 11 sends for captureMessage(text) called
// in fn; oldShape is a synthetic exception of fn without a message, keyed
// by fn alone before and after the message rule.
func message(text, fn string) string {
	return fmt.Sprintf(`"message":%q,"exception":{"values":[{"value":%q,"stacktrace":{"frames":[{"function":%q,"in_app":true}]},`+
		`"mechanism":{"type":"generic","handled":true,"synthetic":true}}]}`, text, text, fn)
}

func oldShape(fn string) string {
	return fmt.Sprintf(`"exception":{"values":[{"type":"Error","stacktrace":{"frames":[{"function":%q,"in_app":true}]},`+
		`"mechanism":{"type":"generic","synthetic":true}}]}`, fn)
}

// setRules makes project pid look like one whose issues were made by the
// grouping rules of version rules, upgraded at upgraded.
func (r *rig) setRules(pid, rules int, upgraded time.Time) {
	r.t.Helper()
	err := r.db.Digest(func(tx *store.Tx) error {
		p, err := tx.Project(pid)
		if err != nil {
			return err
		}
		p.GroupingRules, p.GroupingUpgradedAt = rules, upgraded
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
}

// An issue made before the message rule (keyed by the function alone)
// goes on with the first message from that function after the upgrade,
// with a history entry; other messages from the function become issues of
// their own; the window closes after 30 days; a project made after the
// rule has no window.
func TestGroupingTransition(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	old := r.sendRaw(r.pid, oldShape("checkDisk"))
	if old.Title() != "checkDisk" {
		t.Fatalf("old-shape title %q", old.Title())
	}
	oldCleanup := r.sendRaw(r.pid, oldShape("cleanup"))
	r.setRules(r.pid, 0, time.Time{}) // a project from before the rule

	a := r.sendRaw(r.pid, message("Disk usage above 90% on /var", "checkDisk"))
	if a.ID != old.ID {
		t.Fatalf("first message after the upgrade made issue %d, want the old issue %d", a.ID, old.ID)
	}
	if a.Title() != "Disk usage above 90% on /var" || a.Level != "error" {
		t.Errorf("carried-over issue title %q level %q", a.Title(), a.Level)
	}
	h, _ := r.db.History(old.ID)
	i := slices.IndexFunc(h, func(e store.HistoryEntry) bool { return e.Kind == store.HistoryGroupingChanged })
	if i < 0 || !strings.Contains(h[i].Comment, `"checkDisk"`) || !strings.Contains(h[i].Comment, "in checkDisk") {
		t.Errorf("history %+v lacks the grouping change", h)
	}
	gs, _ := r.db.Groupings(old)
	if len(gs) != 2 {
		t.Fatalf("groupings %+v, want the old and the new key", gs)
	}
	for _, g := range gs {
		if g.Key == "checkDisk" && g.SucceededBy == "" {
			t.Errorf("old grouping %+v not marked as succeeded", g)
		}
	}

	b := r.sendRaw(r.pid, message("Disk usage above 95% on /home", "checkDisk"))
	if b.ID == old.ID {
		t.Errorf("a second message from checkDisk joined the old issue")
	}
	if again := r.sendRaw(r.pid, message("Disk usage above 91% on /var", "checkDisk")); again.ID != old.ID {
		t.Errorf("the first message again made issue %d, want %d", again.ID, old.ID)
	}
	if o := r.sendRaw(r.pid, oldShape("checkDisk")); o.ID != old.ID {
		t.Errorf("an old-shape event made issue %d, want %d", o.ID, old.ID)
	}
	if h := r.historyKinds(old); strings.Count(strings.Join(h, " "), store.HistoryGroupingChanged) != 1 {
		t.Errorf("history %v: the grouping change recorded twice", h)
	}

	// 31 days on, the window is closed.
	p, _ := r.db.Project(r.pid)
	if p.GroupingRules != store.CurrentGroupingRules || !p.GroupingUpgradedAt.Equal(r.now) {
		t.Errorf("project rules %d upgraded %v", p.GroupingRules, p.GroupingUpgradedAt)
	}
	r.now = r.now.Add(31 * 24 * time.Hour)
	if c := r.sendRaw(r.pid, message("tmp cleaned", "cleanup")); c.ID == oldCleanup.ID {
		t.Errorf("after the window a message joined the old issue")
	}

	// A project made under the current rules has no window.
	np, err := r.db.CreateProject("new")
	if err != nil {
		t.Fatal(err)
	}
	syncOld := r.sendRaw(np.ID, oldShape("sync"))
	if s := r.sendRaw(np.ID, message("synced", "sync")); s.ID == syncOld.ID {
		t.Errorf("a new project carried a message over into an old-shape issue")
	}
}

// A plain log message whose text is a function's name is not an issue of
// the old synthetic shape: no message is carried over into it.
func TestGroupingTransitionOnlyOldShape(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	plain := r.sendRaw(r.pid, `"message":"checkDisk"`)
	r.setRules(r.pid, 0, time.Time{})
	if m := r.sendRaw(r.pid, message("disk full", "checkDisk")); m.ID == plain.ID {
		t.Errorf("a message joined the log-message issue %q", plain.Title())
	}
}

// Two messages from one function in one batch: the first continues the
// old issue, the second (which reads the old grouping as the batch left
// it) does not.
func TestGroupingTransitionInOneBatch(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	old := r.sendRaw(r.pid, oldShape("checkDisk"))
	r.setRules(r.pid, 0, time.Time{})
	var ids []string
	for _, text := range []string{"disk almost full", "disk check failed"} {
		var b [16]byte
		rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		ids = append(ids, id)
		ev := fmt.Sprintf(`{"event_id":"%s","platform":"node",%s}`, id, message(text, "checkDisk"))
		if err := r.sp.Append(&spool.Record{Project: r.pid, EventID: id, IngestedAt: r.now, Payload: []byte(ev)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.w.Drain(); err != nil {
		t.Fatal(err)
	}
	var issues []uint32
	for _, id := range ids {
		e, _, err := r.db.Event(mustID(r.t, id))
		if err != nil {
			t.Fatal(err)
		}
		issues = append(issues, e.IssueID)
	}
	if issues[0] != old.ID || issues[1] == old.ID {
		t.Errorf("issues %v, want the old issue %d then a new one", issues, old.ID)
	}
}
