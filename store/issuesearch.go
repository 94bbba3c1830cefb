package store

import (
	"encoding/binary"
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
	// Next is the cursor of the next page, "" on the last one. A page
	// may hold fewer than Limit issues (even none) and still have a Next:
	// the search stopped after maxSearchWork issues checked, and the next
	// page goes on from there.
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
	// Cursor is a page's Next, "" for the first page. A decimal number
	// is an offset (the UI's page numbers): the issues skipped count
	// against the page's work.
	Cursor string
	Limit  int // default 100, at most maxSearchLimit
}

const maxSearchLimit = 1000

// Variables for the tests.
var (
	// maxCandidates is the most postings of a term whose issues the
	// search checks one by one (see searcher.run).
	maxCandidates = 3000
	// minCandidates is the least of that cap.
	minCandidates = 100
	// maxSetPostings is the most postings of a term the search holds in
	// memory (4 bytes each) as the set the walk of a list keeps.
	maxSetPostings = 10000
	// maxSearchWork bounds one page's work, in units of one key of an
	// index read in order: checking an issue (its facts, its terms: a few
	// reads of the tree) costs checkCost. A query that matches few of
	// many issues returns what it found so far, with a cursor to go on.
	// The bound keeps any page under the search's 50 ms bar: the work is
	// mostly the tree's pages read, some microseconds each.
	maxSearchWork = 50000
	checkCost     = 8
	// walkProbe is how many issues a walk checks before it judges from
	// its hits whether to read a set.
	walkProbe = 200
	// searchDeadline also bounds a page's walk, whatever the machine's
	// load: past it the walk stops as when its work is spent.
	searchDeadline = 25 * time.Millisecond
)

// SearchIssues returns one page of the project's issues that match query
// (package store/search), most recently seen first; cursor is "" or the
// Next of the page before, limit at most 1000 (0: 100). A query the
// language rejects returns an error wrapping search.ErrBadQuery. The UI,
// the API and the MCP server all search through here.
func (db *DB) SearchIssues(project int, query, cursor string, limit int) (*SearchPage, error) {
	return db.Search(SearchRequest{Project: project, Query: query, Sort: SortLastSeen, Desc: true, Cursor: cursor, Limit: limit})
}

// position is a place in a list's order: the issue's sort key (last seen
// in ms, event count or digest order) and its id, which breaks ties as
// the list indexes do. A cursor "p<key>.<id>" continues after it.
type position struct {
	key int64
	id  uint32
}

func (p position) cursor() string {
	return "p" + strconv.FormatInt(p.key, 10) + "." + strconv.FormatUint(uint64(p.id), 10)
}

// after reports whether p comes after c in the order (desc or not).
func (p position) after(c position, desc bool) bool {
	x := cmpInt(p.key, c.key)
	if x == 0 {
		x = cmpInt(int64(p.id), int64(c.id))
	}
	if desc {
		return x < 0
	}
	return x > 0
}

// PositionCursor returns the cursor that continues after an issue
// sorted by sort (the cross-project list merges pages with it).
func PositionCursor(iss *Issue, sort IssueSort) string {
	return issuePosition(iss.ID, iss.LastSeen.UnixMilli(), iss.DigestedEventCount, int64(iss.DigestOrder), sort).cursor()
}

// CursorAfter reports whether the issue comes after cursor (a position
// cursor) in sort's order; a cursor that is no position is before all.
func CursorAfter(iss *Issue, sort IssueSort, desc bool, cursor string) bool {
	c, ok, err := parsePosition(cursor)
	if err != nil || !ok {
		return true
	}
	return issuePosition(iss.ID, iss.LastSeen.UnixMilli(), iss.DigestedEventCount, int64(iss.DigestOrder), sort).after(c, desc)
}

// CursorBefore reports whether position cursor a comes before b in
// sort's order ("" comes before everything).
func CursorBefore(a, b string, desc bool) bool {
	pa, oka, _ := parsePosition(a)
	pb, okb, _ := parsePosition(b)
	if !oka || !okb {
		return !oka && okb
	}
	return pb.after(pa, desc)
}

func issuePosition(id uint32, lastSeenMs, count, order int64, sort IssueSort) position {
	switch sort {
	case SortLastSeen:
		return position{lastSeenMs, id}
	case SortEventCount:
		return position{count, id}
	}
	return position{order, id}
}

// parsePosition reads a position cursor; ok is false for "" and for an
// offset.
func parsePosition(c string) (p position, ok bool, err error) {
	rest, isPos := strings.CutPrefix(c, "p")
	if !isPos {
		return p, false, nil
	}
	k, id, found := strings.Cut(rest, ".")
	var e1, e2 error
	p.key, e1 = strconv.ParseInt(k, 10, 64)
	var n uint64
	n, e2 = strconv.ParseUint(id, 10, 32)
	if !found || e1 != nil || e2 != nil {
		return p, false, fmt.Errorf("%w: bad cursor %q", search.ErrBadQuery, c)
	}
	p.id = uint32(n)
	return p, true, nil
}

// Search returns one page of the issues r selects. It reads the search
// index and the list indexes on disk: memory holds at most maxCandidates
// small entries whatever the number of issues, and a page checks at most
// maxSearchWork issues.
func (db *DB) Search(r SearchRequest) (*SearchPage, error) {
	q, err := search.Parse(r.Query, db.Now())
	if err != nil {
		return nil, err
	}
	s := &searcher{q: q, r: r, work: maxSearchWork, deadline: time.Now().Add(searchDeadline)}
	if r.Cursor != "" {
		if s.from, s.hasFrom, err = parsePosition(r.Cursor); err != nil {
			return nil, err
		} else if !s.hasFrom {
			if s.offset, err = strconv.Atoi(r.Cursor); err != nil || s.offset < 0 {
				return nil, fmt.Errorf("%w: bad cursor %q", search.ErrBadQuery, r.Cursor)
			}
		}
	}
	if s.r.Limit <= 0 {
		s.r.Limit = 100
	}
	s.r.Limit = min(s.r.Limit, maxSearchLimit)
	if s.r.Sort == "" {
		s.r.Sort = SortLastSeen
	}
	if s.r.State == "" {
		s.r.State = StateAll
	}
	s.planStates()
	out := &SearchPage{Issues: []Issue{}}
	err = db.view(func(tx *kvTx) error {
		s.tx = tx
		ids, next, err := s.run()
		if err != nil {
			return err
		}
		out.Issues = make([]Issue, len(ids))
		for i, id := range ids {
			if err := getJSON(tx, issueKey(id), &out.Issues[i]); err != nil {
				return err
			}
		}
		out.Next = next
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// The states an issue is exactly one of, as bits of a set.
const (
	bitOpen = 1 << iota
	bitMuted
	bitResolved
	bitsAll = bitOpen | bitMuted | bitResolved
)

// stateBits are the issues each list state indexes, narrowest first.
var stateBits = []struct {
	s    IssueState
	bits int
}{{StateOpen, bitOpen}, {StateMuted, bitMuted}, {StateResolved, bitResolved}, {StateUnresolved, bitOpen | bitMuted}, {StateAll, bitsAll}}

func issueBits(resolved, muted bool) int {
	switch {
	case resolved:
		return bitResolved
	case muted:
		return bitMuted
	}
	return bitOpen
}

// planStates works out which issues the request's state and the query's
// is: conditions allow (s.allowed), walks the narrowest list state that
// holds them all, and notes whether that state is exactly them.
func (s *searcher) planStates() {
	allowed := 0
	for _, b := range []int{bitOpen, bitMuted, bitResolved} {
		if s.q.MatchState(b == bitResolved, b == bitMuted) {
			allowed |= b
		}
	}
	for _, sb := range stateBits {
		if sb.s == s.r.State {
			allowed &= sb.bits
		}
	}
	s.allowed = allowed
	for _, sb := range stateBits {
		if allowed&^sb.bits == 0 {
			s.r.State, s.exactState = sb.s, sb.bits == allowed
			return
		}
	}
}

type searcher struct {
	parser fastjson.Parser
	tx     *kvTx
	q      *search.Query
	r      SearchRequest
	offset int
	// from is the position the page continues after, when hasFrom.
	from    position
	hasFrom bool
	// allowed are the state bits the search selects; exactState says the
	// list state walked holds exactly them.
	allowed    int
	exactState bool
	// work is how much more the page may do (maxSearchWork), until
	// deadline.
	work     int
	deadline time.Time
	keys     []string // the index keys of q.Terms
	// skip is the index of a term the issues checked are known to carry.
	skip int
	// set, when not nil, holds the ids of the issues carrying term skip,
	// sorted: the walk checks only them. setCap is the most postings it
	// may hold.
	set    []uint32
	setCap int
}

// run returns the ids of the page's issues and the next page's cursor.
//
// With P postings of N issues for the query's rarest positive term: when
// P is at most sqrt(limit·N/50), those issues are checked and sorted
// (about P/2 pages of the tree read). Otherwise the list index is walked
// in order, checking each issue; when after walkProbe checks the page
// fills too slowly, the walk reads the postings of the rarest term with
// at most sqrt(limit·N·checkCost) of them (where reading the set costs
// what the checks it saves would) and goes on keeping only the issues of
// that set: a key read in order each instead of a check. The postings
// read count against the page's work; every walk stops when its work is
// spent (maxSearchWork, or searchDeadline once a fifth of it is) and
// returns a cursor.
func (s *searcher) run() ([]uint32, string, error) {
	s.skip = -1
	if s.allowed == 0 {
		return nil, "", nil
	}
	var n int64
	if v, err := s.tx.Get(issueCountKey(s.r.Project, StateAll)); err == nil {
		n, _ = strconv.ParseInt(v, 10, 64)
	}
	candCap := min(max(int(math.Sqrt(float64(s.offset+s.r.Limit)*float64(n)/50)), minCandidates), maxCandidates)
	setCap := min(max(int(math.Sqrt(float64(s.offset+s.r.Limit)*float64(n)*float64(checkCost))), candCap), maxSetPostings)
	var best []uint32
	found := false
	s.setCap = setCap
	limit := candCap
	for i, t := range s.q.Terms {
		if t.Not {
			continue
		}
		if found {
			limit = min(limit, len(best))
		}
		ids, complete := s.postings(t, limit)
		s.work -= len(ids)
		if !complete {
			continue
		}
		if !found || len(ids) < len(best) {
			best, found, s.skip = ids, true, i
		}
		if len(best) == 0 {
			return nil, "", nil
		}
	}
	if found {
		return s.fromCandidates(best)
	}
	return s.walk()
}

// loadSet reads the postings of the query's rarest positive term when
// it has at most s.setCap of them, for the walk to keep (s.set).
func (s *searcher) loadSet() {
	limit := s.setCap
	for i, t := range s.q.Terms {
		if t.Not {
			continue
		}
		ids, complete := s.postings(t, limit)
		s.work -= len(ids)
		if complete {
			s.set, s.skip, limit = ids, i, len(ids)
		}
	}
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

// termsMatch reports whether the issue's terms satisfy the query's. An
// exact term is looked up in its postings; prefix terms are checked in
// one pass over the issue's packed list.
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
	prefixes := false
	for i, t := range s.q.Terms {
		if i == s.skip {
			hit |= 1 << i
			continue
		}
		if t.Prefix {
			prefixes = true
			continue
		}
		if _, err := s.tx.Get(searchTermKey(s.r.Project, s.keys[i], id)); err == nil {
			hit |= 1 << i
		}
		if (hit&(1<<i) != 0) == t.Not {
			return false
		}
	}
	if prefixes {
		readTerms(s.tx, id, func(term string) bool {
			for i, t := range s.q.Terms {
				if t.Prefix && strings.HasPrefix(term, s.keys[i]) {
					hit |= 1 << i
				}
			}
			return true
		})
	}
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
	firstSeen, lastSeen       int64 // ms
	eventCount, digestOrder   int64
	resolved, muted, notFound bool
}

// The facts of each issue are also kept apart from its record, so that a
// search reads a few bytes per issue checked rather than the issue's JSON:
//
//	ifact:<iid 10>   uvarints project, first seen ms, last seen ms, event
//	                 count, digest order, flags (1 resolved, 2 muted)
//
// putIssue writes them with the record. An issue stored before they
// existed has none: the search then reads its record.
func issueFactsKey(iid uint32) string { return "ifact:" + pad10(iid) }

func (i *Issue) factsValue() string {
	b := make([]byte, 0, 40)
	flags := uint64(0)
	if i.IsResolved {
		flags |= 1
	}
	if i.IsMuted {
		flags |= 2
	}
	for _, n := range []int64{int64(i.ProjectID), i.FirstSeen.UnixMilli(), i.LastSeen.UnixMilli(), i.DigestedEventCount, int64(i.DigestOrder)} {
		b = binary.AppendVarint(b, n)
	}
	return string(binary.AppendUvarint(b, flags))
}

func parseFacts(v string) (facts, bool) {
	b := []byte(v)
	var n [5]int64
	for i := range n {
		x, w := binary.Varint(b)
		if w <= 0 {
			return facts{}, false
		}
		n[i], b = x, b[w:]
	}
	flags, w := binary.Uvarint(b)
	if w <= 0 {
		return facts{}, false
	}
	return facts{project: int(n[0]), firstSeen: n[1], lastSeen: n[2], eventCount: n[3], digestOrder: n[4],
		resolved: flags&1 != 0, muted: flags&2 != 0}, true
}

// issueFacts reads the facts of an issue: its ifact: key, or its record
// (with fastjson, several times faster than decoding the whole Issue).
func (s *searcher) issueFacts(id uint32) (facts, error) {
	if v, err := s.tx.Get(issueFactsKey(id)); err == nil {
		if f, ok := parseFacts(v); ok {
			return f, nil
		}
	}
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
	t := func(k string) int64 {
		t, _ := time.Parse(time.RFC3339Nano, string(o.GetStringBytes(k)))
		return t.UnixMilli()
	}
	return facts{
		project: o.GetInt("project"), firstSeen: t("first_seen"), lastSeen: t("last_seen"),
		eventCount: o.GetInt64("digested_event_count"), digestOrder: o.GetInt64("digest_order"),
		resolved: o.GetBool("is_resolved"), muted: o.GetBool("is_muted"),
	}, nil
}

// inRange reports whether ms is in r.
func inRange(r search.Range, ms int64) bool {
	return (r.After.IsZero() || ms >= ceilMs(r.After)) && (r.Before.IsZero() || ms < ceilMs(r.Before))
}

// ceilMs returns the first millisecond at or after t: a time stored in
// ms is at or after t exactly when its ms are at least ceilMs(t).
func ceilMs(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}

// match checks the issue: its terms (from the index), then, when the
// query or the plan needs them (needFacts), its state and times (from its
// facts). ok is false when it does not match.
func (s *searcher) match(id uint32, needFacts bool) (f facts, ok bool, err error) {
	if !s.termsMatch(id) {
		return f, false, nil
	}
	if !needFacts {
		return f, true, nil
	}
	if f, err = s.issueFacts(id); err != nil || f.notFound {
		return f, false, err
	}
	ok = f.project == s.r.Project && s.allowed&issueBits(f.resolved, f.muted) != 0 &&
		inRange(s.q.FirstSeen, f.firstSeen) && inRange(s.q.LastSeen, f.lastSeen)
	return f, ok, nil
}

func (s *searcher) position(id uint32, f facts) position {
	return issuePosition(id, f.lastSeen, f.eventCount, f.digestOrder, s.r.Sort)
}

// fromCandidates checks the issues of ids, sorts those that match and
// cuts the page.
func (s *searcher) fromCandidates(ids []uint32) ([]uint32, string, error) {
	var hits []position
	for _, id := range ids {
		f, ok, err := s.match(id, true)
		if err != nil {
			return nil, "", err
		}
		if !ok {
			continue
		}
		if p := s.position(id, f); !s.hasFrom || p.after(s.from, s.r.Desc) {
			hits = append(hits, p)
		}
	}
	slices.SortFunc(hits, func(a, b position) int {
		if a == b {
			return 0
		}
		if a.after(b, s.r.Desc) {
			return 1
		}
		return -1
	})
	if s.offset >= len(hits) {
		return nil, "", nil
	}
	hits = hits[s.offset:]
	next := ""
	if len(hits) > s.r.Limit {
		hits = hits[:s.r.Limit]
		next = hits[len(hits)-1].cursor()
	}
	out := make([]uint32, len(hits))
	for i, h := range hits {
		out[i] = h.id
	}
	return out, next, nil
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
// issue until the page is full or its work is spent.
func (s *searcher) walk() ([]uint32, string, error) {
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
	keyOf := func(p position) string {
		if byOrder {
			return prefix + pad10(uint32(p.key))
		}
		return prefix + pad20(p.key) + ":" + pad10(p.id)
	}
	// Before checking, the last-seen index says when the walk has passed
	// the query's last_seen range.
	var afterMs, beforeMs int64 = -1, -1
	if !s.q.LastSeen.After.IsZero() {
		afterMs = ceilMs(s.q.LastSeen.After)
	}
	if !s.q.LastSeen.Before.IsZero() {
		beforeMs = ceilMs(s.q.LastSeen.Before)
	}
	lastSeenOnly := s.r.Sort == SortLastSeen
	// The walk's index already says the state (except by digest order)
	// and, by last seen, the last-seen time: the facts are read only for
	// what the index does not say.
	needFacts := byOrder || !s.exactState || !s.q.FirstSeen.IsZero() || !s.q.LastSeen.IsZero() && !lastSeenOnly
	var out []uint32
	var last, lastHit position
	examined, done := false, true
	steps, checks := 0, 0
	skip := s.offset
	var ierr error
	start := ""
	if s.hasFrom {
		start = keyOf(s.from)
	}
	visit := func(k, v string) bool {
		if k == start {
			return true
		}
		var p position
		if byOrder {
			p.id = parseID(v)
			p.key, _ = strconv.ParseInt(k[len(k)-10:], 10, 64)
		} else {
			p.id = issueIDOfIndexKey(k)
			p.key, _ = strconv.ParseInt(k[len(k)-31:len(k)-11], 10, 64)
		}
		if lastSeenOnly && (afterMs >= 0 || beforeMs >= 0) {
			ms := p.key
			if s.r.Desc && afterMs >= 0 && ms < afterMs || !s.r.Desc && beforeMs >= 0 && ms >= beforeMs {
				return false // all later keys are out of range too
			}
			if afterMs >= 0 && ms < afterMs || beforeMs >= 0 && ms >= beforeMs {
				return true
			}
		}
		// The first key is always checked, so that each page moves on.
		if steps++; steps > 1 && (s.work <= 0 || s.work&31 == 0 && s.work < maxSearchWork*4/5 && time.Now().After(s.deadline)) {
			done = false
			return false
		}
		s.work--
		if checks++; checks == walkProbe && s.set == nil && len(out) < s.r.Limit {
			// The page is filling slowly: when the rest would take more
			// checks than reading a set costs keys, read one.
			need := (s.r.Limit - len(out)) * checks / max(len(out), 1)
			if need*checkCost > s.setCap {
				s.loadSet()
			}
		}
		if s.set != nil {
			if _, in := slices.BinarySearch(s.set, p.id); !in {
				last, examined = p, true
				return true
			}
		}
		if len(s.q.Terms) > 1 || s.set == nil && len(s.q.Terms) > 0 || needFacts {
			s.work -= checkCost
		}
		_, ok, err := s.match(p.id, needFacts)
		if err != nil {
			ierr = err
			return false
		}
		last, examined = p, true
		if !ok {
			return true
		}
		if skip > 0 {
			skip--
			return true
		}
		if len(out) == s.r.Limit {
			// One more match: the next page is not empty.
			done = false
			return false
		}
		out = append(out, p.id)
		lastHit = p
		return true
	}
	switch {
	case !s.r.Desc && start != "":
		s.tx.ascendFrom(prefix, start, visit)
	case !s.r.Desc:
		s.tx.ascend(prefix, visit)
	case start != "":
		s.tx.t.DescendFrom(prefix, start, visit)
	default:
		s.tx.descend(prefix, visit)
	}
	if ierr != nil || done {
		return out, "", ierr
	}
	switch {
	case len(out) == s.r.Limit:
		return out, lastHit.cursor(), nil
	case examined:
		// The work is spent: the next page goes on after the last issue
		// checked.
		return out, last.cursor(), nil
	}
	return out, "", nil
}
