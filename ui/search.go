package ui

import (
	"strings"

	"github.com/tinysink/tinysink/store"
)

// query is a parsed issue search (reference §9.7): key:value pairs, all of
// which must match the issue's tag counts, and free text matched
// case-insensitively against the calculated type or value.
type query struct {
	Tags []kv
	Text string
}

// parseQuery splits q into key:value (or key:"quoted value") pairs and the
// remaining words.
func parseQuery(q string) query {
	var out query
	var words []string
	s := strings.TrimSpace(q)
	for s != "" {
		var tok string
		tok, s = nextToken(s)
		key, val, ok := strings.Cut(tok, ":")
		if ok && key != "" && !strings.ContainsAny(key, "\"") && val != "" {
			out.Tags = append(out.Tags, kv{Key: key, Value: unquote(val)})
			continue
		}
		words = append(words, unquote(tok))
	}
	out.Text = strings.Join(words, " ")
	return out
}

// nextToken returns the first whitespace-separated token of s, where a
// double-quoted part may hold spaces, and the rest of s.
func nextToken(s string) (string, string) {
	inQuote := false
	for i, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
		case !inQuote && (r == ' ' || r == '\t' || r == '\n'):
			return s[:i], strings.TrimLeft(s[i:], " \t\n")
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

// matchText reports whether the free text of q occurs in the issue's
// calculated type or value, ignoring case.
func (q *query) matchText(iss *store.Issue) bool {
	if q.Text == "" {
		return true
	}
	t := strings.ToLower(q.Text)
	return strings.Contains(strings.ToLower(iss.CalculatedType), t) || strings.Contains(strings.ToLower(iss.CalculatedValue), t)
}
