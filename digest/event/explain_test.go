package event

import (
	"strings"
	"testing"
)

func TestExplain(t *testing.T) {
	for _, tt := range []struct {
		name, in           string
		wantTitle, wantKey []string
	}{
		{"node captureMessage", `{"level":"warning","message":"Disk at 91%","exception":{"values":[{"value":"Disk at 91%","mechanism":{"synthetic":true},"stacktrace":{"frames":[{"function":"checkDisk","in_app":true}]}}]}}`,
			[]string{"synthetic exception", "in its message", "level (warning)"}, []string{"(checkDisk)", `was "checkDisk"`, MechanismMessage}},
		{"browser captureMessage", `{"exception":{"values":[{"value":"hi","mechanism":{"synthetic":true},"stacktrace":{"frames":[{"function":"wt"}]}}]}}`,
			[]string{"in its exception value"}, []string{"(wt)"}},
		{"minified synthetic", `{"platform":"javascript","exception":{"values":[{"type":"Error","mechanism":{"synthetic":true},"stacktrace":{"frames":[{"filename":"a.js","function":"wt"}]}}]}}`,
			[]string{"crash frame, wt", "minified"}, []string{"function alone"}},
		{"exception", `{"exception":{"values":[{"type":"E","value":"v"}]}}`, []string{"type"}, []string{"Stack frames"}},
		{"log message", `{"logentry":{"message":"a %s","params":["b"]}}`, []string{"logentry.message"}, []string{MechanismV2}},
		{"fingerprint", `{"fingerprint":["x"],"message":"m"}`, []string{"log message"}, []string{"own fingerprint"}},
		{"fingerprint with default", `{"fingerprint":["{{ default }}","x"],"message":"m"}`, []string{"log message"}, []string{"{{ default }}"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			title, key := Explain(normalize(t, tt.in))
			for _, w := range tt.wantTitle {
				if !strings.Contains(title, w) {
					t.Errorf("title explanation %q lacks %q", title, w)
				}
			}
			for _, w := range tt.wantKey {
				if !strings.Contains(key, w) {
					t.Errorf("key explanation %q lacks %q", key, w)
				}
			}
		})
	}
}
