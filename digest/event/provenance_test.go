package event

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The golden files snapshot what Normalize derives today. Some of their
// fields are also checked against an outside reference: Bugsink's rules
// (shared/reference/bugsink-behaviour.md, copied into the rules below),
// applied by TestGoldenProvenance to the raw sample without Normalize:
//
//   - §5.4 calculated type and value: the last exception's type (default
//     "Error") and value, for an exception that is not synthetic and has
//     string fields; "Log Message" and the first line of the first
//     non-empty message source, for a log message;
//   - §5.1 the grouping key of a fingerprint without "{{ default }}": its
//     parts joined with " ⋄ ", mechanism "none".
//
// Every other field of every file, and the grouping key of every event
// without such a fingerprint (bugsink-v2 parameterisation; its rules are
// checked on the reference's examples in grouping_test.go and
// parameterize_test.go, not per file),
// only snapshots today's output. testdata/golden/PROVENANCE lists each
// file with what was checked for it; -update rewrites the list.
func TestGoldenProvenance(t *testing.T) {
	var list strings.Builder
	list.WriteString("# Which fields of each golden file were checked against an outside reference\n" +
		"# (TestGoldenProvenance in provenance_test.go): \"type+value\" = Bugsink's calculated type/value rule (§5.4),\n" +
		"# \"key\" = Bugsink's fingerprint rule (§5.1); \"snapshot\" = today's output only.\n")
	counts := map[string]int{}
	for _, name := range samples(t) {
		raw := readSample(t, name)
		var golden summary
		b, err := os.ReadFile(filepath.Join("testdata/golden", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &golden); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var checked []string
		if typ, value, ok := bugsinkTypeValue(raw); ok {
			if golden.CalculatedType != typ || golden.CalculatedValue != value {
				t.Errorf("%s: golden type/value %q / %q, Bugsink's rule gives %q / %q", name, golden.CalculatedType, golden.CalculatedValue, typ, value)
			}
			checked = append(checked, "type+value")
		}
		if key, ok := bugsinkFingerprintKey(raw); ok {
			if golden.GroupingKey != key || golden.GroupingMechanism != "none" {
				t.Errorf("%s: golden key %q (%s), Bugsink's rule gives %q (none)", name, golden.GroupingKey, golden.GroupingMechanism, key)
			}
			checked = append(checked, "key")
		}
		if len(checked) == 0 {
			checked = []string{"snapshot"}
		}
		for _, c := range checked {
			counts[c]++
		}
		fmt.Fprintf(&list, "%s\t%s\n", name, strings.Join(checked, ","))
	}
	t.Logf("golden files: %v", counts)
	const path = "testdata/golden/PROVENANCE"
	if *update {
		if err := os.WriteFile(path, []byte(list.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want, err := os.ReadFile(path); err != nil || string(want) != list.String() {
		t.Errorf("%s is out of date (go test ./digest/event -run TestGoldenProvenance -update)", path)
	}
}

// bugsinkTypeValue is Bugsink's calculated type and value of a raw event
// (§5.4), where the rule is unambiguous: a non-synthetic exception with
// string type and value under 1,000 bytes, or a log message from string
// sources. ok is false for everything else.
func bugsinkTypeValue(raw []byte) (typ, value string, ok bool) {
	var ev map[string]any
	if json.Unmarshal(raw, &ev) != nil {
		return "", "", false
	}
	if exc, present := ev["exception"]; present && truthy(exc) {
		var values []any
		switch e := exc.(type) {
		case []any:
			values = e
		case map[string]any:
			if v, isList := e["values"].([]any); isList {
				values = v
			} else if _, has := e["values"]; !has {
				values = []any{e}
			}
		}
		if len(values) == 0 {
			return "<unknown>", "", true
		}
		last, isMap := values[len(values)-1].(map[string]any)
		if !isMap {
			return "", "", false
		}
		if m, _ := last["mechanism"].(map[string]any); m != nil && m["synthetic"] != nil && m["synthetic"] != false {
			return "", "", false
		}
		typ, value = "Error", ""
		if v, present := last["type"]; present && v != nil {
			if typ, ok = v.(string); !ok || typ == "" || len(typ) > 128 {
				return "", "", false
			}
		}
		if v, present := last["value"]; present && v != nil {
			if value, ok = v.(string); !ok || len(value) > 1000 {
				return "", "", false
			}
		}
		return typ, value, true
	}
	var sources []any
	if le, _ := ev["logentry"].(map[string]any); le != nil {
		sources = append(sources, le["message"], le["formatted"])
	}
	switch m := ev["message"].(type) {
	case map[string]any:
		sources = append(sources, m["message"], m["formatted"])
	case string:
		sources = append(sources, m)
	}
	for _, s := range sources {
		if s == nil {
			continue
		}
		str, isString := s.(string)
		if !isString {
			return "", "", false
		}
		if line, _, _ := strings.Cut(strings.TrimSpace(str), "\n"); line != "" && len(line) <= 1000 {
			return "Log Message", strings.TrimSpace(line), true
		} else if line != "" {
			return "", "", false
		}
	}
	return "Log Message", "<no log message>", true
}

// bugsinkFingerprintKey is Bugsink's grouping key for a fingerprint of
// strings without "{{ default }}" (§5.1); ok is false otherwise.
func bugsinkFingerprintKey(raw []byte) (string, bool) {
	var ev struct {
		Fingerprint []any `json:"fingerprint"`
	}
	if json.Unmarshal(raw, &ev) != nil || len(ev.Fingerprint) == 0 {
		return "", false
	}
	parts := make([]string, len(ev.Fingerprint))
	for i, p := range ev.Fingerprint {
		s, isString := p.(string)
		if !isString || s == "{{ default }}" {
			return "", false
		}
		parts[i] = s
	}
	return strings.Join(parts, " ⋄ "), true
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	case string:
		return x != ""
	case bool:
		return x
	}
	return true
}
