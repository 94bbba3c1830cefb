package ui

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tinysink/tinysink/budget"
)

type budgetPage struct {
	layout
	Snap budget.Snapshot
	// Status is Config.Status's value as rows of a table, nested fields
	// named by their path ("Spool.files"); nil without one.
	Status []kv
}

// maxStatusRows bounds the status table.
const maxStatusRows = 300

// handleBudget serves GET /debug/budget/ (admins only): the process's
// memory against its limit, the optional parts loaded so far with what
// each cost, and whatever Config.Status adds. (GET /debug/budget, without
// the slash, is the same reading as JSON for API tokens.)
func (u *UI) handleBudget(w http.ResponseWriter, r *http.Request) error {
	page := &budgetPage{layout: u.layout(r, "Memory budget"), Snap: budget.Read(false)}
	page.TopNav = "budget"
	if u.status != nil {
		b, err := json.Marshal(u.status())
		if err != nil {
			return err
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		page.Status = statusRows("", v, nil)
	}
	return u.render(w, "budget", page)
}

// statusRows flattens a decoded JSON value into key/value rows: objects by
// key (sorted), arrays by index, "Spool.backlog" for nested fields.
func statusRows(prefix string, v any, out []kv) []kv {
	if len(out) >= maxStatusRows {
		return out
	}
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if len(keys) == 0 && prefix != "" {
			return append(out, kv{Key: prefix, Value: "none"})
		}
		for _, k := range keys {
			out = statusRows(join(clean(k, maxKey, false)), x[k], out)
		}
	case []any:
		if len(x) == 0 {
			return append(out, kv{Key: prefix, Value: "none"})
		}
		for i, e := range x {
			out = statusRows(join(strconv.Itoa(i)), e, out)
		}
	case nil:
		out = append(out, kv{Key: prefix, Value: "–"})
	case string:
		out = append(out, kv{Key: prefix, Value: clean(x, maxText, false)})
	case float64:
		out = append(out, kv{Key: prefix, Value: strconv.FormatFloat(x, 'f', -1, 64)})
	case bool:
		out = append(out, kv{Key: prefix, Value: strconv.FormatBool(x)})
	default:
		b, _ := json.Marshal(x)
		out = append(out, kv{Key: prefix, Value: strings.TrimSpace(string(b))})
	}
	return out
}
