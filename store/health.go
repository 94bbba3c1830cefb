package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/buntdb"
	"github.com/tinysink/tinysink/internal/xsort"
)

// Release health, client reports and dropped items: per-project daily
// summaries of the envelope items that are not events. They live in the
// tree, one key per project, day and subject, the day first so that
// RollUp deletes old days with a range scan:
//
//	rh:<yyyymmdd>:<pid 6>:<release>\x00<environment>   "sessions,crashed,errored,abnormal,<users>,<crashed users>"
//	rhn:<yyyymmdd>:<pid 6>                              release/environment pairs that day
//	crep:<yyyymmdd>:<pid 6>:<reason>:<category>         events the SDKs dropped (client reports)
//	crepn:<yyyymmdd>:<pid 6>                            reason/category pairs that day
//	ditem:<yyyymmdd>:<pid 6>:<item type>                envelope items dropped by ingest
//	ditemn:<yyyymmdd>:<pid 6>                           item types that day
//
// Users, and the ids of sessions that crashed, errored or ended abnormally,
// are HyperLogLog sketches (hll.go, 256 bytes each, base64). The
// *n keys cap the subjects of a project and day: past the cap, new
// subjects are counted under OtherSubject. So a project costs at most
// healthKeep days × (maxReleaseEnvs + maxReportKeys + maxItemTypes) keys.

const (
	// healthKeep is how many days the summaries are kept.
	healthKeep = SummaryKeepDays
	// Caps on the subjects of one project and day.
	maxReleaseEnvs = 100
	maxReportKeys  = 50
	maxItemTypes   = 50
	// OtherSubject is where subjects past a cap are counted.
	OtherSubject = "<other>"
)

func rhKey(day string, pid int, release, env string) string {
	return fmt.Sprintf("rh:%s:%06d:%s\x00%s", day, pid, release, env)
}

func dayPidPrefix(family, day string, pid int) string {
	return fmt.Sprintf("%s:%s:%06d:", family, day, pid)
}

func dayPidCountKey(family, day string, pid int) string {
	return fmt.Sprintf("%sn:%s:%06d", family, day, pid)
}

// SessionUpdate is what one session item, or one bucket of a session
// aggregate, adds to its release's health.
type SessionUpdate struct {
	Release, Environment string
	At                   time.Time // the day it counts in
	Sessions             int64     // sessions started
	// Sessions that ended so, counted exactly (aggregates, which have no
	// session ids).
	Crashed, Errored, Abnormal int64
	// SID, when set, is the session's id, and the flags say how the
	// update found it. An SDK may send a session's end more than once
	// (@sentry/node sends "crashed" as it happens and again when the
	// session ends), so these count distinct ids, approximately.
	SID                                 string
	SIDCrashed, SIDErrored, SIDAbnormal bool
	User                                string // distinct id ("did"); "" if none
	UserCrashed                         bool   // the user had a crashed session
}

// ReleaseHealth is the health of one release (in one environment, or all
// of them) over some days.
type ReleaseHealth struct {
	Release, Environment string
	Sessions             int64
	Crashed              int64 // exact (aggregates) plus approximate (distinct session ids)
	Errored              int64
	Abnormal             int64
	Users                int64 // approximate distinct users
	CrashedUsers         int64 // approximate distinct users with a crashed session

	// The sketches behind the approximate counts: users, users with a
	// crashed session, and session ids that crashed, errored or ended
	// abnormally.
	users, crashedUsers, crashedSIDs, erroredSIDs, abnormalSIDs hll
}

// CrashFreeSessions is the percentage of sessions that did not crash;
// ok is false without sessions.
func (h *ReleaseHealth) CrashFreeSessions() (pct float64, ok bool) {
	if h.Sessions <= 0 {
		return 0, false
	}
	return 100 * float64(max(h.Sessions-h.Crashed, 0)) / float64(h.Sessions), true
}

// CrashFreeUsers is the percentage of users who had no crashed session;
// ok is false without users.
func (h *ReleaseHealth) CrashFreeUsers() (pct float64, ok bool) {
	if h.Users <= 0 {
		return 0, false
	}
	return 100 * float64(max(h.Users-h.CrashedUsers, 0)) / float64(h.Users), true
}

// healthFields is the number of comma-separated fields of an rh: value.
const healthFields = 9

func (h *ReleaseHealth) encode() string {
	return strconv.FormatInt(h.Sessions, 10) + "," + strconv.FormatInt(h.Crashed, 10) + "," +
		strconv.FormatInt(h.Errored, 10) + "," + strconv.FormatInt(h.Abnormal, 10) + "," +
		h.users.encode() + "," + h.crashedUsers.encode() + "," +
		h.crashedSIDs.encode() + "," + h.erroredSIDs.encode() + "," + h.abnormalSIDs.encode()
}

func decodeHealth(s string) ReleaseHealth {
	var h ReleaseHealth
	f := strings.SplitN(s, ",", healthFields)
	for len(f) < healthFields {
		f = append(f, "")
	}
	h.Sessions, _ = strconv.ParseInt(f[0], 10, 64)
	h.Crashed, _ = strconv.ParseInt(f[1], 10, 64)
	h.Errored, _ = strconv.ParseInt(f[2], 10, 64)
	h.Abnormal, _ = strconv.ParseInt(f[3], 10, 64)
	h.users, h.crashedUsers = decodeHLL(f[4]), decodeHLL(f[5])
	h.crashedSIDs, h.erroredSIDs, h.abnormalSIDs = decodeHLL(f[6]), decodeHLL(f[7]), decodeHLL(f[8])
	return h
}

func (h *ReleaseHealth) add(o *ReleaseHealth) {
	h.Sessions += o.Sessions
	h.Crashed += o.Crashed
	h.Errored += o.Errored
	h.Abnormal += o.Abnormal
	h.users.merge(&o.users)
	h.crashedUsers.merge(&o.crashedUsers)
	h.crashedSIDs.merge(&o.crashedSIDs)
	h.erroredSIDs.merge(&o.erroredSIDs)
	h.abnormalSIDs.merge(&o.abnormalSIDs)
}

// finish turns the sketches into counts.
func (h *ReleaseHealth) finish() {
	h.Users, h.CrashedUsers = h.users.count(), h.crashedUsers.count()
	h.Crashed += h.crashedSIDs.count()
	h.Errored += h.erroredSIDs.count()
	h.Abnormal += h.abnormalSIDs.count()
}

// capped reports whether key exists or the project's day has room for
// another subject (then counting it in countKey).
func capped(tx *kvTx, key, countKey string, limit int) (bool, error) {
	if _, err := tx.Get(key); err == nil {
		return true, nil
	} else if !errors.Is(err, buntdb.ErrNotFound) {
		return false, err
	}
	s, err := tx.Get(countKey)
	if err != nil && !errors.Is(err, buntdb.ErrNotFound) {
		return false, err
	}
	n, _ := strconv.Atoi(s)
	if n >= limit {
		return false, nil
	}
	_, _, err = tx.Set(countKey, strconv.Itoa(n+1), nil)
	return true, err
}

// AddSession adds u to its release's health for the project.
func (t *Tx) AddSession(project int, u SessionUpdate) error {
	day := dayString(u.At)
	k := rhKey(day, project, u.Release, u.Environment)
	ok, err := capped(t.kv, k, dayPidCountKey("rh", day, project), maxReleaseEnvs)
	if err != nil {
		return err
	}
	if !ok {
		k = rhKey(day, project, OtherSubject, OtherSubject)
	}
	s, err := t.kv.Get(k)
	if err != nil && !errors.Is(err, buntdb.ErrNotFound) {
		return err
	}
	h := decodeHealth(s)
	h.Sessions += u.Sessions
	h.Crashed += u.Crashed
	h.Errored += u.Errored
	h.Abnormal += u.Abnormal
	if u.SID != "" {
		if u.SIDCrashed {
			h.crashedSIDs.add(u.SID)
		}
		if u.SIDErrored {
			h.erroredSIDs.add(u.SID)
		}
		if u.SIDAbnormal {
			h.abnormalSIDs.add(u.SID)
		}
	}
	if u.User != "" {
		h.users.add(u.User)
		if u.UserCrashed {
			h.crashedUsers.add(u.User)
		}
	}
	_, _, err = t.kv.Set(k, h.encode(), nil)
	return err
}

// addDayCount adds n to a capped per-project daily count of family.
func (t *Tx) addDayCount(family string, limit int, project int, at time.Time, subject string, n int64) error {
	day := dayString(at)
	k := dayPidPrefix(family, day, project) + subject
	ok, err := capped(t.kv, k, dayPidCountKey(family, day, project), limit)
	if err != nil {
		return err
	}
	if !ok {
		k = dayPidPrefix(family, day, project) + OtherSubject
	}
	s, err := t.kv.Get(k)
	if err != nil && !errors.Is(err, buntdb.ErrNotFound) {
		return err
	}
	c, _ := strconv.ParseInt(s, 10, 64)
	_, _, err = t.kv.Set(k, strconv.FormatInt(c+n, 10), nil)
	return err
}

// AddClientReport counts n events an SDK dropped for reason in category.
func (t *Tx) AddClientReport(project int, at time.Time, reason, category string, n int64) error {
	return t.addDayCount("crep", maxReportKeys, project, at, reason+":"+category, n)
}

// AddDroppedItems counts n envelope items of type typ that ingest dropped.
func (t *Tx) AddDroppedItems(project int, at time.Time, typ string, n int64) error {
	return t.addDayCount("ditem", maxItemTypes, project, at, typ, n)
}

// days returns the day strings of the days days ending today, oldest first.
func (db *DB) days(days int) []string {
	today := db.Now().UTC().Truncate(24 * time.Hour)
	out := make([]string, 0, days)
	for i := days - 1; i >= 0; i-- {
		out = append(out, dayString(today.AddDate(0, 0, -i)))
	}
	return out
}

// ReleaseHealths returns the health of the project's releases over the
// last days days (today included): one entry per release and environment
// when byEnv, else per release, sorted by release.
func (db *DB) ReleaseHealths(project int, days int, byEnv bool) ([]ReleaseHealth, error) {
	acc := map[string]*ReleaseHealth{}
	err := db.view(func(tx *kvTx) error {
		for _, day := range db.days(days) {
			prefix := dayPidPrefix("rh", day, project)
			tx.ascend(prefix, func(k, v string) bool {
				rel, env, _ := strings.Cut(k[len(prefix):], "\x00")
				id := rel
				if byEnv {
					id += "\x00" + env
				}
				h := decodeHealth(v)
				a := acc[id]
				if a == nil {
					a = &ReleaseHealth{Release: rel}
					if byEnv {
						a.Environment = env
					}
					acc[id] = a
				}
				a.add(&h)
				return true
			})
			if err := tx.t.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	out := make([]ReleaseHealth, 0, len(acc))
	for _, h := range acc {
		h.finish()
		out = append(out, *h)
	}
	xsort.SortFunc(out, func(a, b ReleaseHealth) int {
		return strings.Compare(a.Release+"\x00"+a.Environment, b.Release+"\x00"+b.Environment)
	})
	return out, err
}

// dayCounts sums a family's per-project daily counts over the last days
// days, by subject.
func (db *DB) dayCounts(family string, project int, days int) (map[string]int64, error) {
	out := map[string]int64{}
	err := db.view(func(tx *kvTx) error {
		for _, day := range db.days(days) {
			prefix := dayPidPrefix(family, day, project)
			tx.ascend(prefix, func(k, v string) bool {
				n, _ := strconv.ParseInt(v, 10, 64)
				out[k[len(prefix):]] += n
				return true
			})
			if err := tx.t.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// ClientReports returns the events the project's SDKs reported dropped
// over the last days days, by "<reason>:<category>".
func (db *DB) ClientReports(project int, days int) (map[string]int64, error) {
	return db.dayCounts("crep", project, days)
}

// DroppedItems returns the envelope items of the project that ingest
// dropped over the last days days, by item type.
func (db *DB) DroppedItems(project int, days int) (map[string]int64, error) {
	return db.dayCounts("ditem", project, days)
}

// healthFamilies are the prefixes RollUp deletes past healthKeep days.
var healthFamilies = []string{"rh:", "rhn:", "crep:", "crepn:", "ditem:", "ditemn:"}
