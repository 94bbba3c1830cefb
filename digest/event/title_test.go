package event

import (
	"strings"
	"testing"
)

// TestTypeAndValue covers the calculated type/value and title rules of
// reference §5.4.
func TestTypeAndValue(t *testing.T) {
	long := strings.Repeat("é", 2000)
	for _, tt := range []struct {
		name, in              string
		wantType, wantValue   string
		wantTitle             string
		wantLastFrameFunction string
	}{
		{"values object", `{"exception":{"values":[{"type":"KeyError","value":"exception message"}]}}`,
			"KeyError", "exception message", "KeyError: exception message", ""},
		{"bare list (sentry-go, raven)", `{"exception":[{"type":"E","value":"v"}]}`, "E", "v", "E: v", ""},
		{"bare exception object", `{"exception":{"type":"E","value":"v"}}`, "E", "v", "E: v", ""},
		{"values as one object", `{"exception":{"values":{"type":"E","value":"v"}}}`, "E", "v", "E: v", ""},
		{"chained: the last value is the main exception", `{"exception":{"values":[{"type":"Cause","value":"inner"},{"type":"Outer","value":"outer"}]}}`,
			"Outer", "outer", "Outer: outer", ""},
		{"empty values", `{"exception":{"values":[]}}`, "<unknown>", "", "<unknown>", ""},
		{"null values", `{"exception":{"values":null}}`, "<unknown>", "", "<unknown>", ""},
		{"empty exception object is no exception", `{"exception":{},"message":"m"}`, "Log Message", "m", "m", ""},
		{"empty exception list is no exception", `{"exception":[],"message":"m"}`, "Log Message", "m", "m", ""},
		{"no type: Error", `{"exception":{"values":[{"value":"Disk full"}]}}`, "Error", "Disk full", "Error: Disk full", ""},
		{"null type and value", `{"exception":{"values":[{"type":null,"value":null}]}}`, "Error", "", "Error", ""},
		{"empty type", `{"exception":{"values":[{"type":"","value":"v"}]}}`, "Error", "v", "Error: v", ""},
		{"non-string value", `{"exception":{"values":[{"type":"E","value":123}]}}`, "E", "123", "E: 123", ""},
		{"boolean value as Python prints it", `{"exception":{"values":[{"type":"E","value":true}]}}`, "E", "True", "E: True", ""},
		{"main exception not an object", `{"exception":{"values":[{"type":"E"},null]}}`, "<unknown>", "", "<unknown>", ""},
		{"title uses the first line", `{"exception":{"values":[{"type":"E","value":"line one\nline two"}]}}`,
			"E", "line one\nline two", "E: line one", ""},
		{"title is the type when the first line is empty", `{"exception":{"values":[{"type":"E","value":"\nsecond"}]}}`,
			"E", "\nsecond", "E", ""},
		{"type cut to 128", `{"exception":{"values":[{"type":"` + strings.Repeat("T", 200) + `"}]}}`,
			strings.Repeat("T", 128), "", strings.Repeat("T", 128), ""},
		{"value cut to 1024 characters with an ellipsis", `{"exception":{"values":[{"type":"E","value":"` + long + `"}]}}`,
			"E", strings.Repeat("é", 1023) + "…", "E: " + strings.Repeat("é", 1023) + "…", ""},
		{"synthetic: last in-app frame with a function", `{"exception":{"values":[{"type":"SIGSEGV","value":"Segfault","mechanism":{"synthetic":true},` +
			`"stacktrace":{"frames":[{"function":"main","in_app":true},{"function":"crash_here","in_app":true},{"function":"<unknown>","in_app":true},{"function":"memcpy"}]}}]}}`,
			"crash_here", "", "crash_here", "<unknown>"},
		{"synthetic: falls back to the last frame with a function", `{"exception":{"values":[{"type":"SIGABRT","mechanism":{"synthetic":true},` +
			`"stacktrace":{"frames":[{"function":"start"},{"function":"abort"},{"function":null},{"function":"<redacted>"}]}}]}}`,
			"abort", "", "abort", "<redacted>"},
		{"synthetic without frames", `{"exception":{"values":[{"type":"Error","value":"Http failure","mechanism":{"synthetic":true}}]}}`,
			"<unknown>", "", "<unknown>", ""},
		{"synthetic function is trimmed", `{"platform":"native","exception":{"values":[{"type":"SIGSEGV","mechanism":{"synthetic":true},` +
			`"stacktrace":{"frames":[{"function":"void foo::bar(int) const","in_app":true}]}}]}}`,
			"foo::bar", "", "foo::bar", "foo::bar"},
		{"synthetic false is ignored", `{"exception":{"values":[{"type":"E","value":"v","mechanism":{"synthetic":false},"stacktrace":{"frames":[{"function":"f"}]}}]}}`,
			"E", "v", "E: v", "f"},
		// @sentry/node 11.12's captureMessage: an exception without a type,
		// marked synthetic, with the caller's frame, and the message. It is
		// a log message (RuleSyntheticMessage), not the function's name.
		{"node captureMessage", `{"message":"Disk usage above 90% on /var/lib/data","exception":{"values":[{"value":"Disk usage above 90% on /var/lib/data",` +
			`"stacktrace":{"frames":[{"filename":"/app/client.js","module":"client","function":"main","in_app":true}]},"mechanism":{"type":"generic","handled":true,"synthetic":true}}]}}`,
			"Log Message", "Disk usage above 90% on /var/lib/data", "Disk usage above 90% on /var/lib/data", "main"},
		{"synthetic: the untyped exception's value is the message", `{"exception":{"values":[{"value":"browser says hello\nsecond line",` +
			`"stacktrace":{"frames":[{"filename":"http://127.0.0.1/app.js","function":"wt","in_app":true}]},"mechanism":{"type":"generic","synthetic":true}}]},"platform":"javascript"}`,
			"Log Message", "browser says hello", "browser says hello", "wt"},
		{"synthetic: logentry template wins over its params", `{"logentry":{"message":"disk %s full","params":["/var"],"formatted":"disk /var full"},` +
			`"exception":{"values":[{"value":"disk /var full","mechanism":{"synthetic":true},"stacktrace":{"frames":[{"function":"check","in_app":true}]}}]}}`,
			"Log Message", "disk %s full", "disk %s full", "check"},
		{"synthetic: a typed value is a label, not a message", `{"exception":{"values":[{"type":"SIGSEGV","value":"Segfault","mechanism":{"synthetic":true},` +
			`"stacktrace":{"frames":[{"function":"crash_here","in_app":true}]}}]}}`,
			"crash_here", "", "crash_here", "crash_here"},
		{"synthetic: minified name gets its file", `{"platform":"javascript","exception":{"values":[{"type":"Error","mechanism":{"synthetic":true},` +
			`"stacktrace":{"frames":[{"filename":"http://127.0.0.1:8080/static/bundle.min.js?v=3","function":"wt","in_app":true}]}}]}}`,
			"bundle.min.js in wt", "", "bundle.min.js in wt", "wt"},
		{"synthetic: minified name gets its module", `{"platform":"node","exception":{"values":[{"type":"Error","mechanism":{"synthetic":true},` +
			`"stacktrace":{"frames":[{"filename":"/app/dist/x.js","module":"dist:x","function":"e","in_app":true}]}}]}}`,
			"dist:x in e", "", "dist:x in e", "e"},
		{"synthetic: ? gets its file on any platform", `{"platform":"native","exception":{"values":[{"type":"SIGSEGV","value":"Segfault","mechanism":{"synthetic":true},` +
			`"stacktrace":{"frames":[{"filename":"C:\\app\\crash.dll","function":"?","in_app":true}]}}]}}`,
			"crash.dll in ?", "", "crash.dll in ?", "?"},
		{"synthetic: short names elsewhere are names", `{"platform":"native","exception":{"values":[{"type":"SIGSEGV","mechanism":{"synthetic":true},` +
			`"stacktrace":{"frames":[{"filename":"a.c","function":"f","in_app":true}]}}]}}`,
			"f", "", "f", "f"},
		{"synthetic: minified without file or module", `{"platform":"javascript","exception":{"values":[{"type":"Error","mechanism":{"synthetic":true},` +
			`"stacktrace":{"frames":[{"function":"wt","in_app":true}]}}]}}`,
			"? in wt", "", "? in wt", "wt"},
		{"synthetic: ? in a native package", `{"platform":"native","exception":{"values":[{"type":"SIGSEGV","mechanism":{"synthetic":true},` +
			`"stacktrace":{"frames":[{"package":"/usr/lib/libcrash.so","function":"??","in_app":true}]}}]}}`,
			"libcrash.so in ??", "", "libcrash.so in ??", "??"},
		{"log: logentry.message before formatted", `{"logentry":{"message":"Hello %s","formatted":"Hello world","params":["world"]},"message":"x"}`,
			"Log Message", "Hello %s", "Hello %s", ""},
		{"log: logentry.formatted before message", `{"logentry":{"formatted":"Hello world"},"message":"x"}`,
			"Log Message", "Hello world", "Hello world", ""},
		{"log: empty logentry falls through", `{"logentry":{"message":"  ","formatted":""},"message":"plain"}`,
			"Log Message", "plain", "plain", ""},
		{"log: message object, message before formatted", `{"message":{"message":"tmpl %s","formatted":"tmpl x"}}`,
			"Log Message", "tmpl %s", "tmpl %s", ""},
		{"log: message object's formatted", `{"message":{"formatted":"formatted only","params":[]}}`,
			"Log Message", "formatted only", "formatted only", ""},
		{"log: logentry before message object", `{"logentry":{"formatted":"from logentry"},"message":{"message":"from message"}}`,
			"Log Message", "from logentry", "from logentry", ""},
		{"log: message object after an empty logentry", `{"logentry":{},"message":{"formatted":"from message"}}`,
			"Log Message", "from message", "from message", ""},
		{"log: string logentry counts as formatted", `{"logentry":"as a string"}`, "Log Message", "as a string", "as a string", ""},
		{"log: stripped first line", `{"message":"\n  first line  \nsecond"}`, "Log Message", "first line", "first line", ""},
		{"log: nothing", `{}`, "Log Message", "<no log message>", "<no log message>", ""},
		{"log: non-string message", `{"message":42}`, "Log Message", "<no log message>", "<no log message>", ""},
		{"log: cut to 1024", `{"message":"` + long + `"}`, "Log Message", strings.Repeat("é", 1024), strings.Repeat("é", 1024), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev := normalize(t, tt.in)
			if ev.CalculatedType != tt.wantType {
				t.Errorf("CalculatedType = %q, want %q", ev.CalculatedType, tt.wantType)
			}
			if ev.CalculatedValue != tt.wantValue {
				t.Errorf("CalculatedValue = %q, want %q", ev.CalculatedValue, tt.wantValue)
			}
			if ev.Title != tt.wantTitle {
				t.Errorf("Title = %q, want %q", ev.Title, tt.wantTitle)
			}
			if ev.LastFrameFunction != tt.wantLastFrameFunction {
				t.Errorf("LastFrameFunction = %q, want %q", ev.LastFrameFunction, tt.wantLastFrameFunction)
			}
		})
	}
}

func TestCrashFrame(t *testing.T) {
	for _, tt := range []struct {
		name, in                   string
		wantFile, wantMod, wantFun string
	}{
		{"last in-app frame", `{"exception":[{"type":"E","stacktrace":{"frames":[{"filename":"a.py","module":"a","function":"fa","in_app":true},{"filename":"b.py","function":"fb","in_app":true},{"filename":"lib.py","function":"flib","in_app":false}]}}]}`,
			"b.py", "", "fb"},
		{"last frame when none is in-app", `{"exception":[{"type":"E","stacktrace":{"frames":[{"filename":"a.py","function":"fa"},{"filename":"b.py","module":"b","function":"fb"}]}}]}`,
			"b.py", "b", "fb"},
		{"main exception's frames, not the cause's", `{"exception":[{"type":"Cause","stacktrace":{"frames":[{"function":"cause","in_app":true}]}},{"type":"Main","stacktrace":{"frames":[{"function":"main"}]}}]}`,
			"", "", "main"},
		{"top-level stacktrace", `{"message":"m","stacktrace":{"frames":[{"function":"top","in_app":true},{"function":"lib"}]}}`,
			"", "", "top"},
		{"exception without frames falls back to the top level", `{"exception":[{"type":"E"}],"stacktrace":{"frames":[{"function":"top"}]}}`,
			"", "", "top"},
		{"the only thread", `{"message":"m","threads":[{"stacktrace":{"frames":[{"function":"t1"}]}}]}`,
			"", "", "t1"},
		{"two threads: no crash frame", `{"message":"m","threads":{"values":[{"stacktrace":{"frames":[{"function":"t1"}]}},{"stacktrace":{"frames":[{"function":"t2"}]}}]}}`,
			"", "", ""},
		{"frames that are not objects are skipped", `{"stacktrace":{"frames":[{"function":"ok"},null,3]}}`,
			"", "", "ok"},
		{"no frames", `{"stacktrace":{"frames":null}}`, "", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev := normalize(t, tt.in)
			if ev.LastFrameFilename != tt.wantFile || ev.LastFrameModule != tt.wantMod || ev.LastFrameFunction != tt.wantFun {
				t.Errorf("last frame = (%q, %q, %q), want (%q, %q, %q)",
					ev.LastFrameFilename, ev.LastFrameModule, ev.LastFrameFunction, tt.wantFile, tt.wantMod, tt.wantFun)
			}
		})
	}
}

func TestTrimFunction(t *testing.T) {
	for _, tt := range []struct{ platform, in, want string }{
		{"native", "main", "main"},
		{"native", "foo::bar(int, char const*)", "foo::bar"},
		{"native", "std::string foo::bar(int) const", "foo::bar"},
		{"native", "void* operator new(unsigned long)", "operator new"},
		{"native", "foo::operator()(int) const", "foo::operator()"},
		{"native", "<lambda>::operator()", "<lambda>::operator()"},
		{"native", "std::vector<int, std::allocator<int> >::push_back(int&&)", "std::vector<int, std::allocator<int> >::push_back"},
		{"native", "MZ::`anonymous namespace'::start", "MZ::`anonymous namespace'::start"},
		{"native", "(anonymous namespace)::crash()", "(anonymous namespace)::crash"},
		{"native", "__pthread_start(void*)", "__pthread_start"},
		{"cocoa", "-[UIApplication sendEvent:]", "-[UIApplication sendEvent:]"},
		{"cocoa", "+[NSException raise:format:]", "+[NSException raise:format:]"},
		{"cocoa", "__55-[UIKeyboardImpl handleKeyboardInput:executionContext:]_block_invoke_2", "__55-[UIKeyboardImpl handleKeyboardInput:executionContext:]_block_invoke_2"},
		{"swift", "closure #1 (Swift.String) -> () in MyApp.foo()", "MyApp.foo"},
		{"javascript", "Anonymous function", "Anonymous function"},
		{"python", "<module>", "<module>"},
		{"csharp", "SampleScript.ThrowNull ()", "SampleScript.ThrowNull ()"},
	} {
		if got := trimFunction(tt.in, tt.platform); got != tt.want {
			t.Errorf("trimFunction(%q, %q) = %q, want %q", tt.in, tt.platform, got, tt.want)
		}
	}
}
