package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// cliProjectRefs are the projects a sentry-cli request names: slugs, or
// numeric ids, which sentry-cli sends as JSON numbers (`releases new` with
// SENTRY_PROJECT=1 sends "projects":[1]) or as strings.
type cliProjectRefs []string

// UnmarshalJSON accepts an array of strings and integers (or null).
func (r *cliProjectRefs) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("projects must be a list of project slugs or ids")
	}
	out := make(cliProjectRefs, 0, len(raw))
	for _, m := range raw {
		m = bytes.TrimSpace(m)
		var s string
		if len(m) > 0 && m[0] == '"' {
			if err := json.Unmarshal(m, &s); err != nil {
				return err
			}
			out = append(out, s)
			continue
		}
		id, err := strconv.ParseInt(string(m), 10, 32)
		if err != nil || id < 0 {
			return fmt.Errorf("projects: %s is neither a project slug nor a project id", m)
		}
		out = append(out, strconv.FormatInt(id, 10))
	}
	*r = out
	return nil
}
