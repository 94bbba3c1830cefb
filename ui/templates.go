package ui

import (
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

// templateFS holds the page templates: templates/layout.html and
// templates/partials/*.html are shared; each templates/pages/<name>.html
// is one page, parsed together with the shared files into its own set so
// that every page can define "content".
//
//go:embed templates
var templateFS embed.FS

// staticFS holds the stylesheet, the copy-button script and the icon,
// served under /static/.
//
//go:embed static
var staticFS embed.FS

// pages are the parsed template sets, keyed by page name. They are built on
// the first request that renders a page, not at start: a server that only
// ingests never pays for them.
var pages = budget.Lazy("ui-templates", func() map[string]*template.Template {
	m, err := parseTemplates()
	if err != nil {
		// The templates are embedded: a parse error is a build defect that
		// TestTemplatesParse catches.
		panic(err)
	}
	return m
})

func parseTemplates() (map[string]*template.Template, error) {
	shared := []string{"templates/layout.html"}
	partials, err := fs.Glob(templateFS, "templates/partials/*.html")
	if err != nil {
		return nil, err
	}
	shared = append(shared, partials...)
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, shared...)
	if err != nil {
		return nil, err
	}
	files, err := fs.Glob(templateFS, "templates/pages/*.html")
	if err != nil {
		return nil, err
	}
	out := make(map[string]*template.Template, len(files))
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		t, err := template.Must(base.Clone()).ParseFS(templateFS, f)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", f, err)
		}
		out[name] = t
	}
	return out, nil
}

// executed records the pages rendered so far, for the test that every page
// template is exercised. It holds at most one entry per page.
var executed sync.Map

// execute runs page name's "layout" template with data.
func (u *UI) execute(w io.Writer, name string, data any) error {
	t, ok := pages()[name]
	if !ok {
		return fmt.Errorf("ui: no page template %q", name)
	}
	executed.Store(name, true)
	if err := t.ExecuteTemplate(w, "layout", data); err != nil {
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
