package event

import (
	"strings"

	"github.com/valyala/fastjson"
)

// Fingerprint handling (reference §5.1).
const (
	// DefaultFingerprint is the fingerprint element replaced by the
	// default grouper's key.
	DefaultFingerprint = "{{ default }}"
	// keyJoiner joins fingerprint parts: space, U+22C4 (white diamond),
	// space.
	keyJoiner = " \u22c4 "
)

// groupingKey returns the event's grouping key and mechanism. A non-empty
// fingerprint list makes the key (each part as text, "{{ default }}"
// replaced by the default key); otherwise the default grouper does.
func groupingKey(fp *fastjson.Value, ev *Event) (key, mechanism string) {
	var parts []*fastjson.Value
	if typeOf(fp) == fastjson.TypeArray {
		parts, _ = fp.Array()
	}
	if len(parts) == 0 {
		return defaultKey(ev), MechanismV2
	}
	var b strings.Builder
	mechanism = MechanismNone
	def := ""
	for i, p := range parts {
		if i > 0 {
			b.WriteString(keyJoiner)
		}
		s := pyStr(p)
		if s == DefaultFingerprint {
			if mechanism == MechanismNone {
				def, mechanism = defaultKey(ev), MechanismV2
			}
			s = def
		}
		b.WriteString(s)
	}
	if strings.Trim(b.String(), keyJoiner) == "" {
		// A fingerprint of only empty strings would put every such event of
		// the project into one issue keyed by nothing: group it normally.
		return defaultKey(ev), MechanismV2
	}
	return b.String(), mechanism
}

// defaultKey is the bugsink-v2 default grouper: the title built from the
// calculated type and the normalised calculated value (reference §5.3). It
// has no transaction part.
func defaultKey(ev *Event) string {
	return title(ev.CalculatedType, NormalizeValue(ev.CalculatedValue), ev.CalculatedType == typeLog)
}

// NormalizeValue is the bugsink-v2 value normalisation: keep the first two
// non-empty lines (a line of only white space counts as empty), append
// "..." when that dropped anything, then replace variable parts such as
// numbers, ids, addresses and dates by placeholders ("<int>", "<uuid>", ...).
func NormalizeValue(v string) string {
	return paramRegexps().replace(firstLines(v, 2))
}

// firstLines returns the first n non-empty lines of s joined by "\n",
// followed by "..." when the result differs from s.
func firstLines(s string, n int) string {
	var b strings.Builder
	rest, kept := s, 0
	for rest != "" && kept < n {
		line := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		if kept > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(line)
		kept++
	}
	if b.Len() == len(s) {
		return s // nothing dropped (b equals s: it is a subsequence of s)
	}
	b.WriteString("...")
	return b.String()
}
