package event

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tinysink/tinysink/digest/rawevent"
	"github.com/tinysink/tinysink/internal/jtree"
)

// doc is one parsed event: the top-level values Normalize looks at (first
// occurrence of each key, as fastjson's Get finds it) and what was derived
// from them for the writer.
type doc struct {
	root *jtree.Object

	eventID, timestamp, level, platform         *jtree.Value
	logger, serverName, release, dist           *jtree.Value
	environment, transaction, sdk               *jtree.Value
	exception, breadcrumbs, threads, stacktrace *jtree.Value
	message, logentry, user, tags, contexts     *jtree.Value
	request, fingerprint                        *jtree.Value

	// excPresent reports whether exception is truthy (reference §5.4);
	// excVals are its values once normalised to a list.
	excPresent bool
	excVals    []*jtree.Value

	// Derived for the writer.
	tsMicro, receivedMicro int64
	// messageOut is what to write as the top-level "message" (a string),
	// hasMessageOut whether to write it at all.
	messageOut    string
	hasMessageOut bool
	// logentryOut is the object to write as "logentry"; logentryStr is set
	// instead when a bare string logentry becomes {"formatted": ...}.
	logentryOut    *jtree.Value
	logentryStr    string
	hasLogentryStr bool

	// keyType, when set, is the type the default grouper keys on instead
	// of the calculated one (a synthetic exception titled "<file> in
	// <function>" still keys on the function, with an empty value).
	// prevKeyType set means RuleSyntheticMessage changed the event's key,
	// and the key before it was (prevKeyType, "").
	keyType, prevKeyType string

	// deferSearch leaves the event's SearchText to SearchTextOf
	// (Normalizer.DeferSearchText).
	deferSearch bool
	// tagBuf, when set, is the Normalizer's scratch for deduceTags.
	tagBuf *[]Tag
}

// index records the first occurrence of every top-level key Normalize uses.
func (d *doc) index(root *jtree.Value) {
	o, _ := root.Object()
	d.root = o
	o.Visit(func(k []byte, v *jtree.Value) {
		var p **jtree.Value
		switch string(k) {
		case "event_id":
			p = &d.eventID
		case "timestamp":
			p = &d.timestamp
		case "level":
			p = &d.level
		case "platform":
			p = &d.platform
		case "logger":
			p = &d.logger
		case "server_name":
			p = &d.serverName
		case "release":
			p = &d.release
		case "dist":
			p = &d.dist
		case "environment":
			p = &d.environment
		case "transaction":
			p = &d.transaction
		case "sdk":
			p = &d.sdk
		case "exception":
			p = &d.exception
		case "breadcrumbs":
			p = &d.breadcrumbs
		case "threads":
			p = &d.threads
		case "stacktrace":
			p = &d.stacktrace
		case "message":
			p = &d.message
		case "logentry":
			p = &d.logentry
		case "user":
			p = &d.user
		case "tags":
			p = &d.tags
		case "contexts":
			p = &d.contexts
		case "request":
			p = &d.request
		case "fingerprint":
			p = &d.fingerprint
		default:
			return
		}
		if *p == nil {
			*p = v
		}
	})
}

// extract computes the Event and the writer's plan.
func (d *doc) extract(m Meta) *Event {
	ev := &Event{}

	ev.EventID = rawevent.NormalizeID(m.EventID)
	if ev.EventID == "" {
		ev.EventID = rawevent.NormalizeID(strOf(d.eventID))
	}
	if ev.EventID == "" {
		ev.EventID = rawevent.NewID()
	}

	d.receivedMicro = microOf(m.IngestedAt)
	us, ok := parseTimestamp(d.timestamp)
	if !ok {
		us = d.receivedMicro
	}
	d.tsMicro = us
	ev.Timestamp = time.UnixMicro(us).UTC()

	ev.Platform = truncate(scalarOf(d.platform), 64)
	if ev.Platform == "" {
		ev.Platform = "other"
	}
	ev.Level = levelOf(d.level)
	ev.Logger = truncate(scalarOf(d.logger), 64)
	ev.ServerName = truncate(scalarOf(d.serverName), 255)
	ev.Release = truncate(scalarOf(d.release), 250)
	ev.Dist = truncate(scalarOf(d.dist), 64)
	ev.Environment = truncate(scalarOf(d.environment), 64)
	ev.Transaction = truncate(scalarOf(d.transaction), 200)
	ev.SDKName = truncate(scalarOf(get(d.sdk, "name")), 255)
	ev.SDKVersion = truncate(scalarOf(get(d.sdk, "version")), 255)

	d.excVals, d.excPresent = exceptionValues(d.exception)
	d.planMessage()

	d.calculate(ev)
	d.group(ev)
	d.crashFrame(ev)
	if mech := get(d.mainException(), "mechanism"); mech != nil {
		switch typeOf(get(mech, "handled")) {
		case jtree.TypeTrue:
			ev.Handled = "true"
		case jtree.TypeFalse:
			ev.Handled = "false"
		}
	}
	ev.Tags = d.deduceTags(ev, m)
	if d.deferSearch {
		ev.searchDeferred = true
	} else {
		ev.SearchText = d.searchText()
	}
	return ev
}

// mainException returns the last exception value (the outermost of a
// chain), or nil when there is none or it is not an object.
func (d *doc) mainException() *jtree.Value {
	if !d.excPresent || len(d.excVals) == 0 {
		return nil
	}
	if main := d.excVals[len(d.excVals)-1]; typeOf(main) == jtree.TypeObject {
		return main
	}
	return nil
}

// planMessage decides how "message" and "logentry" are stored so readers see
// one shape: "message" is a string or absent, "logentry" an object or
// absent. An object "message" (the Java SDK's old shape) becomes "logentry"
// when there is none, else it is reduced to its text; a string "logentry"
// becomes {"formatted": ...}. The calculated value reads the same candidates
// in both the raw and the stored form, so normalising twice changes nothing.
func (d *doc) planMessage() {
	switch typeOf(d.logentry) {
	case jtree.TypeObject:
		d.logentryOut = d.logentry
	case jtree.TypeString:
		d.logentryStr, d.hasLogentryStr = strOf(d.logentry), true
	}
	switch typeOf(d.message) {
	case jtree.TypeString:
		d.messageOut, d.hasMessageOut = strOf(d.message), true
	case jtree.TypeObject:
		if d.logentryOut == nil && !d.hasLogentryStr {
			d.logentryOut = d.message
			return
		}
		for _, k := range [...]string{"message", "formatted"} {
			if s := strOf(get(d.message, k)); strings.TrimSpace(s) != "" {
				d.messageOut, d.hasMessageOut = s, true
				return
			}
		}
	}
}

// typeOf returns v's type, or TypeNull for a missing value.
func typeOf(v *jtree.Value) jtree.Type {
	if v == nil {
		return jtree.TypeNull
	}
	t := v.Type()
	if t == jtree.TypeNumber && nullNumber(v) {
		// The writer stores numbers JSON cannot hold (NaN, "1.2.3") as
		// null, so the extraction reads them as null too: normalising the
		// stored document again must give the same event.
		return jtree.TypeNull
	}
	return t
}

// nullNumber reports whether the number v is written as null.
func nullNumber(v *jtree.Value) bool {
	var buf [32]byte
	return string(appendNumber(buf[:0], v)) == "null"
}

// exceptionValues returns the exception list of an event and whether the
// exception is present at all. Falsy values (null, {}, [], scalars) count as
// absent, as in Bugsink, where an empty exception falls through to the log
// message. A list is used as is, {"values": ...} gives its values (an
// object there is one exception, anything else none), and a bare exception
// object is a one-element list.
func exceptionValues(v *jtree.Value) ([]*jtree.Value, bool) {
	switch typeOf(v) {
	case jtree.TypeArray:
		a, _ := v.Array()
		return a, len(a) > 0
	case jtree.TypeObject:
		o, _ := v.Object()
		if o.Len() == 0 {
			return nil, false
		}
		return containerValues(v), true
	}
	return nil, false
}

// containerValues returns the values of an exception, breadcrumbs or threads
// container given as a list, as {"values": [...]} or as one bare item. The
// writer stores exactly this list as "values".
func containerValues(v *jtree.Value) []*jtree.Value {
	switch typeOf(v) {
	case jtree.TypeArray:
		a, _ := v.Array()
		return a
	case jtree.TypeObject:
		o, _ := v.Object()
		if o.Len() == 0 {
			return nil
		}
		vals := o.Get("values")
		if vals == nil {
			return []*jtree.Value{v}
		}
		switch vals.Type() {
		case jtree.TypeArray:
			a, _ := vals.Array()
			return a
		case jtree.TypeObject:
			return []*jtree.Value{vals}
		}
	}
	return nil
}

// levelOf returns the event level as a string. Integer levels (raven's
// logging numbers) map to names; anything unreadable is "error".
func levelOf(v *jtree.Value) string {
	switch typeOf(v) {
	case jtree.TypeString:
		if s := truncate(strOf(v), 64); s != "" {
			return s
		}
	case jtree.TypeNumber:
		switch v.GetFloat64() {
		case 10:
			return "debug"
		case 20:
			return "info"
		case 30:
			return "warning"
		case 40:
			return "error"
		case 50:
			return "fatal"
		}
	}
	return "error"
}

// Timestamps outside years 1..9999 are treated as unreadable.
const (
	minEpoch = -62135596800 // 0001-01-01T00:00:00Z
	maxEpoch = 253402300799 // 9999-12-31T23:59:59Z
)

// parseTimestamp reads an event timestamp as microseconds since the epoch.
// It accepts epoch seconds as a number (or a numeric string) and RFC 3339
// strings with any number of fractional digits and a "Z" or numeric offset;
// a string without a zone is UTC.
func parseTimestamp(v *jtree.Value) (int64, bool) {
	switch typeOf(v) {
	case jtree.TypeNumber:
		return parseEpoch(v.Number())
	case jtree.TypeString:
		b, _ := v.StringBytes()
		return parseTimeString(strings.TrimSpace(string(b)))
	}
	return 0, false
}

func parseTimeString(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	if c := s[0]; c == '-' || c == '+' || c == '.' || c >= '0' && c <= '9' && !strings.ContainsAny(s, "T :") {
		return parseEpoch(s)
	}
	if len(s) > 10 && s[10] == ' ' {
		s = s[:10] + "T" + s[11:]
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t, err = time.Parse("2006-01-02T15:04:05", s) // no zone: UTC
	}
	if err != nil {
		return 0, false
	}
	sec := t.Unix()
	if sec < minEpoch || sec > maxEpoch {
		return 0, false
	}
	return microOf(t), true
}

// parseEpoch reads epoch seconds written as a decimal number and returns
// them in microseconds, rounded half away from zero. Plain decimals are read
// digit by digit, because a float64 cannot hold microseconds for dates far
// from today and the stored timestamp must read back exactly; other forms
// (exponents) go through a float.
func parseEpoch(s string) (int64, bool) {
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	intPart, frac, _ := strings.Cut(digits, ".")
	if intPart == "" && frac == "" || len(intPart) > 12 || !allDigits(intPart) || !allDigits(frac) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || f < minEpoch || f > maxEpoch {
			return 0, false
		}
		return int64(math.Round(f * 1e6)), true
	}
	var sec, us int64
	for i := 0; i < len(intPart); i++ {
		sec = sec*10 + int64(intPart[i]-'0')
	}
	for i := 0; i < 6; i++ {
		us *= 10
		if i < len(frac) {
			us += int64(frac[i] - '0')
		}
	}
	if len(frac) > 6 && frac[6] >= '5' {
		us++
	}
	us += sec * 1e6
	if neg {
		us = -us
	}
	if us < minEpoch*1e6 || us > maxEpoch*1e6 {
		return 0, false
	}
	return us, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// microOf returns t as microseconds since the epoch, rounded.
func microOf(t time.Time) int64 {
	return t.Round(time.Microsecond).UnixMicro()
}

// appendEpoch appends us microseconds since the epoch as decimal seconds
// ("1712345678.5", "1712345678.0"), exactly, without going through a float.
func appendEpoch(dst []byte, us int64) []byte {
	if us < 0 {
		dst = append(dst, '-')
		us = -us
	}
	dst = strconv.AppendInt(dst, us/1e6, 10)
	frac := us % 1e6
	dst = append(dst, '.')
	if frac == 0 {
		return append(dst, '0')
	}
	var b [6]byte
	for i := 5; i >= 0; i-- {
		b[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := 6
	for n > 1 && b[n-1] == '0' {
		n--
	}
	return append(dst, b[:n]...)
}
