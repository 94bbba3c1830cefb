package event

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const (
	firefoxUA = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:76.0) Gecko/20100101 Firefox/76.0"
	chromeUA  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"
)

func TestTags(t *testing.T) {
	firefoxTags := []Tag{{"browser.name", "Firefox"}, {"browser.version", "76.0"}, {"browser", "Firefox 76.0"}, {"os.name", "Ubuntu"}, {"os", "Ubuntu"}}
	for _, tt := range []struct {
		name, in string
		remote   string
		want     []Tag
	}{
		{"none", `{}`, "", nil},
		{"event tags as an object, non-strings stringified",
			`{"tags":{"s":"v","b":true,"f":false,"i":42,"x":1.5,"n":null,"o":{"a":1},"l":[1],"":"empty key","e":""}}`, "",
			[]Tag{{"s", "v"}, {"b", "true"}, {"f", "false"}, {"i", "42"}, {"x", "1.5"}}},
		{"event tags as a list of pairs",
			`{"tags":[["a","1"],["b",2],["c"],"d",["e","5","extra"],[7,"k"],["f","6"]]}`, "",
			[]Tag{{"a", "1"}, {"b", "2"}, {"f", "6"}}},
		{"scalar fields",
			`{"server_name":"web-1","release":"1.0","environment":"prod","transaction":"/checkout","dist":"d","logger":"l","level":"info","platform":"python"}`, "",
			[]Tag{{"server_name", "web-1"}, {"release", "1.0"}, {"environment", "prod"}, {"transaction", "/checkout"}}},
		{"later sources win but keep the first position",
			`{"tags":{"release":"from-tags","a":"1","environment":"from-tags"},"release":"2.0"}`, "",
			[]Tag{{"release", "2.0"}, {"a", "1"}, {"environment", "from-tags"}}},
		{"handled", `{"exception":[{"type":"E","mechanism":{"type":"generic","handled":false}}]}`, "",
			[]Tag{{"handled", "false"}}},
		{"trace context",
			`{"contexts":{"trace":{"trace_id":"c644b9723a894308e2de77d11e5f9c9c","span_id":"1ae5b63da62de5a7","op":"http"}}}`, "",
			[]Tag{{"trace", "c644b9723a894308e2de77d11e5f9c9c"}, {"trace.span", "1ae5b63da62de5a7"}, {"trace.ctx", "c644b9723a894308e2de77d11e5f9c9c.1ae5b63da62de5a7"}}},
		{"trace without span", `{"contexts":{"trace":{"trace_id":"abc"}}}`, "", []Tag{{"trace", "abc"}}},
		{"browser and os contexts",
			`{"contexts":{"browser":{"name":"Chrome","version":"88.0"},"os":{"name":"Windows","version":"10"},"runtime":{"name":"CPython","version":"3.12"}}}`, "",
			[]Tag{{"browser.name", "Chrome"}, {"browser.version", "88.0"}, {"browser", "Chrome 88.0"}, {"os.name", "Windows"}, {"os.version", "10"}, {"os", "Windows 10"}}},
		{"os context without version", `{"contexts":{"os":{"name":"linux"}}}`, "", []Tag{{"os.name", "linux"}, {"os", "linux"}}},
		{"User-Agent from object headers",
			`{"request":{"headers":{"Accept":"*/*","User-Agent":"` + firefoxUA + `"}}}`, "", firefoxTags},
		{"User-Agent from list headers, any case",
			`{"request":{"headers":[["Accept","*/*"],["user-agent","` + firefoxUA + `"]]}}`, "", firefoxTags},
		{"User-Agent value as a list (PHP, .NET)",
			`{"request":{"headers":{"USER-AGENT":["` + firefoxUA + `"]}}}`, "", firefoxTags},
		{"non-string User-Agent is ignored", `{"request":{"headers":{"User-Agent":5}}}`, "", nil},
		{"contexts win over the User-Agent, one context at a time",
			`{"contexts":{"browser":{"name":"Firefox","version":"126.0"}},"request":{"headers":{"User-Agent":"` + chromeUA + `"}}}`, "",
			[]Tag{{"browser.name", "Firefox"}, {"browser.version", "126.0"}, {"browser", "Firefox 126.0"}, {"os.name", "Windows"}, {"os.version", "10"}, {"os", "Windows 10"}}},
		{"user tags; user is the first present",
			`{"user":{"username":"jane","email":"jane@example.com","ip_address":"10.0.0.1","segment":"x"}}`, "",
			[]Tag{{"user.username", "jane"}, {"user.email", "jane@example.com"}, {"user.ip_address", "10.0.0.1"}, {"user", "jane"}}},
		{"integer user id", `{"user":{"id":7,"isStaff":false}}`, "", []Tag{{"user.id", "7"}, {"user", "7"}}},
		{"{{auto}} becomes the remote address", `{"user":{"ip_address":"{{auto}}"}}`, "198.51.100.7",
			[]Tag{{"user.ip_address", "198.51.100.7"}, {"user", "198.51.100.7"}}},
		{"{{auto}} without a remote address is dropped", `{"user":{"ip_address":"{{auto}}"}}`, "", nil},
		{"not tags: level, url, logger, mechanism.type, runtime",
			`{"level":"warning","logger":"app","request":{"url":"https://x/y"},"contexts":{"runtime":{"name":"go"}},"exception":[{"type":"E","mechanism":{"type":"generic"}}]}`, "",
			nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := testMeta
			m.RemoteAddr = tt.remote
			ev, _, err := NewNormalizer().Normalize([]byte(tt.in), m)
			if err != nil {
				t.Fatal(err)
			}
			if len(ev.Tags) == 0 && len(tt.want) == 0 {
				return
			}
			if !reflect.DeepEqual(ev.Tags, tt.want) {
				t.Errorf("Tags =\n  %q\nwant\n  %q", ev.Tags, tt.want)
			}
		})
	}
}

func TestTagLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"release":"r","tags":{`)
	for i := range 150 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + strconv.Itoa(i) + `":"v"`)
	}
	b.WriteString(`,"long":"` + strings.Repeat("ß", 300) + `"}}`)
	ev := normalize(t, b.String())
	if len(ev.Tags) != MaxTags {
		t.Fatalf("got %d tags, want %d", len(ev.Tags), MaxTags)
	}
	if got := ev.Tags[MaxTags-1].Key; got != "k99" {
		t.Errorf("last tag key = %q, want %q (the first %d keys are kept)", got, "k99", MaxTags)
	}

	ev = normalize(t, `{"tags":{"long":"`+strings.Repeat("ß", 300)+`","`+strings.Repeat("k", 300)+`":"v"}}`)
	if got := ev.Tags[0].Value; got != strings.Repeat("ß", MaxTagValue) {
		t.Errorf("long value cut to %d runes, want %d", len([]rune(got)), MaxTagValue)
	}
	if got := ev.Tags[1].Key; got != strings.Repeat("k", MaxTagValue) {
		t.Errorf("long key cut to %d runes, want %d", len([]rune(got)), MaxTagValue)
	}
}

func TestParseUserAgent(t *testing.T) {
	for _, tt := range []struct {
		ua   string
		want UserAgent
	}{
		{firefoxUA, UserAgent{Browser: "Firefox", BrowserVersion: "76.0", OS: "Ubuntu"}},
		{chromeUA, UserAgent{Browser: "Chrome", BrowserVersion: "130.0.0.0", OS: "Windows", OSVersion: "10"}},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
			UserAgent{Browser: "Chrome", BrowserVersion: "119.0.0.0", OS: "Mac OS X", OSVersion: "10.15.7"}},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
			UserAgent{Browser: "Safari", BrowserVersion: "17.1", OS: "iPhone OS", OSVersion: "17.1"}},
		{"", UserAgent{}},
	} {
		// Parsed, then remembered, then parsed again after other agents
		// pushed it out of the remembered ones.
		for round := range 3 {
			if round == 2 {
				// Other agents take every slot of its set.
				uaRecent.mu.Lock()
				set := &uaRecent.set(tt.ua)[0]
				uaRecent.mu.Unlock()
				for i, n := 0, 0; n < recentWays; i++ {
					other := fmt.Sprintf("Mozilla/5.0 (X11; Linux x86_64; rv:%d.0) Gecko/20100101 Firefox/%d.0", i, i)
					uaRecent.mu.Lock()
					same := &uaRecent.set(other)[0] == set
					uaRecent.mu.Unlock()
					if same {
						ParseUserAgent(other)
						n++
					}
				}
				if _, ok := uaRecent.get(tt.ua); ok {
					t.Fatalf("%q still remembered after other agents took its set", tt.ua)
				}
			}
			if got := ParseUserAgent(tt.ua); got != tt.want {
				t.Errorf("round %d: ParseUserAgent(%q) = %+v, want %+v", round, tt.ua, got, tt.want)
			}
		}
	}
}

// TestAutoIPStored checks the stored user object: "{{auto}}" replaced, or
// removed when the remote address is unknown.
func TestAutoIPStored(t *testing.T) {
	for _, tt := range []struct{ remote, want string }{
		{"198.51.100.7", `"user":{"id":"u","ip_address":"198.51.100.7"}`},
		{"", `"user":{"id":"u"}`},
	} {
		m := testMeta
		m.RemoteAddr = tt.remote
		_, out, err := NewNormalizer().Normalize([]byte(`{"user":{"id":"u","ip_address":"{{auto}}"}}`), m)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), tt.want) {
			t.Errorf("remote %q: stored %s, want it to contain %s", tt.remote, out, tt.want)
		}
	}
}

// TestTagsOwnedByEvent checks that the tags a Normalizer returns are the
// event's own: normalising further events (with the normaliser's tag
// scratch) leaves them as they were.
func TestTagsOwnedByEvent(t *testing.T) {
	n := NewNormalizer()
	m := Meta{EventID: "0123456789abcdef0123456789abcdef"}
	first, _, err := n.Normalize([]byte(`{"tags":{"a":"1","b":"2","c":"3"},"environment":"prod","user":{"id":"u1"}}`), m)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(first.Tags)
	if len(want) != 6 {
		t.Fatalf("first event's tags %v, want 6", want)
	}
	second, _, err := n.Normalize([]byte(`{"tags":{"x":"9"}}`), m)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(first.Tags, want) {
		t.Fatalf("the first event's tags changed to %v (were %v) when the next was normalised", first.Tags, want)
	}
	if got := second.Tags; len(got) != 1 || got[0] != (Tag{Key: "x", Value: "9"}) {
		t.Fatalf("second event's tags %v", got)
	}
	again, err := n.Reindex([]byte(`{"tags":{"y":"8"}}`), m)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(first.Tags, want) || len(second.Tags) != 1 || second.Tags[0].Key != "x" || len(again.Tags) != 1 {
		t.Fatalf("tags shared between events: %v / %v / %v", first.Tags, second.Tags, again.Tags)
	}
}
