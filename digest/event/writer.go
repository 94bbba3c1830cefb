package event

import (
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/tinysink/tinysink/digest/rawevent"
	"github.com/tinysink/tinysink/internal/jsonscan"
)

// writer serialises parsed JSON. It does not use fastjson's MarshalTo, which
// passes through what fastjson's lenient parser accepted (NaN, raw control
// characters, invalid escapes in keys) and quotes with Go syntax (\x00,
// \U0001F600) that JSON does not allow. Every string and key is written as
// valid UTF-8 (runs of invalid bytes become U+FFFD) without NUL bytes.
type writer struct {
	buf []byte
	err error
	// meta, when set, is written as the document's "_meta" in place of the
	// event's own (see utf8meta.go).
	meta map[string]any
	// depth and first describe the object being visited by visitKV.
	depth int
	first bool
	visit func(k []byte, v *fastjson.Value)
}

// value appends v, found at the given nesting depth (counted as fastjson
// counts: the top-level value is at depth 1). An array or object whose
// entries would lie deeper than fastjson parses back is written as
// rawevent.DepthMarker (see depth.go).
func (w *writer) value(v *fastjson.Value, depth int) error {
	if w.err != nil {
		return w.err
	}
	t := v.Type()
	if depth >= fastjson.MaxDepth && (t == fastjson.TypeObject || t == fastjson.TypeArray) {
		w.text(rawevent.DepthMarker)
		return nil
	}
	switch t {
	case fastjson.TypeObject:
		o, _ := v.Object()
		w.object(o, depth)
	case fastjson.TypeArray:
		a, _ := v.Array()
		w.buf = append(w.buf, '[')
		for i, item := range a {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			if w.value(item, depth+1) != nil {
				return w.err
			}
		}
		w.buf = append(w.buf, ']')
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		w.str(b)
	case fastjson.TypeNumber:
		w.buf = appendNumber(w.buf, v)
	case fastjson.TypeTrue:
		w.buf = append(w.buf, "true"...)
	case fastjson.TypeFalse:
		w.buf = append(w.buf, "false"...)
	default:
		w.buf = append(w.buf, "null"...)
	}
	return w.err
}

func (w *writer) object(o *fastjson.Object, depth int) {
	if w.visit == nil {
		w.visit = w.visitKV // one allocation per writer, not per object
	}
	w.buf = append(w.buf, '{')
	depth0, first0 := w.depth, w.first
	w.depth, w.first = depth, true
	o.Visit(w.visit)
	w.depth, w.first = depth0, first0
	w.buf = append(w.buf, '}')
}

func (w *writer) visitKV(k []byte, v *fastjson.Value) {
	if w.err != nil {
		return
	}
	w.key(k)
	w.value(v, w.depth+1)
}

// key appends a separator if needed, then "k":.
func (w *writer) key(k []byte) {
	if !w.first {
		w.buf = append(w.buf, ',')
	}
	w.first = false
	w.str(k)
	w.buf = append(w.buf, ':')
}

func (w *writer) keyString(k string) {
	if !w.first {
		w.buf = append(w.buf, ',')
	}
	w.first = false
	w.buf = append(w.buf, '"')
	w.buf = append(w.buf, k...)
	w.buf = append(w.buf, '"', ':')
}

// text appends s as a JSON string (see str).
func (w *writer) text(s string) {
	w.str([]byte(s))
}

// str appends b as a JSON string: runs of invalid UTF-8 become one U+FFFD
// (as strings.ToValidUTF8 does), NUL bytes are dropped, and quotes,
// backslashes and control characters are escaped.
func (w *writer) str(b []byte) {
	buf := append(w.buf, '"')
	start := 0
	for i := 0; i < len(b); {
		// Skip the plain run (printable ASCII but '"' and '\\') eight
		// bytes at a time.
		if i = jsonscan.SpecialOrHigh(b, i); i == len(b) {
			break
		}
		c := b[i]
		if c < utf8.RuneSelf {
			buf = append(buf, b[start:i]...)
			switch c {
			case 0:
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
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			i += size
			continue
		}
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
	}
	buf = append(buf, b[start:]...)
	w.buf = append(buf, '"')
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
	w.depth, w.first = 1, true
	d.root.Visit(func(k []byte, v *fastjson.Value) {
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
		if t := typeOf(v); t == fastjson.TypeArray || t == fastjson.TypeObject {
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
			w.buf = append(w.buf, `{"formatted":`...)
			w.text(d.logentryStr)
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
func (w *writer) container(v *fastjson.Value, vals []*fastjson.Value) {
	w.buf = append(w.buf, `{"values":[`...)
	for i, item := range vals {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		if w.value(item, 4) != nil {
			return
		}
	}
	w.buf = append(w.buf, ']')
	if typeOf(v) == fastjson.TypeObject && v.Get("values") != nil {
		o, _ := v.Object()
		depth0, first0 := w.depth, w.first
		w.depth, w.first = 2, false
		o.Visit(func(k []byte, item *fastjson.Value) {
			if w.err == nil && !keyIs(k, "values") {
				w.key(k)
				w.value(item, 3)
			}
		})
		w.depth, w.first = depth0, first0
	}
	w.buf = append(w.buf, '}')
}

// user writes the user object with "{{auto}}" in ip_address replaced by
// the remote address, or removed when that is unknown.
func (w *writer) user(u *fastjson.Value, remote string) {
	if typeOf(u) != fastjson.TypeObject {
		w.value(u, 2)
		return
	}
	o, _ := u.Object()
	w.buf = append(w.buf, '{')
	depth0, first0 := w.depth, w.first
	w.depth, w.first = 2, true
	seenIP := false
	o.Visit(func(k []byte, v *fastjson.Value) {
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
	w.depth, w.first = depth0, first0
	w.buf = append(w.buf, '}')
}
