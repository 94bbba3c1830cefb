// Package search is tinysink's issue search language: the one parser
// behind the UI's issue list, the API's ?query= and the events search of
// one issue, and the tokenizer that digest indexes free text with. The
// store evaluates a parsed Query against its on-disk index
// (store.DB.SearchIssues).
//
// The language, words separated by spaces:
//
//	key:value          the events carried tag key with this value
//	key:"a value"      a value with spaces
//	key:val*           a value starting with "val"
//	!key:value         negation (also -key:value)
//	is:STATE           open, unresolved, resolved, muted, unmuted
//	first_seen:RANGE   also last_seen; RANGE is >2026-11-01, <=2026-11-01T10:00:00Z,
//	                   2026-11-01 (that day), -7d or <7d (within the last 7 days),
//	                   +7d or >7d (longer ago); units s, m, h, d, w
//	word, "a phrase"   free text: each word starts a word of the title, the
//	                   culprit, or the exception values, function, module or
//	                   file names of the events
//	-word              none of the words start with word
//
// Tag values and words match without regard to case. environment matches
// by prefix (environment:prod finds production); env is short for
// environment and trace.id for trace. level is a tag here, as are
// user.email, user.id, browser, os and trace.
package search

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrBadQuery wraps every parse error: the query is the user's mistake.
var ErrBadQuery = errors.New("search: bad query")

// Limits on what a query and the index hold.
const (
	// MaxQuery is the longest query Parse reads, in bytes; the rest is
	// ignored.
	MaxQuery = 1000
	// MaxTerms is the most terms a query may have.
	MaxTerms = 16
	// MaxToken is the length in bytes free-text words are cut to.
	MaxToken = 40
	// MaxKey and MaxValue are the lengths in bytes tag keys and values
	// are cut to in the index.
	MaxKey   = 100
	MaxValue = 256
)

// Term is one condition on the index: a tag value or a word.
type Term struct {
	// Key is the tag key, or "" for a free-text word.
	Key string
	// Value is the lowercased tag value or word.
	Value string
	// Prefix matches any value starting with Value.
	Prefix bool
	// Not inverts the term.
	Not bool
}

// IndexKey returns the term as the index stores it: "t<key>\x00<value>"
// for a tag, "w<word>" for a word. For a prefix term it is the prefix of
// the stored terms that match.
func (t Term) IndexKey() string {
	if t.Key == "" {
		return "w" + t.Value
	}
	return TagTerm(t.Key, t.Value)
}

// TagTerm returns the index term of tag key=value.
func TagTerm(key, value string) string {
	return "t" + cut(strings.ToLower(key), MaxKey) + "\x00" + cut(strings.ToLower(value), MaxValue)
}

// WordTerm returns the index term of a word Tokens returned.
func WordTerm(word string) string { return "w" + word }

// State is an is: condition.
type State struct {
	Name string // open, unresolved, resolved, muted, unmuted
	Not  bool
}

// Range is a time range; a zero bound is open.
type Range struct {
	After  time.Time // inclusive
	Before time.Time // exclusive
}

// Contains reports whether t is in r.
func (r Range) Contains(t time.Time) bool {
	return (r.After.IsZero() || !t.Before(r.After)) && (r.Before.IsZero() || t.Before(r.Before))
}

// IsZero reports whether r is unbounded.
func (r Range) IsZero() bool { return r.After.IsZero() && r.Before.IsZero() }

// Query is a parsed search. All its conditions must hold.
type Query struct {
	Terms     []Term
	States    []State
	FirstSeen Range
	LastSeen  Range
}

// IsZero reports whether q matches everything.
func (q *Query) IsZero() bool {
	return len(q.Terms) == 0 && len(q.States) == 0 && q.FirstSeen.IsZero() && q.LastSeen.IsZero()
}

// Match reports whether the terms of q hold, asking has whether the
// subject carries a term. States and ranges are the caller's.
func (q *Query) Match(has func(Term) bool) bool {
	for _, t := range q.Terms {
		if has(t) == t.Not {
			return false
		}
	}
	return true
}

// MatchState reports whether the is: conditions hold for an issue.
func (q *Query) MatchState(resolved, muted bool) bool {
	for _, s := range q.States {
		var ok bool
		switch s.Name {
		case "open":
			ok = !resolved && !muted
		case "unresolved":
			ok = !resolved
		case "resolved":
			ok = resolved
		case "muted":
			ok = muted
		case "unmuted":
			ok = !muted
		}
		if ok == s.Not {
			return false
		}
	}
	return true
}

// Parse parses a query; relative times count back from now. Errors wrap
// ErrBadQuery and say what is wrong in words a user can act on.
func Parse(s string, now time.Time) (*Query, error) {
	if len(s) > MaxQuery {
		s = cut(s, MaxQuery)
	}
	q := &Query{}
	s = strings.TrimSpace(s)
	for s != "" {
		var tok string
		tok, s = nextToken(s)
		if err := q.add(tok, now); err != nil {
			return nil, fmt.Errorf("%w: %s", ErrBadQuery, err.Error())
		}
		if len(q.Terms)+len(q.States) > MaxTerms {
			return nil, fmt.Errorf("%w: more than %d terms", ErrBadQuery, MaxTerms)
		}
	}
	return q, nil
}

func (q *Query) add(tok string, now time.Time) error {
	not := false
	if len(tok) > 1 && (tok[0] == '!' || tok[0] == '-') {
		not, tok = true, tok[1:]
	}
	key, val, ok := strings.Cut(tok, ":")
	if !ok || !isKey(key) || val == "" || strings.HasPrefix(val, "//") {
		// Free text: each word of it.
		Tokens(unquote(tok), func(w string) bool {
			q.Terms = append(q.Terms, Term{Value: w, Prefix: true, Not: not})
			return len(q.Terms) <= MaxTerms
		})
		return nil
	}
	key = strings.ToLower(key)
	val = unquote(val)
	switch key {
	case "is":
		switch v := strings.ToLower(val); v {
		case "open", "unresolved", "resolved", "muted", "unmuted":
			q.States = append(q.States, State{Name: v, Not: not})
		default:
			return fmt.Errorf("is:%s: is: takes open, unresolved, resolved, muted or unmuted", val)
		}
		return nil
	case "first_seen", "firstseen", "last_seen", "lastseen":
		if not {
			return fmt.Errorf("%s: a time range cannot be negated", key)
		}
		r, err := parseRange(val, now)
		if err != nil {
			return fmt.Errorf("%s:%s: %s", key, val, err.Error())
		}
		p := &q.FirstSeen
		if key == "last_seen" || key == "lastseen" {
			p = &q.LastSeen
		}
		*p = intersect(*p, r)
		return nil
	case "env":
		key = "environment"
	case "trace.id", "trace_id":
		key = "trace"
	case "trace.ctx":
		// "<trace>.<span>": not indexed, being the two tags together.
		if tr, span, ok := strings.Cut(val, "."); ok && tr != "" && span != "" {
			q.Terms = append(q.Terms, Term{Key: "trace", Value: strings.ToLower(tr), Not: not},
				Term{Key: "trace.span", Value: strings.ToLower(span), Not: not})
			return nil
		}
	}
	t := Term{Key: key, Not: not, Prefix: key == "environment"}
	if v, ok := strings.CutSuffix(val, "*"); ok {
		val, t.Prefix = v, true
	}
	t.Value = strings.ToLower(val)
	if len(t.Value) > MaxValue {
		t.Value, t.Prefix = cut(t.Value, MaxValue), true
	}
	if t.Value == "" && !t.Prefix {
		return nil
	}
	q.Terms = append(q.Terms, t)
	return nil
}

// isKey reports whether s looks like a tag key: a letter or '_', then
// letters, digits, '_', '.' and '-'. "127.0.0.1:80" and "TypeError:" in
// a pasted title stay text.
func isKey(s string) bool {
	if s == "" || len(s) > MaxKey {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
		case i > 0 && (r >= '0' && r <= '9' || r == '.' || r == '-'):
		default:
			return false
		}
	}
	return true
}

func intersect(a, b Range) Range {
	if b.After.After(a.After) {
		a.After = b.After
	}
	if !b.Before.IsZero() && (a.Before.IsZero() || b.Before.Before(a.Before)) {
		a.Before = b.Before
	}
	return a
}

// parseRange reads >DATE, >=DATE, <DATE, <=DATE, DATE (that day, or that
// instant for a full timestamp), -DUR/<DUR (within the last DUR) and
// +DUR/>DUR (longer ago than DUR).
func parseRange(s string, now time.Time) (Range, error) {
	op := ""
	for _, p := range [...]string{">=", "<=", ">", "<", "-", "+"} {
		if rest, ok := strings.CutPrefix(s, p); ok {
			op, s = p, rest
			break
		}
	}
	if d, ok := parseDuration(s); ok {
		at := now.Add(-d)
		switch op {
		case "", "-", "<", "<=":
			return Range{After: at}, nil
		default:
			return Range{Before: at}, nil
		}
	}
	if op == "-" || op == "+" {
		return Range{}, errors.New("want a duration such as 24h or 7d after - or +")
	}
	t, day, err := parseTime(s)
	if err != nil {
		return Range{}, err
	}
	end := t.Add(time.Nanosecond)
	if day {
		end = t.AddDate(0, 0, 1)
	}
	switch op {
	case ">":
		return Range{After: end}, nil
	case ">=":
		return Range{After: t}, nil
	case "<":
		return Range{Before: t}, nil
	case "<=":
		return Range{Before: end}, nil
	}
	return Range{After: t, Before: end}, nil
}

// parseDuration reads a positive count followed by s, m, h, d or w.
func parseDuration(s string) (time.Duration, bool) {
	if len(s) < 2 {
		return 0, false
	}
	n, err := strconv.ParseUint(s[:len(s)-1], 10, 31)
	if err != nil {
		return 0, false
	}
	var unit time.Duration
	switch s[len(s)-1] {
	case 's':
		unit = time.Second
	case 'm':
		unit = time.Minute
	case 'h':
		unit = time.Hour
	case 'd':
		unit = 24 * time.Hour
	case 'w':
		unit = 7 * 24 * time.Hour
	default:
		return 0, false
	}
	if n > uint64(100*365*24*time.Hour/unit) {
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// parseTime reads a date (day is then true) or an RFC 3339 timestamp, in
// UTC unless it says otherwise.
func parseTime(s string) (time.Time, bool, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, true, nil
	}
	for _, layout := range [...]string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, false, nil
		}
	}
	return time.Time{}, false, errors.New("want a date (2026-11-01), a time (2026-11-01T10:00:00Z) or a duration (24h, 7d)")
}

// nextToken returns the first whitespace-separated token of s, where a
// double-quoted part may hold spaces, and the rest of s.
func nextToken(s string) (string, string) {
	inQuote := false
	for i, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
		case !inQuote && unicode.IsSpace(r):
			return s[:i], strings.TrimLeftFunc(s[i:], unicode.IsSpace)
		}
	}
	return s, ""
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return strings.Trim(s, "\"")
}

// Tokens calls fn with each word of s, lowercased and cut to MaxToken
// bytes, in order, until fn returns false. Words are runs of letters and
// digits; everything else separates them, so "app/models/user.py" is
// app, models, user and py.
func Tokens(s string, fn func(word string) bool) {
	TokenBytes(s, func(w []byte) bool { return fn(string(w)) })
}

// TokenBytes is Tokens without a string per word: fn gets each word in a
// buffer that is only valid until it returns. The digest indexes every
// event's words and has nearly all of them already (TokenBytes lets it
// look them up without allocating).
func TokenBytes(s string, fn func(word []byte) bool) {
	start := -1
	var buf [MaxToken]byte
	emit := func(w string) bool {
		n := 0
		for _, r := range w {
			r = unicode.ToLower(r)
			if n+utf8.RuneLen(r) > MaxToken {
				break
			}
			n += utf8.EncodeRune(buf[n:], r)
		}
		return fn(buf[:n])
	}
	for i, r := range s {
		word := unicode.IsLetter(r) || unicode.IsDigit(r)
		if word && r == utf8.RuneError {
			word = false
		}
		switch {
		case word && start < 0:
			start = i
		case !word && start >= 0:
			if !emit(s[start:i]) {
				return
			}
			start = -1
		}
	}
	if start >= 0 {
		emit(s[start:])
	}
}

// cut returns s cut to at most n bytes at a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
