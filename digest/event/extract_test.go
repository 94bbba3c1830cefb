package event

import (
	"strings"
	"testing"
	"time"
)

func TestTimestamp(t *testing.T) {
	ingested := testMeta.IngestedAt
	for _, tt := range []struct {
		name, in string
		want     time.Time
	}{
		{"RFC 3339 with Z", `"2024-03-05T10:20:30Z"`, time.Date(2024, 3, 5, 10, 20, 30, 0, time.UTC)},
		{"microseconds and Z (python)", `"2024-03-05T10:20:30.123456Z"`, time.Date(2024, 3, 5, 10, 20, 30, 123456000, time.UTC)},
		{"+00:00", `"2024-03-05T10:20:30.5+00:00"`, time.Date(2024, 3, 5, 10, 20, 30, 500000000, time.UTC)},
		{"other offset", `"2024-12-12T17:19:37.131907238+01:00"`, time.Date(2024, 12, 12, 16, 19, 37, 131907000, time.UTC)},
		{"7 fractional digits (.NET), rounded to microseconds", `"2020-04-18T21:44:00.2061553Z"`, time.Date(2020, 4, 18, 21, 44, 0, 206155000, time.UTC)},
		{"nanoseconds rounded up", `"2020-04-18T21:44:00.9999996Z"`, time.Date(2020, 4, 18, 21, 44, 1, 0, time.UTC)},
		{"no zone is UTC (raven)", `"2018-07-24T14:52:09"`, time.Date(2018, 7, 24, 14, 52, 9, 0, time.UTC)},
		{"no zone with fraction", `"2018-07-24T14:52:09.25"`, time.Date(2018, 7, 24, 14, 52, 9, 250000000, time.UTC)},
		{"space instead of T", `"2018-07-24 14:52:09Z"`, time.Date(2018, 7, 24, 14, 52, 9, 0, time.UTC)},
		{"epoch float (node, sentry-cli)", `1712345678.25`, time.Date(2024, 4, 5, 19, 34, 38, 250000000, time.UTC)},
		{"epoch float microseconds", `1712345678.123456`, time.Date(2024, 4, 5, 19, 34, 38, 123456000, time.UTC)},
		{"epoch float rounded by its decimal digits", `1726558445.1666944`, time.Date(2024, 9, 17, 7, 34, 5, 166694000, time.UTC)},
		{"epoch far from today keeps its microseconds (found by fuzzing)", `-61468876598.636353`, time.Unix(-61468876599, 363647000).UTC()},
		{"epoch with exponent", `1.7123456785e9`, time.Date(2024, 4, 5, 19, 34, 38, 500000000, time.UTC)},
		{"epoch int", `1712345678`, time.Date(2024, 4, 5, 19, 34, 38, 0, time.UTC)},
		{"epoch as a string", `"1712345678.5"`, time.Date(2024, 4, 5, 19, 34, 38, 500000000, time.UTC)},
		{"before 1970", `-867236666`, time.Date(1942, 7, 9, 12, 55, 34, 0, time.UTC)},
		{"missing", ``, ingested},
		{"null", `null`, ingested},
		{"garbage string", `"yesterday"`, ingested},
		{"bad date", `"2024-13-45T99:00:00Z"`, ingested},
		{"boolean", `true`, ingested},
		{"object", `{}`, ingested},
		{"too far in the future", `1e20`, ingested},
		{"year 0", `"0000-01-01T00:00:00Z"`, ingested},
		{"NaN", `NaN`, ingested},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := `{}`
			if tt.in != "" {
				in = `{"timestamp":` + tt.in + `}`
			}
			ev, out, err := NewNormalizer().Normalize([]byte(in), testMeta)
			if err != nil {
				t.Fatal(err)
			}
			if !ev.Timestamp.Equal(tt.want) || ev.Timestamp.Location() != time.UTC {
				t.Errorf("Timestamp = %v, want %v", ev.Timestamp, tt.want)
			}
			again, _, err := NewNormalizer().Normalize(out, testMeta)
			if err != nil {
				t.Fatal(err)
			}
			if !again.Timestamp.Equal(ev.Timestamp) {
				t.Errorf("stored timestamp reads back as %v, want %v", again.Timestamp, ev.Timestamp)
			}
		})
	}
}

func TestAppendEpoch(t *testing.T) {
	for _, tt := range []struct {
		us   int64
		want string
	}{
		{0, "0.0"},
		{1712345678000000, "1712345678.0"},
		{1712345678500000, "1712345678.5"},
		{1712345678000001, "1712345678.000001"},
		{1712345678123450, "1712345678.12345"},
		{-1500000, "-1.5"},
		{-1, "-0.000001"},
	} {
		if got := string(appendEpoch(nil, tt.us)); got != tt.want {
			t.Errorf("appendEpoch(%d) = %q, want %q", tt.us, got, tt.want)
		}
	}
}

func TestLevel(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{``, "error"},
		{`"warning"`, "warning"},
		{`"info"`, "info"},
		{`""`, "error"},
		{`null`, "error"},
		{`10`, "debug"},
		{`20`, "info"},
		{`30`, "warning"},
		{`40`, "error"},
		{`50`, "fatal"},
		{`40.0`, "error"},
		{`35`, "error"},
		{`true`, "error"},
		{`"` + strings.Repeat("x", 100) + `"`, strings.Repeat("x", 64)},
	} {
		in := `{}`
		if tt.in != "" {
			in = `{"level":` + tt.in + `}`
		}
		if got := normalize(t, in).Level; got != tt.want {
			t.Errorf("level %s: Level = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEventID(t *testing.T) {
	const payloadID = "0123456789abcdef0123456789abcdef"
	for _, tt := range []struct {
		name, meta, payload, want string
	}{
		{"ingest's id wins", "fedcba9876543210fedcba9876543210", `"` + payloadID + `"`, "fedcba9876543210fedcba9876543210"},
		{"ingest's id normalised", "FEDCBA98-7654-3210-FEDC-BA9876543210", `"` + payloadID + `"`, "fedcba9876543210fedcba9876543210"},
		{"payload id", "", `"` + payloadID + `"`, payloadID},
		{"bad ingest id falls back to the payload", "xyz", `"` + payloadID + `"`, payloadID},
		{"dashed upper-case payload id", "", `"01234567-89AB-CDEF-0123-456789ABCDEF"`, payloadID},
		{"payload id with wrong length", "", `"0123"`, ""},
		{"payload id not hex", "", `"0123456789abcdef0123456789abcdeg"`, ""},
		{"payload id not a string", "", `12`, ""},
		{"no id", "", ``, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := `{}`
			if tt.payload != "" {
				in = `{"event_id":` + tt.payload + `}`
			}
			m := testMeta
			m.EventID = tt.meta
			ev, _, err := NewNormalizer().Normalize([]byte(in), m)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if !isUUID4(ev.EventID) {
					t.Errorf("EventID = %q, want a random uuid4", ev.EventID)
				}
				return
			}
			if ev.EventID != tt.want {
				t.Errorf("EventID = %q, want %q", ev.EventID, tt.want)
			}
		})
	}
}

func TestScalars(t *testing.T) {
	long := strings.Repeat("ü", 300)
	ev := normalize(t, `{"platform":"python","logger":"app.views","server_name":"web-1","release":"`+long+`",`+
		`"dist":42,"environment":"prod","transaction":"`+long+`","sdk":{"name":"sentry.python","version":"1.9.10"}}`)
	for _, tt := range []struct{ field, got, want string }{
		{"Platform", ev.Platform, "python"},
		{"Logger", ev.Logger, "app.views"},
		{"ServerName", ev.ServerName, "web-1"},
		{"Release", ev.Release, strings.Repeat("ü", 250)},
		{"Dist", ev.Dist, "42"},
		{"Environment", ev.Environment, "prod"},
		{"Transaction", ev.Transaction, strings.Repeat("ü", 200)},
		{"SDKName", ev.SDKName, "sentry.python"},
		{"SDKVersion", ev.SDKVersion, "1.9.10"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.field, tt.got, tt.want)
		}
	}
	if got := normalize(t, `{}`).Platform; got != "other" {
		t.Errorf("missing platform: Platform = %q, want %q", got, "other")
	}
}

func TestHandled(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"exception":[{"type":"E","mechanism":{"handled":false}}]}`, "false"},
		{`{"exception":[{"type":"E","mechanism":{"handled":true}}]}`, "true"},
		{`{"exception":[{"type":"E","mechanism":{"handled":true}},{"type":"Main"}]}`, ""},
		{`{"exception":[{"type":"E","mechanism":{"handled":"no"}}]}`, ""},
		{`{"exception":[{"type":"E"}]}`, ""},
		{`{"message":"m"}`, ""},
	} {
		if got := normalize(t, tt.in).Handled; got != tt.want {
			t.Errorf("%s: Handled = %q, want %q", tt.in, got, tt.want)
		}
	}
}
