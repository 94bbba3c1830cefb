package ui

import (
	"strings"

	"github.com/tinysink/tinysink/digest/event"
	"github.com/tinysink/tinysink/store"
	"github.com/tinysink/tinysink/store/search"
)

// Searching one issue's events (the Events tab). Events have no index of
// their own: each stored event is read and normalised again, and the query
// is evaluated on the same tags and words digest indexes the issue by
// (event.SearchFields), so a search finds the same inside an issue as
// across issues. One page reads at most eventSearchScan events.
const eventSearchScan = 500

// eventTerms returns the index terms of an event.
func eventTerms(ev *event.Event) map[string]bool {
	terms := map[string]bool{}
	ev.SearchFields(true, func(k, v string) {
		if k != "" && v != "" {
			terms[search.TagTerm(k, v)] = true
		}
	}, func(s string) {
		search.Tokens(s, func(w string) bool { terms[search.WordTerm(w)] = true; return true })
	})
	return terms
}

// matchEvent reports whether the stored event e with normalised fields ev
// matches q: its terms, and its ingest time for first_seen and last_seen.
// is: conditions are the and hold for all its events.
func matchEvent(q *search.Query, e *store.Event, ev *event.Event) bool {
	if !q.FirstSeen.Contains(e.IngestedAt) || !q.LastSeen.Contains(e.IngestedAt) {
		return false
	}
	terms := eventTerms(ev)
	return q.Match(func(t search.Term) bool {
		k := t.IndexKey()
		if !t.Prefix {
			return terms[k]
		}
		for term := range terms {
			if strings.HasPrefix(term, k) {
				return true
			}
		}
		return false
	})
}
