package event

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

func TestNormalizeValue(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"plain", "division by zero", "division by zero"},
		{"email", "user jane.doe+x@example.com not found", "user <email> not found"},
		{"url", "GET https://example.com/a?b=1 failed", "GET <url> failed"},
		{"hostname", "cannot resolve db.example.com", "cannot resolve <hostname>"},
		{"hostname upper case TLD", "cannot resolve DB.EXAMPLE.COM", "cannot resolve <hostname>"},
		{"hostname needs a listed TLD", "module java.lang.Thread", "module java.lang.Thread"},
		{"ipv4", "connect to 10.0.0.1 refused", "connect to <ip> refused"},
		{"ipv6", "from fe80:0:0:0:0:0:0:1 and ::1", "from <ip> and <ip>"},
		{"ipv6 fe80 zone form", "bind fe80:%eth0", "bind <ip>"},
		{"quirk: fe80:: is claimed by an earlier alternative", "bind fe80::1%eth0", "bind <ip><int>%eth0"},
		{"uuid", "id 550e8400-e29b-41d4-a716-446655440000 missing", "id <uuid> missing"},
		{"sha1", "commit da39a3ee5e6b4b0d3255bfef95601890afd80709", "commit <sha1>"},
		{"md5", "digest d41d8cd98f00b204e9800998ecf8427e", "digest <md5>"},
		{"date rfc3339", "at 2024-01-02T03:04:05.123Z", "at <date>"},
		{"date", "on 2024-01-02 ok", "on <date> ok"},
		{"date rfc1123", "expires Tue, 02 Jan 2024 10:00:00 GMT", "expires <date>"},
		{"date month day year", "since Jan 02, 2024", "since <date>"},
		{"date python repr", "at datetime.datetime(2024, 1, 2, 3, 4)", "at <date>"},
		{"kitchen time", "at 12:30 today", "at <date> today"},
		{"duration ms", "took 150ms", "took <duration>"},
		{"duration s", "took 1.5s", "took <duration>"},
		{"hex", "addr 0x7fff5fbff8c8", "addr <hex>"},
		{"float", "value 3.14 too big", "value <float> too big"},
		{"negative float", "got -2.5", "got <float>"},
		{"int", "retry 3 of 10", "retry <int> of <int>"},
		{"negative int", "-5 items", "<int> items"},
		{"int inside a word is kept", "abc123 and v2", "abc123 and v2"},
		{"quoted string after =", "key='abc' missing, name=\"x y\"", "key=<quoted_str> missing, name=<quoted_str>"},
		{"quoted string elsewhere kept", "got 'abc'", "got 'abc'"},
		{"bool after =", "flag=true other=False", "flag=<bool> other=<bool>"},
		{"bool elsewhere kept", "is true", "is true"},
		{"= already consumed by the previous match", "a=1=true", "a=<int>=<bool>"},
		{"earlier pattern wins at the same position", "x=true.com", "x=<hostname>"},
		{"word boundary sees the byte before", "x=true5", "x=<bool>5"},
		{"first two non-empty lines", "line 1\n\nline 2\nline 3", "line <int>\nline <int>..."},
		// Faithful quirks of the patterns at 597d25951d00.
		{"quirk: duration takes one digit before s", "after 30s", "after 3<duration>"},
		{"quirk: :: in scoped names is an ip", "Foo::bar()", "Foo<ip>r()"},
		{"quirk: verbose mode drops the space before AM/PM", "at 12:30 PM", "at <date> PM"},
		{"quirk: partial ipv6", "from 2001:db8::1 x", "from <ip><int> x"},
	} {
		if got := NormalizeValue(tt.in); got != tt.want {
			t.Errorf("%s: NormalizeValue(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

// referenceRegexp is Sentry's form of the patterns without the
// "="-lookbehind ones: one alternation of named groups. With Go's
// leftmost-first semantics and a plain left-to-right scan it is the
// reference that parameterizer.replace must agree with.
var referenceRegexp = sync.OnceValue(func() *regexp.Regexp {
	var alts []string
	for i, pp := range paramPatterns {
		if pp.afterEq {
			continue
		}
		alts = append(alts, `(?P<p`+strconv.Itoa(i)+`>`+strings.Join(pp.parts, "|")+`)`)
	}
	return regexp.MustCompile(strings.Join(alts, "|"))
})

// referenceParameterize replaces every match of referenceRegexp, scanning
// the whole string so \b always sees real context.
func referenceParameterize(s string) string {
	re := referenceRegexp()
	var b strings.Builder
	last := 0
	for _, loc := range re.FindAllStringSubmatchIndex(s, -1) {
		b.WriteString(s[last:loc[0]])
		for g, name := range re.SubexpNames() {
			if name != "" && loc[2*g] >= 0 {
				i, _ := strconv.Atoi(name[1:])
				b.WriteString("<" + paramPatterns[i].name + ">")
				break
			}
		}
		last = loc[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// paramInputs are strings that exercise the patterns: the table above and
// every exception value and message of the sample corpus.
func paramInputs(t testing.TB) []string {
	in := []string{
		"Foo::bar() at 0x1F and 10.1.2.3:8080 on fe80::1%lo0 via ::ffff:1.2.3.4",
		"2024-01-02 03:04:05.123 and 20240102 030405 and 1:2:3 and 12:30pm and 9:05AM",
		"Sun, 3 Mar 2024 1:2 +0100; Monday, 04-Mar-24 10:11:12 GMT; Mon Jan  2 15:04:05 2006; 2 Jan 2006 15:04 -0700",
		"a.b.c.example.co.uk and x-y.io/path and mailto:a.b@c-d.org and ws://h/x and ftp://x.y",
		"v1.2.3 -1 --2 a-3 4- 5ms 6.7s 8.9 1e5 0x 0xZZ 0xABCdef12",
		"da39a3ee5e6b4b0d3255bfef95601890afd80709da39a3ee5e6b4b0d3255bfef95601890afd80709 " +
			"550E8400-E29B-41D4-A716-446655440000",
		// IPv6 forms one to a string, so that the quick scan must let
		// each through on its own.
		"Foo::bar()", "from 2001:db8::1 x", "1:2:3:4:5:6:7:8 up", "a1:b2:c3:d4:e5:f6:a7:b8:c9 nine",
		"1:2:3:4:5:6:7 seven", "dial tcp 10.0.3.17:5432: connect: connection refused", "::ffff:10.0.0.1",
	}
	for _, name := range samples(t) {
		var ev struct {
			Message   any `json:"message"`
			Exception any `json:"exception"`
		}
		_ = json.Unmarshal(readSample(t, name), &ev)
		if s, ok := ev.Message.(string); ok {
			in = append(in, s)
		}
		b, _ := json.Marshal(ev.Exception)
		var values struct {
			Values []struct {
				Value any `json:"value"`
			} `json:"values"`
		}
		if json.Unmarshal(b, &values) != nil {
			var list []struct {
				Value any `json:"value"`
			}
			_ = json.Unmarshal(b, &list)
			values.Values = list
		}
		for _, v := range values.Values {
			if s, ok := v.Value.(string); ok {
				in = append(in, s)
			}
		}
	}
	return in
}

// TestParameterizeMatchesReference checks the split, prefiltered search
// against the single alternation on inputs without "=" (the reference
// cannot express the lookbehind).
func TestParameterizeMatchesReference(t *testing.T) {
	p := paramRegexps()
	for _, s := range paramInputs(t) {
		s = strings.ReplaceAll(s, "=", "#")
		if got, want := p.replace(s), referenceParameterize(s); got != want {
			t.Errorf("replace(%q)\n got %q\nwant %q", s, got, want)
		}
	}
}

// FuzzParameterize compares the parameterizer with the reference alternation.
func FuzzParameterize(f *testing.F) {
	for _, s := range paramInputs(f) {
		f.Add(s)
	}
	p := paramRegexps()
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 2048 {
			return
		}
		s = strings.ReplaceAll(s, "=", "#")
		if got, want := p.replace(s), referenceParameterize(s); got != want {
			t.Errorf("replace(%q)\n got %q\nwant %q", s, got, want)
		}
	})
}

// TestParameterizeCompilesOnlyWhatItNeeds checks that a part's regexps are
// built only when a string could contain it.
func TestParameterizeCompilesOnlyWhatItNeeds(t *testing.T) {
	p := compileParam()
	if got := p.replace("retry 3 failed"); got != "retry <int> failed" {
		t.Fatalf("replace = %q", got)
	}
	for i := range p.res {
		r := &p.res[i]
		switch name := paramPatterns[r.pattern].name; name {
		case "duration", "hex", "int":
			if r.re == nil {
				t.Errorf("%s (part %d) was searched without its regexp", name, r.part)
			}
		default:
			if r.re != nil || r.after != nil {
				t.Errorf("%s (part %d) was compiled for a string that cannot contain it", name, r.part)
			}
		}
	}
}

// TestNormalizeValueCache runs the corpus's values through NormalizeValue
// three times over, in a different order each time, so that most calls
// hit the cache and slots are taken over by other values, and checks each
// answer against the parameterizer run afresh. It also checks that a
// value's slot does not keep a reference into the caller's string.
func TestNormalizeValueCache(t *testing.T) {
	p := paramRegexps()
	in := paramInputs(t)
	in = append(in, "", "   ", "retry 3 failed", strings.Repeat("x1 ", 100), strings.Repeat("y", valueCacheMax+1))
	want := make([]string, len(in))
	for i, v := range in {
		want[i] = p.replace(firstLines(v, 2))
	}
	for round := range 3 {
		for k := range in {
			i := (k*7 + round) % len(in)
			if round == 1 {
				i = len(in) - 1 - k
			}
			if got := NormalizeValue(in[i]); got != want[i] {
				t.Fatalf("round %d: NormalizeValue(%q) = %q, want %q", round, in[i], got, want[i])
			}
		}
	}
	if len(in) < 2*valueCacheSlots {
		t.Fatalf("only %d inputs: too few to take slots over", len(in))
	}
	// A value that is part of a larger string (an event's text) is kept
	// as a copy, so that the cache does not hold the larger string.
	big := strings.Repeat("z", 1<<16) + "order 12345 failed"
	v := big[1<<16:]
	if got := NormalizeValue(v); got != "order <int> failed" {
		t.Fatalf("got %q", got)
	}
	p.cache.mu.Lock()
	e := p.cache.find(v)
	p.cache.mu.Unlock()
	if e == nil {
		t.Fatal("the value was not remembered")
	}
	if unsafe.StringData(e.key) == unsafe.StringData(v) {
		t.Fatal("the cache keeps a reference into the caller's string")
	}
}

// BenchmarkParameterize measures the parameterizer without the cache in
// front of it, on values whose quick scan lets many parts through.
func BenchmarkParameterize(b *testing.B) {
	p := paramRegexps()
	for _, s := range []string{
		"dial tcp 10.0.3.17:5432: connect: connection refused",
		"Order 81723 is already settled",
		"job 4f1c9a2e-8b3d-4c6e-9f0a-1b2c3d4e5f60 failed at 2024-03-05T10:11:12Z after 350ms",
	} {
		b.Run(s[:8], func(b *testing.B) {
			for b.Loop() {
				p.replace(s)
			}
		})
	}
}
