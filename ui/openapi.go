package ui

import (
	"net/http"
	"regexp"
	"strings"
	"sync"
)

// The OpenAPI 3 document of the API, generated from the route table, so
// that it lists exactly the routes Register mounts.

// openAPIDoc is the subset of OpenAPI 3.0 the table fills in.
type openAPIDoc struct {
	OpenAPI    string                          `json:"openapi"`
	Info       openAPIInfo                     `json:"info"`
	Paths      map[string]map[string]openAPIOp `json:"paths"`
	Components struct {
		SecuritySchemes map[string]any `json:"securitySchemes"`
	} `json:"components"`
}

type openAPIInfo struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description"`
}

type openAPIOp struct {
	OperationID string                `json:"operationId"`
	Summary     string                `json:"summary"`
	Parameters  []openAPIParam        `json:"parameters,omitempty"`
	Security    []map[string][]string `json:"security"`
	Responses   map[string]any        `json:"responses"`
	Scope       string                `json:"x-tinysink-scope,omitempty"`
	Global      bool                  `json:"x-tinysink-global,omitempty"`
}

type openAPIParam struct {
	Name     string         `json:"name"`
	In       string         `json:"in"`
	Required bool           `json:"required"`
	Schema   map[string]any `json:"schema"`
}

// patternWild and summaryQuery are compiled on the first /api/openapi
// request, not at start-up: compiling costs every process heap and pages.
var patternWild = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\{([a-z_]+)\}`) })

// summaryQuery finds the query parameters a route's summary names:
// "?project=ID[&query=&sort=]" has project (required, outside the
// brackets), query and sort.
var summaryQuery = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(\[?)[?&]([a-z_]+)=`) })

// openAPIPath turns a net/http pattern path into an OpenAPI path: "{$}"
// (exactly this path) goes, "{name}" stays.
func openAPIPath(p string) string { return strings.TrimSuffix(p, "{$}") }

// openAPI returns the document for routes.
func openAPI(routes []apiRoute) openAPIDoc {
	doc := openAPIDoc{
		OpenAPI: "3.0.3",
		Info: openAPIInfo{Title: "tinysink API", Version: "0",
			Description: "Send \"Authorization: Bearer <token>\" (tinysink token create). Each operation names the token scope it needs " +
				"(x-tinysink-scope: read < write < admin); x-tinysink-global operations need a token for all projects. " +
				"Errors are JSON: {\"detail\": \"...\"}."},
		Paths: map[string]map[string]openAPIOp{},
	}
	doc.Components.SecuritySchemes = map[string]any{"bearer": map[string]string{"type": "http", "scheme": "bearer"}}
	for _, rt := range routes {
		path := openAPIPath(rt.Path)
		op := openAPIOp{
			OperationID: strings.ToLower(rt.Method) + strings.NewReplacer("/", "_", "{", "", "}", "", ".", "_", "-", "_").Replace(strings.TrimSuffix(path, "/")),
			Summary:     rt.Summary, Scope: string(rt.Scope), Global: rt.Global,
			Security:  []map[string][]string{},
			Responses: map[string]any{"default": map[string]string{"description": "JSON, or as the summary says; errors are {\"detail\": \"...\"}"}},
		}
		if rt.Scope != "" {
			op.Security = []map[string][]string{{"bearer": {}}}
		}
		for _, m := range patternWild().FindAllStringSubmatch(path, -1) {
			op.Parameters = append(op.Parameters, openAPIParam{Name: m[1], In: "path", Required: true, Schema: map[string]any{"type": "string"}})
		}
		if _, qs, ok := strings.Cut(rt.Summary, "?"); ok {
			optional := false
			for _, m := range summaryQuery().FindAllStringSubmatch("?"+qs, -1) {
				optional = optional || m[1] == "["
				op.Parameters = append(op.Parameters, openAPIParam{Name: m[2], In: "query", Required: !optional, Schema: map[string]any{"type": "string"}})
			}
		}
		if doc.Paths[path] == nil {
			doc.Paths[path] = map[string]openAPIOp{}
		}
		doc.Paths[path][strings.ToLower(rt.Method)] = op
	}
	return doc
}

// handleOpenAPI serves GET /api/canonical/0/openapi.json (no token).
func (a *API) handleOpenAPI(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, openAPI(a.routes()))
	return nil
}
