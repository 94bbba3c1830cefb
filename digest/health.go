package digest

import (
	"strings"

	"github.com/valyala/fastjson"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/store"
)

// Envelope items other than events that ingest spooled with their type:
// sessions and session aggregates (release health), client reports (what
// the SDKs dropped) and the counts of items ingest dropped. Each adds to a
// per-project daily summary in the store (store/health.go) in the batch's
// transaction, so a replayed spool counts nothing twice.

// droppedItemsType is ingest.DroppedItemsType.
const droppedItemsType = "dropped_items"

// healthUsed marks the summaries' code loaded in the budget registry.
var healthUsed = budget.FirstUse("item-summaries")

// The dispatch (digestTyped, items.go) calls the functions below, one per
// item type.

// Bounds on the names a summary is kept under.
const (
	maxReleaseLen = 200 // as for an event's release
	maxEnvLen     = 64
	maxNameLen    = 40 // client report reasons and categories
)

// sessionAttrs returns a session's release and environment from its attrs;
// ok is false without a release (Sentry ignores such sessions too).
func sessionAttrs(v *fastjson.Value) (release, env string, ok bool) {
	attrs := v.Get("attrs")
	release = strings.TrimSpace(string(attrs.GetStringBytes("release")))
	if release == "" || len(release) > maxReleaseLen || strings.ContainsAny(release, "\x00\n") {
		return "", "", false
	}
	env = strings.TrimSpace(string(attrs.GetStringBytes("environment")))
	if env == "" {
		env = "production"
	}
	if len(env) > maxEnvLen || strings.ContainsRune(env, 0) {
		env = store.OtherSubject
	}
	return release, env, true
}

// digestSession counts one session update. The update that starts a
// session (init) counts it; an update that says it crashed, ended
// abnormally or errored (status, or errors > 0) counts its id among those,
// so that an SDK repeating the end does not count twice. Users are counted
// by distinct id.
func digestSession(tx *store.Tx, it *item, v *fastjson.Value) error {
	healthUsed()
	release, env, ok := sessionAttrs(v)
	if !ok {
		it.dropped = "no_release"
		return nil
	}
	sid := string(v.GetStringBytes("sid"))
	if len(sid) > 100 {
		sid = sid[:100]
	}
	u := store.SessionUpdate{Release: release, Environment: env, At: it.ingestedAt, User: did(v), SID: sid}
	if v.GetBool("init") {
		u.Sessions = 1
	}
	var crashed, errored, abnormal bool
	switch string(v.GetStringBytes("status")) {
	case "crashed":
		crashed = true
	case "abnormal":
		abnormal = true
	case "errored":
		errored = true
	default:
		errored = v.GetInt("errors") > 0
	}
	u.UserCrashed = crashed
	if sid != "" {
		u.SIDCrashed, u.SIDErrored, u.SIDAbnormal = crashed, errored, abnormal
	} else { // no id to tell repeats by: count each update
		u.Crashed, u.Errored, u.Abnormal = b2i(crashed), b2i(errored), b2i(abnormal)
	}
	if err := ensureSessionRelease(tx, it, release); err != nil {
		return err
	}
	return tx.AddSession(it.project, u)
}

// digestSessionAggregates counts a "sessions" item: buckets of sessions
// (server-mode SDKs) by how they ended.
func digestSessionAggregates(tx *store.Tx, it *item, v *fastjson.Value) error {
	healthUsed()
	release, env, ok := sessionAttrs(v)
	if !ok {
		it.dropped = "no_release"
		return nil
	}
	if err := ensureSessionRelease(tx, it, release); err != nil {
		return err
	}
	for _, b := range v.GetArray("aggregates") {
		n := func(k string) int64 { return max(int64(b.GetInt(k)), 0) }
		u := store.SessionUpdate{
			Release: release, Environment: env, At: it.ingestedAt, User: did(b),
			Crashed: n("crashed"), Errored: n("errored"), Abnormal: n("abnormal"),
		}
		u.Sessions = n("exited") + u.Crashed + u.Errored + u.Abnormal
		u.UserCrashed = u.Crashed > 0
		if u.Sessions == 0 {
			continue
		}
		if err := tx.AddSession(it.project, u); err != nil {
			return err
		}
	}
	return nil
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// did returns a session's distinct id: the user it counts as.
func did(v *fastjson.Value) string {
	d := v.GetStringBytes("did")
	if len(d) > 200 {
		d = d[:200]
	}
	return string(d)
}

// ensureSessionRelease makes the release a session names known to the
// project, as an event in it would.
func ensureSessionRelease(tx *store.Tx, it *item, release string) error {
	_, err := tx.EnsureRelease(it.project, release, it.ingestedAt, ReleaseEpoch)
	return err
}

// digestClientReport counts what an SDK reports it dropped, by reason and
// data category.
func digestClientReport(tx *store.Tx, it *item, v *fastjson.Value) error {
	healthUsed()
	for _, d := range v.GetArray("discarded_events") {
		reason, category := reportName(d.GetStringBytes("reason")), reportName(d.GetStringBytes("category"))
		n := d.GetInt64("quantity")
		if n <= 0 {
			continue
		}
		if err := tx.AddClientReport(it.project, it.ingestedAt, reason, category, n); err != nil {
			return err
		}
	}
	return nil
}

// reportName returns a client report's reason or category as a name of
// [a-z0-9_.-], or "unknown".
func reportName(b []byte) string {
	if len(b) == 0 || len(b) > maxNameLen {
		return "unknown"
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return "unknown"
		}
	}
	return string(b)
}

// digestDroppedItems counts the items ingest dropped from one envelope.
func digestDroppedItems(tx *store.Tx, it *item, v *fastjson.Value) error {
	healthUsed()
	o, err := v.Object()
	if err != nil {
		return nil
	}
	var ferr error
	o.Visit(func(k []byte, n *fastjson.Value) {
		if ferr == nil && n.GetInt64() > 0 {
			ferr = tx.AddDroppedItems(it.project, it.ingestedAt, reportName(k), n.GetInt64())
		}
	})
	return ferr
}
