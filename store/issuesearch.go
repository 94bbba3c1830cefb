package store

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/buntdb"
	"github.com/valyala/fastjson"

	"github.com/tinysink/tinysink/store/search"
)

// SearchPage is one page of a search.
type SearchPage struct {
	Issues []Issue
	// Next is the cursor of the next page, "" on the last one.
	Next string
}

// SearchRequest is a search over one project's issues.
type SearchRequest struct {
	Project int
	// Query is in the language of package store/search.
	Query string
	Sort  IssueSort // default SortLastSeen
	Desc  bool
	// State narrows the search further (the UI's tabs); default StateAll.
	State IssueState
	// Cursor is a page's Next, "" for the first page.
	Cursor string
	Limit  int // default 100, at most maxSearchLimit
}

const (
	maxSearchLimit = 1000
	// maxCandidates is the most postings a term may have for the search
	// to start from them (see searcher.run).
	maxCandidates = 3000
)

// SearchIssues returns one page of the project's issues that match query
// (package store/search), most recently seen first; cursor is "" or the
// Next of the page before, limit at most 1000 (0: 100). A query the
// language rejects returns an error wrapping search.ErrBadQuery. The UI,
// the API and the MCP server all search through here.
func (db *DB) SearchIssues(project int, query, cursor string, limit int) (*SearchPage, error) {
	return db.Search(SearchRequest{Project: project, Query: query, Sort: SortLastSeen, Desc: true, Cursor: cursor, Limit: limit})
}

// Search returns one page of the issues r selects. It reads the search
// index and the list indexes on disk: memory holds at most
// searchCandidates small entries whatever the number of issues.
func (db *DB) Search(r SearchRequest) (*SearchPage, error) {
	q, err := search.Parse(r.Query, db.Now())
	if err != nil {
		return nil, err
	}
	offset := 0
	if r.Cursor != "" {
		if offset, err = strconv.Atoi(r.Cursor); err != nil || offset < 0 {
			return nil, fmt.Errorf("%w: bad cursor %q", search.ErrBadQuery, r.Cursor)
		}
	}
	if r.Limit <= 0 {
		r.Limit = 100
	}
	r.Limit = min(r.Limit, maxSearchLimit)
	if r.Sort == "" {
		r.Sort = SortLastSeen
	}
	if r.State == "" || r.State == StateAll {
		r.State = impliedState(q)
	}
	s := &searcher{q: q, r: r, offset: offset}
	out := &SearchPage{Issues: []Issue{}}
	err = db.view(func(tx *kvTx) error {
		s.tx = tx
		ids, more, err := s.run()
		if err != nil {
			return err
		}
		for _, id := range ids {
			var iss Issue
			if err := getJSON(tx, issueKey(id), &iss); err != nil {
				return err
			}
			out.Issues = append(out.Issues, iss)
		}
		if more {
			out.Next = strconv.Itoa(offset + len(ids))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// impliedState returns the list state a query's first is: condition
// selects, so that the walk reads only that state's index.
func impliedState(q *search.Query) IssueState {
	for _, st := range q.States {
		if st.Not {
			continue
		}
		switch st.Name {
		case "open":
			return StateOpen
		case "unresolved":
			return StateUnresolved
		case "resolved":
			return StateResolved
		case "muted":
			return StateMuted
		}
	}
	return StateAll
}

type searcher struct {
	parser fastjson.Parser
	tx     *kvTx
	q      *search.Query
	r      SearchRequest
	offset int
	keys   []string // the index keys of q.Terms
	// skipTerms says the issues checked carry the query's terms.
	skipTerms bool
}

// run returns the ids of the page's issues and whether more follow.
//
// It starts from the postings of the query's rarest positive term when it
// has at most candidateCap of them: those issues are checked and sorted.
// Otherwise every positive term is common, and walking the list index in
// order fills a page after about limit/density issues. With P postings of
// N issues the walk checks about limit·N/P issues against P for the
// candidates: the cap is where the two meet, sqrt(limit·N), within
// [100, maxCandidates].
func (s *searcher) run() ([]uint32, bool, error) {
	var n int64
	if v, err := s.tx.Get(issueCountKey(s.r.Project, StateAll)); err == nil {
		n, _ = strconv.ParseInt(v, 10, 64)
	}
	limit := min(max(int(math.Sqrt(float64(s.offset+s.r.Limit)*float64(n))), 100), maxCandidates)
	var best []uint32
	found := false
	for _, t := range s.q.Terms {
		if t.Not {
			continue
		}
		if found {
			limit = len(best)
		}
		ids, complete := s.postings(t, limit)
		if complete && (!found || len(ids) < len(best)) {
			best, found = ids, true
		}
		if found && len(best) == 0 {
			return nil, false, nil
		}
	}
	if found {
		return s.fromCandidates(best)
	}
	return s.walk()
}

// postings returns the ids of the project's issues carrying t, and false
// when there are more than limit postings.
func (s *searcher) postings(t search.Term, limit int) ([]uint32, bool) {
	prefix := searchTermPrefix(s.r.Project, t.IndexKey())
	if !t.Prefix {
		prefix += "\x00"
	}
	var ids []uint32
	complete := true
	s.tx.ascend(prefix, func(k, v string) bool {
		if len(ids) == limit {
			complete = false
			return false
		}
		ids = append(ids, parseID(k[len(k)-10:]))
		return true
	})
	slices.Sort(ids)
	return slices.Compact(ids), complete
}

// termsMatch reports whether the issue's terms satisfy the query's, in
// one pass over its packed list.
func (s *searcher) termsMatch(id uint32) bool {
	if len(s.q.Terms) == 0 {
		return true
	}
	if s.keys == nil {
		for _, t := range s.q.Terms {
			s.keys = append(s.keys, t.IndexKey())
		}
	}
	var hit uint64
	readTerms(s.tx, id, func(term string) bool {
		for i, t := range s.q.Terms {
			if k := s.keys[i]; term == k || t.Prefix && strings.HasPrefix(term, k) {
				hit |= 1 << i
			}
		}
		return true
	})
	for i, t := range s.q.Terms {
		if (hit&(1<<i) != 0) == t.Not {
			return false
		}
	}
	return true
}

// facts are the fields of an issue a search filters and sorts by.
type facts struct {
	project                   int
	firstSeen, lastSeen       time.Time
	eventCount, digestOrder   int64
	resolved, muted, notFound bool
}

// issueFacts reads the facts of an issue from its record with fastjson,
// which reads these few fields several times faster than decoding the
// whole Issue.
func (s *searcher) issueFacts(id uint32) (facts, error) {
	v, err := s.tx.Get(issueKey(id))
	if errors.Is(err, buntdb.ErrNotFound) {
		return facts{notFound: true}, nil
	} else if err != nil {
		return facts{}, err
	}
	o, err := s.parser.Parse(v)
	if err != nil {
		return facts{}, fmt.Errorf("store: issue %d: %w", id, err)
	}
	t := func(k string) time.Time {
		t, _ := time.Parse(time.RFC3339Nano, string(o.GetStringBytes(k)))
		return t
	}
	return facts{
		project: o.GetInt("project"), firstSeen: t("first_seen"), lastSeen: t("last_seen"),
		eventCount: o.GetInt64("digested_event_count"), digestOrder: o.GetInt64("digest_order"),
		resolved: o.GetBool("is_resolved"), muted: o.GetBool("is_muted"),
	}, nil
}

// match checks the issue: its terms (from the index), then, when the
// query or the plan needs them (needFacts), its state and times (from its
// record). ok is false when it does not match.
func (s *searcher) match(id uint32, needFacts bool) (f facts, ok bool, err error) {
	if !s.skipTerms && !s.termsMatch(id) {
		return f, false, nil
	}
	if !needFacts {
		return f, true, nil
	}
	if f, err = s.issueFacts(id); err != nil || f.notFound {
		return f, false, err
	}
	states := (&Issue{IsResolved: f.resolved, IsMuted: f.muted}).states()
	ok = f.project == s.r.Project && contains(states, s.r.State) && s.q.MatchState(f.resolved, f.muted) &&
		s.q.FirstSeen.Contains(f.firstSeen) && s.q.LastSeen.Contains(f.lastSeen)
	return f, ok, nil
}

// fromCandidates checks the issues of ids, sorts those that match and
// cuts the page.
func (s *searcher) fromCandidates(ids []uint32) ([]uint32, bool, error) {
	type hit struct {
		key int64
		id  uint32
	}
	var hits []hit
	// With one term, the candidates carry it: only their facts are read.
	s.skipTerms = len(s.q.Terms) == 1
	for _, id := range ids {
		f, ok, err := s.match(id, true)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			continue
		}
		h := hit{id: id}
		switch s.r.Sort {
		case SortLastSeen:
			h.key = f.lastSeen.UnixMilli()
		case SortEventCount:
			h.key = f.eventCount
		default:
			h.key = f.digestOrder
		}
		hits = append(hits, h)
	}
	slices.SortFunc(hits, func(a, b hit) int {
		c := cmpInt(a.key, b.key)
		if c == 0 {
			c = cmpInt(int64(a.id), int64(b.id))
		}
		if s.r.Desc {
			return -c
		}
		return c
	})
	if s.offset >= len(hits) {
		return nil, false, nil
	}
	hits = hits[s.offset:]
	more := len(hits) > s.r.Limit
	hits = hits[:min(len(hits), s.r.Limit)]
	out := make([]uint32, len(hits))
	for i, h := range hits {
		out[i] = h.id
	}
	return out, more, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// walk reads the list index in the requested order and checks each
// issue until the page is full.
func (s *searcher) walk() ([]uint32, bool, error) {
	var prefix string
	byOrder := false
	switch s.r.Sort {
	case SortLastSeen:
		prefix = lastSeenPrefix(s.r.Project, s.r.State)
	case SortEventCount:
		prefix = eventCountPrefix(s.r.Project, s.r.State)
	default:
		prefix, byOrder = projectIssuePrefix(s.r.Project), true
	}
	// Before decoding, the last-seen index says when the walk has passed
	// the query's last_seen range.
	var afterMs, beforeMs int64 = -1, -1
	if s.r.Sort == SortLastSeen {
		if !s.q.LastSeen.After.IsZero() {
			afterMs = s.q.LastSeen.After.UnixMilli()
		}
		if !s.q.LastSeen.Before.IsZero() {
			beforeMs = s.q.LastSeen.Before.UnixMilli()
		}
	}
	// The walk's index already says the state (except by digest order)
	// and, by last seen, the last-seen time: the issue's record is read
	// only for what the index does not say.
	lastSeenOnly := s.r.Sort == SortLastSeen
	needFacts := byOrder || len(s.q.States) > 0 || !s.q.FirstSeen.IsZero() || !s.q.LastSeen.IsZero() && !lastSeenOnly
	var out []uint32
	more := false
	skip := s.offset
	var ierr error
	visit := func(k, v string) bool {
		var id uint32
		if byOrder {
			id = parseID(v)
		} else {
			id = issueIDOfIndexKey(k)
		}
		if afterMs >= 0 || beforeMs >= 0 {
			ms := lastSeenMsOfKey(k)
			if s.r.Desc && afterMs >= 0 && ms+1 <= afterMs || !s.r.Desc && beforeMs >= 0 && ms > beforeMs {
				return false // all later keys are out of range too
			}
		}
		if lastSeenOnly {
			ms := lastSeenMsOfKey(k)
			if afterMs >= 0 && ms < afterMs || beforeMs >= 0 && ms >= beforeMs {
				return true
			}
		}
		_, ok, err := s.match(id, needFacts)
		if err != nil {
			ierr = err
			return false
		}
		if !ok {
			return true
		}
		if skip > 0 {
			skip--
			return true
		}
		if len(out) == s.r.Limit {
			more = true
			return false
		}
		out = append(out, id)
		return true
	}
	if s.r.Desc {
		s.tx.descend(prefix, visit)
	} else {
		s.tx.ascend(prefix, visit)
	}
	return out, more, ierr
}

// lastSeenMsOfKey reads the milliseconds of an ils: key.
func lastSeenMsOfKey(k string) int64 {
	// ils:<pid 6>:<state>:<ms 20>:<iid 10>
	if len(k) < 31 {
		return 0
	}
	n, _ := strconv.ParseInt(k[len(k)-31:len(k)-11], 10, 64)
	return n
}
