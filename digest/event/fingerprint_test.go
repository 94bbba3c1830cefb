package event

import (
	"testing"
	"time"
)

// A fingerprint made only of empty strings groups like no fingerprint (it
// was found by FuzzNormalize: the key came out empty).
func TestEmptyFingerprintFallsBack(t *testing.T) {
	n := NewNormalizer()
	for _, raw := range []string{
		`{"fingerprint":[""],"exception":{"values":[{"type":"E","value":"v"}]}}`,
		`{"fingerprint":["",""],"exception":{"values":[{"type":"E","value":"v"}]}}`,
	} {
		ev, _, err := n.Normalize([]byte(raw), Meta{IngestedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if ev.GroupingKey != "E: v" || ev.GroupingMechanism != MechanismV2 {
			t.Errorf("%s: key %q (%s), want the default key", raw, ev.GroupingKey, ev.GroupingMechanism)
		}
	}
	ev, _, _ := n.Normalize([]byte(`{"fingerprint":["", "x"]}`), Meta{IngestedAt: time.Now()})
	if ev.GroupingKey != " ⋄ x" || ev.GroupingMechanism != MechanismNone {
		t.Errorf("a fingerprint with a non-empty part: key %q (%s)", ev.GroupingKey, ev.GroupingMechanism)
	}
}
