// Package ui serves the web UI and the JSON API ("canonical API",
// /api/canonical/0/), both read from the store.
package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tinysink/tinysink/digest/sourcemap"
	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/store/search"
)

// API serves /api/canonical/0/.
type API struct {
	db      *store.DB
	baseURL string
	log     *slog.Logger
	// ReleaseEpoch places new releases among a project's releases (digest
	// knows the ordering rules); nil orders them by date only.
	ReleaseEpoch store.EpochFunc
	// SendTest sends a backend's test message now (the alert sender's);
	// nil refuses the test route.
	SendTest func(ctx context.Context, backend uint32) (*store.Failure, error)
	// Poke tells the alert sender that deliveries may be due; may be nil.
	Poke func()
	// Budget serves GET /debug/budget and Backup POST store.BackupPath
	// (main's); nil answers 404.
	Budget, Backup http.Handler
	// Version is tinysink's, for the MCP server's serverInfo.
	Version string
	// Forwarding, when set, is forwarding's status for GET /forward/ and
	// is told when a project's forward DSN changes.
	Forwarding *Forwarding

	native *Native // attachments, symbols, reprocessing; nil: not served
	// maps applies uploaded source maps to events shown (SetSourceMaps).
	maps *sourcemap.Mapper
}

// SetSourceMaps makes the API map events through m (shared with the UI, so
// one cache serves both) instead of a mapper of its own.
func (a *API) SetSourceMaps(m *sourcemap.Mapper) { a.maps = m }

// NewAPI returns the JSON API over db. baseURL (for example
// "http://127.0.0.1:8000") builds DSNs and pagination links.
func NewAPI(db *store.DB, baseURL string, log *slog.Logger) *API {
	if log == nil {
		log = slog.Default()
	}
	return &API{db: db, baseURL: strings.TrimRight(baseURL, "/"), log: log, maps: sourcemap.NewMapper(db)}
}

// page is a cursor-paginated list.
type page struct {
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  any     `json:"results"`
}

// appendJSON appends p's JSON to buf as json.Marshal(p) would write it,
// with the results encoded one at a time (see marshalReply).
func (p *page) appendJSON(buf *bytes.Buffer, enc *json.Encoder) error {
	for _, f := range []struct {
		key string
		v   any
	}{{`{"next":`, p.Next}, {`,"previous":`, p.Previous}, {`,"results":`, p.Results}} {
		buf.WriteString(f.key)
		if err := appendJSON(buf, enc, f.v); err != nil {
			return err
		}
	}
	buf.WriteByte('}')
	return nil
}

// pageURL returns the request's URL with the cursor parameter set.
func (a *API) pageURL(r *http.Request, cursor string) *string {
	if cursor == "" {
		return nil
	}
	q := r.URL.Query()
	q.Set("cursor", cursor)
	s := a.baseURL + r.URL.Path + "?" + q.Encode()
	return &s
}

// DSN returns the DSN of project p for an installation at baseURL.
func DSN(baseURL string, p *store.Project) string {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" {
		return ""
	}
	return fmt.Sprintf("%s://%s@%s%s/%d", u.Scheme, p.Key, u.Host, strings.TrimRight(u.Path, "/"), p.ID)
}

type apiProject struct {
	ID                 int     `json:"id"`
	Team               *string `json:"team"`
	Name               string  `json:"name"`
	Slug               string  `json:"slug"`
	DSN                string  `json:"dsn"`
	DigestedEventCount int64   `json:"digested_event_count"`
	StoredEventCount   int64   `json:"stored_event_count"`
	AlertOnNewIssue    bool    `json:"alert_on_new_issue"`
	AlertOnRegression  bool    `json:"alert_on_regression"`
	AlertOnUnmute      bool    `json:"alert_on_unmute"`
	Visibility         string  `json:"visibility"`
	RetentionMax       int     `json:"retention_max_event_count"`
	SummaryDays        int     `json:"summary_retention_days"`
	ForwardDSN         string  `json:"forward_dsn"` // "" when the project is not forwarded on its own
}

func (a *API) project(p *store.Project) apiProject {
	return apiProject{
		ID: p.ID, Name: p.Name, Slug: p.Slug, DSN: DSN(a.baseURL, p),
		DigestedEventCount: p.DigestedEventCount, StoredEventCount: p.StoredEventCount,
		AlertOnNewIssue: p.AlertOnNewIssue, AlertOnRegression: p.AlertOnRegression, AlertOnUnmute: p.AlertOnUnmute,
		Visibility: "team_members", RetentionMax: p.RetentionMax, SummaryDays: p.SummaryRetention(),
		ForwardDSN: p.ForwardDSN,
	}
}

// handleProjectList serves GET /projects/.
func (a *API) handleProjectList(w http.ResponseWriter, r *http.Request) error {
	ps, err := a.db.Projects()
	if err != nil {
		return err
	}
	out := make([]apiProject, 0, len(ps))
	for i := range ps {
		if allowProject(r, ps[i].ID) == nil {
			out = append(out, a.project(&ps[i]))
		}
	}
	writeJSON(w, http.StatusOK, page{Results: out})
	return nil
}

// handleProjectShow serves GET /projects/{id}/.
func (a *API) handleProjectShow(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		return store.ErrNotFound
	}
	p, err := a.projectFor(r, id)
	if err != nil {
		return err
	}
	reports, err := a.db.ClientReports(id, reportDays)
	if err != nil {
		return err
	}
	dropped, err := a.db.DroppedItems(id, reportDays)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		apiProject
		// What the project's SDKs reported dropping over the last 7 days,
		// by "<reason>:<category>", and the envelope items ingest dropped,
		// by type (health.go).
		ClientReports map[string]int64 `json:"client_reports"`
		DroppedItems  map[string]int64 `json:"dropped_items"`
	}{a.project(p), reports, dropped})
	return nil
}

// handleIssueList serves GET /issues/?project=ID[&query=&sort=&order=&cursor=]:
// query is in the search language of store/search (db.Search).
func (a *API) handleIssueList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	pid, err := strconv.Atoi(q.Get("project"))
	if err != nil {
		return errBadInput("the project parameter is required")
	}
	p, err := a.projectFor(r, pid)
	if err != nil {
		return err
	}
	sr := store.SearchRequest{Project: pid, Sort: store.SortDigestOrder, Query: q.Get("query"), Limit: pageSize}
	switch s := q.Get("sort"); s {
	case "", "digest_order":
	case "last_seen":
		sr.Sort = store.SortLastSeen
	case "digested_event_count":
		sr.Sort = store.SortEventCount
	default:
		return errBadInput("sort must be digest_order, last_seen or digested_event_count")
	}
	switch q.Get("order") {
	case "", "asc":
	case "desc":
		sr.Desc = true
	default:
		return errBadInput("order must be asc or desc")
	}
	// The cursor is the search's (a position in the order); a number is
	// an offset, as earlier pages gave.
	var offset uint32
	if c := q.Get("cursor"); strings.HasPrefix(c, "p") {
		sr.Cursor = c
	} else if offset, err = parseCursor(c); err != nil {
		return err
	} else if offset > 0 {
		sr.Cursor = strconv.FormatUint(uint64(offset), 10)
	}
	found, err := a.db.Search(sr)
	if errors.Is(err, search.ErrBadQuery) {
		return errBadInput("%s", strings.TrimPrefix(err.Error(), search.ErrBadQuery.Error()+": "))
	} else if err != nil {
		return err
	}
	out := make([]store.IssueView, 0, len(found.Issues))
	for i := range found.Issues {
		out = append(out, found.Issues[i].View(p))
	}
	res := page{Results: out}
	if found.Next != "" {
		res.Next = a.pageURL(r, found.Next)
	}
	if offset > 0 {
		res.Previous = a.pageURL(r, strconv.Itoa(max(0, int(offset)-pageSize)))
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

const pageSize = 250

func parseCursor(s string) (uint32, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, errBadInput("invalid cursor")
	}
	return uint32(n), nil
}

// projectFor returns project id, which the request's token must be allowed
// to touch.
func (a *API) projectFor(r *http.Request, id int) (*store.Project, error) {
	if err := allowProject(r, id); err != nil {
		return nil, err
	}
	return a.db.Project(id)
}

// issue returns the issue ref names (id or friendly id) and its project,
// which the request's token must be allowed to touch.
func (a *API) issue(r *http.Request, ref string) (*store.Project, *store.Issue, error) {
	iss, err := a.db.IssueByRef(ref)
	if err != nil {
		return nil, nil, err
	}
	p, err := a.projectFor(r, iss.ProjectID)
	if err != nil {
		return nil, nil, err
	}
	return p, iss, nil
}

// handleIssueShow serves GET /issues/{id}/; id may be the friendly id.
func (a *API) handleIssueShow(w http.ResponseWriter, r *http.Request) error {
	p, iss, err := a.issue(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, iss.View(p))
	return nil
}

type apiEvent struct {
	ID          string          `json:"id"`
	IngestedAt  time.Time       `json:"ingested_at"`
	DigestedAt  time.Time       `json:"digested_at"`
	Issue       string          `json:"issue"`
	Grouping    *string         `json:"grouping"`
	EventID     string          `json:"event_id"`
	Project     int             `json:"project"`
	Timestamp   time.Time       `json:"timestamp"`
	DigestOrder int             `json:"digest_order"`
	Data        json.RawMessage `json:"data,omitempty"`
	StackMD     *string         `json:"stacktrace_md,omitempty"`
}

func apiEventOf(ev *store.Event) apiEvent {
	return apiEvent{
		ID: ev.ID, IngestedAt: ev.IngestedAt, DigestedAt: ev.DigestedAt, Issue: strconv.FormatUint(uint64(ev.IssueID), 10),
		EventID: ev.ID, Project: ev.ProjectID, Timestamp: ev.Timestamp, DigestOrder: ev.DigestOrder,
	}
}

// handleEventList serves GET /events/?issue=ID[&order=asc|desc].
func (a *API) handleEventList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	ref := q.Get("issue")
	if ref == "" {
		return errBadInput("the issue parameter is required")
	}
	_, iss, err := a.issue(r, ref)
	if err != nil {
		return err
	}
	asc := false
	switch q.Get("order") {
	case "", "desc":
	case "asc":
		asc = true
	default:
		return errBadInput("order must be asc or desc")
	}
	cursor, err := parseCursor(q.Get("cursor"))
	if err != nil {
		return err
	}
	pg, err := a.db.Events(iss, asc, cursor, pageSize)
	if err != nil {
		return err
	}
	out := make([]apiEvent, 0, len(pg.Events))
	for i := range pg.Events {
		out = append(out, apiEventOf(&pg.Events[i]))
	}
	res := page{Results: out}
	if pg.Next != 0 {
		res.Next = a.pageURL(r, strconv.FormatUint(uint64(pg.Next), 10))
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// handleEventShow serves GET /events/{id}/[?project=ID] with the stored
// event as data.
func (a *API) handleEventShow(w http.ResponseWriter, r *http.Request) error {
	ev, body, err := a.event(r)
	if err != nil {
		return err
	}
	out := apiEventOf(ev)
	out.Data = body
	md := StacktraceMarkdown(body)
	out.StackMD = &md
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleEventStacktrace serves GET /events/{id}/stacktrace/[?project=ID] as
// Markdown.
func (a *API) handleEventStacktrace(w http.ResponseWriter, r *http.Request) error {
	_, body, err := a.event(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	w.Write([]byte(StacktraceMarkdown(body)))
	return nil
}
