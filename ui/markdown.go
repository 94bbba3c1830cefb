package ui

import (
	"fmt"
	"strings"

	"github.com/valyala/fastjson"
)

// StacktraceMarkdown renders the exceptions of a normalised event as
// Markdown: one section per exception, outermost first, frames with the
// crash frame first as in Sentry's UI.
func StacktraceMarkdown(body []byte) string {
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		return ""
	}
	var b strings.Builder
	excs := v.GetArray("exception", "values")
	for i := len(excs) - 1; i >= 0; i-- {
		e := excs[i]
		typ, val := string(e.GetStringBytes("type")), string(e.GetStringBytes("value"))
		if typ == "" {
			typ = "Error"
		}
		fmt.Fprintf(&b, "# %s\n", typ)
		if val != "" {
			fmt.Fprintf(&b, "%s\n", val)
		}
		frames := e.GetArray("stacktrace", "frames")
		for j := len(frames) - 1; j >= 0; j-- {
			writeFrameMD(&b, frames[j])
		}
		b.WriteByte('\n')
	}
	if len(excs) == 0 {
		for _, th := range v.GetArray("threads", "values") {
			frames := th.GetArray("stacktrace", "frames")
			if len(frames) == 0 {
				continue
			}
			name := "Thread"
			if id := th.Get("id"); id != nil {
				name += " " + strings.Trim(id.String(), `"`)
			}
			fmt.Fprintf(&b, "# %s\n", name)
			for j := len(frames) - 1; j >= 0; j-- {
				writeFrameMD(&b, frames[j])
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func writeFrameMD(b *strings.Builder, f *fastjson.Value) {
	file := string(f.GetStringBytes("filename"))
	if file == "" {
		file = string(f.GetStringBytes("module"))
	}
	fn := string(f.GetStringBytes("function"))
	line := f.GetInt64("lineno")
	inApp := ""
	if f.GetBool("in_app") {
		inApp = " [in-app]"
	}
	fmt.Fprintf(b, "## %s:%d in %s%s\n", file, line, fn, inApp)
	if note, _ := sourceMapNote(f.Get("data", "sourcemap")); note != "" {
		fmt.Fprintf(b, "_%s_\n", note)
	}
	if cl := f.GetStringBytes("context_line"); cl != nil {
		fmt.Fprintf(b, "    %s\n", strings.TrimRight(string(cl), "\r\n"))
	}
}
