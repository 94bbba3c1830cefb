package rawevent

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
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
		if got := CountValues([]byte(tt.in), 1000); got != tt.want {
			t.Errorf("CountValues(%s) = %d, want %d", tt.in, got, tt.want)
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
