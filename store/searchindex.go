package store

import (
	"encoding/binary"
	"hash/maphash"
	"strconv"
	"strings"

	"github.com/tinysink/tinysink/store/search"
)

// The search index (issuesearch.go reads it). Digest adds each issue's tag
// values and words (search.Tokens of its title, culprit and the exception
// values and frames of its events) as terms, in two key families of the
// tree:
//
//	sterm:<pid 6>:<term>\x00<iid 10>   ""  the issues carrying a term, by term
//	iterm:<iid 10>:<n 3>               the issue's terms, packed (termChunk)
//
// A term is search.TagTerm ("t<key>\x00<value>") or search.WordTerm
// ("w<word>"). The issue's own list is packed into a few chunks, each
// small enough to stay in its leaf page, so a batch reads and writes an
// issue's terms with a couple of keys, and checking an issue against a
// query reads one or two keys. Each issue indexes at most maxTagValues
// values per tag key (maxUniqueTagValues for keys whose values are unique
// per event: user*, trace*, browser*, os*) and maxIssueWords words; later
// ones are not indexed, so an issue's index stops growing after its first
// distinct values.
const (
	maxIssueWords      = 1000
	maxUniqueTagValues = 50
	// termChunk is the most bytes of one iterm: value.
	termChunk = 900
)

func searchTermKey(pid int, term string, iid uint32) string {
	return searchTermPrefix(pid, term) + "\x00" + pad10(iid)
}
func searchTermPrefix(pid int, term string) string { return "sterm:" + pad6(pid) + ":" + term }
func issueTermsKey(iid uint32, n int) string {
	s := strconv.Itoa(n)
	return issueTermsPrefix(iid) + "000"[:max(0, 3-len(s))] + s
}
func issueTermsPrefix(iid uint32) string { return "iterm:" + pad10(iid) + ":" }

func pad6(n int) string {
	s := strconv.Itoa(n)
	if len(s) >= 6 {
		return s
	}
	return "000000"[:6-len(s)] + s
}

// issueTerms is an issue's terms while a batch indexes it.
type issueTerms struct {
	pid    int
	all    []string
	set    map[string]bool
	budget map[string]int // terms per tag key ("t<key>") and words ("w")
	chunks int            // iterm: keys stored
	dirty  bool
	// done holds keyed hashes of the tags and texts this batch already
	// indexed for the issue: its events mostly repeat them, and indexing
	// one again would change nothing (terms are only added, budgets only
	// spent) but cost a term string per tag and a tokenisation per text.
	done map[uint64]struct{}
}

// indexSeed keys the hashes of issueTerms.done.
var indexSeed = maphash.MakeSeed()

// once reports whether the issue's terms already took the tag or text
// (kind 't' or 'w') with parts a and b in this batch, and notes it if not.
func (it *issueTerms) once(kind byte, a, b string) bool {
	var h maphash.Hash
	h.SetSeed(indexSeed)
	h.WriteByte(kind)
	h.WriteString(a)
	h.WriteByte(0)
	h.WriteString(b)
	k := h.Sum64()
	if _, ok := it.done[k]; ok {
		return true
	}
	if it.done == nil {
		// Room for the tags and texts of a few events at once: an
		// issue's events mostly differ in a few values each.
		it.done = make(map[uint64]struct{}, 64)
	}
	it.done[k] = struct{}{}
	return false
}

// termBudget returns the budget a term counts against and its size.
func termBudget(term string) (string, int) {
	if term[0] == 'w' {
		return "w", maxIssueWords
	}
	key, _, _ := strings.Cut(term, "\x00")
	k := key[1:]
	if uniqueTag(k) {
		return key, maxUniqueTagValues
	}
	return key, maxTagValues
}

// uniqueTag reports whether a tag key's values are (nearly) unique per
// event: user, trace, browser and os and their sub-keys (reference §9.6).
func uniqueTag(k string) bool {
	for _, p := range [...]string{"user", "trace", "browser", "os"} {
		if k == p || strings.HasPrefix(k, p+".") {
			return true
		}
	}
	return false
}

// readTerms calls fn with each term packed in the issue's iterm: keys and
// returns how many keys there are.
func readTerms(tx *kvTx, iid uint32, fn func(term string) bool) int {
	n := 0
	stop := false
	tx.ascend(issueTermsPrefix(iid), func(k, v string) bool {
		n++
		for len(v) > 0 && !stop {
			l, w := binary.Uvarint([]byte(v[:min(len(v), binary.MaxVarintLen32)]))
			if w <= 0 || uint64(len(v)-w) < l {
				break
			}
			stop = !fn(v[w : w+int(l)])
			v = v[w+int(l):]
		}
		return !stop
	})
	return n
}

func (t *Tx) termsOf(iss *Issue) *issueTerms {
	if it, ok := t.terms[iss.ID]; ok {
		return it
	}
	if t.terms == nil {
		t.terms = map[uint32]*issueTerms{}
	}
	it := &issueTerms{pid: iss.ProjectID, budget: map[string]int{}}
	it.chunks = readTerms(t.kv, iss.ID, func(term string) bool {
		it.all = append(it.all, term)
		return true
	})
	// The set is made at its size once the terms are read: grown one
	// term at a time, it was a twentieth of the bytes the digest
	// allocated at full speed (each touched issue's terms, every batch).
	it.set = make(map[string]bool, len(it.all))
	for _, term := range it.all {
		it.set[term] = true
		b, _ := termBudget(term)
		it.budget[b]++
	}
	t.terms[iss.ID] = it
	return it
}

// IndexTag adds tag key=value to the issue's search terms (values are
// matched without regard to case).
func (t *Tx) IndexTag(iss *Issue, key, value string) error {
	if key == "" || value == "" || t.termsOf(iss).once('t', key, value) {
		return nil
	}
	return t.indexTerm(iss, search.TagTerm(key, value))
}

// IndexText adds the words of s to the issue's search terms.
func (t *Tx) IndexText(iss *Issue, s string) error {
	var err error
	it := t.termsOf(iss)
	if it.once('w', s, "") {
		return nil
	}
	prefix := search.WordTerm("")
	budget, limit := termBudget(prefix)
	var buf [64]byte
	search.TokenBytes(s, func(w []byte) bool {
		term := append(append(buf[:0], prefix...), w...)
		// Most words of an issue's event are the issue's already, or
		// its word budget is spent: decide those without a string.
		if it.set[string(term)] || it.budget[budget] >= limit {
			return true
		}
		err = t.indexTerm(iss, string(term))
		return err == nil
	})
	return err
}

// indexTerm adds term to the issue unless it has it or its budget is
// spent.
func (t *Tx) indexTerm(iss *Issue, term string) error {
	it := t.termsOf(iss)
	if it.set[term] {
		return nil
	}
	b, limit := termBudget(term)
	if it.budget[b] >= limit {
		return nil
	}
	it.set[term] = true
	it.budget[b]++
	it.all = append(it.all, term)
	it.dirty = true
	_, _, err := t.kv.Set(searchTermKey(iss.ProjectID, term, iss.ID), "", nil)
	return err
}

// flushTerms writes the packed term lists the batch changed.
func (t *Tx) flushTerms() error {
	for iid, it := range t.terms {
		if !it.dirty {
			continue
		}
		var chunk []byte
		n := 0
		put := func() error {
			_, _, err := t.kv.Set(issueTermsKey(iid, n), string(chunk), nil)
			n++
			chunk = chunk[:0]
			return err
		}
		for _, term := range it.all {
			if len(chunk)+len(term)+binary.MaxVarintLen32 > termChunk && len(chunk) > 0 {
				if err := put(); err != nil {
					return err
				}
			}
			chunk = binary.AppendUvarint(chunk, uint64(len(term)))
			chunk = append(chunk, term...)
		}
		if len(chunk) > 0 {
			if err := put(); err != nil {
				return err
			}
		}
		it.chunks = n
	}
	return nil
}

// issueTermKeys returns the search-index keys of an issue, for deleting it.
func issueTermKeys(tx *kvTx, iss *Issue) []string {
	var keys []string
	n := readTerms(tx, iss.ID, func(term string) bool {
		keys = append(keys, searchTermKey(iss.ProjectID, term, iss.ID))
		return true
	})
	for i := range n {
		keys = append(keys, issueTermsKey(iss.ID, i))
	}
	return keys
}
