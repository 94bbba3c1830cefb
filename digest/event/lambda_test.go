package event

import (
	"fmt"
	"testing"
	"time"
)

func TestNormalizeLambdas(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"<lambda_5db80dab4fdd1b9e2c3a4b5c6d7e8f90>::operator()", "<lambda>::operator()"},
		{"`anonymous namespace'::<lambda_1>::operator()", "`anonymous namespace'::<lambda>::operator()"},
		{"std::invoke<<lambda_ab12>&>", "std::invoke<<lambda>&>"},
		{"a::<lambda_1>::<lambda_2f>", "a::<lambda>::<lambda>"},
		{"<lambda_>", "<lambda_>"},
		{"<lambda_xyz>", "<lambda_xyz>"},
		{"<lambda_12", "<lambda_12"},
		{"<lambda>", "<lambda>"},
		{"main", "main"},
	} {
		if got := normalizeLambdas(tt.in); got != tt.want {
			t.Errorf("normalizeLambdas(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Native crashes in the same MSVC lambda from two builds (the lambda's
// hash differs) are one issue.
func TestMSVCLambdasGroupTogether(t *testing.T) {
	n := NewNormalizer()
	key := func(hash string) (string, string) {
		t.Helper()
		raw := fmt.Sprintf(`{"event_id":"0123456789abcdef0123456789abcdef","platform":"native",
			"exception":{"values":[{"type":"EXCEPTION_ACCESS_VIOLATION_READ","value":"Fatal Error: EXCEPTION_ACCESS_VIOLATION_READ",
			"mechanism":{"type":"minidump","synthetic":true,"handled":false},
			"stacktrace":{"frames":[{"function":"main","in_app":true},
			{"function":"`+"`anonymous namespace'"+`::<lambda_%s>::operator()(int) const","in_app":true}]}}]}}`, hash)
		ev, _, err := n.Normalize([]byte(raw), Meta{IngestedAt: time.Unix(1700000000, 0)})
		if err != nil {
			t.Fatal(err)
		}
		return ev.GroupingKey, ev.LastFrameFunction
	}
	k1, f1 := key("5db80dab4fdd1b9e2c3a4b5c6d7e8f90")
	k2, _ := key("0c1d2e3f405162738495a6b7c8d9eaf1")
	if k1 != k2 {
		t.Errorf("grouping keys differ across lambda hashes: %q vs %q", k1, k2)
	}
	if want := "`anonymous namespace'::<lambda>::operator()"; f1 != want {
		t.Errorf("crash frame function = %q, want %q", f1, want)
	}
}
