package ui

import (
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/tinysink/tinysink/store"
)

// contrastScript lists the rendered text whose contrast with its
// background is below WCAG AA (axe's color-contrast rule): 4.5:1, or 3:1
// for large text (24 px, or 18.66 px bold). The background is every
// ancestor's background colour composited from the root down, the text
// colour is composited over it with the opacity of the element and its
// ancestors. Like axe it skips disabled controls, hidden text and SVG.
const contrastScript = `(() => {
  document.querySelectorAll("details").forEach(d => d.open = true);
  const parse = s => { const m = s.match(/rgba?\(([^)]*)\)/); if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const over = (top, under) => ({r: top.r*top.a + under.r*(1-top.a), g: top.g*top.a + under.g*(1-top.a), b: top.b*top.a + under.b*(1-top.a), a: 1});
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v/12.92 : Math.pow((v+0.055)/1.055, 2.4); };
    return 0.2126*f(c.r) + 0.7152*f(c.g) + 0.0722*f(c.b); };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const hex = c => "#" + [c.r, c.g, c.b].map(v => Math.round(v).toString(16).padStart(2, "0")).join("");
  const out = [];
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest("svg, [disabled], option, script, style")) continue;
    const text = [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join("").trim();
    const field = (el.tagName === "INPUT" && !["checkbox", "radio", "hidden"].includes(el.type) && el.value) || (el.tagName === "TEXTAREA" && el.value);
    if (!text && !field) continue;
    const st = getComputedStyle(el);
    if (st.visibility !== "visible" || el.getClientRects().length === 0) continue;
    const chain = []; for (let e = el; e; e = e.parentElement) chain.unshift(e);
    let bg = {r: 255, g: 255, b: 255, a: 1}, opacity = 1;
    for (const e of chain) {
      const s = getComputedStyle(e);
      const c = parse(s.backgroundColor);
      if (c && c.a > 0) bg = over(c, bg);
      opacity *= Number(s.opacity);
    }
    const fg = parse(st.color); fg.a *= opacity;
    const shown = over(fg, bg);
    const size = parseFloat(st.fontSize), bold = Number(st.fontWeight) >= 700;
    const need = size >= 24 || (size >= 18.66 && bold) ? 3 : 4.5;
    const r = ratio(shown, bg);
    if (r < need) out.push(el.tagName.toLowerCase() + (el.className ? "." + String(el.className).replace(/ /g, ".") : "") +
      " " + JSON.stringify((text || "field").slice(0, 30)) + ": " + r.toFixed(2) + ":1 (" + hex(shown) + " on " + hex(bg) + ", need " + need + ")");
  }
  return [...new Set(out)];
})()`

// TestBrowserContrast checks the text contrast of the main pages in the
// light and the dark theme (prefers-color-scheme emulated).
func TestBrowserContrast(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	events := corpus(t)
	for _, n := range []string{"python/bugsink_visualshots-rich.json", "java/sentry-grouping_java-chained.json", "javascript/sentry-grouping_minified-javascript.json"} {
		s.ingest(t, s.project.ID, events[n])
	}
	threeIssues(t, s, s.project.ID, "")
	iss := s.issues(t, s.project.ID)
	if _, err := s.db.ApplyAction(iss[1].ID, store.ActionMute, "admin", ""); err != nil {
		t.Fatal(err)
	}
	s.db.AddComment(iss[0].ID, "admin", "a comment")
	s.db.Assign(iss[0].ID, "admin", "admin")
	srv := httptest.NewServer(s.mux)
	defer srv.Close()
	ctx := newBrowser(t)
	browserLogin(t, ctx, srv.URL, "admin", testPassword)
	p := fmt.Sprintf("/projects/%d/", s.project.ID)
	var pages []string
	pages = append(pages, "/projects/", p+"?tab=all&done=resolve&applied=2&skipped=1&none=1", "/issues/?tab=all",
		p+"settings/", p+"releases/", p+"members/", p+"performance/", "/users/", "/accounts/", "/debug/budget/", "/quarantine/")
	for _, i := range iss {
		base := fmt.Sprintf("/issues/%d/", i.ID)
		pages = append(pages, base+"event/last/")
	}
	base := fmt.Sprintf("/issues/%d/", iss[0].ID)
	pages = append(pages, base+"event/last/details/", base+"event/last/breadcrumbs/", base+"events/", base+"tags/", base+"grouping/", base+"history/", base+"delete/")
	// Each page loads once and is checked in both themes: the theme is
	// only CSS (a prefers-color-scheme media query, read by no script), so
	// switching the emulated media restyles the loaded page as a fresh
	// load in that theme would.
	themes := func(what string) {
		t.Helper()
		for _, theme := range []string{"light", "dark"} {
			media := emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: theme}}}
			if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, media); err != nil {
				t.Fatal(err)
			}
			if got := get(t, ctx, chromedp.Evaluate[bool](`matchMedia("(prefers-color-scheme: dark)").matches`)); got != (theme == "dark") {
				t.Fatalf("%s: the page does not see the %s theme", what, theme)
			}
			for _, bad := range get(t, ctx, chromedp.Evaluate[[]string](contrastScript)) {
				t.Errorf("%s theme, %s: %s", theme, what, bad)
			}
		}
	}
	for _, path := range pages {
		do(t, ctx, path, chromedp.Navigate(srv.URL+path), chromedp.WaitReady(chromedp.CSS("main")))
		themes(path)
	}
	// The login page, logged out.
	do(t, ctx, "log out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login")))
	themes("login")
}
