package event

import (
	"strings"

	"github.com/tinysink/tinysink/internal/jtree"
)

// Types used when an event gives none (reference §5.4).
const (
	typeUnknown   = "<unknown>"
	typeDefault   = "Error"
	typeLog       = "Log Message"
	noLogMessage  = "<no log message>"
	maxTypeLen    = 128
	maxValueLen   = 1024
	maxFrameField = 255
)

// Rules that make an event's calculated type, value, title and default
// grouping key; Event.Rule names the one that applied.
const (
	// RuleException: the main exception's type and value (reference §5.4).
	RuleException = "exception"
	// RuleLogMessage: no exception; the log message (§5.4).
	RuleLogMessage = "log message"
	// RuleSynthetic: a synthetic exception without a message is named
	// after the crash frame's function (§5.4), with the file or module in
	// front when that name is minified or unknown (the digest then titles
	// it by the mapped function when the project has a source map for the
	// frame; see digest.Worker.mapTitle).
	RuleSynthetic = "synthetic exception"
	// RuleSyntheticMessage: a synthetic exception that carries a message
	// (what captureMessage of @sentry/node and @sentry/browser 11 sends)
	// is a log message: titled by its text and grouped by its text and
	// the crash frame's function. This departs from Bugsink, which names
	// it after the function alone.
	RuleSyntheticMessage = "message with synthetic exception"
)

// Where the message of a RuleSyntheticMessage or RuleLogMessage event came
// from (Event.MessageSource).
const (
	SourceLogentryMessage   = "logentry.message"
	SourceLogentryFormatted = "logentry.formatted"
	SourceMessage           = "message"
	SourceExceptionValue    = "exception value"
)

// calculate sets Rule, CalculatedType, CalculatedValue and Title
// (reference §5.4 and the rules above), and d.keyType and d.prevKeyType
// (see doc).
func (d *doc) calculate(ev *Event) {
	isLog := false
	ev.CalculatedType, ev.CalculatedValue = typeUnknown, ""
	switch main := d.mainException(); {
	case !d.excPresent:
		ev.Rule, isLog = RuleLogMessage, true
		msg, src, ok := d.logMessage()
		if !ok {
			msg = noLogMessage
		}
		ev.CalculatedType, ev.CalculatedValue, ev.MessageSource = typeLog, msg, src
	case main == nil:
		ev.Rule = RuleException
	case typeOf(get(get(main, "mechanism"), "synthetic")) == jtree.TypeTrue:
		// A synthetic exception's type and value are platform labels
		// (SIGSEGV, "Segfault"); the crash frame's function names it.
		fn, frame := syntheticFunction(d.frames(), ev.Platform)
		if fn == "" {
			fn = typeUnknown
		}
		fn = truncate(fn, maxTypeLen)
		ev.SyntheticFunction = fn
		if msg, src, ok := d.syntheticMessage(main); ok {
			ev.Rule, isLog = RuleSyntheticMessage, true
			ev.CalculatedType, ev.CalculatedValue, ev.MessageSource = typeLog, msg, src
			d.prevKeyType = fn
			if caller := messageCaller(d.frames(), ev.Platform); caller != "" {
				ev.SyntheticFunction = truncate(caller, maxTypeLen)
			}
			break
		}
		ev.Rule = RuleSynthetic
		ev.CalculatedType = fn
		if unreadableFunction(fn, frame, ev.Platform) {
			// "?" or "wt" alone says nothing: say where it is ("?" when
			// the frame does not say either, as the crash line does). The
			// key stays the function, as before.
			where := frameWhere(frame)
			if where == "" {
				where = "?"
			}
			ev.CalculatedType = truncate(where+" in "+fn, maxTypeLen)
			d.keyType = fn
		}
	default:
		ev.Rule = RuleException
		var typ, val string
		switch t := get(main, "type"); typeOf(t) {
		case jtree.TypeNull:
		case jtree.TypeString:
			typ = strOf(t)
		default:
			typ = pyStr(t)
		}
		if typ == "" {
			typ = typeDefault
		}
		switch v := get(main, "value"); typeOf(v) {
		case jtree.TypeNull:
		case jtree.TypeString:
			val = strOf(v)
		default:
			val = pyStr(v)
		}
		ev.CalculatedType, ev.CalculatedValue = truncate(typ, maxTypeLen), truncateEllipsis(val, maxValueLen)
	}
	ev.Title = title(ev.CalculatedType, ev.CalculatedValue, isLog)
}

// logMessage returns the message of a log-message event and where it came
// from: the first line of the first non-empty of logentry.message,
// logentry.formatted and the top-level message, stripped and cut to 1024
// characters; ok is false when there is none. It reads the planned
// (normalised) shapes; see planMessage for why that equals reading
// message.message and message.formatted of the raw event (and why an
// object "message" is named as the logentry it is stored as).
func (d *doc) logMessage() (msg, source string, ok bool) {
	cands := [3]string{}
	if d.logentryOut != nil {
		cands[0] = strOf(get(d.logentryOut, "message"))
		cands[1] = strOf(get(d.logentryOut, "formatted"))
	} else if d.hasLogentryStr {
		cands[1] = d.logentryStr
	}
	if d.hasMessageOut {
		cands[2] = d.messageOut
	}
	sources := [3]string{SourceLogentryMessage, SourceLogentryFormatted, SourceMessage}
	for i, s := range cands {
		if s = strings.TrimSpace(s); s != "" {
			return firstLineCut(s), sources[i], true
		}
	}
	return "", "", false
}

// syntheticMessage returns the message a synthetic exception carries: the
// event's log message, else the exception's own value when it has no type
// (the JavaScript SDKs' captureMessage). A typed synthetic exception's value
// ("Segfault", "Fatal Error: EXCEPTION_ACCESS_VIOLATION_WRITE") is a
// platform label, not a message.
func (d *doc) syntheticMessage(main *jtree.Value) (msg, source string, ok bool) {
	if msg, source, ok = d.logMessage(); ok {
		return msg, source, true
	}
	if t := get(main, "type"); typeOf(t) != jtree.TypeNull && !(typeOf(t) == jtree.TypeString && strOf(t) == "") {
		return "", "", false
	}
	v := get(main, "value")
	if typeOf(v) != jtree.TypeString {
		return "", "", false
	}
	if s := strings.TrimSpace(strOf(v)); s != "" {
		return firstLineCut(s), SourceExceptionValue, true
	}
	return "", "", false
}

// messageCaller returns the function that sent a message on JavaScript
// when the crash frame is the SDK's own captureMessage, minified: the
// browser SDKs drop their captureMessage frame by its name, which a
// minifier has changed ("Be"), so the top frame then is the SDK's and the
// one below it the caller's. It returns "" when the top frame is not a
// minified JavaScript one (the crash frame stands).
func messageCaller(frames []*jtree.Value, platform string) string {
	var objs []*jtree.Value
	for _, f := range frames {
		if typeOf(f) == jtree.TypeObject {
			objs = append(objs, f)
		}
	}
	if len(objs) < 2 {
		return ""
	}
	top := objs[len(objs)-1]
	fn := frameFunction(top, platform)
	if strings.Trim(fn, "?") == "" || !unreadableFunction(fn, top, platform) {
		return ""
	}
	caller, _ := syntheticFunction(objs[:len(objs)-1], platform)
	return caller
}

// firstLineCut returns the stripped first line of s cut to maxValueLen
// characters.
func firstLineCut(s string) string {
	return truncate(strings.TrimSpace(firstLine(s)), maxValueLen)
}

// unreadableFunction reports whether the function name fn of frame tells a
// reader nothing on its own: "?" (an unsymbolicated native frame), or, on
// JavaScript, a minifier's name of one or two characters ("wt", "e").
func unreadableFunction(fn string, frame *jtree.Value, platform string) bool {
	if strings.Trim(fn, "?") == "" {
		return true
	}
	if p := strOf(get(frame, "platform")); p != "" {
		platform = p
	}
	switch platform {
	case "javascript", "node":
	default:
		return false
	}
	if len(fn) > 2 {
		return false
	}
	for i := 0; i < len(fn); i++ {
		c := fn[i]
		if !(c == '_' || c == '$' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// frameWhere returns the frame's module, else the last element of its file
// name, absolute path or native package (without a query or fragment),
// else "".
func frameWhere(frame *jtree.Value) string {
	if m := strings.TrimSpace(strOf(get(frame, "module"))); m != "" {
		return m
	}
	var f string
	for _, k := range [...]string{"filename", "abs_path", "package"} {
		if f = strings.TrimSpace(strOf(get(frame, k))); f != "" {
			break
		}
	}
	if i := strings.IndexAny(f, "?#"); i >= 0 {
		f = f[:i]
	}
	f = strings.TrimRight(f, "/\\")
	if i := strings.LastIndexAny(f, "/\\"); i >= 0 {
		f = f[i+1:]
	}
	return f
}

// title returns the display title: "<type>: <first line of value>", just the
// type when that line is empty, and just the message for log messages.
func title(typ, val string, isLog bool) string {
	if isLog {
		return val
	}
	if line := firstLine(val); line != "" {
		return typ + ": " + line
	}
	return typ
}

// frames returns the frames to look for the crash frame in: the main
// exception's stacktrace, else the top-level stacktrace, else the stacktrace
// of the only thread. Frames run oldest first, crash last.
func (d *doc) frames() []*jtree.Value {
	if fr := framesOf(get(d.mainException(), "stacktrace")); len(fr) > 0 {
		return fr
	}
	if fr := framesOf(d.stacktrace); len(fr) > 0 {
		return fr
	}
	if th := containerValues(d.threads); len(th) == 1 {
		return framesOf(get(th[0], "stacktrace"))
	}
	return nil
}

func framesOf(st *jtree.Value) []*jtree.Value {
	fr := get(st, "frames")
	if typeOf(fr) != jtree.TypeArray {
		return nil
	}
	a, _ := fr.Array()
	return a
}

// PackageName returns the file name of a native frame's package (its
// binary: a shared library or executable), from a Unix or Windows path.
func PackageName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 && i < len(p)-1 {
		return p[i+1:]
	}
	return p
}

// crashFrame sets the LastFrame* fields from the last in-app frame, else the
// last frame.
func (d *doc) crashFrame(ev *Event) {
	frames := d.frames()
	var crash *jtree.Value
	for i := len(frames) - 1; i >= 0; i-- {
		f := frames[i]
		if typeOf(f) != jtree.TypeObject {
			continue
		}
		if crash == nil {
			crash = f // the last frame, in case none is in-app
		}
		if typeOf(get(f, "in_app")) == jtree.TypeTrue {
			crash = f
			break
		}
	}
	if crash == nil {
		return
	}
	ev.LastFrameFilename = truncate(strOf(get(crash, "filename")), maxFrameField)
	ev.LastFrameModule = truncate(strOf(get(crash, "module")), maxFrameField)
	ev.LastFramePackage = truncate(PackageName(strOf(get(crash, "package"))), maxFrameField)
	ev.LastFrameFunction = truncate(frameFunction(crash, ev.Platform), maxFrameField)
}

// syntheticFunction returns the function of the last in-app frame that has a
// usable function name, else of the last frame that has one, else "", and
// that frame.
func syntheticFunction(frames []*jtree.Value, platform string) (string, *jtree.Value) {
	fallback, fallbackFrame := "", (*jtree.Value)(nil)
	for i := len(frames) - 1; i >= 0; i-- {
		f := frames[i]
		if typeOf(f) != jtree.TypeObject {
			continue
		}
		fn := frameFunction(f, platform)
		if fn == "" || fn == "<redacted>" || fn == "<unknown>" {
			continue
		}
		if typeOf(get(f, "in_app")) == jtree.TypeTrue {
			return fn, f
		}
		if fallback == "" {
			fallback, fallbackFrame = fn, f
		}
	}
	return fallback, fallbackFrame
}

// frameFunction returns the frame's function name, trimmed for its
// platform (the frame's own, else the event's).
func frameFunction(f *jtree.Value, platform string) string {
	if p := strOf(get(f, "platform")); p != "" {
		platform = p
	}
	return trimFunction(strOf(get(f, "function")), platform)
}

// trimFunction shortens native (C, C++, Objective-C, Swift) symbol names to
// what a reader needs: it drops trailing qualifiers (const, noexcept, &),
// the argument list and a leading return type, so
// "std::string foo::bar(int, char const*) const" becomes "foo::bar".
// Objective-C method names ("-[Class selector:]") are kept whole, as are the
// names of every other platform, which SDKs already send short. Templates
// are left alone.
func trimFunction(fn, platform string) string {
	switch platform {
	case "native", "c", "cpp", "cocoa", "objc", "swift":
	default:
		return fn
	}
	s := strings.TrimSpace(fn)
	if strings.HasPrefix(s, "-[") || strings.HasPrefix(s, "+[") {
		return s
	}
	for trimmed := true; trimmed; {
		trimmed = false
		for _, q := range [...]string{" const", " volatile", " noexcept", " override", " &&", " &"} {
			if strings.HasSuffix(s, q) {
				s = strings.TrimSpace(s[:len(s)-len(q)])
				trimmed = true
			}
		}
	}
	if strings.HasSuffix(s, ")") {
		if open := openingParen(s); open > 0 && !strings.HasSuffix(s[:open], "operator") {
			s = strings.TrimSpace(s[:open])
		}
	}
	if i := returnTypeEnd(s); i >= 0 {
		s = s[i+1:]
	}
	return normalizeLambdas(s)
}

// normalizeLambdas replaces the MSVC lambda names "<lambda_HEX>" (a hash
// that changes with every build, e.g. "<lambda_5db80dab…>") by "<lambda>",
// so that a crash in a lambda groups the same across builds.
func normalizeLambdas(s string) string {
	const open = "<lambda_"
	i := strings.Index(s, open)
	if i < 0 {
		return s
	}
	var b strings.Builder
	for i >= 0 {
		j := i + len(open)
		k := j
		for k < len(s) && isHex(s[k]) {
			k++
		}
		if k > j && k < len(s) && s[k] == '>' {
			b.WriteString(s[:i])
			b.WriteString("<lambda>")
		} else {
			b.WriteString(s[:j])
			k = j - 1 // keep what follows "<lambda_" as it is
		}
		s = s[k+1:]
		i = strings.Index(s, open)
	}
	b.WriteString(s)
	return b.String()
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// openingParen returns the index of the "(" that matches the ")" ending s,
// or -1.
func openingParen(s string) int {
	depth := 0
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case ')':
			depth++
		case '(':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// returnTypeEnd returns the index of the last space of s that is outside
// <>, (), [] and `...' and does not follow the keyword "operator", or -1.
func returnTypeEnd(s string) int {
	depth, quoted, last := 0, false, -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted:
			quoted = c != '\''
		case c == '`':
			quoted = true
		case c == '<' || c == '(' || c == '[':
			depth++
		case c == '>' || c == ')' || c == ']':
			if depth > 0 {
				depth--
			}
		case c == ' ' && depth == 0 && !strings.HasSuffix(s[:i], "operator"):
			last = i
		}
	}
	return last
}
