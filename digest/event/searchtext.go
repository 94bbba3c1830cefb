package event

import (
	"sync"

	"github.com/tinysink/tinysink/internal/jtree"
)

// MaxSearchText is the most bytes of Event.SearchText.
const MaxSearchText = 8 << 10

// searchText returns what an issue search finds an event by beyond its
// title and tags: the type and value of every exception of the chain and
// the function, module and file name of their frames (and of the
// top-level and thread stack traces), one per line, cut to MaxSearchText
// bytes.
func (d *doc) searchText() string {
	bp := searchTextBuf.Get().(*[]byte)
	b := (*bp)[:0]
	defer func() { *bp = b; searchTextBuf.Put(bp) }()
	add := func(v *jtree.Value) bool {
		if v == nil || v.Type() != jtree.TypeString {
			return true
		}
		s, _ := v.StringBytes()
		if len(s) == 0 {
			return true
		}
		if !isClean(s) {
			s = []byte(sanitize(s))
		}
		if len(b)+len(s)+1 > MaxSearchText {
			return false
		}
		b = append(b, s...)
		b = append(b, '\n')
		return true
	}
	frames := func(st *jtree.Value) bool {
		for _, f := range framesOf(st) {
			for _, k := range [...]string{"function", "module", "filename"} {
				if !add(get(f, k)) {
					return false
				}
			}
		}
		return true
	}
	if d.excPresent {
		for _, e := range d.excVals {
			if !add(get(e, "type")) || !add(get(e, "value")) || !frames(get(e, "stacktrace")) {
				return string(b)
			}
		}
	}
	if !frames(d.stacktrace) {
		return string(b)
	}
	for _, th := range containerValues(d.threads) {
		if !frames(get(th, "stacktrace")) {
			break
		}
	}
	return string(b)
}

// searchTextBuf holds searchText's scratch (MaxSearchText bytes), so
// that each event's text is allocated once, at its size.
var searchTextBuf = sync.Pool{New: func() any { b := make([]byte, 0, MaxSearchText); return &b }}

// SearchFields calls tag with each tag an issue search finds the event by
// (its Tags and its level) and text with each text whose words it finds
// it by: the title and culprit always, and with stack set SearchText too.
// digest indexes an issue's events through it, and the UI searches one
// issue's events through it, so both find the same.
func (ev *Event) SearchFields(stack bool, tag func(key, value string), text func(s string)) {
	for _, t := range ev.Tags {
		if t.Key != "trace.ctx" { // searched as trace and trace.span (package store/search)
			tag(t.Key, t.Value)
		}
	}
	tag("level", ev.Level)
	text(ev.Title)
	text(ev.CalculatedType)
	text(ev.CalculatedValue)
	text(ev.Transaction)
	text(ev.LastFrameFilename)
	text(ev.LastFrameModule)
	text(ev.LastFrameFunction)
	if stack {
		text(ev.SearchText)
	}
}
