package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"

	"github.com/tinysink/tinysink/budget"
)

// templateFS holds the templates: templates/layout.html ("header" and
// "footer") and templates/partials/*.html are shared; each
// templates/pages/<name>.html defines the page template <name>, which
// starts with {{template "header" .}} and ends with {{template "footer" .}}.
// All of them form one set, so the shared parts are parsed and escaped once
// rather than once per page.
//
//go:embed templates
var templateFS embed.FS

// staticFS holds the stylesheet, the copy-button script and the icon,
// served under /static/.
//
//go:embed static
var staticFS embed.FS

// pages is the parsed template set. It is built on the first request that
// renders a page, not at start: a server that only ingests never pays for
// it.
var pages = budget.Lazy("ui-templates", func() *template.Template {
	t, err := parseTemplates()
	if err != nil {
		// The templates are embedded: a parse error is a build defect that
		// TestTemplatesParse catches.
		panic(err)
	}
	return t
})

// pageNames are the page templates, one per file in templates/pages/.
func pageNames() []string {
	files, _ := fs.Glob(templateFS, "templates/pages/*.html")
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = strings.TrimSuffix(path.Base(f), ".html")
	}
	return names
}

func parseTemplates() (*template.Template, error) {
	t, err := template.New("tinysink").Funcs(funcs).ParseFS(templateFS,
		"templates/layout.html", "templates/partials/*.html", "templates/pages/*.html")
	if err != nil {
		return nil, err
	}
	for _, name := range pageNames() {
		if t.Lookup(name) == nil {
			return nil, fmt.Errorf("ui: templates/pages/%s.html does not define %q", name, name)
		}
		// html/template escapes a template on its first execution. Run
		// each page once now, on no data (which stops at the first field),
		// so that the cost shows in the budget part and not in some
		// user's request.
		t.ExecuteTemplate(io.Discard, name, nil)
	}
	return t, nil
}

// executed records the pages rendered so far, for the test that every page
// template is exercised. It holds at most one entry per page.
var executed sync.Map

// pageSizes remembers how long each page was when last rendered, so that
// the next rendering's buffer is allocated once at about that size instead
// of doubling up to it: a 75 KB issue list grew through a dozen buffers,
// ~180 KB in all, the larger ones pages of their own that the scavenger
// hands back only later.
type pageSizes struct {
	mu sync.Mutex
	m  map[string]int
}

// maxPageHint bounds the size remembered: a rare huge page does not make
// every later rendering of its template start that large.
const maxPageHint = 1 << 20

// buffer returns an empty buffer with room for page name as long as it was
// last time, and an eighth more.
func (ps *pageSizes) buffer(name string) *bytes.Buffer {
	ps.mu.Lock()
	hint := ps.m[name]
	ps.mu.Unlock()
	buf := new(bytes.Buffer)
	buf.Grow(hint + hint/8)
	return buf
}

// note records that page name was n bytes long.
func (ps *pageSizes) note(name string, n int) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.m == nil {
		ps.m = map[string]int{}
	}
	ps.m[name] = min(n, maxPageHint)
}

// renderPage executes page name with data into a buffer sized from the
// page's last rendering and returns the bytes.
func (u *UI) renderPage(name string, data any) ([]byte, error) {
	buf := u.pageSizes.buffer(name)
	if err := u.execute(buf, name, data); err != nil {
		return nil, err
	}
	u.pageSizes.note(name, buf.Len())
	return buf.Bytes(), nil
}

// execute runs page name with data.
func (u *UI) execute(w io.Writer, name string, data any) error {
	executed.Store(name, true)
	if err := pages().ExecuteTemplate(w, name, data); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	return nil
}

// staticVersion is a short hash of the static files, appended to their
// URLs so that browsers may cache them for a long time.
var staticVersion = sync.OnceValue(func() string {
	h := sha256.New()
	fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := staticFS.ReadFile(p)
			h.Write([]byte(p))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
})

// handleStatic serves GET /static/{file}.
func (u *UI) handleStatic(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("file")
	b, err := staticFS.ReadFile("static/" + name)
	if err != nil || strings.Contains(name, "/") {
		return errNotFound
	}
	switch path.Ext(name) {
	case ".css":
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case ".js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	case ".svg":
		w.Header().Set("Content-Type", "image/svg+xml")
	default:
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("v") == staticVersion() {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Write(b)
	return nil
}
