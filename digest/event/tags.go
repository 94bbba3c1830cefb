package event

import (
	"slices"
	"strings"
	"sync"

	"github.com/mssola/useragent"
	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/internal/jtree"
)

// autoIP is the placeholder SDKs send to ask the server to fill in the
// client address.
const autoIP = "{{auto}}"

// tagSet collects tags with the semantics of an insertion-ordered map: a key
// keeps the position of its first appearance, a later value overwrites an
// earlier one, and keys beyond MaxTags are ignored.
type tagSet struct{ tags []Tag }

func (t *tagSet) set(key, value string) {
	if key == "" || value == "" {
		return
	}
	key = truncate(key, MaxTagValue)
	value = truncate(value, MaxTagValue)
	for i := range t.tags {
		if t.tags[i].Key == key {
			t.tags[i].Value = value
			return
		}
	}
	if len(t.tags) < MaxTags {
		t.tags = append(t.tags, Tag{Key: key, Value: value})
	}
}

// CountedTag reports whether the tag key is counted per issue. Keys whose
// values are (nearly) unique per event are searchable but not counted
// (reference §9.6): user*, trace*, browser, browser.version, os,
// os.version.
func CountedTag(key string) bool {
	return !(strings.HasPrefix(key, "user") || strings.HasPrefix(key, "trace") ||
		key == "browser" || key == "browser.version" || key == "os" || key == "os.version")
}

// tagValue renders a tag value: strings as themselves, booleans as
// "true"/"false", numbers as their JSON text; null, objects and arrays
// give "" (no tag).
func tagValue(v *jtree.Value) string {
	return scalarOf(v)
}

// deduceTags returns the event's tags, from these sources in order
// (reference §9.6): the event's own tags (an object, or a list of
// [key, value] pairs); server_name, release, environment and transaction;
// handled; the trace, browser and os contexts, with browser and os taken
// from the request's User-Agent header when the event has no such context;
// and the user. level, url, logger, mechanism.type and runtime are not tags.
// Keys and values are cut to MaxTagValue characters; empty ones are skipped.
func (d *doc) deduceTags(ev *Event, m Meta) []Tag {
	// Room for an ordinary event's tags at once: grown one append at a
	// time, the list was reallocated four or five times per event, and
	// with room for 16 once more for events with browser and os tags. A
	// Normalizer's events are built in its scratch and copied out at
	// their size: the room for 32 was 1 KB per event, held by the digest's
	// batch until it committed.
	var t tagSet
	if d.tagBuf != nil {
		t.tags = (*d.tagBuf)[:0]
	}
	if cap(t.tags) < 32 {
		t.tags = make([]Tag, 0, 32)
	}
	switch typeOf(d.tags) {
	case jtree.TypeObject:
		o, _ := d.tags.Object()
		o.Visit(func(k []byte, v *jtree.Value) {
			t.set(sanitize(k), tagValue(v))
		})
	case jtree.TypeArray:
		a, _ := d.tags.Array()
		for _, pair := range a {
			kv, _ := pair.Array()
			if len(kv) == 2 && typeOf(kv[0]) == jtree.TypeString {
				t.set(strOf(kv[0]), tagValue(kv[1]))
			}
		}
	}

	t.set("server_name", ev.ServerName)
	t.set("release", ev.Release)
	t.set("environment", ev.Environment)
	t.set("transaction", ev.Transaction)
	t.set("handled", ev.Handled)

	ctx := d.contexts
	if trace := get(ctx, "trace"); trace != nil {
		id, span := strOf(get(trace, "trace_id")), strOf(get(trace, "span_id"))
		t.set("trace", id)
		t.set("trace.span", span)
		if id != "" && span != "" {
			t.set("trace.ctx", id+"."+span)
		}
	}

	bName, bVersion := contextNameVersion(get(ctx, "browser"))
	oName, oVersion := contextNameVersion(get(ctx, "os"))
	if bName == "" || oName == "" {
		if ua := userAgentHeader(get(d.request, "headers")); ua != "" {
			info := ParseUserAgent(ua)
			if bName == "" {
				bName, bVersion = info.Browser, info.BrowserVersion
			}
			if oName == "" {
				oName, oVersion = info.OS, info.OSVersion
			}
		}
	}
	setNameVersion(&t, "browser", "browser.name", "browser.version", bName, bVersion)
	setNameVersion(&t, "os", "os.name", "os.version", oName, oVersion)

	first := ""
	for _, k := range [...]string{"id", "username", "email", "ip_address"} {
		v := tagValue(get(d.user, k))
		if k == "ip_address" && v == autoIP {
			v = m.RemoteAddr
		}
		t.set("user."+k, v)
		if first == "" {
			first = v
		}
	}
	t.set("user", first)
	tags := t.tags
	if d.tagBuf != nil {
		if len(tags) > 0 {
			tags = slices.Clone(tags)
		}
		clear(t.tags) // do not keep this event's strings reachable
		*d.tagBuf = t.tags[:0]
	}
	if len(tags) == 0 {
		return nil // as before the room was made
	}
	return tags
}

// contextNameVersion returns a browser or os context's name and version;
// a context without a name counts as absent.
func contextNameVersion(c *jtree.Value) (name, version string) {
	name = scalarOf(get(c, "name"))
	if name == "" {
		return "", ""
	}
	return name, scalarOf(get(c, "version"))
}

// setNameVersion sets nameKey, versionKey and key (e.g. os.name, os.version
// and os) to name, version and "name version".
func setNameVersion(t *tagSet, key, nameKey, versionKey, name, version string) {
	if name == "" {
		return
	}
	t.set(nameKey, name)
	t.set(versionKey, version)
	if version != "" {
		t.set(key, name+" "+version)
	} else {
		t.set(key, name)
	}
}

// userAgentHeader returns the User-Agent request header. Headers come as an
// object or as a list of [name, value] pairs; names are matched without
// regard to case. A value that is a list (the PHP and .NET SDKs send those)
// gives its first element; a value that is not a string is ignored.
func userAgentHeader(h *jtree.Value) string {
	var val *jtree.Value
	switch typeOf(h) {
	case jtree.TypeObject:
		o, _ := h.Object()
		o.Visit(func(k []byte, v *jtree.Value) {
			if val == nil && isUserAgent(k) {
				val = v
			}
		})
	case jtree.TypeArray:
		a, _ := h.Array()
		for _, pair := range a {
			kv, _ := pair.Array()
			if len(kv) == 2 && typeOf(kv[0]) == jtree.TypeString {
				k, _ := kv[0].StringBytes()
				if isUserAgent(k) {
					val = kv[1]
					break
				}
			}
		}
	}
	if typeOf(val) == jtree.TypeArray {
		a, _ := val.Array()
		val = nil
		if len(a) > 0 {
			val = a[0]
		}
	}
	return strOf(val)
}

func isUserAgent(k []byte) bool {
	const name = "user-agent"
	if len(k) != len(name) {
		return false
	}
	for i := range k {
		c := k[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}

// UserAgent is what tinysink reads from a browser's User-Agent header.
type UserAgent struct {
	Browser, BrowserVersion, OS, OSVersion string
}

// uaParsers hands out reusable User-Agent parsers; it is built on first use.
var uaParsers = budget.Lazy("useragent", func() *sync.Pool {
	return &sync.Pool{New: func() any { return new(useragent.UserAgent) }}
})

// ParseUserAgent parses a browser User-Agent string: the one parser behind
// the browser and os tags and the UI's contexts taken from the header.
// The events of one client repeat its User-Agent, so the last few parsed
// are remembered (each parse allocated ~1 KB).
func ParseUserAgent(s string) UserAgent {
	if info, ok := uaRecent.get(s); ok {
		return info
	}
	pool := uaParsers()
	ua := pool.Get().(*useragent.UserAgent)
	defer pool.Put(ua)
	ua.Parse(s)
	var info UserAgent
	info.Browser, info.BrowserVersion = ua.Browser()
	osi := ua.OSInfo()
	info.OS, info.OSVersion = osi.Name, osi.Version
	uaRecent.put(s, info)
	return info
}

// uaRecent holds the User-Agents parsed last (real ones are ~100–300
// bytes; longer ones are not kept).
var uaRecent = newRecent[UserAgent](16, 512)
