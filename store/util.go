package store

import (
	"encoding/json"
	"sort"
	"strings"
)

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func sortProjects(ps []Project) {
	sort.SliceStable(ps, func(i, j int) bool {
		return strings.ToLower(ps[i].Name) < strings.ToLower(ps[j].Name)
	})
}

func sortReleases(rs []Release) {
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].DateReleased.After(rs[j].DateReleased) })
}
