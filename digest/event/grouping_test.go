package event

import (
	"fmt"
	"testing"
)

func TestGroupingKey(t *testing.T) {
	const exc = `"exception":{"values":[{"type":"KeyError","value":"user 42 not found"}]}`
	for _, tt := range []struct {
		name, in, wantKey, wantMech string
	}{
		{"default grouper", `{` + exc + `}`, "KeyError: user <int> not found", MechanismV2},
		{"no transaction in the key", `{` + exc + `,"transaction":"/users/<id>"}`, "KeyError: user <int> not found", MechanismV2},
		{"empty fingerprint", `{` + exc + `,"fingerprint":[]}`, "KeyError: user <int> not found", MechanismV2},
		{"fingerprint not a list", `{` + exc + `,"fingerprint":"x"}`, "KeyError: user <int> not found", MechanismV2},
		{"custom fingerprint", `{` + exc + `,"fingerprint":["a","b"]}`, "a ⋄ b", MechanismNone},
		{"only default", `{` + exc + `,"fingerprint":["{{ default }}"]}`, "KeyError: user <int> not found", MechanismV2},
		{"default among parts", `{` + exc + `,"fingerprint":["{{ default }}","tenant-7"]}`, "KeyError: user <int> not found ⋄ tenant-7", MechanismV2},
		{"default is exact", `{` + exc + `,"fingerprint":["{{default}}"]}`, "{{default}}", MechanismNone},
		{"non-string parts as Python prints them", `{` + exc + `,"fingerprint":["celery",123,1.5,true,false,null]}`,
			"celery ⋄ 123 ⋄ 1.5 ⋄ True ⋄ False ⋄ None", MechanismNone},
		{"log message key is the message", `{"message":"Retry 3 of 5 for job 8d3f","level":"warning"}`, "Retry <int> of <int> for job 8d3f", MechanismV2},
		{"logentry template groups across params", `{"logentry":{"message":"Hello %s","formatted":"Hello world"}}`, "Hello %s", MechanismV2},
		{"synthetic key is the function", `{"exception":{"values":[{"type":"SIGSEGV","value":"Segfault","mechanism":{"synthetic":true},"stacktrace":{"frames":[{"function":"f","in_app":true}]}}]}}`,
			"f", MechanismV2},
		{"message with synthetic exception: message and function", `{"message":"Disk at 91%","exception":{"values":[{"value":"Disk at 91%","mechanism":{"synthetic":true},"stacktrace":{"frames":[{"function":"checkDisk","in_app":true}]}}]}}`,
			"Log Message: Disk at <int>% ⋄ in checkDisk", MechanismMessage},
		{"message with synthetic exception and no frames", `{"exception":{"values":[{"value":"hello","mechanism":{"synthetic":true}}]}}`,
			"Log Message: hello ⋄ in <unknown>", MechanismMessage},
		{"message with synthetic exception under a fingerprint with the default", `{"fingerprint":["{{ default }}","eu"],"message":"hi","exception":{"values":[{"value":"hi","mechanism":{"synthetic":true},"stacktrace":{"frames":[{"function":"f"}]}}]}}`,
			"Log Message: hi ⋄ in f ⋄ eu", MechanismMessage},
		{"message with synthetic exception under a custom fingerprint", `{"fingerprint":["mine"],"message":"hi","exception":{"values":[{"value":"hi","mechanism":{"synthetic":true},"stacktrace":{"frames":[{"function":"f"}]}}]}}`,
			"mine", MechanismNone},
		{"message from minified JavaScript: the SDK's top frame is skipped", `{"platform":"javascript","message":"hi","exception":{"values":[{"type":null,"value":"hi","mechanism":{"synthetic":true},"stacktrace":{"frames":[` +
			`{"function":"?","filename":"<anonymous>","in_app":true},{"function":"window.run","in_app":true},{"function":"cs","in_app":true},{"function":"Be","in_app":true}]}}]}}`,
			"Log Message: hi ⋄ in cs", MechanismMessage},
		{"message from readable JavaScript: the top frame is the caller", `{"platform":"javascript","message":"hi","exception":{"values":[{"value":"hi","mechanism":{"synthetic":true},"stacktrace":{"frames":[` +
			`{"function":"main","in_app":true},{"function":"checkDisk","in_app":true}]}}]}}`,
			"Log Message: hi ⋄ in checkDisk", MechanismMessage},
		{"minified synthetic keeps the function as key", `{"platform":"javascript","exception":{"values":[{"type":"Error","mechanism":{"synthetic":true},"stacktrace":{"frames":[{"filename":"b.js","function":"wt","in_app":true}]}}]}}`,
			"wt", MechanismV2},
		{"multi-line value: first line of the first two", `{"exception":[{"type":"E","value":"first 1\n\nsecond 2\nthird"}]}`, "E: first <int>", MechanismV2},
		{"single line with trailing newline gets the marker", `{"exception":[{"type":"E","value":"boom\n"}]}`, "E: boom...", MechanismV2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev := normalize(t, tt.in)
			if ev.GroupingKey != tt.wantKey || ev.GroupingMechanism != tt.wantMech {
				t.Errorf("key = (%q, %q), want (%q, %q)", ev.GroupingKey, ev.GroupingMechanism, tt.wantKey, tt.wantMech)
			}
		})
	}
}

// TestGroupingKeySharedAcrossValues checks that values differing only in
// variable parts share a key and that others do not.
func TestGroupingKeySharedAcrossValues(t *testing.T) {
	key := func(value string) string {
		return normalize(t, `{"exception":[{"type":"ConnectionError","value":"`+value+`"}]}`).GroupingKey
	}
	same := [][2]string{
		{"timeout after 30ms connecting to 10.0.0.1", "timeout after 5ms connecting to 192.168.1.20"},
		{"job 550e8400-e29b-41d4-a716-446655440000 failed at 2024-01-02T03:04:05Z", "job 123e4567-e89b-12d3-a456-426614174000 failed at 2025-06-07T08:09:10Z"},
		{"mail to jane@example.com bounced", "mail to bob@example.org bounced"},
	}
	for _, p := range same {
		if a, b := key(p[0]), key(p[1]); a != b {
			t.Errorf("%q and %q: keys %q and %q differ, want one key", p[0], p[1], a, b)
		}
	}
	if a, b := key("connection refused"), key("connection reset"); a == b {
		t.Errorf("different messages share the key %q", a)
	}
}

func TestFirstLines(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"one", "one"},
		{"one\ntwo", "one\ntwo"},
		{"one\ntwo\nthree", "one\ntwo..."},
		{"one\n\n  \ntwo", "one\ntwo..."},
		{"\n\none", "one..."},
		{"one\n", "one..."},
		{"one\r\ntwo", "one\ntwo..."},
	} {
		if got := firstLines(tt.in, 2); got != tt.want {
			t.Errorf("firstLines(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestMessageGrouping checks the message rule's promises: two messages from
// one function are two issues, one message from two calls in one function
// is one, one message from two functions is two; and the previous key
// (bugsink-v2's function name) is kept for the transition.
func TestMessageGrouping(t *testing.T) {
	msg := func(text, fn string, line int) *Event {
		return normalize(t, fmt.Sprintf(`{"platform":"node","message":%q,"exception":{"values":[{"value":%q,`+
			`"stacktrace":{"frames":[{"function":"main","in_app":true},{"function":%q,"lineno":%d,"in_app":true}]},"mechanism":{"type":"generic","handled":true,"synthetic":true}}]}}`,
			text, text, fn, line))
	}
	a1, a2 := msg("disk full on /var", "checkDisk", 10), msg("disk full on /var", "checkDisk", 12)
	b := msg("disk almost full on /var", "checkDisk", 14)
	c := msg("disk full on /var", "cleanup", 10)
	if a1.GroupingKey != a2.GroupingKey {
		t.Errorf("one message from two calls in one function: keys %q and %q, want one", a1.GroupingKey, a2.GroupingKey)
	}
	if a1.GroupingKey == b.GroupingKey {
		t.Errorf("two messages from one function share the key %q", b.GroupingKey)
	}
	if a1.GroupingKey == c.GroupingKey {
		t.Errorf("one message from two functions shares the key %q", c.GroupingKey)
	}
	for _, ev := range []*Event{a1, b} {
		if ev.PreviousGroupingKey != "checkDisk" || ev.Rule != RuleSyntheticMessage || ev.SyntheticFunction != "checkDisk" {
			t.Errorf("%s: previous key %q, rule %q, function %q", ev.Title, ev.PreviousGroupingKey, ev.Rule, ev.SyntheticFunction)
		}
	}
	if a1.Title != "disk full on /var" || a1.MessageSource != SourceMessage {
		t.Errorf("title %q from %q", a1.Title, a1.MessageSource)
	}
	plain := normalize(t, `{"message":"disk full on /var"}`)
	if plain.PreviousGroupingKey != "" || plain.Rule != RuleLogMessage || plain.GroupingKey == a1.GroupingKey {
		t.Errorf("plain log message: rule %q, key %q, previous %q", plain.Rule, plain.GroupingKey, plain.PreviousGroupingKey)
	}
}
