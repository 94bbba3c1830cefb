package exchange

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// validFiles is a small valid export, for breaking one file at a time.
func validFiles() map[string]string {
	return map[string]string{
		"manifest.json":        `{"format":"tinysink-export","version":1}`,
		"projects.ndjson":      `{"slug":"app","name":"App"}` + "\n",
		"releases.ndjson":      `{"project":"app","version":"1.0","date_released":"2026-01-01T00:00:00Z"}` + "\n",
		"events/000001.ndjson": `{"project":"app","event_id":"0123456789abcdef0123456789abcdef","ingested_at":"2026-01-01T00:00:00Z"}` + "\n",
		"events/000001/0123456789abcdef0123456789abcdef.envelope": string(Envelope("0123456789abcdef0123456789abcdef",
			[]byte(`{"message":"hello","received":1767225600.25}`))),
		"issues.ndjson": `{"project":"app","ref":"APP-1","groupings":[],"history":[]}` + "\n",
	}
}

func TestReaderErrors(t *testing.T) {
	for _, tt := range []struct {
		name, file, content, want string
	}{
		{"valid", "", "", ""},
		{"not an export", "manifest.json", `{"format":"other"}`, `names format "other"`},
		{"newer format", "manifest.json", `{"format":"tinysink-export","version":9}`, "version 9"},
		{"bad project line", "projects.ndjson", "{\"slug\":\n", "projects.ndjson line 1"},
		{"unknown project", "releases.ndjson", `{"project":"nope","version":"1"}`, `project "nope" is not in projects.ndjson`},
		{"bad event id", "events/000001.ndjson", `{"project":"app","event_id":"../../etc/passwd"}`, "not 32 lowercase hex"},
		{"envelope of another event", "events/000001/0123456789abcdef0123456789abcdef.envelope",
			string(Envelope("ffffffffffffffffffffffffffffffff", []byte(`{}`))), "holds event"},
		{"envelope without event", "events/000001/0123456789abcdef0123456789abcdef.envelope",
			"{}\n{\"type\":\"attachment\",\"length\":1}\nx\n", "no event item"},
		{"item length past the end", "events/000001/0123456789abcdef0123456789abcdef.envelope",
			"{}\n{\"type\":\"event\",\"length\":99}\n{}\n", "past the end"},
		{"not an event", "events/000001/0123456789abcdef0123456789abcdef.envelope",
			string(Envelope("0123456789abcdef0123456789abcdef", []byte(`[1,2]`))), "event 0123456789abcdef0123456789abcdef"},
		{"truncated", "issues.ndjson", "\x00drop", "issues.ndjson missing"},
	} {
		files := validFiles()
		if tt.file != "" {
			files[tt.file] = tt.content
		}
		b := tarOf(t, files)
		if tt.content == "\x00drop" {
			b = tarWithout(t, files, tt.file)
		}
		var err error
		r, err := OpenStream(bytes.NewReader(b))
		if err == nil {
			_, err = Import(openStore(t), r)
		}
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want one saying %q", tt.name, err, tt.want)
		case tt.want != "" && tt.name != "not an event" && !errors.Is(err, ErrFormat):
			t.Errorf("%s: %v does not wrap ErrFormat", tt.name, err)
		}
	}
}

func tarWithout(t *testing.T, files map[string]string, drop string) []byte {
	delete(files, drop)
	return tarOf(t, files)
}

func TestParseEpochMicro(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1712345678.5", 1712345678500000, true},
		{"1712345678.000001", 1712345678000001, true},
		{"1712345678", 1712345678000000, true},
		{"1712345678.1234567", 0, false},
		{"-1.0", 0, false},
		{"1e9", 0, false},
	} {
		got, ok := parseEpochMicro(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseEpochMicro(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
