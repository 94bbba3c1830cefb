package ui

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tinysink/tinysink/digest/event"
	"github.com/valyala/fastjson"
)

// Everything in an event is untrusted. The view built here holds only
// plain strings, already cleaned (control and bidi-override characters made
// visible, lengths capped); templates escape them as usual. Nothing from an
// event ever becomes template.HTML.

// Length caps, in characters.
const (
	maxText     = 1000  // a scalar field
	maxLong     = 10000 // an exception value, a message, request data
	maxCodeLine = 400   // a line of source context
	maxVarValue = 500   // a local variable or extra value
	maxKey      = 200   // a key in a table
	maxRows     = 200   // rows in one table (vars, headers, contexts, extra)
	maxCrumbs   = 200   // breadcrumbs shown (the most recent)
	maxFrames   = 1000  // frames per stack trace
	maxExcs     = 50    // exceptions in a chain
)

// clean makes s safe and bounded for display: invalid UTF-8 and bidi
// controls become U+FFFD, C0/C1 control characters their visible
// pictures (except newline and tab when multiline), and s is cut to n
// characters.
func clean(s string, n int, multiline bool) string {
	ok := len(s) <= n
	if ok {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c < 0x20 || c == 0x7f || c >= 0x80 {
				ok = false
				break
			}
		}
	}
	if ok {
		return s // plain printable ASCII, short enough: the common case
	}
	var b strings.Builder
	b.Grow(min(len(s), 4*n))
	i := 0
	for _, r := range s {
		if i == n {
			b.WriteString("…")
			break
		}
		i++
		switch {
		case r == '\n' || r == '\t':
			if multiline {
				b.WriteRune(r)
			} else if r == '\n' {
				b.WriteString("⏎")
			} else {
				b.WriteByte(' ')
			}
		case r == '\r' && multiline:
			// CRLF line ends: drop the CR.
		case r < 0x20:
			b.WriteRune(0x2400 + r) // ␀ … ␟
		case r == 0x7f:
			b.WriteRune('␡')
		case r >= 0x80 && r < 0xa0, r == utf8.RuneError, isBidiControl(r):
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isBidiControl reports the characters that reorder text ("Trojan Source").
func isBidiControl(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x200e || r == 0x200f || r == 0x061c
}

// kv is one row of a key/value table.
type kv struct{ Key, Value string }

// section is a titled key/value table, for contexts.
type section struct {
	Name string
	Rows []kv
}

// line is one line of source context.
type line struct {
	No   int64
	Text string
}

// frameView is one stack frame.
type frameView struct {
	Index int // position on the page, for anchors and ?frame=
	// Location is the filename, else module, else abs_path, else the
	// package's file name (a native frame's binary), else "?"; for a Java
	// frame it is module.function, the class and method.
	Location string
	Function string // "" on a Java frame, whose Location has it
	// File is a Java frame's source file, shown after its class.
	File string
	Line int64
	Col  int64
	// Package is the file name of a native frame's binary when Location
	// is not already it; PackagePath its full path.
	Package     string
	PackagePath string
	Addr        string
	InApp       bool
	Pre         []line
	Context     *line
	Post        []line
	Vars        []kv
	// Body says whether the frame's code and variables are on this page;
	// a long trace carries them only for its first frames and the one
	// asked for (the others link to ?frame=N).
	Body    bool
	LoadURL string // where a frame without its body loads it
	Open    bool   // expanded at first: the main exception's raise frame
	// Badges mark where an exception was raised ("raise KeyError", with
	// "(handled)" for the inner exceptions of a chain) and where the
	// program began ("→ begin", or "try…" in a chained exception).
	Badges []string
	raise  bool // the main exception's raise frame
	// SourceMap says where a source-mapped frame was in the minified file,
	// or why a JavaScript frame could not be mapped (data.sourcemap).
	SourceMap      string
	SourceMapError bool
}

// hasDetail reports whether the frame has code context or variables.
func (f frameView) hasDetail() bool {
	return f.Context != nil || len(f.Pre) > 0 || len(f.Post) > 0 || len(f.Vars) > 0
}

// stackView is one stack trace: an exception's or a thread's.
type stackView struct {
	Type      string
	Value     string
	Module    string
	Mechanism string
	Handled   string
	Title     string // thread name, for thread traces
	Frames    []frameView
	Hidden    int // frames left out by the in-app filter
	Truncated int // frames left out by maxFrames
	// raise and begin are the badges for the stack's newest and oldest
	// frames ("" for none); mainRaise marks the main exception's stack.
	raise, begin string
	mainRaise    bool
}

// crumbView is one breadcrumb.
type crumbView struct {
	Time     string
	Type     string
	Category string
	Level    string
	Message  string
	Data     string
}

// requestView is the event's HTTP request.
type requestView struct {
	Method  string
	URL     string
	Query   string
	Data    string
	Headers []kv
	Cookies string
	Env     []kv
}

// eventView is what the issue page shows of one event.
type eventView struct {
	ID          string
	Timestamp   time.Time
	Received    time.Time
	Platform    string
	Level       string
	Logger      string
	Transaction string
	Release     string
	Dist        string
	Environment string
	ServerName  string
	Message     string
	LogEntry    []kv
	Fingerprint string

	Exceptions []stackView // outermost first
	Threads    []stackView
	Crumbs     []crumbView
	CrumbsCut  int
	Request    *requestView
	User       []kv
	Tags       []kv
	Contexts   []section
	SDK        []kv
	Modules    []kv
	Extra      []kv

	// Handled and Mechanism are the main exception's, "" without one.
	Handled, Mechanism string
}

// RequestLine returns "METHOD URL" of the event's request, or "".
func (e *eventView) RequestLine() string {
	if e.Request == nil || e.Request.URL == "" {
		return ""
	}
	if e.Request.Method == "" {
		return e.Request.URL
	}
	return e.Request.Method + " " + e.Request.URL
}

// frameOptions say which frames a stack trace shows.
type frameOptions struct {
	// chronological lists frames oldest first (Python's order).
	chronological bool
	inAppOnly     bool
	bodies        int    // frames (in page order) that carry their code and variables
	frame         int    // a frame asked for with ?frame=, -1 for none
	platform      string // the event's, for frames that do not say theirs
}

var eventParsers fastjson.ParserPool

// parseEvent builds the view of a normalised event body. It tolerates the
// shapes the normaliser leaves alone (lists of pairs for tags and headers,
// strings or numbers where objects were expected) and never fails: a body
// that is not JSON gives an empty view.
func parseEvent(body []byte, opt frameOptions) *eventView {
	p := eventParsers.Get()
	defer eventParsers.Put(p)
	ev := &eventView{}
	v, err := p.ParseBytes(body)
	if err != nil || v.Type() != fastjson.TypeObject {
		return ev
	}
	ev.ID = text(v.Get("event_id"))
	ev.Timestamp = epoch(v.Get("timestamp"))
	ev.Received = epoch(v.Get("received"))
	ev.Platform = text(v.Get("platform"))
	ev.Level = text(v.Get("level"))
	ev.Logger = text(v.Get("logger"))
	ev.Transaction = text(v.Get("transaction"))
	ev.Release = text(v.Get("release"))
	ev.Dist = text(v.Get("dist"))
	ev.Environment = text(v.Get("environment"))
	ev.ServerName = text(v.Get("server_name"))
	if fp := v.Get("fingerprint"); fp != nil {
		ev.Fingerprint = clean(fp.String(), maxText, false)
	}
	parseMessage(ev, v)

	page := 0 // frames numbered across the whole page
	excs := values(v.Get("exception"))
	if len(excs) > maxExcs {
		excs = excs[len(excs)-maxExcs:]
	}
	// Python reads chronologically (innermost cause first, most recent
	// call last); every other platform as a stack of plates (outermost
	// exception first, most recent call first), as Sentry and Bugsink show
	// them.
	opt.chronological = text(v.Get("platform")) == "python"
	opt.platform = text(v.Get("platform"))
	for k := range excs {
		i := len(excs) - 1 - k
		if opt.chronological {
			i = k
		}
		e := excs[i]
		if e.Type() != fastjson.TypeObject {
			continue
		}
		s := stackView{
			Type: text(e.Get("type")), Value: long(e.Get("value")), Module: text(e.Get("module")),
			Mechanism: text(e.Get("mechanism", "type")),
		}
		typ := s.Type
		if typ == "" {
			typ = "Error"
		}
		if main := i == len(excs)-1; main {
			s.raise, s.begin, s.mainRaise = "raise "+typ, "→ begin", true
		} else {
			s.raise, s.begin = "raise "+typ+" (handled)", "try…"
		}
		if h := e.Get("mechanism", "handled"); h != nil && h.Type() != fastjson.TypeNull {
			s.Handled = text(h)
		}
		parseFrames(&s, e.Get("stacktrace", "frames"), opt, &page)
		ev.Exceptions = append(ev.Exceptions, s)
	}
	threads := values(v.Get("threads"))
	// Threads with frames, crashed (or current) first.
	for pass := 0; pass < 2; pass++ {
		for _, t := range threads {
			if len(t.GetArray("stacktrace", "frames")) == 0 {
				continue
			}
			crashed := t.GetBool("crashed") || t.GetBool("current")
			if crashed != (pass == 0) {
				continue
			}
			s := stackView{Title: "Thread " + text(t.Get("id"))}
			if n := text(t.Get("name")); n != "" {
				s.Title += " (" + n + ")"
			}
			if crashed {
				s.Title += " — crashed"
			}
			parseFrames(&s, t.Get("stacktrace", "frames"), opt, &page)
			ev.Threads = append(ev.Threads, s)
			if len(ev.Threads) >= maxExcs {
				break
			}
		}
	}
	if len(ev.Exceptions) == 0 && len(ev.Threads) == 0 {
		if fr := v.Get("stacktrace", "frames"); fr != nil {
			s := stackView{Title: "Stack trace"}
			parseFrames(&s, fr, opt, &page)
			ev.Threads = append(ev.Threads, s)
		}
	}

	openFirstDetail(ev, opt)

	crumbs := values(v.Get("breadcrumbs"))
	if len(crumbs) > maxCrumbs {
		ev.CrumbsCut = len(crumbs) - maxCrumbs
		crumbs = crumbs[len(crumbs)-maxCrumbs:]
	}
	for _, c := range crumbs {
		if c.Type() != fastjson.TypeObject {
			continue
		}
		cv := crumbView{
			Type: text(c.Get("type")), Category: text(c.Get("category")), Level: text(c.Get("level")),
			Message: long(c.Get("message")),
		}
		if t := epoch(c.Get("timestamp")); !t.IsZero() {
			cv.Time = t.UTC().Format("15:04:05.000")
		}
		if d := c.Get("data"); d != nil && d.Type() != fastjson.TypeNull {
			cv.Data = clean(d.String(), maxVarValue, false)
		}
		ev.Crumbs = append(ev.Crumbs, cv)
	}

	if r := v.Get("request"); r != nil && r.Type() == fastjson.TypeObject {
		rv := &requestView{
			Method: strings.ToUpper(text(r.Get("method"))), URL: text(r.Get("url")),
			Query: long(r.Get("query_string")), Data: long(r.Get("data")),
			Headers: pairs(r.Get("headers")), Env: pairs(r.Get("env")), Cookies: long(r.Get("cookies")),
		}
		ev.Request = rv
	}
	ev.User = pairs(v.Get("user"))
	ev.Tags = pairs(v.Get("tags"))
	ev.Extra = pairs(v.Get("extra"))
	ev.Modules = pairs(v.Get("modules"))
	if sdk := v.Get("sdk"); sdk != nil && sdk.Type() == fastjson.TypeObject {
		ev.SDK = pairs(sdk)
	}
	if c := v.Get("contexts"); c != nil && c.Type() == fastjson.TypeObject {
		o, _ := c.Object()
		o.Visit(func(k []byte, cv *fastjson.Value) {
			if len(ev.Contexts) >= maxRows {
				return
			}
			s := section{Name: clean(string(k), maxKey, false)}
			if cv.Type() == fastjson.TypeObject {
				s.Rows = pairs(cv)
			} else {
				s.Rows = []kv{{Key: "value", Value: clean(scalar(cv), maxVarValue, false)}}
			}
			ev.Contexts = append(ev.Contexts, s)
		})
	}
	if len(ev.Exceptions) > 0 {
		ev.Handled, ev.Mechanism = ev.Exceptions[0].Handled, ev.Exceptions[0].Mechanism
	}
	return ev
}

// parseMessage fills Message and LogEntry from "logentry" and "message"
// (a string, or an object with formatted/message/params).
func parseMessage(ev *eventView, v *fastjson.Value) {
	for _, key := range []string{"logentry", "message"} {
		m := v.Get(key)
		if m == nil || m.Type() == fastjson.TypeNull {
			continue
		}
		if m.Type() != fastjson.TypeObject {
			if ev.Message == "" {
				ev.Message = long(m)
			}
			continue
		}
		formatted, message := long(m.Get("formatted")), long(m.Get("message"))
		if ev.Message == "" {
			ev.Message = formatted
			if ev.Message == "" {
				ev.Message = message
			}
		}
		if len(ev.LogEntry) > 0 {
			continue
		}
		if formatted != "" {
			ev.LogEntry = append(ev.LogEntry, kv{"formatted", formatted})
		}
		if message != "" {
			ev.LogEntry = append(ev.LogEntry, kv{"message", message})
		}
		switch ps := m.Get("params"); {
		case ps == nil:
		case ps.Type() == fastjson.TypeArray:
			for i, p := range ps.GetArray() {
				if i >= maxRows {
					break
				}
				ev.LogEntry = append(ev.LogEntry, kv{"#" + strconv.Itoa(i), clean(scalar(p), maxVarValue, false)})
			}
		case ps.Type() == fastjson.TypeObject:
			ev.LogEntry = append(ev.LogEntry, pairs(ps)...)
		}
	}
}

// parseFrames fills s.Frames from a frames array, crash frame first.
func parseFrames(s *stackView, frames *fastjson.Value, opt frameOptions, page *int) {
	arr := values(frames)
	if len(arr) > maxFrames {
		s.Truncated = len(arr) - maxFrames
		arr = arr[len(arr)-maxFrames:]
	}
	anyInApp := false
	if opt.inAppOnly {
		for _, f := range arr {
			if f.GetBool("in_app") {
				anyInApp = true
				break
			}
		}
	}
	for k := range arr {
		i := len(arr) - 1 - k // newest first
		if opt.chronological {
			i = k
		}
		f := arr[i]
		if f.Type() != fastjson.TypeObject {
			continue
		}
		inApp := f.GetBool("in_app")
		if opt.inAppOnly && anyInApp && !inApp {
			s.Hidden++
			continue
		}
		fv := frameView{
			Index: *page, Function: text(f.Get("function")), Line: f.GetInt64("lineno"), Col: f.GetInt64("colno"),
			Package: text(f.Get("package")), Addr: text(f.Get("instruction_addr")), InApp: inApp,
		}
		*page++
		fv.SourceMap, fv.SourceMapError = sourceMapNote(f.Get("data", "sourcemap"))
		fv.Location = text(f.Get("filename"))
		module := text(f.Get("module"))
		platform := text(f.Get("platform"))
		if platform == "" {
			platform = opt.platform
		}
		switch {
		case fv.Package == "":
		case fv.Addr != "" || nativePlatform(platform):
			// Native frames: the binary's name, its full path on hover.
			fv.PackagePath, fv.Package = fv.Package, event.PackageName(fv.Package)
		default:
			// Others (.NET's assembly) say it at length; their file or
			// module names the code already.
			fv.Package = ""
		}
		switch {
		case platform == "java" && module != "" && fv.Function != "":
			fv.Location, fv.File, fv.Function = module+"."+fv.Function, fv.Location, ""
		case fv.Location == "" && module != "":
			fv.Location = module
		case fv.Location == "" && text(f.Get("abs_path")) != "":
			fv.Location = text(f.Get("abs_path"))
		case fv.Location == "" && fv.Package != "":
			fv.Location, fv.Package = fv.Package, ""
		}
		if fv.Location == "" {
			fv.Location = "?"
		}
		// The frames nearest the raise carry their code: the first ones on
		// the page, or in chronological order the newest of the stack.
		near := fv.Index < opt.bodies
		if opt.chronological {
			near = len(arr)-1-i < opt.bodies
		}
		fv.Body = near || fv.Index == opt.frame
		fv.LoadURL = "?frame=" + strconv.Itoa(fv.Index) + "#f" + strconv.Itoa(fv.Index)
		if opt.inAppOnly {
			fv.LoadURL = "?frames=app&frame=" + strconv.Itoa(fv.Index) + "#f" + strconv.Itoa(fv.Index)
		}
		if fv.Body {
			frameBody(&fv, f)
		} else if f.Get("context_line") != nil || f.Get("vars") != nil || f.Get("pre_context") != nil {
			fv.Context = &line{} // there is something to load
		}
		if i == len(arr)-1 && s.raise != "" {
			fv.Badges = append(fv.Badges, s.raise)
			fv.raise = s.mainRaise
		}
		if i == 0 && s.begin != "" && s.Truncated == 0 && len(arr) > 1 {
			fv.Badges = append(fv.Badges, s.begin)
		}
		// Native frames (minidumps): inlined, and how the walk found them
		// when it was a guess.
		if f.GetBool("inlined") {
			fv.Badges = append(fv.Badges, "inlined")
		}
		switch string(f.GetStringBytes("trust")) {
		case "scan", "cfi_scan":
			fv.Badges = append(fv.Badges, "found by stack scan")
		case "fp":
			fv.Badges = append(fv.Badges, "found by frame pointer")
		}
		// Expanded at first: the main exception's raise frame (see
		// openFirstDetail for the fallback), and a frame asked for by
		// ?frame=.
		if fv.raise && fv.hasDetail() || fv.Index == opt.frame {
			fv.Open = true
		}
		s.Frames = append(s.Frames, fv)
	}
}

// nativePlatform reports whether frames of platform are machine code,
// whose package is the binary they are in.
func nativePlatform(platform string) bool {
	switch platform {
	case "native", "c", "cocoa", "objc", "swift":
		return true
	}
	return false
}

func frameBody(fv *frameView, f *fastjson.Value) {
	pre := f.GetArray("pre_context")
	if len(pre) > 50 {
		pre = pre[len(pre)-50:]
	}
	no := fv.Line - int64(len(pre))
	for _, l := range pre {
		fv.Pre = append(fv.Pre, line{No: no, Text: clean(scalar(l), maxCodeLine, false)})
		no++
	}
	if cl := f.Get("context_line"); cl != nil && cl.Type() != fastjson.TypeNull {
		fv.Context = &line{No: fv.Line, Text: clean(scalar(cl), maxCodeLine, false)}
	}
	no = fv.Line + 1
	for i, l := range f.GetArray("post_context") {
		if i >= 50 {
			break
		}
		fv.Post = append(fv.Post, line{No: no, Text: clean(scalar(l), maxCodeLine, false)})
		no++
	}
	fv.Vars = pairs(f.Get("vars"))
}

// values returns the items of a {"values": [...]} container or of a bare
// array.
func values(v *fastjson.Value) []*fastjson.Value {
	if v == nil {
		return nil
	}
	switch v.Type() {
	case fastjson.TypeArray:
		a, _ := v.Array()
		return a
	case fastjson.TypeObject:
		return v.GetArray("values")
	}
	return nil
}

// pairs returns the rows of an object, or of a list of [key, value] pairs;
// values that are not strings are shown as compact JSON.
func pairs(v *fastjson.Value) []kv {
	if v == nil {
		return nil
	}
	var out []kv
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		o.Visit(func(k []byte, item *fastjson.Value) {
			if len(out) < maxRows {
				out = append(out, kv{clean(string(k), maxKey, false), clean(scalar(item), maxVarValue, false)})
			}
		})
	case fastjson.TypeArray:
		for _, p := range v.GetArray() {
			if len(out) >= maxRows {
				break
			}
			if kvp := p.GetArray(); len(kvp) == 2 {
				out = append(out, kv{clean(scalar(kvp[0]), maxKey, false), clean(scalar(kvp[1]), maxVarValue, false)})
			} else {
				out = append(out, kv{"", clean(scalar(p), maxVarValue, false)})
			}
		}
	default:
		out = append(out, kv{"", clean(scalar(v), maxVarValue, false)})
	}
	return out
}

// scalar returns a string value as is and anything else as compact JSON.
func scalar(v *fastjson.Value) string {
	if v == nil {
		return ""
	}
	if v.Type() == fastjson.TypeString {
		return string(v.GetStringBytes())
	}
	return v.String()
}

// text returns a short scalar field, cleaned; "" for null or absent.
func text(v *fastjson.Value) string {
	if v == nil || v.Type() == fastjson.TypeNull {
		return ""
	}
	return clean(scalar(v), maxText, false)
}

// long returns a long multi-line field, cleaned; "" for null or absent.
func long(v *fastjson.Value) string {
	if v == nil || v.Type() == fastjson.TypeNull {
		return ""
	}
	return clean(scalar(v), maxLong, true)
}

// epoch reads a timestamp: epoch seconds (the normalised form) or an
// RFC 3339 string.
func epoch(v *fastjson.Value) time.Time {
	if v == nil {
		return time.Time{}
	}
	switch v.Type() {
	case fastjson.TypeNumber:
		f := v.GetFloat64()
		if f <= 0 || f > 1e11 || math.IsNaN(f) {
			return time.Time{}
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC()
	case fastjson.TypeString:
		s := string(v.GetStringBytes())
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC()
			}
		}
	}
	return time.Time{}
}

// openFirstDetail expands, when the main exception's raise frame could not
// be (it has no code or variables, or there is no exception), the first
// frame on the page that has something to show.
func openFirstDetail(ev *eventView, opt frameOptions) {
	stacks := append(ev.Exceptions[:len(ev.Exceptions):len(ev.Exceptions)], ev.Threads...)
	for _, s := range stacks {
		for _, f := range s.Frames {
			if f.Open && f.Index != opt.frame {
				return
			}
		}
	}
	if opt.chronological && len(ev.Exceptions) > 0 {
		// The raise frame is the last of the last exception.
		s := &ev.Exceptions[len(ev.Exceptions)-1]
		for i := len(s.Frames) - 1; i >= 0; i-- {
			if s.Frames[i].hasDetail() {
				s.Frames[i].Open = true
				return
			}
		}
	}
	for si := range stacks {
		frames := stacks[si].Frames
		for fi := range frames {
			if frames[fi].hasDetail() {
				frames[fi].Open = true
				return
			}
		}
	}
}

// sourceMapNote describes a frame's data.sourcemap (set by
// sourcemap.Mapper.Apply): where the mapped frame was in the minified file,
// or why it was not mapped (bad is then true).
func sourceMapNote(v *fastjson.Value) (note string, bad bool) {
	if v == nil || v.Type() != fastjson.TypeObject {
		return "", false
	}
	if text(v.Get("status")) != "mapped" {
		return "not source-mapped: " + text(v.Get("reason")), true
	}
	m := v.Get("minified")
	if m == nil {
		return "source-mapped", false
	}
	loc := text(m.Get("abs_path"))
	if loc == "" {
		loc = text(m.Get("filename"))
	}
	note = "source-mapped from " + loc
	if l := m.GetInt64("lineno"); l > 0 {
		note += ":" + strconv.FormatInt(l, 10)
		if c := m.GetInt64("colno"); c > 0 {
			note += ":" + strconv.FormatInt(c, 10)
		}
	}
	if fn := text(m.Get("function")); fn != "" {
		note += " in " + fn
	}
	if id := text(v.Get("debug_id")); id != "" {
		note += " (debug id " + id + ")"
	} else if text(v.Get("via")) == "release" {
		note += " (release file " + text(v.Get("map")) + ")"
	}
	return note, false
}
