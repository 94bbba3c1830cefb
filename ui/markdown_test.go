package ui

import (
	"strings"
	"testing"
)

func TestStacktraceMarkdown(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, in, want string }{
		{"chained, outermost first", `{"exception":{"values":[{"type":"Inner","value":"cause","stacktrace":{"frames":[{"filename":"a.py","lineno":1,"function":"f"}]}},{"type":"Outer","value":"boom","stacktrace":{"frames":[{"filename":"b.py","lineno":2,"function":"g","in_app":true,"context_line":"  raise Outer()"},{"filename":"c.py","lineno":3,"function":"h"}]}}]}}`,
			"# Outer\nboom\n## c.py:3 in h\n## b.py:2 in g [in-app]\n      raise Outer()\n\n# Inner\ncause\n## a.py:1 in f\n\n"},
		{"thread without id", `{"threads":{"values":[{"stacktrace":{"frames":[{"module":"main","function":"run","lineno":9}]}}]}}`,
			"# Thread\n## main:9 in run\n\n"},
		{"thread with id", `{"threads":{"values":[{"id":7,"stacktrace":{"frames":[{"filename":"x.go","function":"run","lineno":9}]}}]}}`,
			"# Thread 7\n## x.go:9 in run\n\n"},
		{"not JSON", `{`, ""},
	} {
		if got := StacktraceMarkdown([]byte(tt.in)); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
	_ = strings.TrimSpace
}
