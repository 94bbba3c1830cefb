package event

import (
	"unicode/utf8"

	"github.com/tinysink/tinysink/digest/rawevent"
	"github.com/tinysink/tinysink/digest/scrub"
	"github.com/tinysink/tinysink/internal/jsonscan"
	"github.com/tinysink/tinysink/internal/jtree"
)

// writer serialises parsed JSON. It does not use MarshalTo (jtree's, which
// writes as fastjson's does), which passes through what the lenient parser
// accepted (NaN, raw control characters, invalid escapes in keys) and quotes
// with Go syntax (\x00, \U0001F600) that JSON does not allow. Every string
// and key is written as valid UTF-8 (runs of invalid bytes become U+FFFD)
// without NUL bytes.
type writer struct {
	buf []byte
	err error
	// meta, when set, is written as the document's "_meta" in place of the
	// event's own (see utf8meta.go).
	meta map[string]any
	// depth and first describe the object being visited by visitKV.
	depth int
	first bool
	visit func(k []byte, plain bool, v *jtree.Value)
	// sc, when set, scrubs the document as it is written (see
	// scrub.Walker). mode is the scrub mode of the value being written,
	// parent that of the object whose members are being written; both
	// stay the zero mode without sc.
	sc     *scrub.Walker
	mode   scrub.Mode
	parent scrub.Mode
}

// value appends v, found at the given nesting depth (counted as fastjson
// counts: the top-level value is at depth 1). An array or object whose
// entries would lie deeper than fastjson parses back is written as
// rawevent.DepthMarker (see depth.go).
func (w *writer) value(v *jtree.Value, depth int) error {
	if w.err != nil {
		return w.err
	}
	t := v.Type()
	if depth >= jtree.MaxDepth && (t == jtree.TypeObject || t == jtree.TypeArray) {
		w.text(rawevent.DepthMarker)
		return nil
	}
	start := len(w.buf)
	switch t {
	case jtree.TypeObject:
		o, _ := v.Object()
		w.object(o, depth)
	case jtree.TypeArray:
		a, _ := v.Array()
		w.array(a, depth)
	case jtree.TypeString:
		b, _ := v.StringBytes()
		w.strValueOf(b, v.Plain())
		return w.err
	case jtree.TypeNumber:
		w.buf = appendNumber(w.buf, v)
	case jtree.TypeTrue:
		w.buf = append(w.buf, "true"...)
	case jtree.TypeFalse:
		w.buf = append(w.buf, "false"...)
	default:
		w.buf = append(w.buf, "null"...)
	}
	if w.sc != nil && w.sc.Scans(w.mode) && (w.sc.Filters(w.mode) || t != jtree.TypeObject && t != jtree.TypeArray) {
		w.scrubbed(start)
	}
	return w.err
}

// scrubbed replaces the value written from start by what scrubbing in
// w.mode makes of it.
func (w *writer) scrubbed(start int) {
	if out, ok := w.sc.Value(w.mode, w.buf[start:]); ok {
		w.buf = append(w.buf[:start], out...)
	}
}

// array writes the elements of an array found at the given depth; with a
// scrubber, each in the mode scrub.Walker.Elem gives, and a [name,
// value...] pair of a list of pairs as pair writes it.
func (w *writer) array(a []*jtree.Value, depth int) {
	m := w.mode
	em, pairs := m, false
	if w.sc != nil {
		em, pairs = w.sc.Elem(m)
	}
	w.buf = append(w.buf, '[')
	for i, item := range a {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		// An array too deep is written as a string, and so is no pair.
		if pairs && item.Type() == jtree.TypeArray && depth+1 < jtree.MaxDepth {
			p, _ := item.Array()
			w.pair(p, m, depth+1)
		} else {
			w.mode = em
			w.value(item, depth+1)
		}
		w.mode = m
		if w.err != nil {
			return
		}
	}
	w.buf = append(w.buf, ']')
}

// pair writes a [name, value...] pair, found at the given depth in a list
// of pairs in mode m: a name that is written as a string is not scrubbed
// and gives the mode of the values after it; a name that is not a string is
// scrubbed, and the values after it, in scrub.PairName.
func (w *writer) pair(p []*jtree.Value, m scrub.Mode, depth int) {
	w.buf = append(w.buf, '[')
	var vm scrub.Mode
	for i, item := range p {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		if i == 0 {
			start := len(w.buf)
			w.mode = scrub.PairName
			if item.Type() == jtree.TypeString {
				w.mode = 0
			}
			w.value(item, depth+1)
			vm = scrub.PairName
			if w.buf[start] == '"' {
				vm = w.sc.Child(m, w.buf[start:])
			}
		} else {
			w.mode = vm
			w.value(item, depth+1)
		}
		if w.err != nil {
			return
		}
	}
	w.buf = append(w.buf, ']')
}

func (w *writer) object(o *jtree.Object, depth int) {
	if w.visit == nil {
		w.visit = w.visitKV // one allocation per writer, not per object
	}
	w.buf = append(w.buf, '{')
	outer := w.enter(depth)
	o.VisitPlain(w.visit)
	w.leave(outer)
	w.buf = append(w.buf, '}')
}

// objectState is what enter saves of the object being written around.
type objectState struct {
	depth        int
	first        bool
	mode, parent scrub.Mode
}

// enter starts writing the members of an object, in w.mode, whose members
// lie at the given depth; leave ends it.
func (w *writer) enter(depth int) objectState {
	outer := objectState{w.depth, w.first, w.mode, w.parent}
	w.depth, w.first, w.parent = depth, true, w.mode
	return outer
}

func (w *writer) leave(outer objectState) {
	w.depth, w.first, w.mode, w.parent = outer.depth, outer.first, outer.mode, outer.parent
}

func (w *writer) visitKV(k []byte, plain bool, v *jtree.Value) {
	if w.err != nil {
		return
	}
	w.keyOf(k, plain)
	w.value(v, w.depth+1)
}

// key appends a separator if needed, then "k":, and with a scrubber sets
// the mode of the member's value.
func (w *writer) key(k []byte) { w.keyOf(k, false) }

// keyOf is key for a key that the parser found plain (jtree.Value.Plain)
// or not: a plain key is copied as it is, without a scan.
func (w *writer) keyOf(k []byte, plain bool) {
	if !w.first {
		w.buf = append(w.buf, ',')
	}
	w.first = false
	start := len(w.buf)
	altered := false
	if plain {
		w.plain(k)
	} else {
		_, altered = w.str(k)
	}
	if w.sc != nil {
		if altered {
			w.mode = w.sc.Child(w.parent, w.buf[start:])
		} else {
			w.mode = w.sc.ChildName(w.parent, k) // what was written decodes to k
		}
	}
	w.buf = append(w.buf, ':')
}

// keyString is key for a name that needs no escaping.
func (w *writer) keyString(k string) {
	if !w.first {
		w.buf = append(w.buf, ',')
	}
	w.first = false
	w.buf = append(w.buf, '"')
	w.buf = append(w.buf, k...)
	w.buf = append(w.buf, '"')
	if w.sc != nil {
		w.mode = w.sc.ChildName(w.parent, []byte(k))
	}
	w.buf = append(w.buf, ':')
}

// text appends s as a JSON string value (see strValue).
func (w *writer) text(s string) {
	w.strValue([]byte(s))
}

// strValue appends b as a JSON string (see str), scrubbed in w.mode.
func (w *writer) strValue(b []byte) { w.strValueOf(b, false) }

// strValueOf is strValue for a string that the parser found plain
// (jtree.Value.Plain) or not: a plain string is copied as it is, without
// a scan.
func (w *writer) strValueOf(b []byte, plain bool) {
	start := len(w.buf)
	var escaped, altered bool
	if plain {
		w.plain(b)
	} else {
		escaped, altered = w.str(b)
	}
	if w.sc == nil || !w.sc.Scans(w.mode) {
		return
	}
	if altered || w.sc.Filters(w.mode) {
		w.scrubbed(start)
		return
	}
	// b is what the string written decodes to.
	if out, ok := w.sc.String(w.mode, b, w.buf[start:], escaped); ok {
		w.buf = append(w.buf[:start], out...)
	}
}

// str appends b as a JSON string: runs of invalid UTF-8 become one U+FFFD
// (as strings.ToValidUTF8 does), NUL bytes are dropped, and quotes,
// backslashes and control characters are escaped. It reports whether it
// escaped anything, and whether what it wrote differs from b in more than
// escapes (a NUL dropped, invalid UTF-8 replaced).
func (w *writer) str(b []byte) (escaped, altered bool) {
	i := jsonscan.SpecialOrHigh(b, 0)
	if i == len(b) {
		w.plain(b)
		return false, false
	}
	buf := append(w.buf, '"')
	start := 0
	for i < len(b) {
		c := b[i]
		if c < utf8.RuneSelf {
			buf = append(buf, b[start:i]...)
			escaped = escaped || c != 0
			switch c {
			case 0:
				altered = true
			case '"':
				buf = append(buf, '\\', '"')
			case '\\':
				buf = append(buf, '\\', '\\')
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigit[c>>4], hexDigit[c&0xf])
			}
			i++
			start = i
		} else if r, size := utf8.DecodeRune(b[i:]); r != utf8.RuneError || size > 1 {
			i += size
		} else {
			buf = append(buf, b[start:i]...)
			for i < len(b) {
				r, size = utf8.DecodeRune(b[i:])
				if r != utf8.RuneError || size > 1 {
					break
				}
				i++
			}
			buf = append(buf, "\uFFFD"...)
			start = i
			altered = true
		}
		// Skip the plain run (printable ASCII but '"' and '\\') eight
		// bytes at a time.
		i = jsonscan.SpecialOrHigh(b, i)
	}
	buf = append(buf, b[start:]...)
	w.buf = append(buf, '"')
	return escaped, altered
}

// plain appends b, which holds only printable ASCII but quotes and
// backslashes, as a JSON string: b as it is, between quotes. Most strings
// and nearly all keys are plain.
func (w *writer) plain(b []byte) {
	w.buf = append(append(append(w.buf, '"'), b...), '"')
}

const hexDigit = "0123456789abcdef"

// Top-level keys the writer produces itself.
const (
	kEventID = iota
	kTimestamp
	kReceived
	kLevel
	kPlatform
	kException
	kBreadcrumbs
	kThreads
	kMessage
	kLogentry
	kUser
	numManaged
)

var managedNames = [numManaged]string{
	kEventID:     "event_id",
	kTimestamp:   "timestamp",
	kReceived:    "received",
	kLevel:       "level",
	kPlatform:    "platform",
	kException:   "exception",
	kBreadcrumbs: "breadcrumbs",
	kThreads:     "threads",
	kMessage:     "message",
	kLogentry:    "logentry",
	kUser:        "user",
}

// managedKey returns the index of the managed key k sanitises to, or -1.
func managedKey(k []byte) int {
	for i, name := range managedNames {
		if keyIs(k, name) {
			return i
		}
	}
	return -1
}

// document writes the normalised event: the parsed document in its original
// key order, with the managed keys replaced by their normalised form at the
// place of their first occurrence (later duplicates, and keys that only
// sanitise to a managed name, are dropped), and the managed keys that must
// always be present appended when missing.
func (w *writer) document(d *doc, ev *Event, m Meta) error {
	var done [numManaged]bool
	w.buf = append(w.buf, '{')
	if w.sc != nil {
		w.mode = scrub.ModeRoot
	}
	outer := w.enter(1)
	d.root.Visit(func(k []byte, v *jtree.Value) {
		if w.err != nil {
			return
		}
		i := managedKey(k)
		if i < 0 {
			if w.meta != nil && string(k) == "_meta" {
				return
			}
			w.key(k)
			w.value(v, 2)
			return
		}
		if done[i] || len(k) != len(managedNames[i]) {
			return
		}
		done[i] = true
		w.managed(i, d, ev, m)
	})
	for i := range numManaged {
		if !done[i] {
			w.managed(i, d, ev, m)
		}
	}
	if w.meta != nil {
		w.appendMeta(w.meta)
	}
	w.leave(outer)
	w.buf = append(w.buf, '}')
	return w.err
}

// managed writes managed key i, or nothing when the event has no such value.
func (w *writer) managed(i int, d *doc, ev *Event, m Meta) {
	switch i {
	case kEventID:
		w.keyString("event_id")
		w.text(ev.EventID)
	case kTimestamp:
		w.keyString("timestamp")
		w.buf = appendEpoch(w.buf, d.tsMicro)
	case kReceived:
		w.keyString("received")
		w.buf = appendEpoch(w.buf, d.receivedMicro)
	case kLevel:
		w.keyString("level")
		w.text(ev.Level)
	case kPlatform:
		w.keyString("platform")
		w.text(ev.Platform)
	case kException:
		if d.excPresent {
			w.keyString("exception")
			w.container(d.exception, d.excVals)
		}
	case kBreadcrumbs, kThreads:
		v := d.breadcrumbs
		if i == kThreads {
			v = d.threads
		}
		if t := typeOf(v); t == jtree.TypeArray || t == jtree.TypeObject {
			w.keyString(managedNames[i])
			w.container(v, containerValues(v))
		}
	case kMessage:
		if d.hasMessageOut {
			w.keyString("message")
			w.text(d.messageOut)
		}
	case kLogentry:
		switch {
		case d.logentryOut != nil:
			w.keyString("logentry")
			w.value(d.logentryOut, 2)
		case d.hasLogentryStr:
			w.keyString("logentry")
			w.buf = append(w.buf, '{')
			outer := w.enter(2)
			w.keyString("formatted")
			w.text(d.logentryStr)
			w.leave(outer)
			w.buf = append(w.buf, '}')
		}
	case kUser:
		if d.user != nil {
			w.keyString("user")
			w.user(d.user, m.RemoteAddr)
		}
	}
}

// container writes {"values": vals} for an exception, breadcrumbs or threads
// value v, keeping the other keys of a {"values": ...} object.
func (w *writer) container(v *jtree.Value, vals []*jtree.Value) {
	w.buf = append(w.buf, '{')
	outer := w.enter(2)
	w.keyString("values")
	w.array(vals, 3)
	if typeOf(v) == jtree.TypeObject && v.Get("values") != nil {
		o, _ := v.Object()
		o.Visit(func(k []byte, item *jtree.Value) {
			if w.err == nil && !keyIs(k, "values") {
				w.key(k)
				w.value(item, 3)
			}
		})
	}
	w.leave(outer)
	w.buf = append(w.buf, '}')
}

// user writes the user object with "{{auto}}" in ip_address replaced by
// the remote address, or removed when that is unknown.
func (w *writer) user(u *jtree.Value, remote string) {
	if typeOf(u) != jtree.TypeObject {
		w.value(u, 2)
		return
	}
	o, _ := u.Object()
	w.buf = append(w.buf, '{')
	outer := w.enter(2)
	seenIP := false
	o.Visit(func(k []byte, v *jtree.Value) {
		if w.err != nil {
			return
		}
		if !keyIs(k, "ip_address") {
			w.key(k)
			w.value(v, 3)
			return
		}
		if seenIP || len(k) != len("ip_address") {
			return // get() sees only the first exact occurrence
		}
		seenIP = true
		if strOf(v) != autoIP {
			w.key(k)
			w.value(v, 3)
		} else if remote != "" {
			w.keyString("ip_address")
			w.text(remote)
		}
	})
	w.leave(outer)
	w.buf = append(w.buf, '}')
}
