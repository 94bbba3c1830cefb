package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tinysink/tinysink/digest/rawevent"
	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/store/search"
)

// The MCP server's tools and resources (the protocol is in mcp.go).

// mcpMaxText caps the text of one tool result or resource, in bytes: an
// agent's context is precious, and a stack trace of a deep recursion or an
// event with a large payload is not. Longer text is cut at a line and ends
// with a note that says so.
const mcpMaxText = 32 << 10

// mcpMaxIssues caps the issues of one search_issues call.
const mcpMaxIssues = 100

// mcpTool is one tool: its listing and what it runs. A tool error (an
// unknown issue, an action the issue's state does not allow, bad
// arguments) is returned as a *toolError and reaches the agent as a result
// with isError, so that it can correct itself.
type mcpTool struct {
	Name        string         `json:"name"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	InputSchema map[string]any `json:"inputSchema"`
	Annotations map[string]any `json:"annotations"`
	write       bool
	run         func(a *API, s *mcpSession, args json.RawMessage) (any, error)
}

// toolError is an error the agent should see.
type toolError struct{ msg string }

func (e *toolError) Error() string { return e.msg }

func toolErrorf(format string, args ...any) error { return &toolError{fmt.Sprintf(format, args...)} }

// schema returns a JSON Schema object with props and the required names.
func schema(required []string, props map[string]any) map[string]any {
	s := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

var (
	propProject = map[string]any{"type": []string{"integer", "string"},
		"description": "project id or slug; may be left out when the token sees one project only"}
	propIssue   = map[string]any{"type": "string", "description": "issue id (number) or friendly id such as MYAPP-12"}
	propComment = map[string]any{"type": "string", "description": "comment for the issue's history (at most 4000 bytes)"}
)

func readOnly(title string) map[string]any {
	return map[string]any{"title": title, "readOnlyHint": true, "openWorldHint": false}
}

func writes(title string, idempotent bool) map[string]any {
	return map[string]any{"title": title, "readOnlyHint": false, "destructiveHint": false, "idempotentHint": idempotent, "openWorldHint": false}
}

// mcpTools lists every tool, the write tools last.
var mcpTools = []mcpTool{
	{Name: "list_projects", Title: "List projects",
		Description: "The projects this token may read: id, name, slug, event counts.",
		InputSchema: schema(nil, map[string]any{}), Annotations: readOnly("List projects"),
		run: (*API).toolListProjects},
	{Name: "search_issues", Title: "Search issues",
		Description: "Search a project's issues with the issue list's search language: words match the issue's type or message " +
			"(case-insensitive), key:value (or key:\"quoted value\") keeps issues whose events carried that tag. " +
			"Returns up to `limit` issues (default 25, at most 100) and a next_cursor when more match.",
		InputSchema: schema(nil, map[string]any{
			"project": propProject,
			"query":   map[string]any{"type": "string", "description": "the issue list's search language (README: Search): words of the title, culprit or stack, key:value tags (level, environment by prefix, release, user.email, browser, os, trace, ...), !key:value, is:resolved, first_seen:>2026-11-01, last_seen:-24h; e.g. `TypeError environment:prod`; empty lists all"},
			"state":   map[string]any{"type": "string", "enum": []string{"open", "unresolved", "muted", "resolved", "all"}, "description": "default open (neither resolved nor muted)"},
			"sort":    map[string]any{"type": "string", "enum": []string{"last_seen", "events", "first_seen"}, "description": "newest last_seen first (default), most events first, or newest issue first"},
			"limit":   map[string]any{"type": "integer", "minimum": 1, "maximum": mcpMaxIssues},
			"cursor":  map[string]any{"type": "string", "description": "next_cursor of the previous call"},
		}), Annotations: readOnly("Search issues"),
		run: (*API).toolSearchIssues},
	{Name: "get_issue", Title: "Show an issue",
		Description: "An issue as Markdown: title, state, counts, tags, history and comments, and the stack trace of its latest event.",
		InputSchema: schema([]string{"issue"}, map[string]any{"issue": propIssue}), Annotations: readOnly("Show an issue"),
		run: (*API).toolGetIssue},
	{Name: "get_event", Title: "Show an event",
		Description: "One event by its event_id (32 hex digits): its stack trace as Markdown and its stored JSON (source-mapped where maps were uploaded).",
		InputSchema: schema([]string{"event_id"}, map[string]any{
			"event_id": map[string]any{"type": "string", "description": "the event's id, 32 hex digits"},
			"project":  propProject,
		}), Annotations: readOnly("Show an event"),
		run: (*API).toolGetEvent},
	{Name: "list_releases", Title: "List releases",
		Description: "A project's releases, newest first: version and date.",
		InputSchema: schema(nil, map[string]any{"project": propProject}), Annotations: readOnly("List releases"),
		run: (*API).toolListReleases},

	{Name: "resolve_issue", Title: "Resolve an issue", write: true,
		Description: "Mark an issue resolved; its next event reopens it (a regression). Needs a write token.",
		InputSchema: schema([]string{"issue"}, map[string]any{"issue": propIssue, "comment": propComment}),
		Annotations: writes("Resolve an issue", false),
		run: func(a *API, s *mcpSession, args json.RawMessage) (any, error) {
			return a.toolAction(s, args, "resolve")
		}},
	{Name: "mute_issue", Title: "Mute an issue", write: true,
		Description: "Mute an issue: no alerts, hidden from the open list. With for_period and for_count it unmutes at its first event " +
			"after that time (e.g. 1 week). Needs a write token.",
		InputSchema: schema([]string{"issue"}, map[string]any{"issue": propIssue, "comment": propComment,
			"for_period": map[string]any{"type": "string", "enum": []string{"minute", "hour", "day", "week", "month", "year"}},
			"for_count":  map[string]any{"type": "integer", "minimum": 1, "maximum": 1000},
		}),
		Annotations: writes("Mute an issue", false),
		run:         func(a *API, s *mcpSession, args json.RawMessage) (any, error) { return a.toolAction(s, args, "mute") }},
	{Name: "comment_issue", Title: "Comment on an issue", write: true,
		Description: "Add a comment to an issue's history. Needs a write token.",
		InputSchema: schema([]string{"issue", "comment"}, map[string]any{"issue": propIssue, "comment": propComment}),
		Annotations: writes("Comment on an issue", false),
		run:         (*API).toolComment},
}

// mcpToolList returns the tools the session's token may call.
func (a *API) mcpToolList(s *mcpSession) []mcpTool {
	out := []mcpTool{}
	for _, t := range mcpTools {
		if !t.write || s.tok.Has(store.ScopeWrite) {
			out = append(out, t)
		}
	}
	return out
}

// mcpCallTool runs tool name. An unknown tool is a protocol error; what
// goes wrong in a tool is a result with isError.
func (a *API) mcpCallTool(ctx context.Context, s *mcpSession, name string, args json.RawMessage) (any, error) {
	var tool *mcpTool
	for i := range mcpTools {
		if mcpTools[i].Name == name {
			tool = &mcpTools[i]
		}
	}
	if tool == nil {
		return nil, invalidParams("Unknown tool: " + name)
	}
	if tool.write && !s.tok.Has(store.ScopeWrite) {
		return toolResult(nil, toolErrorf("%s changes issues: it needs a token with the write scope, and this one is read-only", name))
	}
	if t := bytes.TrimSpace(args); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		args = json.RawMessage("{}")
	}
	out, err := tool.run(a, s, args)
	return toolResult(out, err)
}

// toolResult turns a tool's output into a CallToolResult: a string is
// Markdown text; anything else is JSON, as structuredContent and as text.
// Errors the agent should see become isError results.
func toolResult(out any, err error) (any, error) {
	var te *toolError
	var ve *store.ValidationError
	switch {
	case errors.Is(err, store.ErrNotFound):
		err = &toolError{"Not found (or not visible to this token)."}
	case errors.As(err, &ve):
		err = &toolError{ve.Error()}
	}
	if errors.As(err, &te) {
		return map[string]any{"content": []any{textContent(te.msg)}, "isError": true}, nil
	}
	if err != nil {
		return nil, err
	}
	if s, ok := out.(string); ok {
		return map[string]any{"content": []any{textContent(capText(s))}}, nil
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	if len(b) > mcpMaxText {
		// Tools bound their lists so this stays rare; cut JSON can not be
		// structured content.
		return map[string]any{"content": []any{textContent(capText(string(b)))}}, nil
	}
	return map[string]any{"content": []any{textContent(string(b))}, "structuredContent": json.RawMessage(b)}, nil
}

func textContent(s string) map[string]string { return map[string]string{"type": "text", "text": s} }

// capText cuts s to mcpMaxText bytes, at a line end where one is near, and
// says so at the end.
func capText(s string) string {
	if len(s) <= mcpMaxText {
		return s
	}
	cut := mcpMaxText - 200 // room for the note
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	if nl := strings.LastIndexByte(s[:cut], '\n'); nl > cut-2000 {
		cut = nl
	}
	return s[:cut] + fmt.Sprintf("\n\n[… truncated by tinysink: %d of %d bytes shown; outputs are capped at %d bytes]", cut, len(s), mcpMaxText)
}

// decodeArgs decodes a tool's arguments into v.
func decodeArgs(args json.RawMessage, v any) error {
	if err := json.Unmarshal(args, v); err != nil {
		return toolErrorf("bad arguments: %v", err)
	}
	return nil
}

// allow returns an error when the session's token may not see project pid.
func (s *mcpSession) allow(pid int) error {
	if s.tok.Project != 0 && s.tok.Project != int64(pid) {
		return store.ErrNotFound
	}
	return nil
}

// user names the token in an issue's history.
func (s *mcpSession) user() string {
	if s.tok.Name != "" {
		return "MCP (" + s.tok.Name + ")"
	}
	return "MCP (token " + s.tok.ID + ")"
}

// projects returns the projects the token may see.
func (a *API) mcpProjects(s *mcpSession) ([]store.Project, error) {
	ps, err := a.db.Projects()
	if err != nil {
		return nil, err
	}
	out := ps[:0]
	for _, p := range ps {
		if s.allow(p.ID) == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// projectArg resolves a tool's project argument: an id, a slug, or
// nothing when the token sees one project only.
func (a *API) projectArg(s *mcpSession, ref json.RawMessage) (*store.Project, error) {
	var id int
	var slug string
	if t := bytes.TrimSpace(ref); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		if json.Unmarshal(t, &id) != nil {
			if json.Unmarshal(t, &slug) != nil {
				return nil, toolErrorf("project must be a project id or slug")
			}
			if n, err := strconv.Atoi(slug); err == nil {
				id, slug = n, ""
			}
		}
	}
	if id != 0 {
		if err := s.allow(id); err != nil {
			return nil, toolErrorf("no project %d visible to this token", id)
		}
		p, err := a.db.Project(id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, toolErrorf("no project %d visible to this token", id)
		}
		return p, err
	}
	ps, err := a.mcpProjects(s)
	if err != nil {
		return nil, err
	}
	var names []string
	for i := range ps {
		if slug != "" && strings.EqualFold(ps[i].Slug, slug) {
			return &ps[i], nil
		}
		names = append(names, fmt.Sprintf("%d (%s)", ps[i].ID, ps[i].Slug))
	}
	switch {
	case slug != "":
		return nil, toolErrorf("no project %q visible to this token; projects: %s", slug, strings.Join(names, ", "))
	case len(ps) == 1:
		return &ps[0], nil
	case len(ps) == 0:
		return nil, toolErrorf("this token sees no projects")
	}
	return nil, toolErrorf("name a project: one of %s", strings.Join(names, ", "))
}

// mcpIssue resolves an issue reference the token may see.
func (a *API) mcpIssue(s *mcpSession, ref string) (*store.Project, *store.Issue, error) {
	if strings.TrimSpace(ref) == "" {
		return nil, nil, toolErrorf("issue is required: an issue id or friendly id such as MYAPP-12")
	}
	iss, err := a.db.IssueByRef(strings.TrimSpace(ref))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, toolErrorf("no issue %q visible to this token", ref)
	}
	if err != nil {
		return nil, nil, err
	}
	if s.allow(iss.ProjectID) != nil {
		return nil, nil, toolErrorf("no issue %q visible to this token", ref)
	}
	p, err := a.db.Project(iss.ProjectID)
	if err != nil {
		return nil, nil, err
	}
	return p, iss, nil
}

type mcpProject struct {
	ID                 int    `json:"id"`
	Name               string `json:"name"`
	Slug               string `json:"slug"`
	DigestedEventCount int64  `json:"digested_event_count"`
	StoredEventCount   int64  `json:"stored_event_count"`
}

func (a *API) toolListProjects(s *mcpSession, _ json.RawMessage) (any, error) {
	ps, err := a.mcpProjects(s)
	if err != nil {
		return nil, err
	}
	out := []mcpProject{}
	for _, p := range ps {
		out = append(out, mcpProject{p.ID, p.Name, p.Slug, p.DigestedEventCount, p.StoredEventCount})
	}
	return map[string]any{"projects": out}, nil
}

// mcpIssueRow is an issue in search_issues' results.
type mcpIssueRow struct {
	ID          uint32    `json:"id"`
	FriendlyID  string    `json:"friendly_id"`
	Title       string    `json:"title"`
	State       string    `json:"state"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	Events      int64     `json:"events"`
	Level       string    `json:"level,omitempty"`
	Transaction string    `json:"transaction,omitempty"`
	Culprit     string    `json:"culprit,omitempty"`
}

// stateWord is the issue's state in one word: open, muted or resolved.
func stateWord(iss *store.Issue) string {
	switch {
	case iss.IsResolved:
		return "resolved"
	case iss.IsMuted:
		return "muted"
	}
	return "open"
}

// culprit names the issue's crash frame: function in file or module.
func culprit(iss *store.Issue) string {
	where := iss.LastFrameFilename
	if where == "" {
		where = iss.LastFrameModule
	}
	switch {
	case iss.LastFrameFunction != "" && where != "":
		return iss.LastFrameFunction + " in " + where
	case iss.LastFrameFunction != "":
		return iss.LastFrameFunction
	}
	return where
}

// searchIssues returns one page of project's issues in state that match
// query, in the issue list's search language (package store/search),
// newest first by sort, from cursor ("" or the next cursor of the page
// before); next is "" on the last page. It is the MCP server's one call
// site of the search, db.Search, as the UI's and the API's; a query or
// cursor the language refuses is a toolError saying why.
func searchIssues(db *store.DB, project int, query string, sort store.IssueSort, state store.IssueState, cursor string, limit int) (issues []store.Issue, next string, err error) {
	res, err := db.Search(store.SearchRequest{Project: project, Query: query, Sort: sort, Desc: true, State: state, Cursor: cursor, Limit: limit})
	if errors.Is(err, search.ErrBadQuery) {
		return nil, "", toolErrorf("%s", strings.TrimPrefix(err.Error(), search.ErrBadQuery.Error()+": "))
	} else if err != nil {
		return nil, "", err
	}
	return res.Issues, res.Next, nil
}

func (a *API) toolSearchIssues(s *mcpSession, args json.RawMessage) (any, error) {
	var in struct {
		Project json.RawMessage `json:"project"`
		Query   string          `json:"query"`
		State   string          `json:"state"`
		Sort    string          `json:"sort"`
		Limit   int             `json:"limit"`
		Cursor  string          `json:"cursor"`
	}
	if err := decodeArgs(args, &in); err != nil {
		return nil, err
	}
	p, err := a.projectArg(s, in.Project)
	if err != nil {
		return nil, err
	}
	if len(in.Query) > 500 {
		return nil, toolErrorf("query is longer than 500 bytes")
	}
	sort, state, limit := store.SortLastSeen, store.StateOpen, 25
	switch in.State {
	case "", "open":
	case "unresolved":
		state = store.StateUnresolved
	case "muted":
		state = store.StateMuted
	case "resolved":
		state = store.StateResolved
	case "all":
		state = store.StateAll
	default:
		return nil, toolErrorf("state must be open, unresolved, muted, resolved or all")
	}
	switch in.Sort {
	case "", "last_seen":
	case "events":
		sort = store.SortEventCount
	case "first_seen":
		sort = store.SortDigestOrder
	default:
		return nil, toolErrorf("sort must be last_seen, events or first_seen")
	}
	switch {
	case in.Limit < 0 || in.Limit > mcpMaxIssues:
		return nil, toolErrorf("limit must be 1 to %d", mcpMaxIssues)
	case in.Limit > 0:
		limit = in.Limit
	}
	issues, next, err := searchIssues(a.db, p.ID, in.Query, sort, state, in.Cursor, limit)
	if err != nil {
		return nil, err
	}
	rows := make([]mcpIssueRow, 0, len(issues))
	for i := range issues {
		iss := &issues[i]
		rows = append(rows, mcpIssueRow{ID: iss.ID, FriendlyID: store.FriendlyID(p, iss), Title: truncate(300, iss.Title()),
			State: stateWord(iss), FirstSeen: iss.FirstSeen.UTC(), LastSeen: iss.LastSeen.UTC(), Events: iss.DigestedEventCount,
			Level: iss.Level, Transaction: truncate(200, iss.Transaction), Culprit: truncate(200, culprit(iss))})
	}
	out := map[string]any{"project": p.Slug, "issues": rows}
	if next != "" {
		out["next_cursor"] = next
	}
	return out, nil
}

func (a *API) toolGetIssue(s *mcpSession, args json.RawMessage) (any, error) {
	var in struct {
		Issue json.RawMessage `json:"issue"`
	}
	if err := decodeArgs(args, &in); err != nil {
		return nil, err
	}
	p, iss, err := a.mcpIssue(s, refString(in.Issue))
	if err != nil {
		return nil, err
	}
	return a.issueMarkdown(p, iss)
}

// refString reads an issue argument given as a string or a number.
func refString(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var n uint32
	if json.Unmarshal(v, &n) == nil {
		return strconv.FormatUint(uint64(n), 10)
	}
	return ""
}

// issueMarkdown renders an issue for an agent: what it is, its state, its
// tags and history, and its latest event's stack trace.
func (a *API) issueMarkdown(p *store.Project, iss *store.Issue) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: %s\n\n", store.FriendlyID(p, iss), oneLine(iss.Title()))
	fmt.Fprintf(&b, "- issue id: %d · project: %s (id %d, slug %s)\n", iss.ID, p.Name, p.ID, p.Slug)
	fmt.Fprintf(&b, "- state: %s\n", oneLine(issueState(iss)))
	fmt.Fprintf(&b, "- first seen %s · last seen %s · %d events (%d stored)\n",
		iss.FirstSeen.UTC().Format(time.RFC3339), iss.LastSeen.UTC().Format(time.RFC3339), iss.DigestedEventCount, iss.StoredEventCount)
	if iss.Level != "" || iss.Platform != "" {
		fmt.Fprintf(&b, "- level: %s · platform: %s\n", iss.Level, iss.Platform)
	}
	if c := culprit(iss); c != "" {
		fmt.Fprintf(&b, "- culprit: %s\n", oneLine(c))
	}
	if iss.Transaction != "" {
		fmt.Fprintf(&b, "- transaction: %s\n", oneLine(iss.Transaction))
	}
	if len(iss.EventsAt) > 0 {
		fmt.Fprintf(&b, "- seen in releases: %s\n", strings.Join(lastN(iss.EventsAt, 10), ", "))
	}
	if iss.CalculatedType != "Log Message" && strings.Contains(iss.CalculatedValue, "\n") {
		fmt.Fprintf(&b, "\n## Message\n\n%s\n", truncate(2000, iss.CalculatedValue))
	}

	tags, err := a.db.IssueTags(iss.ID)
	if err != nil {
		return "", err
	}
	if len(tags) > 0 {
		b.WriteString("\n## Tags\n\n")
		for i, t := range tags {
			if i == 40 {
				fmt.Fprintf(&b, "- … %d more\n", len(tags)-i)
				break
			}
			fmt.Fprintf(&b, "- %s: %s (%d)\n", oneLine(t.Key), oneLine(truncate(200, t.Value)), t.Count)
		}
	}

	hist, err := a.db.History(iss.ID)
	if err != nil {
		return "", err
	}
	if len(hist) > 0 {
		b.WriteString("\n## History\n\n")
		for _, h := range lastN(hist, 20) {
			who := h.User
			if who == "" {
				who = "tinysink"
			}
			fmt.Fprintf(&b, "- %s %s by %s", h.At.UTC().Format(time.RFC3339), h.Kind, oneLine(who))
			if h.Comment != "" {
				fmt.Fprintf(&b, ": %s", oneLine(h.Comment))
			}
			b.WriteByte('\n')
		}
	}

	pg, err := a.db.Events(iss, false, 0, 1)
	if err != nil {
		return "", err
	}
	if len(pg.Events) == 0 {
		b.WriteString("\n(No event of this issue is stored.)\n")
		return b.String(), nil
	}
	ev := &pg.Events[0]
	body, err := a.db.EventBody(ev)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "\n## Latest event %s (%s)\n\n", ev.ID, ev.Timestamp.UTC().Format(time.RFC3339))
	writeStackSection(&b, StacktraceMarkdown(a.maps.Apply(p.ID, body)))
	return b.String(), nil
}

// writeStackSection writes a stack trace's Markdown two heading levels
// down, under the section it goes in.
func writeStackSection(b *strings.Builder, md string) {
	if strings.TrimSpace(md) == "" {
		b.WriteString("(The event has no stack trace.)\n")
		return
	}
	for line := range strings.Lines(md) {
		if strings.HasPrefix(line, "#") {
			b.WriteString("##")
		}
		b.WriteString(line)
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func lastN[T any](s []T, n int) []T { return s[max(0, len(s)-n):] }

func (a *API) toolGetEvent(s *mcpSession, args json.RawMessage) (any, error) {
	var in struct {
		EventID string          `json:"event_id"`
		Project json.RawMessage `json:"project"`
	}
	if err := decodeArgs(args, &in); err != nil {
		return nil, err
	}
	var pid int
	if t := bytes.TrimSpace(in.Project); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		p, err := a.projectArg(s, in.Project)
		if err != nil {
			return nil, err
		}
		pid = p.ID
	}
	return a.eventMarkdown(s, pid, in.EventID)
}

// eventMarkdown renders event id of project pid (0: whichever visible
// project holds it) as Markdown: what it is, its stack trace, its JSON.
func (a *API) eventMarkdown(s *mcpSession, pid int, ref string) (string, error) {
	id, ok := rawevent.ParseID(strings.TrimSpace(ref))
	if !ok {
		return "", toolErrorf("event_id must be 32 hex digits (a UUID with dashes is fine)")
	}
	var pids []int
	if pid != 0 {
		pids = []int{pid}
	} else {
		ps, err := a.mcpProjects(s)
		if err != nil {
			return "", err
		}
		for _, p := range ps {
			pids = append(pids, p.ID)
		}
	}
	var found []int
	var ev *store.Event
	var body []byte
	for _, pid := range pids {
		e, b, err := a.db.ProjectEvent(pid, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return "", err
		}
		found, ev, body = append(found, pid), e, b
	}
	switch {
	case len(found) == 0:
		return "", toolErrorf("no event %s visible to this token", ref)
	case len(found) > 1:
		return "", toolErrorf("event %s is stored in projects %v: name one with project", ref, found)
	}
	p, err := a.db.Project(ev.ProjectID)
	if err != nil {
		return "", err
	}
	body = a.maps.Apply(p.ID, body)
	var b strings.Builder
	fmt.Fprintf(&b, "# Event %s\n\n", ev.ID)
	fmt.Fprintf(&b, "- project: %s (id %d) · issue id: %d\n", p.Name, p.ID, ev.IssueID)
	fmt.Fprintf(&b, "- timestamp %s · received %s\n", ev.Timestamp.UTC().Format(time.RFC3339), ev.IngestedAt.UTC().Format(time.RFC3339))
	b.WriteString("\n## Stack trace\n\n")
	writeStackSection(&b, StacktraceMarkdown(body))
	var pretty bytes.Buffer
	if json.Indent(&pretty, body, "", " ") != nil {
		pretty.Reset()
		pretty.Write(body)
	}
	b.WriteString("\n## Stored event (JSON)\n\n```json\n")
	// Leave room for the fence and the cut note: a cut event still reads
	// as Markdown, its stack trace above intact.
	room := mcpMaxText - b.Len() - 200
	if pretty.Len() > room && room > 0 {
		cut := room
		for cut > 0 && !utf8.RuneStart(pretty.Bytes()[cut]) {
			cut--
		}
		b.Write(pretty.Bytes()[:cut])
		fmt.Fprintf(&b, "\n```\n\n[… truncated by tinysink: the event's JSON is %d bytes; outputs are capped at %d bytes]\n", pretty.Len(), mcpMaxText)
		return b.String(), nil
	}
	b.Write(pretty.Bytes())
	b.WriteString("\n```\n")
	return b.String(), nil
}

func (a *API) toolListReleases(s *mcpSession, args json.RawMessage) (any, error) {
	var in struct {
		Project json.RawMessage `json:"project"`
	}
	if err := decodeArgs(args, &in); err != nil {
		return nil, err
	}
	p, err := a.projectArg(s, in.Project)
	if err != nil {
		return nil, err
	}
	rs, err := a.db.Releases(p.ID)
	if err != nil {
		return nil, err
	}
	type release struct {
		Version      string    `json:"version"`
		DateReleased time.Time `json:"date_released"`
	}
	out := []release{}
	for i := len(rs) - 1; i >= 0 && len(out) < 200; i-- {
		out = append(out, release{rs[i].Version, rs[i].DateReleased.UTC()})
	}
	return map[string]any{"project": p.Slug, "releases": out}, nil
}

// toolAction resolves or mutes an issue.
func (a *API) toolAction(s *mcpSession, args json.RawMessage, name string) (any, error) {
	var in struct {
		Issue     json.RawMessage `json:"issue"`
		Comment   string          `json:"comment"`
		ForPeriod string          `json:"for_period"`
		ForCount  int             `json:"for_count"`
	}
	if err := decodeArgs(args, &in); err != nil {
		return nil, err
	}
	p, iss, err := a.mcpIssue(s, refString(in.Issue))
	if err != nil {
		return nil, err
	}
	act := store.ActionResolve
	if name == "mute" {
		act = store.ActionMute
		switch {
		case in.ForPeriod != "" || in.ForCount != 0:
			if !store.ValidPeriod(in.ForPeriod) || in.ForCount < 1 || in.ForCount > 1000 {
				return nil, toolErrorf("for_period (minute, hour, day, week, month, year) and for_count (1 to 1000) go together")
			}
			act = store.MuteFor(in.ForPeriod, in.ForCount)
		}
	}
	if !act.Allowed(iss) {
		return nil, toolErrorf("%s is %s: it can not be %sd now", store.FriendlyID(p, iss), stateWord(iss), name)
	}
	iss, err = a.db.ApplyAction(iss.ID, act, s.user(), in.Comment)
	if errors.Is(err, store.ErrInvalidAction) {
		return nil, toolErrorf("%s can not be %sd in its current state", store.FriendlyID(p, iss), name)
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"issue": store.FriendlyID(p, iss), "id": iss.ID, "state": stateWord(iss)}, nil
}

func (a *API) toolComment(s *mcpSession, args json.RawMessage) (any, error) {
	var in struct {
		Issue   json.RawMessage `json:"issue"`
		Comment string          `json:"comment"`
	}
	if err := decodeArgs(args, &in); err != nil {
		return nil, err
	}
	if strings.TrimSpace(in.Comment) == "" {
		return nil, toolErrorf("comment is required")
	}
	if len(in.Comment) > store.MaxCommentLen {
		return nil, toolErrorf("comment is longer than %d bytes", store.MaxCommentLen)
	}
	p, iss, err := a.mcpIssue(s, refString(in.Issue))
	if err != nil {
		return nil, err
	}
	if err := a.db.AddComment(iss.ID, s.user(), in.Comment); err != nil {
		return nil, err
	}
	return map[string]any{"issue": store.FriendlyID(p, iss), "id": iss.ID, "commented": true}, nil
}

// Resources: every issue is tinysink://issues/{id} (get_issue's Markdown)
// and every event tinysink://projects/{project}/events/{event_id}
// (get_event's). resources/list names the most recently seen unresolved
// issues of each visible project.

const (
	issueURIPrefix   = "tinysink://issues/"
	projectURIPrefix = "tinysink://projects/"
	// mcpListIssues caps resources/list's issues per project.
	mcpListIssues = 50
)

var mcpResourceTemplates = []map[string]string{
	{"uriTemplate": issueURIPrefix + "{issue}", "name": "issue", "title": "An issue",
		"description": "An issue as Markdown, with its latest event's stack trace; {issue} is its id or friendly id.", "mimeType": "text/markdown"},
	{"uriTemplate": projectURIPrefix + "{project}/events/{event_id}", "name": "event", "title": "An event",
		"description": "An event as Markdown: its stack trace and stored JSON; {project} is the project id, {event_id} 32 hex digits.", "mimeType": "text/markdown"},
}

func (a *API) mcpResourceList(s *mcpSession) (any, error) {
	ps, err := a.mcpProjects(s)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for i := range ps {
		p := &ps[i]
		issues, _, err := a.db.Issues(store.IssueFilter{Project: p.ID, Sort: store.SortLastSeen, Desc: true,
			State: store.StateUnresolved, Limit: mcpListIssues})
		if err != nil {
			return nil, err
		}
		for j := range issues {
			iss := &issues[j]
			out = append(out, map[string]any{"uri": issueURIPrefix + strconv.FormatUint(uint64(iss.ID), 10),
				"name": store.FriendlyID(p, iss), "title": truncate(200, iss.Title()), "mimeType": "text/markdown"})
		}
	}
	return map[string]any{"resources": out}, nil
}

func (a *API) mcpReadResource(s *mcpSession, uri string) (any, error) {
	notFound := &rpcError{Code: rpcResourceNotFound, Message: "Resource not found", Data: map[string]string{"uri": uri}}
	var text string
	switch {
	case strings.HasPrefix(uri, issueURIPrefix):
		p, iss, err := a.mcpIssue(s, strings.TrimPrefix(uri, issueURIPrefix))
		if err == nil {
			text, err = a.issueMarkdown(p, iss)
		}
		var te *toolError
		if errors.As(err, &te) {
			return nil, notFound
		}
		if err != nil {
			return nil, err
		}
	case strings.HasPrefix(uri, projectURIPrefix):
		ref, id, ok := strings.Cut(strings.TrimPrefix(uri, projectURIPrefix), "/events/")
		pid, err := strconv.Atoi(ref)
		if !ok || err != nil || pid <= 0 || s.allow(pid) != nil {
			return nil, notFound
		}
		text, err = a.eventMarkdown(s, pid, id)
		var te *toolError
		if errors.As(err, &te) {
			return nil, notFound
		}
		if err != nil {
			return nil, err
		}
	default:
		return nil, notFound
	}
	return map[string]any{"contents": []map[string]string{{"uri": uri, "mimeType": "text/markdown", "text": capText(text)}}}, nil
}
