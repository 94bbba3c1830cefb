package event

import (
	"strings"

	"github.com/tinysink/tinysink/internal/jtree"
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

// group sets the event's grouping key and mechanism, and its previous key
// when RuleSyntheticMessage changed it.
func (d *doc) group(ev *Event) {
	def, mech := d.defaultKey(ev)
	ev.GroupingKey, ev.GroupingMechanism = groupingKey(d.fingerprint, def, mech)
	ev.fingerprinted = ev.GroupingKey != def
	if d.prevKeyType != "" {
		if prev, _ := groupingKey(d.fingerprint, title(d.prevKeyType, "", false), MechanismV2); prev != ev.GroupingKey {
			ev.PreviousGroupingKey = prev
		}
	}
}

// groupingKey returns the event's grouping key and mechanism. A non-empty
// fingerprint list makes the key (each part as text, "{{ default }}"
// replaced by def, the default grouper's key, of mechanism defMech);
// otherwise def does.
func groupingKey(fp *jtree.Value, def, defMech string) (key, mechanism string) {
	var parts []*jtree.Value
	if typeOf(fp) == jtree.TypeArray {
		parts, _ = fp.Array()
	}
	if len(parts) == 0 {
		return def, defMech
	}
	var b strings.Builder
	mechanism = MechanismNone
	for i, p := range parts {
		if i > 0 {
			b.WriteString(keyJoiner)
		}
		s := pyStr(p)
		if s == DefaultFingerprint {
			mechanism = defMech
			s = def
		}
		b.WriteString(s)
	}
	if strings.Trim(b.String(), keyJoiner) == "" {
		// A fingerprint of only empty strings would put every such event of
		// the project into one issue keyed by nothing: group it normally.
		return def, defMech
	}
	return b.String(), mechanism
}

// defaultKey is the default grouper. For bugsink-v2 it is the title built
// from the calculated type and the normalised calculated value (reference
// §5.3), without a transaction part. For RuleSyntheticMessage it is
// "Log Message: <normalised message> ⋄ in <function>": one message from two
// functions is two issues, two messages from one function too. The
// "Log Message: " prefix keeps such keys apart from the bugsink-v2 key of a
// plain log message.
func (d *doc) defaultKey(ev *Event) (string, string) {
	typ, val := ev.CalculatedType, ev.CalculatedValue
	if d.keyType != "" {
		typ, val = d.keyType, ""
	}
	if ev.Rule == RuleSyntheticMessage {
		return typeLog + ": " + NormalizeValue(val) + keyJoiner + "in " + ev.SyntheticFunction, MechanismMessage
	}
	return title(typ, NormalizeValue(val), typ == typeLog), MechanismV2
}

// NormalizeValue is the bugsink-v2 value normalisation: keep the first two
// non-empty lines (a line of only white space counts as empty), append
// "..." when that dropped anything, then replace variable parts such as
// numbers, ids, addresses and dates by placeholders ("<int>", "<uuid>", ...).
func NormalizeValue(v string) string {
	p := paramRegexps()
	if out, ok := p.cache.get(v); ok {
		return out
	}
	out := p.replace(firstLines(v, 2))
	p.cache.put(v, strings.Clone(out)) // out may be v itself, or part of it
	return out
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
