package event

import (
	"strings"

	"github.com/valyala/fastjson"
)

// MaxSearchText is the most bytes of Event.SearchText.
const MaxSearchText = 8 << 10

// searchText returns what an issue search finds an event by beyond its
// title and tags: the type and value of every exception of the chain and
// the function, module and file name of their frames (and of the
// top-level and thread stack traces), one per line, cut to MaxSearchText
// bytes.
func (d *doc) searchText() string {
	var b strings.Builder
	add := func(s string) bool {
		if s == "" {
			return true
		}
		if b.Len()+len(s)+1 > MaxSearchText {
			return false
		}
		b.WriteString(s)
		b.WriteByte('\n')
		return true
	}
	frames := func(st *fastjson.Value) bool {
		for _, f := range framesOf(st) {
			for _, k := range [...]string{"function", "module", "filename"} {
				if !add(strOf(get(f, k))) {
					return false
				}
			}
		}
		return true
	}
	if d.excPresent {
		for _, e := range d.excVals {
			if !add(strOf(get(e, "type"))) || !add(strOf(get(e, "value"))) || !frames(get(e, "stacktrace")) {
				return b.String()
			}
		}
	}
	if !frames(d.stacktrace) {
		return b.String()
	}
	for _, th := range containerValues(d.threads) {
		if !frames(get(th, "stacktrace")) {
			break
		}
	}
	return b.String()
}

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
