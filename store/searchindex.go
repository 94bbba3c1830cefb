package store

import (
	"errors"
	"strconv"
	"strings"

	"github.com/tidwall/buntdb"

	"github.com/tinysink/tinysink/store/search"
)

// The search index (search.go reads it). Digest adds each issue's tag
// values and words (search.Tokens of its title, culprit and the exception
// values and frames of its events) as terms, in two key families of the
// tree:
//
//	sterm:<pid 6>:<term>\x00<iid 10>   ""  the issues carrying a term, by term
//	iterm:<iid 10>:<term>              ""  the terms of an issue
//	itermn:<iid 10>:<budget>           terms counted against a budget
//
// A term is search.TagTerm ("t<key>\x00<value>") or search.WordTerm
// ("w<word>"). Each issue indexes at most maxTagValues values per tag key
// and maxIssueWords words; later ones are not indexed, so an issue's index
// never grows with its events, only with its first distinct values.
const (
	// maxIssueWords caps the distinct words indexed per issue.
	maxIssueWords = 1000
)

func searchTermKey(pid int, term string, iid uint32) string {
	return searchTermPrefix(pid, term) + "\x00" + pad10(iid)
}
func searchTermPrefix(pid int, term string) string { return "sterm:" + pad6(pid) + ":" + term }
func issueTermKey(iid uint32, term string) string  { return issueTermPrefix(iid) + term }
func issueTermPrefix(iid uint32) string            { return "iterm:" + pad10(iid) + ":" }
func issueTermCountKey(iid uint32, budget string) string {
	return issueTermCountPrefix(iid) + budget
}
func issueTermCountPrefix(iid uint32) string { return "itermn:" + pad10(iid) + ":" }

func pad6(n int) string {
	s := strconv.Itoa(n)
	if len(s) >= 6 {
		return s
	}
	return "000000"[:6-len(s)] + s
}

// IndexTag adds tag key=value to the issue's search terms (values are
// matched without regard to case).
func (t *Tx) IndexTag(iss *Issue, key, value string) error {
	if key == "" || value == "" {
		return nil
	}
	term := search.TagTerm(key, value)
	budget, _, _ := strings.Cut(term, "\x00")
	return t.indexTerm(iss, term, budget, maxTagValues)
}

// IndexText adds the words of s to the issue's search terms.
func (t *Tx) IndexText(iss *Issue, s string) error {
	var err error
	search.Tokens(s, func(w string) bool {
		err = t.indexTerm(iss, search.WordTerm(w), "w", maxIssueWords)
		return err == nil
	})
	return err
}

// indexTerm adds term to the issue unless it has it or its budget holds
// max terms already.
func (t *Tx) indexTerm(iss *Issue, term, budget string, max int) error {
	seen := pad10(iss.ID) + term
	if t.terms[seen] {
		return nil
	}
	if t.terms == nil {
		t.terms = map[string]bool{}
	}
	t.terms[seen] = true
	fk := issueTermKey(iss.ID, term)
	if len(fk) > 500 {
		return nil // longer than the tree takes; search.MaxKey and MaxValue keep terms below
	}
	if _, err := t.kv.Get(fk); err == nil {
		return nil
	} else if !errors.Is(err, buntdb.ErrNotFound) {
		return err
	}
	nk := issueTermCountKey(iss.ID, budget)
	ns, _ := t.kv.Get(nk)
	n, _ := strconv.Atoi(ns)
	if n >= max {
		return nil
	}
	for _, kv := range [][2]string{{nk, strconv.Itoa(n + 1)}, {fk, ""}, {searchTermKey(iss.ProjectID, term, iss.ID), ""}} {
		if _, _, err := t.kv.Set(kv[0], kv[1], nil); err != nil {
			return err
		}
	}
	return nil
}

// issueTermKeys returns the search-index keys of an issue, for deleting it.
func issueTermKeys(tx *kvTx, iss *Issue) []string {
	var keys []string
	prefix := issueTermPrefix(iss.ID)
	tx.ascend(prefix, func(k, v string) bool {
		keys = append(keys, k, searchTermKey(iss.ProjectID, k[len(prefix):], iss.ID))
		return true
	})
	tx.ascend(issueTermCountPrefix(iss.ID), func(k, v string) bool { keys = append(keys, k); return true })
	return keys
}
