package event

import "testing"

func TestValidNumber(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"0", true}, {"-0", true}, {"12", true}, {"1.5", true}, {"1e5", true}, {"1E+5", true}, {"-1.5e-3", true},
		{"", false}, {"-", false}, {"01", false}, {"1.", false}, {".5", false}, {"1e", false}, {"--1", false},
		{"NaN", false}, {"Inf", false}, {"+1", false}, {"1-2", false},
	} {
		if got := validNumber([]byte(tt.in)); got != tt.want {
			t.Errorf("validNumber(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestSanitize(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain", "plain"},
		{"ünï", "ünï"},
		{"a\x00b", "ab"},
		{"a\xff\xfeb", "a\uFFFDb"},
		{"\xff\x00\xfe", "\uFFFD\uFFFD"},
		{"\xc3\x00\xa9", "\uFFFD\uFFFD"},
	} {
		if got := sanitize([]byte(tt.in)); got != tt.want {
			t.Errorf("sanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
		var w writer
		w.str([]byte(tt.in))
		if got, want := string(w.buf), `"`+tt.want+`"`; got != want {
			t.Errorf("writer.str(%q) = %s, want %s", tt.in, got, want)
		}
	}
}
