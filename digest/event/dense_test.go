package event

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCountValues(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
	}{
		{`{}`, 1},
		{`{"a":1}`, 2},
		{`{"a":[1,2,"x,y"],"b":{"c":null,"d":true}}`, 8},
		{`["a\"b", -1.5e3, false]`, 4},
	} {
		if got := countValues([]byte(tt.in), 1000); got != tt.want {
			t.Errorf("countValues(%s) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestTrimDense(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"message":"dense","extra":{"nums":[`)
	for i := range 5000 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprint(&b, i)
	}
	b.WriteString(`],"obj":{`)
	for i := range 1500 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%d":"v,]}\"%d"`, i, i)
	}
	b.WriteString(`}}}`)
	out, cut := trimDense([]byte(b.String()))
	if !cut || !json.Valid(out) {
		t.Fatalf("cut=%v valid=%v: %.200s", cut, json.Valid(out), out)
	}
	var v struct {
		Message string
		Extra   struct {
			Nums []any
			Obj  map[string]string
		}
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Extra.Nums) != maxItems+1 || v.Extra.Nums[maxItems] != TrimMarker+"4000 more entries trimmed]" {
		t.Errorf("nums: %d entries, last %v", len(v.Extra.Nums), v.Extra.Nums[len(v.Extra.Nums)-1])
	}
	if len(v.Extra.Obj) != maxItems+1 || v.Extra.Obj["k999"] != `v,]}"999` || !strings.HasPrefix(v.Extra.Obj["tinysink_trimmed"], TrimMarker) {
		t.Errorf("obj: %d keys, k999=%q", len(v.Extra.Obj), v.Extra.Obj["k999"])
	}
	if v.Message != "dense" {
		t.Errorf("message = %q", v.Message)
	}
	if _, cut := trimDense([]byte(`{"a":[1,2,3]}`)); cut {
		t.Error("a small document was cut")
	}
	if got, _ := trimDense([]byte(`{"a":[1,2`)); string(got) != `{"a":[1,2` {
		t.Error("invalid input not returned unchanged")
	}
}

// A 300,000-value event is stored trimmed, with its other fields intact;
// no sample of the corpus is dense enough to be touched.
func TestNormalizeTrimsDenseEvents(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"message":"dense","extra":{"blob":[`)
	for i := range 300000 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprint(&b, i%100)
	}
	b.WriteString(`]}}`)
	ev, out, err := NewNormalizer().Normalize([]byte(b.String()), Meta{EventID: strings.Repeat("a", 32), IngestedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Title != "dense" || !strings.Contains(string(out), "299000 more entries trimmed") || len(out) > 10000 {
		t.Errorf("title %q, %d bytes out", ev.Title, len(out))
	}
	files, _ := filepath.Glob("testdata/events/*/*.json")
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		if n := countValues(raw, maxValues); n > maxValues/2 {
			t.Errorf("%s has %d values, near the trimming limit", f, n)
		}
	}
}

func BenchmarkNormalizeDense(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"message":"dense","extra":{"blob":[`)
	for i := range 300000 {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprint(&sb, i%100)
	}
	sb.WriteString(`]}}`)
	raw := []byte(sb.String())
	n := NewNormalizer()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := n.Normalize(raw, Meta{EventID: strings.Repeat("a", 32), IngestedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
}
