package jtree

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/tinysink/tinysink/internal/benchevents"
)

// same fails unless jtree parses input exactly as fastjson does: both
// refuse it or both accept it, with the same tree (types, unescaped
// strings, number text, members in order, duplicates included), the same
// answers from a lookup made before any key is unescaped, and plain set
// only on strings whose contents need no escaping.
func same(t *testing.T, input []byte) {
	t.Helper()
	var fp fastjson.Parser
	var jp Parser
	fv, ferr := fp.ParseBytes(input)
	jv, jerr := jp.ParseBytes(input)
	if (ferr == nil) != (jerr == nil) {
		t.Fatalf("%q: fastjson err %v, jtree err %v", input, ferr, jerr)
	}
	if ferr != nil {
		if strings.Contains(ferr.Error(), "too big depth") != strings.Contains(jerr.Error(), "too big depth") {
			t.Fatalf("%q: fastjson err %v, jtree err %v", input, ferr, jerr)
		}
		return
	}
	// Lookups first, while no key is unescaped: fastjson's answer then
	// depends on the keys as received.
	for _, k := range []string{"a", "b", "ab", "", `\`, `a\u0062`, "é", "values", "type"} {
		f, j := fv.Get(k), jv.Get(k)
		if (f == nil) != (j == nil) {
			t.Fatalf("%q: Get(%q): fastjson %v, jtree %v", input, k, f, j)
		}
		if f != nil {
			tree(t, input, fmt.Sprintf("Get(%q)", k), f, j)
		}
	}
	if f, j := fv.GetFloat64("a"), jv.Get("a").GetFloat64(); f != j && !(f != f && j != j) {
		t.Fatalf("%q: GetFloat64: fastjson %v, jtree %v", input, f, j)
	}
	tree(t, input, "$", fv, jv)
}

func tree(t *testing.T, input []byte, path string, f *fastjson.Value, j *Value) {
	t.Helper()
	plain := j.Plain()
	if int(f.Type()) != int(j.Type()) {
		t.Fatalf("%q at %s: fastjson %s, jtree %s", input, path, f.Type(), j.Type())
	}
	switch j.Type() {
	case TypeObject:
		fo, _ := f.Object()
		jo, _ := j.Object()
		if fo.Len() != jo.Len() {
			t.Fatalf("%q at %s: %d members, jtree %d", input, path, fo.Len(), jo.Len())
		}
		var fk []string
		var fvs []*fastjson.Value
		var jvs []*Value
		fo.Visit(func(k []byte, v *fastjson.Value) { fk, fvs = append(fk, string(k)), append(fvs, v) })
		i := 0
		jo.VisitPlain(func(k []byte, kplain bool, v *Value) {
			jvs = append(jvs, v)
			if string(k) != fk[i] {
				t.Fatalf("%q at %s: key %d %q, jtree %q", input, path, i, fk[i], k)
			}
			if kplain && !plainText(k) {
				t.Fatalf("%q at %s: key %q marked plain", input, path, k)
			}
			tree(t, input, fmt.Sprintf("%s.%q", path, k), fvs[i], v)
			i++
		})
		// After unescaping, a lookup finds the same member (by its place)
		// in both.
		for _, k := range fk {
			if fi, ji := slices.Index(fvs, fo.Get(k)), slices.Index(jvs, jo.Get(k)); fi != ji {
				t.Fatalf("%q at %s: Get(%q) after unescaping: fastjson member %d, jtree %d", input, path, k, fi, ji)
			}
		}
	case TypeArray:
		fa, _ := f.Array()
		ja, _ := j.Array()
		if len(fa) != len(ja) {
			t.Fatalf("%q at %s: %d elements, jtree %d", input, path, len(fa), len(ja))
		}
		for i := range fa {
			tree(t, input, fmt.Sprintf("%s[%d]", path, i), fa[i], ja[i])
		}
	case TypeString:
		fb, _ := f.StringBytes()
		jb, _ := j.StringBytes()
		if !bytes.Equal(fb, jb) {
			t.Fatalf("%q at %s: string %q, jtree %q", input, path, fb, jb)
		}
		if plain && !plainText(jb) {
			t.Fatalf("%q at %s: %q marked plain", input, path, jb)
		}
	case TypeNumber:
		if f.String() != j.Number() {
			t.Fatalf("%q at %s: number %s, jtree %s", input, path, f, j.Number())
		}
	}
	if plain && j.Type() != TypeString {
		t.Fatalf("%q at %s: a %s marked plain", input, path, j.Type())
	}
}

// plainText reports whether b is printable ASCII without quotes or
// backslashes.
func plainText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

var seeds = []string{
	`{}`, `[]`, `""`, `0`, `-1.5e+3`, `true`, `false`, `null`, ` {"a" : 1 } `,
	`{"a":1,"a":2}`, `{"\u0061":1,"a":2}`, `{"a\u0062":1,"ab":2}`, `{"\\":1}`,
	`{"a":"\ud83d\ude00 \ud800 \ud800\u0041 \udc00\ud800 \u12 \x \/ \b\f\n\r\t"}`,
	`{"a":NaN,"b":-Inf,"c":nan,"d":+inf,"e":01,"f":1.,"g":--1,"h":e,"i":-}`,
	"{\"a\":\"tab\there\",\"b\":\"\x01\",\"c\":\"\xff\xfe\",\"d\":\"é\"}",
	`{"a":[1,2,[3,{"b":null}]],"b":{"c":{"d":"e"}}}`, `{"a":"x\"y\\"}`,
	`{"a":1,}`, `[1,]`, `{"a"}`, `{"a":}`, `{"a" 1}`, `[1 2]`, `{"a":1`, `"abc`, `"abc\`,
	`tru`, `nul`, `fals`, `{"a":1} x`, `{"a":"\"}`, "\x01", `{"abcdefghijklmnopq":"0123456789abcdef\"ghij"}`,
	strings.Repeat("[", 299) + strings.Repeat("]", 299),
	strings.Repeat("[", 300) + strings.Repeat("]", 300),
	strings.Repeat("[", 299) + "1" + strings.Repeat("]", 299),
	strings.Repeat("[", 300) + "1" + strings.Repeat("]", 300),
}

func TestSameAsFastjson(t *testing.T) {
	for _, s := range seeds {
		same(t, []byte(s))
	}
	// Every event in testdata, as SDKs send them.
	files, _ := filepath.Glob("../../digest/event/testdata/events/*/*.json")
	more, _ := filepath.Glob("../../digest/event/testdata/golden/*/*.json")
	files = append(files, more...)
	if len(files) < 10 {
		t.Fatalf("found %d sample events", len(files))
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		same(t, b)
	}
}

// TestPlain checks that plain is set whenever a string needs no escaping
// as received, not only never wrongly.
func TestPlain(t *testing.T) {
	var p Parser
	v, err := p.Parse(`{"key":"value with spaces: /path/to/file.py line 42","k\u0065y2":"a\nb","k3":"é","k4":"12345678"}`)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := v.Object()
	var got []string
	o.VisitPlain(func(k []byte, plain bool, v *Value) {
		got = append(got, fmt.Sprintf("%s:%v:%v", k, plain, v.Plain()))
	})
	want := "key:true:true key2:false:false k3:true:false k4:true:true"
	if s := strings.Join(got, " "); s != want {
		t.Fatalf("got %s, want %s", s, want)
	}
}

// TestReuse parses into the same parser over and over: each tree is whole
// and right although it reuses the values of the one before.
func TestReuse(t *testing.T) {
	var jp Parser
	var fp fastjson.Parser
	for i := 0; i < 3; i++ {
		for _, s := range seeds {
			j, jerr := jp.Parse(s)
			f, ferr := fp.Parse(s)
			if (jerr == nil) != (ferr == nil) {
				t.Fatalf("%q: fastjson err %v, jtree err %v", s, ferr, jerr)
			}
			if jerr == nil {
				tree(t, []byte(s), "$", f, j)
			}
		}
	}
}

func FuzzSameAsFastjson(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		same(t, b)
	})
}

// BenchmarkParse parses the events of $TINYSINK_BENCH_EVENTS, one per op
// in turn, with jtree; BenchmarkParseFastjson with fastjson.
func BenchmarkParse(b *testing.B) {
	var p Parser
	benchParse(b, func(raw []byte) error { _, err := p.ParseBytes(raw); return err })
}

func BenchmarkParseFastjson(b *testing.B) {
	var p fastjson.Parser
	benchParse(b, func(raw []byte) error { _, err := p.ParseBytes(raw); return err })
}

func benchParse(b *testing.B, parse func([]byte) error) {
	raws := benchevents.Load(b)
	i := 0
	for b.Loop() {
		if err := parse(raws[i%len(raws)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
