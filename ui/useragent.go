package ui

import (
	"strings"

	"github.com/tinysink/tinysink/digest/event"
)

// maxUA is the longest User-Agent parsed, in bytes.
const maxUA = 512

// addUAContexts adds "browser" and "os" sections parsed from the request's
// User-Agent header when the event has no such context with a name
// (reference §9.5). The sections' names say where they came from.
func addUAContexts(ev *eventView) {
	if ev == nil || ev.Request == nil {
		return
	}
	hasBrowser, hasOS := hasNamedContext(ev, "browser"), hasNamedContext(ev, "os")
	if hasBrowser && hasOS {
		return
	}
	var ua string
	for _, h := range ev.Request.Headers {
		if strings.EqualFold(h.Key, "User-Agent") {
			ua = h.Value
			break
		}
	}
	if ua == "" || len(ua) > maxUA {
		return
	}
	// digest/event's parser, so the page agrees with the browser and os tags.
	p := event.ParseUserAgent(ua)
	add := func(name, value, version string) {
		if value == "" {
			return
		}
		rows := []kv{{Key: "name", Value: clean(value, maxText, false)}}
		if version != "" {
			rows = append(rows, kv{Key: "version", Value: clean(version, maxText, false)})
		}
		ev.Contexts = append(ev.Contexts, section{Name: name + " (from the User-Agent header)", Rows: rows})
	}
	if !hasBrowser {
		add("browser", p.Browser, p.BrowserVersion)
	}
	if !hasOS {
		add("os", p.OS, p.OSVersion)
	}
}

// hasNamedContext reports whether the event has context name with a
// non-empty "name" (digest counts a context without one as absent).
func hasNamedContext(ev *eventView, name string) bool {
	for _, s := range ev.Contexts {
		if s.Name != name {
			continue
		}
		for _, r := range s.Rows {
			if r.Key == "name" && r.Value != "" {
				return true
			}
		}
	}
	return false
}
