package ui

import (
	"math"

	"github.com/tinysink/tinysink/store"
)

// Release health, client reports and dropped items in the API and the UI
// (store/health.go keeps them).

const (
	// healthDays is the window of the release health shown: the last two
	// weeks, today included (Sentry's default too).
	healthDays = 14
	// reportDays is the window of client reports and dropped items shown.
	reportDays = 7
)

// releaseHealth is one release's health over healthDays, as the API and
// the pages show it. Percentages are nil without sessions (or users).
type releaseHealth struct {
	Sessions          int64    `json:"sessions"`
	Crashed           int64    `json:"sessions_crashed"`
	Errored           int64    `json:"sessions_errored"`
	Abnormal          int64    `json:"sessions_abnormal"`
	Users             int64    `json:"users"`
	CrashFreeSessions *float64 `json:"crash_free_sessions"`
	CrashFreeUsers    *float64 `json:"crash_free_users"`
	Adoption          *float64 `json:"adoption"` // share of the project's sessions
}

func healthOf(h *store.ReleaseHealth, total int64) releaseHealth {
	out := releaseHealth{Sessions: h.Sessions, Crashed: h.Crashed, Errored: h.Errored, Abnormal: h.Abnormal, Users: h.Users}
	if p, ok := h.CrashFreeSessions(); ok {
		out.CrashFreeSessions = pct(p)
	}
	if p, ok := h.CrashFreeUsers(); ok {
		out.CrashFreeUsers = pct(p)
	}
	if total > 0 && h.Sessions > 0 {
		out.Adoption = pct(100 * float64(h.Sessions) / float64(total))
	}
	return out
}

// pct rounds p to three decimals.
func pct(p float64) *float64 {
	r := math.Round(p*1000) / 1000
	return &r
}

// releaseHealths returns the health of the project's releases by version,
// summed over environments.
func releaseHealths(db *store.DB, project int) (map[string]releaseHealth, error) {
	hs, err := db.ReleaseHealths(project, healthDays, false)
	if err != nil {
		return nil, err
	}
	var total int64
	for i := range hs {
		total += hs[i].Sessions
	}
	out := make(map[string]releaseHealth, len(hs))
	for i := range hs {
		out[hs[i].Release] = healthOf(&hs[i], total)
	}
	return out, nil
}
