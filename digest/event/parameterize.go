package event

import (
	"regexp"
	"strings"
	"sync"

	"github.com/tinysink/tinysink/budget"
)

// The regular expressions below are taken from Sentry's
// src/sentry/grouping/parameterization.py at commit
// 597d25951d00a7d412f3aa047aa9d00fb6c66cd2 (https://github.com/getsentry/sentry),
// Copyright Functional Software, Inc. dba Sentry, licensed under the Apache
// License, Version 2.0 (http://www.apache.org/licenses/LICENSE-2.0). They are
// the patterns Bugsink's bugsink-v2 grouper applies (reference §5.3).
//
// Changes made here: the verbose-mode ((?x)) whitespace and comments were
// removed (note that verbose mode also drops the space in the kitchen-time
// pattern's "(?: [aApP][Mm])?", so it is written without it); each pattern
// became its own regexp instead of one named-group alternation (see
// parameterizer.replace for why the result is the same); and the "="
// lookbehinds of quoted_str and bool, which RE2 cannot express, are emulated
// by matching the "=" and checking the position. Go's \d, \s and \b are
// ASCII-only where Python's are Unicode-aware, so non-ASCII digits and
// letters behave differently.
// Top 100 TLDs, as Sentry lists them for the hostname pattern.
const (
	tldUpper = "COM|NET|ORG|JP|DE|UK|FR|BR|IT|RU|ES|ME|GOV|PL|CA|AU|CN|CO|IN|NL|EDU|INFO|EU|CH|ID|AT|KR|CZ|MX|BE|TV|SE|TR|TW|AL|UA|IR|VN|CL|SK|LY|CC|TO|NO|FI|US|PT|DK|AR|HU|TK|GR|IL|NEWS|RO|MY|BIZ|IE|ZA|NZ|SG|EE|TH|IO|XYZ|PE|BG|HK|RS|LT|LINK|PH|CLUB|SI|SITE|MOBI|BY|CAT|WIKI|LA|GA|XXX|CF|HR|NG|JOBS|ONLINE|KZ|UG|GQ|AE|IS|LV|PRO|FM|TIPS|MS|SA|APP"
	tldLower = "com|net|org|jp|de|uk|fr|br|it|ru|es|me|gov|pl|ca|au|cn|co|in|nl|edu|info|eu|ch|id|at|kr|cz|mx|be|tv|se|tr|tw|al|ua|ir|vn|cl|sk|ly|cc|to|no|fi|us|pt|dk|ar|hu|tk|gr|il|news|ro|my|biz|ie|za|nz|sg|ee|th|io|xyz|pe|bg|hk|rs|lt|link|ph|club|si|site|mobi|by|cat|wiki|la|ga|xxx|cf|hr|ng|jobs|online|kz|ug|gq|ae|is|lv|pro|fm|tips|ms|sa|app"
)

var paramPatterns = [...]struct {
	name string
	// parts are the pattern's top-level alternatives; Sentry's pattern is
	// their alternation.
	parts []string
	// afterEq marks the patterns Sentry anchors with the lookbehind (?<==).
	afterEq bool
}{
	{name: "email", parts: []string{`[a-zA-Z0-9.!#$%&'*+/=?^_` + "`" + `{|}~-]+@[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*`}},
	{name: "url", parts: []string{`\b(wss?|https?|ftp)://[^\s/$.?#].[^\s]*`}},
	{name: "hostname", parts: []string{`\b([a-zA-Z0-9\-]{1,63}\.)+?((` + tldUpper + `)|(` + tldLower + `))\b`}},
	// ip: the IPv6 group's alternatives, then IPv4.
	{name: "ip", parts: []string{
		`([0-9a-fA-F]{1,4}:){7,7}[0-9a-fA-F]{1,4}`,
		`([0-9a-fA-F]{1,4}:){1,7}:`,
		`([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}`,
		`([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}`,
		`([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}`,
		`([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}`,
		`([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}`,
		`[0-9a-fA-F]{1,4}:((:[0-9a-fA-F]{1,4}){1,6})`,
		`:((:[0-9a-fA-F]{1,4}){1,7}|:)`,
		`fe80:(:[0-9a-fA-F]{0,4}){0,4}%[0-9a-zA-Z]{1,}`,
		`::(ffff(:0{1,4}){0,1}:){0,1}` +
			`((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\.){3,3}` +
			`(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])`,
		`([0-9a-fA-F]{1,4}:){1,4}:` +
			`((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\.){3,3}` +
			`(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\b`,
		`\b((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\.){3,3}` +
			`(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\b`,
	}},
	{name: "uuid", parts: []string{`\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b`}},
	{name: "sha1", parts: []string{`\b[0-9a-fA-F]{40}\b`}},
	{name: "md5", parts: []string{`\b[0-9a-fA-F]{32}\b`}},
	{name: "date", parts: []string{
		// RFC822, RFC1123, RFC1123Z
		`((?:Sun|Mon|Tue|Wed|Thu|Fri|Sat),\s\d{1,2}\s(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s\d{2,4}\s\d{1,2}:\d{1,2}(:\d{1,2})?\s([-\+][\d]{2}[0-5][\d]|(?:UT|GMT|(?:E|C|M|P)(?:ST|DT)|[A-IK-Z])))`,
		// Similar to RFC822, but "Mon Jan 02, 1999", "Jan 02, 1999"
		`(((?:Sun|Mon|Tue|Wed|Thu|Fri|Sat)\s)?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s[0-3]\d,\s\d{2,4})`,
		// RFC850
		`((?:Sunday|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday),\s\d{2}-(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-\d{2}\s\d{2}:\d{2}:\d{2}\s(?:UT|GMT|(?:E|C|M|P)(?:ST|DT)|[A-IK-Z]))`,
		// RFC3339, RFC3339Nano
		`(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z?([+-]?\d{2}:\d{2})?)`,
		// Datetime
		`(\d{4}-?[01]\d-?[0-3]\d\s[0-2]\d:[0-5]\d:[0-5]\d)(\.\d+)?`,
		// Kitchen
		`(\d{1,2}:\d{2}(:\d{2})?(?:[aApP][Mm])?)`,
		// Date
		`(\d{4}-[01]\d-[0-3]\d)`,
		// Time
		`([0-2]\d:[0-5]\d:[0-5]\d)`,
		// Old date formats
		`((\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-5]\d\.\d+([+-][0-2]\d:[0-5]\d|Z))|` +
			`(\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-5]\d([+-][0-2]\d:[0-5]\d|Z))|` +
			`(\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d([+-][0-2]\d:[0-5]\d|Z)))`,
		`(\b(?:(Sun|Mon|Tue|Wed|Thu|Fri|Sat)\s+)?(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+([\d]{1,2})\s+([\d]{2}:[\d]{2}:[\d]{2})\s+[\d]{4})`,
		`(\b(?:(Sun|Mon|Tue|Wed|Thu|Fri|Sat),\s+)?(0[1-9]|[1-2]?[\d]|3[01])\s+(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+(19[\d]{2}|[2-9][\d]{3})\s+(2[0-3]|[0-1][\d]):([0-5][\d])(?::(60|[0-5][\d]))?\s+([-\+][\d]{2}[0-5][\d]|(?:UT|GMT|(?:E|C|M|P)(?:ST|DT)|[A-IK-Z])))`,
		`(datetime.datetime\(.*?\))`,
	}},
	{name: "duration", parts: []string{`\b(\d+ms)|(\d(\.\d+)?s)\b`}},
	{name: "hex", parts: []string{`\b0[xX][0-9a-fA-F]+\b`}},
	{name: "float", parts: []string{`-\d+\.\d+\b|\b\d+\.\d+\b`}},
	{name: "int", parts: []string{`-\d+\b|\b\d+\b`}},
	{name: "quoted_str", parts: []string{`'([^']+)'|"([^"]+)"`}, afterEq: true},
	{name: "bool", parts: []string{`True|true|False|false`}, afterEq: true},
}

// paramRegexps builds the parameterizer on first use.
var paramRegexps = budget.Lazy("grouping-regexps", compileParam)

// paramRE is one part of a pattern of paramPatterns. Its regexps are
// compiled the first time a string needs them: most messages rule most
// parts out by a quick scan (see features), and the ~40 compiled parts
// and their "after" forms take ~0.5 MB of heap when all are built.
type paramRE struct {
	pattern int // index into paramPatterns
	part    int // index into its parts
	// placeholder is "<name>".
	placeholder string
	src         string // the part's pattern
	afterEq     bool
	// month marks the date parts that need a month's abbreviation (every
	// part that names the months requires one).
	month bool

	reOnce, afterOnce sync.Once
	// re finds the part; for afterEq patterns it is "=(?:part)".
	re *regexp.Regexp
	// after is `\A(?s:.+?)(part)`: run on s[pos-1:], its group 1 is the
	// leftmost match starting at or after pos, with \b judged against the
	// byte before pos (Go has no "search from an offset with context").
	after *regexp.Regexp
}

// regexp returns r's main regexp, compiling it on first use.
func (r *paramRE) regexp() *regexp.Regexp {
	r.reOnce.Do(func() {
		if r.afterEq {
			r.re = regexp.MustCompile(`=(?:` + r.src + `)`)
		} else {
			r.re = regexp.MustCompile(`(?:` + r.src + `)`)
		}
	})
	return r.re
}

// afterRegexp returns r's "after" regexp, compiling it on first use.
func (r *paramRE) afterRegexp() *regexp.Regexp {
	r.afterOnce.Do(func() { r.after = regexp.MustCompile(`\A(?s:.+?)(` + r.src + `)`) })
	return r.after
}

// parameterizer replaces variable parts of a message (ids, numbers,
// addresses, dates) by placeholders such as "<int>".
type parameterizer struct {
	res   []paramRE
	tlds  map[string]bool
	cache *recent[string]
}

// The values NormalizeValue made its answers of recently (see recent):
// the regexps were ~2 % of the server's CPU at full speed. Values longer
// than valueCacheMax are not kept, so the table holds at most
// valueCacheSlots × (valueCacheMax + its result) bytes.
const (
	valueCacheSlots = 64
	valueCacheMax   = 256
)

func compileParam() *parameterizer {
	n := 0
	for _, pp := range paramPatterns {
		n += len(pp.parts)
	}
	p := &parameterizer{res: make([]paramRE, n), tlds: make(map[string]bool)}
	p.cache = newRecent[string](valueCacheSlots, valueCacheMax)
	k := 0
	for i, pp := range paramPatterns {
		for j, part := range pp.parts {
			r := &p.res[k]
			k++
			r.pattern, r.part, r.src, r.afterEq = i, j, part, pp.afterEq
			r.month = strings.Contains(part, monthNames)
			r.placeholder = "<" + pp.name + ">"
		}
	}
	for _, t := range strings.Split(tldUpper+"|"+tldLower, "|") {
		p.tlds[t] = true
	}
	return p
}

// match is a match at s[start:end]; start < 0 means none.
type match struct{ start, end int }

// replace returns s with every match replaced by its placeholder.
//
// Sentry joins all patterns into one alternation and substitutes with
// Python's re.sub: scanning left to right, the leftmost position where any
// alternative matches wins, ties going to the earlier alternative, and the
// scan resumes after the match. Searching each alternative separately and
// taking the leftmost match (the earliest alternative on ties) gives the
// same matches, lets each part run on Go's fast backtracking matcher
// instead of its NFA, and lets parts that cannot match (no digit, no "@",
// ...) be skipped.
func (p *parameterizer) replace(s string) string {
	f := p.scan(s)
	var buf [48]match
	cand := buf[:0]
	if len(p.res) <= len(buf) {
		cand = buf[:len(p.res)]
	} else {
		cand = make([]match, len(p.res))
	}
	for i := range cand {
		if f.possible(&p.res[i]) {
			cand[i] = p.find(i, s, 0)
		} else {
			cand[i] = match{-1, -1}
		}
	}
	var b strings.Builder
	last := 0
	for {
		best := -1
		for i := range cand {
			if cand[i].start >= 0 && (best < 0 || cand[i].start < cand[best].start) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		m := cand[best]
		if b.Len() == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:m.start])
		b.WriteString(p.res[best].placeholder)
		last = m.end
		for i := range cand {
			if cand[i].start >= 0 && cand[i].start < last {
				cand[i] = p.find(i, s, last)
			}
		}
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// find returns the leftmost match of part i in s that starts at or after
// pos, judging \b and the "=" lookbehind against the whole of s.
func (p *parameterizer) find(i int, s string, pos int) match {
	r := &p.res[i]
	if r.afterEq {
		// The "=" may be the last byte of the previous match: lookbehind
		// sees text that was already consumed.
		from := max(pos-1, 0)
		loc := r.regexp().FindStringIndex(s[from:])
		if loc == nil {
			return match{-1, -1}
		}
		return match{from + loc[0] + 1, from + loc[1]}
	}
	if pos == 0 || !isWordByte(s[pos-1]) {
		// The start of s[pos:] has the same \b context as s at pos.
		loc := r.regexp().FindStringIndex(s[pos:])
		if loc == nil {
			return match{-1, -1}
		}
		return match{pos + loc[0], pos + loc[1]}
	}
	loc := r.afterRegexp().FindStringSubmatchIndex(s[pos-1:])
	if loc == nil {
		return match{-1, -1}
	}
	return match{pos - 1 + loc[2], pos - 1 + loc[3]}
}

func isWordByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isHexByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// features records what a quick scan of a string found. Every part needs
// one of them to match at all, so parts whose feature is missing are not
// searched.
type features struct {
	at, scheme, tld, ipv6, ipv4, dateHint, month, digit, dot, dash, eq, quote bool
	maxHexRun                                                                 int
}

// scan computes the features of s.
func (p *parameterizer) scan(s string) features {
	var f features
	f.scheme = strings.Contains(s, "://")
	// Every IPv6 part but the first holds "::" (or is the "fe80:" one);
	// the first is eight groups in one run of hex digits and colons.
	f.ipv6 = strings.Contains(s, "::") || strings.Contains(s, "fe80:")
	f.dateHint = strings.Contains(s, "datetime")
	hexRun, hexColons := 0, 0 // run of [0-9a-fA-F:] and its colons
	numDots := 0              // dots in the current run of [0-9.]
	for i := 0; i < len(s); i++ {
		c := s[i]
		digit := c >= '0' && c <= '9'
		switch {
		case digit:
			f.digit = true
		case c == '@':
			f.at = true
		case c == '.':
			f.dot = true
			if !f.tld {
				j := i + 1
				for j < len(s) && isWordByte(s[j]) {
					j++
				}
				f.tld = p.tlds[s[i+1:j]]
			}
		case c == '-':
			f.dash = true
		case c == '=':
			f.eq = true
		case c == '\'' || c == '"':
			f.quote = true
		}
		if isHexByte(c) {
			hexRun++
			f.maxHexRun = max(f.maxHexRun, hexRun)
		} else {
			hexRun = 0
		}
		switch {
		case c == ':':
			hexColons++
			if hexColons >= 7 {
				f.ipv6 = true
			}
		case !isHexByte(c):
			hexColons = 0
		}
		switch {
		case c == '.':
			numDots++
			if numDots >= 3 {
				f.ipv4 = true
			}
		case !digit:
			numDots = 0
		}
		if c >= 'A' && c <= 'S' && !f.month && i+3 <= len(s) {
			f.month = isMonth(s[i : i+3])
		}
		if digit && i+2 < len(s) {
			// digit:digit, digit-digit, or "dd, " as in "Jan 02, 1999".
			if n := s[i+1]; (n == ':' || n == '-') && s[i+2] >= '0' && s[i+2] <= '9' ||
				n >= '0' && n <= '9' && s[i+2] == ',' {
				f.dateHint = true
			}
		}
	}
	return f
}

// monthNames is how the date patterns spell the months.
const monthNames = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"

// isMonth reports whether s is a month's abbreviation as the date
// patterns spell it (monthNames). In monthNames, only a name starts with
// a capital letter, so three bytes found there from a capital are a name.
func isMonth(s string) bool {
	return len(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && strings.Contains(monthNames, s)
}

// possible reports whether part r can match a string with features f.
func (f *features) possible(r *paramRE) bool {
	switch paramPatterns[r.pattern].name {
	case "email":
		return f.at
	case "url":
		return f.scheme
	case "hostname":
		return f.tld
	case "ip":
		if r.part == len(paramPatterns[r.pattern].parts)-1 {
			return f.ipv4
		}
		return f.ipv6
	case "uuid":
		return f.dash && f.maxHexRun >= 8
	case "sha1":
		return f.maxHexRun >= 40
	case "md5":
		return f.maxHexRun >= 32
	case "date":
		return f.dateHint && (f.month || !r.month)
	case "duration", "hex", "int":
		return f.digit
	case "float":
		return f.digit && f.dot
	case "quoted_str":
		return f.eq && f.quote
	case "bool":
		return f.eq
	}
	return true
}
