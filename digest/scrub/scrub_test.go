package scrub

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type scrubTest struct {
	name string
	opts Options
	in   string
	want string // "" means unchanged
}

// check runs Scrub on tt.in and compares, and checks that the output is
// valid JSON and that scrubbing it again changes nothing.
func check(t *testing.T, tt scrubTest) {
	t.Helper()
	want := tt.want
	if want == "" {
		want = tt.in
	}
	got, changed := Scrub([]byte(tt.in), tt.opts)
	if string(got) != want || changed != (want != tt.in) {
		t.Errorf("%s:\n in   %s\n got  %s (changed %v)\n want %s", tt.name, tt.in, got, changed, want)
		return
	}
	if !json.Valid(got) {
		t.Errorf("%s: output is not valid JSON: %s", tt.name, got)
	}
	again, changed := Scrub(got, tt.opts)
	if changed || string(again) != string(got) {
		t.Errorf("%s: not idempotent:\n once  %s\n twice %s", tt.name, got, again)
	}
}

func TestScrubKeys(t *testing.T) {
	// Each default key, in the spellings SDKs and apps use, in extra.
	for _, key := range []string{
		"password", "Password", "PASSWORD", "user_password", "passwd", "db_passwd", "passphrase",
		"secret", "client_secret", "SECRET_KEY", "token", "access_token", "refreshToken", "X-CSRF-Token",
		"api_key", "apikey", "API-KEY", "x_api_key", "apiKey", "APIKey", "auth", "Authorization", "Proxy-Authorization",
		"cookie", "cookies", "set-cookie", "Set-Cookie", "sessionid", "SESSION_ID", "session_key", "PHPSESSID", "JSESSIONID",
		"csrf", "csrfmiddlewaretoken", "XSRF-TOKEN", "XSRFToken", "credentials", "aws_credential", "private_key", "privateKey",
		"PRIVATE.KEY", "jwt", "pass_word", "pass", "PASS", "db_pass", "pwd", "DB_PWD", "mysql.pwd", "pin", "PIN", "card_pin", "userPin",
		"cvv", "CVV", "card:cvv", "cvc", "sig", "Sig", "url_sig", "signature", "X-Signature", "X-Hub-Signature-256",
		"ssn", "user ssn", "passcode", "refresh-token", "auth.token", "access_token:v2",
	} {
		check(t, scrubTest{
			name: "key " + key,
			in:   `{"extra":{"` + key + `":"v","a":1}}`,
			want: `{"extra":{"` + key + `":"[Filtered]","a":1}}`,
		})
	}
	// Keys that look alike but are kept.
	for _, key := range []string{
		"author", "authors", "authored_by", "authority", ":authority", "passenger", "bypass", "compass",
		"user", "username", "email", "id", "key", "private", "public_key", "toke",
		"sess", "sid", "remember_me", "session", "session:duration", "DESKTOP_SESSION", "sessions", "session.status",
		"max_tokens", "input_tokens", "gen_ai.usage.output_tokens", "promptTokens", "tokenizer",
		"oauth_state", "authorize_url", "is_authenticated", "pinned", "spinner", "pinky",
		"signal", "sigma", "design", "assign", "cvvalue", "ssnap", "pwdx", "passive", "keyboard", "PWD",
		// The last word says what the key names about a secret.
		"SSH_AUTH_SOCK", "token_type", "password_length", "auth_url", "AUTH_METHOD", "secret_path", "tokenExpiry",
	} {
		check(t, scrubTest{name: "kept key " + key, in: `{"extra":{"` + key + `":"v"}}`})
	}
}

func TestScrubValueTypes(t *testing.T) {
	for _, tt := range []scrubTest{
		{name: "string", in: `{"extra":{"password":"hunter2"}}`, want: `{"extra":{"password":"[Filtered]"}}`},
		{name: "number", in: `{"extra":{"pin_password":1234}}`, want: `{"extra":{"pin_password":"[Filtered]"}}`},
		{name: "bool", in: `{"extra":{"token":true}}`, want: `{"extra":{"token":"[Filtered]"}}`},
		{name: "object", in: `{"extra":{"secret":{"a":{"b":[1,2]}},"x":2}}`, want: `{"extra":{"secret":"[Filtered]","x":2}}`},
		{name: "list", in: `{"extra":{"token":["a","b"]}}`, want: `{"extra":{"token":"[Filtered]"}}`},
		{name: "raven-js session duration kept", in: `{"extra":{"session:duration":1234}}`},
		{name: "empty string", in: `{"extra":{"password":""}}`, want: `{"extra":{"password":"[Filtered]"}}`},
		{name: "null stays", in: `{"extra":{"password":null}}`},
		{name: "already filtered", in: `{"extra":{"password":"[Filtered]"}}`},
		{name: "whitespace kept around", in: "{ \"extra\" : { \"password\" : \"x\" , \"a\" : 1 } }\n",
			want: "{ \"extra\" : { \"password\" : \"[Filtered]\" , \"a\" : 1 } }\n"},
		{name: "escaped key", in: `{"extra":{"pass\u0077ord":"x"}}`, want: `{"extra":{"pass\u0077ord":"[Filtered]"}}`},
		{name: "nested in extra", in: `{"extra":{"config":{"db":{"host":"h","password":"x"},"list":[{"api_key":"k"}]}}}`,
			want: `{"extra":{"config":{"db":{"host":"h","password":"[Filtered]"},"list":[{"api_key":"[Filtered]"}]}}}`},
		{name: "extra keys", opts: Options{ExtraKeys: []string{"Social-Security", "iban"}},
			in:   `{"extra":{"social_security_number":"1","IBAN":"DE00","name":"x"}}`,
			want: `{"extra":{"social_security_number":"[Filtered]","IBAN":"[Filtered]","name":"x"}}`},
		{name: "empty extra key ignored", opts: Options{ExtraKeys: []string{"", "--"}}, in: `{"extra":{"name":"x"}}`},
	} {
		check(t, tt)
	}
}

func TestScrubAreas(t *testing.T) {
	for _, tt := range []scrubTest{
		// Unknown top-level keys are not user data.
		{name: "unknown top level", in: `{"password":"x","server_name":"token=1"}`},
		{name: "tags, message, logentry, transaction, culprit",
			in:   `{"tags":{"token":"t","url":"/a?api_key=k","n":4111111111111111},"message":"password=x","logentry":{"message":"token: y","params":["4111 1111 1111 1111",{"pwd":"p"}]},"transaction":"/cb?token=t","culprit":"card 4111111111111111"}`,
			want: `{"tags":{"token":"[Filtered]","url":"/a?api_key=[Filtered]","n":"[Filtered]"},"message":"password=[Filtered]","logentry":{"message":"token: [Filtered]","params":["[Filtered]",{"pwd":"[Filtered]"}]},"transaction":"/cb?token=[Filtered]","culprit":"card [Filtered]"}`},
		{name: "tags as pairs",
			in:   `{"tags":[["X-Signature","abc"],["level","card 4111-1111-1111-1111 declined"]]}`,
			want: `{"tags":[["X-Signature","[Filtered]"],["level","card [Filtered] declined"]]}`},
		{name: "exception value and code",
			in:   `{"exception":{"values":[{"type":"E","value":"password=x","stacktrace":{"frames":[{"context_line":"password = 'x'","pre_context":["token=1","key = get('token')"],"post_context":["s = 'sk_live_abcdefgh12345678'"],"vars":{"a":1}}]}}]}}`,
			want: `{"exception":{"values":[{"type":"E","value":"password=[Filtered]","stacktrace":{"frames":[{"context_line":"password = '[Filtered]'","pre_context":["token=1","key = get('token')"],"post_context":["s = '[Filtered]'"],"vars":{"a":1}}]}}]}}`},
		{name: "single exception object value",
			in:   `{"exception":{"type":"E","value":"Bearer abcdefgh123"}}`,
			want: `{"exception":{"type":"E","value":"Bearer [Filtered]"}}`},
		{name: "span description, data, tags",
			in:   `{"spans":[{"op":"db","description":"SELECT 1 -- postgres://u:pw@h/db","data":{"secret":"s"},"tags":{"auth":"a"}}]}`,
			want: `{"spans":[{"op":"db","description":"SELECT 1 -- postgres://u:[Filtered]@h/db","data":{"secret":"[Filtered]"},"tags":{"auth":"[Filtered]"}}]}`},
		{name: "code keeps code", in: `{"exception":{"values":[{"stacktrace":{"frames":[{"context_line":"    password = request.POST['password']  # token: x","pre_context":["if (pwd === \"\") {"]}]}}]}}`},
		{name: "sdk and modules", in: `{"sdk":{"name":"sentry.python","packages":[{"name":"secretstorage"}]},"modules":{"secretstorage":"3.3.1"}}`},

		{name: "exception frame vars",
			in:   `{"exception":{"values":[{"type":"E","stacktrace":{"frames":[{"function":"login","vars":{"password":"'hunter2'","user":"'bob'"}}]}}]}}`,
			want: `{"exception":{"values":[{"type":"E","stacktrace":{"frames":[{"function":"login","vars":{"password":"[Filtered]","user":"'bob'"}}]}}]}}`},
		{name: "exception raw_stacktrace vars",
			in:   `{"exception":{"values":[{"raw_stacktrace":{"frames":[{"vars":{"token":"t"}}]}}]}}`,
			want: `{"exception":{"values":[{"raw_stacktrace":{"frames":[{"vars":{"token":"[Filtered]"}}]}}]}}`},
		{name: "exception as a list",
			in:   `{"exception":[{"stacktrace":{"frames":[{"vars":{"token":"t"}}]}}]}`,
			want: `{"exception":[{"stacktrace":{"frames":[{"vars":{"token":"[Filtered]"}}]}}]}`},
		{name: "thread frame vars",
			in:   `{"threads":{"values":[{"id":1,"stacktrace":{"frames":[{"vars":{"self":"<x>","kwargs":{"secret":"s"}}}]}}]}}`,
			want: `{"threads":{"values":[{"id":1,"stacktrace":{"frames":[{"vars":{"self":"<x>","kwargs":{"secret":"[Filtered]"}}}]}}]}}`},
		{name: "top-level stacktrace vars",
			in:   `{"stacktrace":{"frames":[{"vars":{"auth":"Basic abc"}}]}}`,
			want: `{"stacktrace":{"frames":[{"vars":{"auth":"[Filtered]"}}]}}`},
		{name: "breadcrumb data and message",
			in:   `{"breadcrumbs":{"values":[{"category":"http","message":"GET /cb?code=1&access_token=abc","data":{"url":"/x","Authorization":"Bearer t"}}]}}`,
			want: `{"breadcrumbs":{"values":[{"category":"http","message":"GET /cb?code=1&access_token=[Filtered]","data":{"url":"/x","Authorization":"[Filtered]"}}]}}`},
		{name: "breadcrumbs as a list",
			in:   `{"breadcrumbs":[{"message":"token: abc"}]}`,
			want: `{"breadcrumbs":[{"message":"token: [Filtered]"}]}`},
		{name: "user",
			in:   `{"user":{"id":"1","email":"a@example.com","username":"bob","ip_address":"192.0.2.1","data":{"session_key":"k"}}}`,
			want: `{"user":{"id":"1","email":"a@example.com","username":"bob","ip_address":"192.0.2.1","data":{"session_key":"[Filtered]"}}}`},
		{name: "contexts",
			in:   `{"contexts":{"trace":{"trace_id":"abc","span_id":"def"},"app":{"api_token":"x","app_name":"a"},"response":{"cookies":"a=b"}}}`,
			want: `{"contexts":{"trace":{"trace_id":"abc","span_id":"def"},"app":{"api_token":"[Filtered]","app_name":"a"},"response":{"cookies":"[Filtered]"}}}`},
		{name: "request env",
			in:   `{"request":{"env":{"SERVER_NAME":"web","DJANGO_SECRET_KEY":"s","REMOTE_ADDR":"192.0.2.1"}}}`,
			want: `{"request":{"env":{"SERVER_NAME":"web","DJANGO_SECRET_KEY":"[Filtered]","REMOTE_ADDR":"192.0.2.1"}}}`},
		{name: "request other fields kept", in: `{"request":{"method":"POST","api_target":"token"}}`},
	} {
		check(t, tt)
	}
}

func TestScrubRequestHeaders(t *testing.T) {
	for _, tt := range []scrubTest{
		{name: "object",
			in:   `{"request":{"headers":{"Authorization":"Bearer abc","X-Api-Key":"k","Proxy-Authorization":"Basic x","X-Auth-Token":"t","Accept":"*/*","Set-Cookie":"sid=1; Path=/"}}}`,
			want: `{"request":{"headers":{"Authorization":"[Filtered]","X-Api-Key":"[Filtered]","Proxy-Authorization":"[Filtered]","X-Auth-Token":"[Filtered]","Accept":"*/*","Set-Cookie":"[Filtered]"}}}`},
		{name: "list of pairs",
			in:   `{"request":{"headers":[["Authorization","Bearer abc"],["Accept","*/*"],["x-csrftoken","c"]]}}`,
			want: `{"request":{"headers":[["Authorization","[Filtered]"],["Accept","*/*"],["x-csrftoken","[Filtered]"]]}}`},
		{name: "object of lists",
			in:   `{"request":{"headers":{"Authorization":["Bearer abc"],"Accept":["*/*"]}}}`,
			want: `{"request":{"headers":{"Authorization":"[Filtered]","Accept":["*/*"]}}}`},
		{name: "cookie header per cookie",
			in:   `{"request":{"headers":{"Cookie":"theme=dark; sessionid=abc; csrftoken=def; _ga=GA1.1","Host":"x"}}}`,
			want: `{"request":{"headers":{"Cookie":"theme=dark; sessionid=[Filtered]; csrftoken=[Filtered]; _ga=GA1.1","Host":"x"}}}`},
		{name: "cookie header in a pair list",
			in:   `{"request":{"headers":[["cookie","connect.sid=s%3Aabc; lang=en"]]}}`,
			want: `{"request":{"headers":[["cookie","connect.sid=[Filtered]; lang=en"]]}}`},
		{name: "cookie header as a list",
			in:   `{"request":{"headers":{"Cookie":["PHPSESSID=abc; a=b"]}}}`,
			want: `{"request":{"headers":{"Cookie":["PHPSESSID=[Filtered]; a=b"]}}}`},
		{name: "referer with a token",
			in:   `{"request":{"headers":{"Referer":"https://x.example/reset?token=abc&next=/"}}}`,
			want: `{"request":{"headers":{"Referer":"https://x.example/reset?token=[Filtered]&next=/"}}}`},
		{name: "ip headers kept without ScrubIP",
			in: `{"request":{"headers":{"X-Forwarded-For":"192.0.2.1, 10.0.0.1","X-Real-IP":"192.0.2.1"}}}`},
		{name: "ip headers with ScrubIP", opts: Options{ScrubIP: true},
			in:   `{"request":{"headers":{"X-Forwarded-For":"192.0.2.1, 10.0.0.1","X-Real-IP":"192.0.2.1","Forwarded":"for=192.0.2.1","CF-Connecting-IP":"192.0.2.1","True-Client-IP":"192.0.2.1","Host":"x"}}}`,
			want: `{"request":{"headers":{"X-Forwarded-For":"[Filtered]","X-Real-IP":"[Filtered]","Forwarded":"[Filtered]","CF-Connecting-IP":"[Filtered]","True-Client-IP":"[Filtered]","Host":"x"}}}`},
		{name: "ip header pairs with ScrubIP", opts: Options{ScrubIP: true},
			in:   `{"request":{"headers":[["x-forwarded-for","192.0.2.1"]]}}`,
			want: `{"request":{"headers":[["x-forwarded-for","[Filtered]"]]}}`},
	} {
		check(t, tt)
	}
}

func TestScrubRequestCookies(t *testing.T) {
	for _, tt := range []scrubTest{
		{name: "string",
			in:   `{"request":{"cookies":"a=1; session=abc; remember_web_59ba=xyz; wordpress_logged_in_1=u|t; _gh_sess=g; b=2"}}`,
			want: `{"request":{"cookies":"a=1; session=[Filtered]; remember_web_59ba=[Filtered]; wordpress_logged_in_1=[Filtered]; _gh_sess=[Filtered]; b=2"}}`},
		{name: "object",
			in:   `{"request":{"cookies":{"sessionid":"abc","theme":"dark","connect.sid":"s","JSESSIONID":"j"}}}`,
			want: `{"request":{"cookies":{"sessionid":"[Filtered]","theme":"dark","connect.sid":"[Filtered]","JSESSIONID":"[Filtered]"}}}`},
		{name: "list of pairs",
			in:   `{"request":{"cookies":[["csrftoken","c"],["lang","en"]]}}`,
			want: `{"request":{"cookies":[["csrftoken","[Filtered]"],["lang","en"]]}}`},
		{name: "no value and empty value",
			in: `{"request":{"cookies":"flag; session=; ; theme=dark"}}`},
		{name: "extra keys apply to cookies", opts: Options{ExtraKeys: []string{"cart"}},
			in:   `{"request":{"cookies":"cart_id=9; a=b"}}`,
			want: `{"request":{"cookies":"cart_id=[Filtered]; a=b"}}`},
	} {
		check(t, tt)
	}
}

func TestScrubRequestQuery(t *testing.T) {
	for _, tt := range []scrubTest{
		{name: "string",
			in:   `{"request":{"query_string":"a=1&password=x&b=2"}}`,
			want: `{"request":{"query_string":"a=1&password=[Filtered]&b=2"}}`},
		{name: "string, percent-encoded name",
			in:   `{"request":{"query_string":"api%5Fkey=x&user%5Bpassword%5D=y&q=a+b"}}`,
			want: `{"request":{"query_string":"api%5Fkey=[Filtered]&user%5Bpassword%5D=[Filtered]&q=a+b"}}`},
		{name: "string, empty and bare parameters",
			in: `{"request":{"query_string":"&&token=&flag&=x"}}`},
		{name: "object",
			in:   `{"request":{"query_string":{"token":"t","page":"2"}}}`,
			want: `{"request":{"query_string":{"token":"[Filtered]","page":"2"}}}`},
		{name: "list of pairs",
			in:   `{"request":{"query_string":[["page","2"],["access_token","t"]]}}`,
			want: `{"request":{"query_string":[["page","2"],["access_token","[Filtered]"]]}}`},
		{name: "fragment",
			in:   `{"request":{"fragment":"state=1&access_token=abc"}}`,
			want: `{"request":{"fragment":"state=1&access_token=[Filtered]"}}`},
		{name: "url query, fragment and password",
			in:   `{"request":{"url":"https://bob:pw@x.example/cb?code=1&token=t#id_token=i"}}`,
			want: `{"request":{"url":"https://bob:[Filtered]@x.example/cb?code=1&token=[Filtered]#id_token=[Filtered]"}}`},
		{name: "url with a URL in its query",
			in:   `{"request":{"url":"https://x.example/go?next=https://u:p@y.example/&token=t"}}`,
			want: `{"request":{"url":"https://x.example/go?next=https://u:[Filtered]@y.example/&token=[Filtered]"}}`},
		{name: "url kept", in: `{"request":{"url":"https://x.example/a/b?page=2"}}`},
	} {
		check(t, tt)
	}
}

func TestScrubRequestData(t *testing.T) {
	for _, tt := range []scrubTest{
		{name: "object",
			in:   `{"request":{"data":{"username":"bob","password":"x","nested":{"card":{"cvv_secret":"123"}}}}}`,
			want: `{"request":{"data":{"username":"bob","password":"[Filtered]","nested":{"card":{"cvv_secret":"[Filtered]"}}}}}`},
		{name: "list",
			in:   `{"request":{"data":[{"token":"t"},"x"]}}`,
			want: `{"request":{"data":[{"token":"[Filtered]"},"x"]}}`},
		{name: "form-encoded string",
			in:   `{"request":{"data":"username=bob&password=hunter2&csrfmiddlewaretoken=abc"}}`,
			want: `{"request":{"data":"username=bob&password=[Filtered]&csrfmiddlewaretoken=[Filtered]"}}`},
		{name: "JSON string",
			in:   `{"request":{"data":"{\"username\":\"bob\",\"password\":\"hunter2\",\"n\":[1,{\"api_key\":\"k\"}]}"}}`,
			want: `{"request":{"data":"{\"username\":\"bob\",\"password\":\"[Filtered]\",\"n\":[1,{\"api_key\":\"[Filtered]\"}]}"}}`},
		{name: "JSON string with a unicode escape and spacing",
			in:   `{"request":{"data":" {\"na\u00efve\": \"x\", \"secret\": \"s\u00e9\"}"}}`,
			want: `{"request":{"data":" {\"naïve\": \"x\", \"secret\": \"[Filtered]\"}"}}`},
		{name: "JSON string list",
			in:   `{"request":{"data":"[{\"token\":1}]"}}`,
			want: `{"request":{"data":"[{\"token\":\"[Filtered]\"}]"}}`},
		{name: "JSON string without secrets is kept as it is",
			in: `{"request":{"data":"{\"a\": \"\u00e9\"}"}}`},
		{name: "truncated JSON string falls back to text",
			in:   `{"request":{"data":"{\"user\":\"bob\",\"password\":\"hunter2\",\"bio\":\"lo"}}`,
			want: `{"request":{"data":"{\"user\":\"bob\",\"password\":\"[Filtered]\",\"bio\":\"lo"}}`},
		{name: "text",
			in: `{"request":{"data":"just some text\nwith lines"}}`},
		{name: "text with a pair",
			in:   `{"request":{"data":"line one\npassword: x\n"}}`,
			want: `{"request":{"data":"line one\npassword: [Filtered]\n"}}`},
	} {
		check(t, tt)
	}
}

func TestScrubText(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"GET /login?user=bob&password=x HTTP/1.1", "GET /login?user=bob&password=[Filtered] HTTP/1.1"},
		{"Authorization: Bearer abc.def", "Authorization: [Filtered]"},
		{"headers: {'Authorization': 'Bearer x', 'Accept': '*/*'}", "headers: {'Authorization': '[Filtered]', 'Accept': '*/*'}"},
		{`{"password": "a \"quoted\" pw", "b": 1}`, `{"password": "[Filtered]", "b": 1}`},
		{"<Login password='x' user='y'>", "<Login password='[Filtered]' user='y'>"},
		{"token = abc, next", "token = [Filtered], next"},
		{"postgres://app:hunter2@db.internal:5432/app", "postgres://app:[Filtered]@db.internal:5432/app"},
		{"redis://:pw@cache:6379/0", "redis://:[Filtered]@cache:6379/0"},
		{"https://user@example.com/path", ""},
		{"see https://example.com/a?b=c", ""},
		{"mailto:bob@example.com at 12:30", ""},
		{"ResolverMatch(func=views.Login, args=(), url_name=login)", ""},
		{"author: Jane, authority=ca.example", ""},
		{"tokens=", ""},
		{"secret:", ""},
		{"=token", ""},
		{"'token'", ""},
		{"'token':", ""},
		{`"password":"`, ""},
		{"x: password=", ""},
		{`{"cookies":{"sudo":"abc"},"b":1}`, `{"cookies":[Filtered],"b":1}`},
		{`{"cookies": ["a", "b]"], "b":1}`, `{"cookies": [Filtered], "b":1}`},
		{`extra={'token': {'a': '}'`, `extra={'token': [Filtered]`},
	} {
		in := `{"extra":{"s":` + quote(tt.in) + `}}`
		want := ""
		if tt.want != "" {
			want = `{"extra":{"s":` + quote(tt.want) + `}}`
		}
		check(t, scrubTest{name: "text " + tt.in, in: in, want: want})
	}
}

func TestScrubCards(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"4111111111111111", "[Filtered]"},
		{"card 4111 1111 1111 1111 declined", "card [Filtered] declined"},
		{"card 4111-1111-1111-1111.", "card [Filtered]."},
		{"5500 0000 0000 0004", "[Filtered]"},
		{"amex 378282246310005", "amex [Filtered]"},
		{"discover 6011111111111117", "discover [Filtered]"},
		{"diners 30569309025904", "diners [Filtered]"},
		{"2223000048400011", "[Filtered]"},
		{"order 2024 4111 1111 1111 1111 paid", "order 2024 [Filtered] paid"},
		{"4111 1111 1111 1111 2024", "[Filtered] 2024"},
		{"a 4111111111111111 and 5500000000000004", "a [Filtered] and [Filtered]"},
		{"4111111111111112", ""},       // Luhn fails
		{"1111111111111117", ""},       // no scheme starts with 1
		{"411111111111", ""},           // 12 digits
		{"41111111111111111111", ""},   // 20 digits
		{"x4111111111111111", ""},      // part of a word
		{"4111111111111111x", ""},      // part of a word
		{"0x4111111111111111", ""},     // hex
		{"4111  1111 1111 1111", ""},   // double space: not one number
		{"4111--1111-1111-1111", ""},   // double dash
		{"1717171717171", ""},          // a millisecond timestamp
		{"2024-03-01T12:00:00Z", ""},   // a date
		{"+49 151 2345 6789", ""},      // a phone number failing Luhn
		{"id 3141592653589793238", ""}, // Luhn fails
	} {
		in := `{"extra":{"s":` + quote(tt.in) + `}}`
		want := ""
		if tt.want != "" {
			want = `{"extra":{"s":` + quote(tt.want) + `}}`
		}
		check(t, scrubTest{name: "card " + tt.in, in: in, want: want})
	}
	for _, tt := range []scrubTest{
		{name: "card as a number", in: `{"extra":{"n":4111111111111111,"m":4111111111111112,"t":1717171717171,"f":4111111111111111.5}}`,
			want: `{"extra":{"n":"[Filtered]","m":4111111111111112,"t":1717171717171,"f":4111111111111111.5}}`},
		{name: "card in a query string", in: `{"request":{"query_string":"cc=4111111111111111&a=1"}}`,
			want: `{"request":{"query_string":"cc=[Filtered]&a=1"}}`},
		{name: "card in a cookie", in: `{"request":{"cookies":"cc=4111111111111111"}}`,
			want: `{"request":{"cookies":"cc=[Filtered]"}}`},
		{name: "card in an escaped string", in: `{"extra":{"s":"\"4111111111111111\"\n"}}`,
			want: `{"extra":{"s":"\"[Filtered]\"\n"}}`},
		{name: "card outside the areas", in: `{"exception":{"values":[{"type":"4111111111111111"}]},"sdk":{"n":"4111111111111111"}}`},
	} {
		check(t, tt)
	}
}

func TestScrubShapes(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"Authorization failed: Bearer abc123.DEF-456_ghi", "Authorization failed: Bearer [Filtered]"},
		{"sent bearer  0123456789abcdef", "sent bearer  [Filtered]"},
		{"the Bearer authentication scheme", ""},
		{"Bearer short1", ""},
		{"Bearer [Filtered]", ""},
		{"key sk_live_51HxYzAbCdEfGh12 used", "key [Filtered] used"},
		{"sk_test_4eC39HqLyjWDarjtT1zdp7dc", "[Filtered]"},
		{"rk_live_abcdefgh1234 rk_test_abcdefgh1234", "[Filtered] [Filtered]"},
		{"sk_live_short", ""},
		{"mask_live_abcdefgh1234", ""},
		{"xoxb-2093847561-abcDEF123456, xoxp-1234567890-x", "[Filtered], [Filtered]"},
		{"xoxz-2093847561-abcDEF123456", ""},
		{"ghp_aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF", "[Filtered]"},
		{"github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "[Filtered]"},
		{"ghp_short", ""},
		{"id AKIAIOSFODNN7EXAMPLE.", "id [Filtered]."},
		{"ASIAIOSFODNN7EXAMPLE", "[Filtered]"},
		{"AKIAIOSFODNN7EXAMPLE1", ""}, // 21 characters
		{"AKIAiosfodnn7example", ""},
		{"AIzaSyB1234567890abcdefghijklmnopqrstuv", "[Filtered]"},
		{"AIzaSyB123", ""},
		{"t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2ln-X_y end", "t=[Filtered] end"},
		{"eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMjM0In0.", "[Filtered]"},
		{"eyJhbGciOiJIUzI1NiJ9 alone", ""},
		{"theyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.x", ""},
		{"a\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIB\n-----END RSA PRIVATE KEY-----\nb", "a\n[Filtered]\nb"},
		{"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN (cut)", "[Filtered]"},
		{"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----", "[Filtered]"},
		{"-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----", ""},
		{"-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----", ""},
		{"clone https://deploy:s3cr3t@git.example.com/r.git", "clone https://deploy:[Filtered]@git.example.com/r.git"},
		{"GET /maps?key=AIzaSyB1234567890abcdefghijklmnopqrstuv&q=x", "GET /maps?key=[Filtered]&q=x"},
		{"cache key=user:42 missed", "cache key=[Filtered] missed"},
	} {
		want := ""
		if tt.want != "" {
			want = `{"extra":{"s":` + quote(tt.want) + `}}`
		}
		check(t, scrubTest{name: "shape " + tt.in, in: `{"extra":{"s":` + quote(tt.in) + `}}`, want: want})
	}
	// Shapes in query values and cookies too.
	check(t, scrubTest{name: "shape in a cookie",
		in:   `{"request":{"cookies":"id=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2ln; a=b"}}`,
		want: `{"request":{"cookies":"id=[Filtered]; a=b"}}`})
}

func TestScrubIP(t *testing.T) {
	in := `{"user":{"id":"1","ip_address":"192.0.2.1"},"request":{"env":{"REMOTE_ADDR":"192.0.2.1","SERVER_PORT":"80"},"headers":[["X-Real-IP","192.0.2.1"]]},"contexts":{"client_ip":"192.0.2.1"}}`
	check(t, scrubTest{name: "ip kept", in: in})
	check(t, scrubTest{name: "ip scrubbed", opts: Options{ScrubIP: true}, in: in,
		want: `{"user":{"id":"1","ip_address":"[Filtered]"},"request":{"env":{"REMOTE_ADDR":"[Filtered]","SERVER_PORT":"80"},"headers":[["X-Real-IP","[Filtered]"]]},"contexts":{"client_ip":"192.0.2.1"}}`})
}

func TestScrubInvalid(t *testing.T) {
	for _, in := range []string{
		``,
		`{`,
		`{"extra":{"password":"x"}`,
		`{"extra":{"password":"x"}}}`,
		`{"extra":{"password":"x"}} x`,
		`{"extra":{"password":x}}`,
		`{"extra":{"password":"x",}}`,
		`{"extra":{"password" "x"}}`,
		`{"extra":{"password":"x\q"}}`,
		`{"extra":{"password":"x` + "\n" + `"}}`,
		`{"extra":{"password":01}}`,
		`{"extra":{"password":1.}}`,
		`{"extra":{"password":tru}}`,
		`{"extra":[1 2]}`,
		`{"request":{"headers":[["Authorization","x" "y"]]}}`,
		`{"extra":{"s":"\u12"}}`,
		strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
	} {
		got, changed := Scrub([]byte(in), Options{})
		if changed || string(got) != in {
			t.Errorf("Scrub(%q) = %q, %v; want it unchanged", in, got, changed)
		}
	}
}

func TestScrubReturnsSameSlice(t *testing.T) {
	in := []byte(`{"extra":{"a":1},"request":{"headers":{"Accept":"*/*"}}}`)
	got, changed := Scrub(in, Options{ScrubIP: true})
	if changed || &got[0] != &in[0] || len(got) != len(in) {
		t.Errorf("unchanged document was copied or changed")
	}
	in = []byte(`{"extra":{"password":"x"}}`)
	orig := string(in)
	got, changed = Scrub(in, Options{})
	if !changed || string(in) != orig || &got[0] == &in[0] {
		t.Errorf("changed document: input modified or output aliases it")
	}
}

func TestScrubNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under -race")
	}
	doc := readSample(t, benchSample)
	if _, changed := Scrub(doc, Options{}); changed {
		t.Fatalf("%s has secrets; pick a clean sample", benchSample)
	}
	if n := testing.AllocsPerRun(100, func() { Scrub(doc, Options{ExtraKeys: []string{"iban"}}) }); n > 0 {
		t.Errorf("Scrub of a clean event allocates %v times, want 0", n)
	}
}

func TestDefaultKeys(t *testing.T) {
	keys := DefaultKeys()
	for _, want := range []string{"password", "pass", "pwd", "pin", "cvv", "sig", "signature", "ssn", "secret", "token", "auth", "cookie", "csrf", "credential"} {
		if !slices.Contains(keys, want) {
			t.Errorf("DefaultKeys() lacks %q", want)
		}
	}
	keys[0] = "changed"
	if DefaultKeys()[0] == "changed" {
		t.Error("DefaultKeys returns shared memory")
	}
}

// TestSamples scrubs every sample event: the output must be valid JSON and
// scrubbing must be idempotent.
func TestSamples(t *testing.T) {
	for _, name := range samples(t) {
		doc := readSample(t, name)
		for _, opts := range []Options{{}, {ScrubIP: true, ExtraKeys: []string{"email"}}} {
			out, _ := Scrub(doc, opts)
			if !json.Valid(out) {
				t.Errorf("%s: output is not valid JSON", name)
			}
			again, changed := Scrub(out, opts)
			if changed || string(again) != string(out) {
				t.Errorf("%s: scrubbing twice changed it again", name)
			}
		}
	}
}

// TestSamplesScrubbed checks that real samples carrying secrets lose them.
func TestSamplesScrubbed(t *testing.T) {
	for _, tt := range []struct {
		name   string
		secret []string // substrings of the sample that must be gone
	}{
		// A Sentry envelope logged by console.log into a breadcrumb carries
		// the request's Cookie header.
		{"javascript/spotlight_envelope_javascript.json", []string{"tUU6UH51s8AF"}},
		// contexts.response.cookies holds PHPSESSID and csrftoken.
		{"other/sentry-java_sentry_event.json", []string{"298zf09hf012fh2", "u32t4o3tb3gg43"}},
	} {
		doc := readSample(t, tt.name)
		out, changed := Scrub(doc, Options{})
		if !changed {
			t.Errorf("%s: nothing scrubbed", tt.name)
		}
		for _, s := range tt.secret {
			if !strings.Contains(string(doc), s) {
				t.Fatalf("%s: bad test: %q is not in the sample", tt.name, s)
			}
			if strings.Contains(string(out), s) {
				t.Errorf("%s: %q is still there", tt.name, s)
			}
		}
	}
}

// TestPythonSampleScrubbed plants secrets where a Django app has them (frame
// vars, the Cookie header, request.cookies, a form body) in a real Python
// sample and checks each is filtered and nothing else changes.
func TestPythonSampleScrubbed(t *testing.T) {
	doc := readSample(t, "python/glitchtip_django_template_error.json")
	var ev map[string]any
	if err := json.Unmarshal(doc, &ev); err != nil {
		t.Fatal(err)
	}
	frames := ev["exception"].(map[string]any)["values"].([]any)[0].(map[string]any)["stacktrace"].(map[string]any)["frames"].([]any)
	vars := frames[0].(map[string]any)["vars"].(map[string]any)
	vars["password"] = "'hunter2'"
	vars["form"] = map[string]any{"csrfmiddlewaretoken": "'mwtoken'", "email": "'bob@example.com'"}
	req := ev["request"].(map[string]any)
	req["headers"].(map[string]any)["Cookie"] = "csrftoken=csrfcookie; sessionid=sesscookie; django_language=de"
	req["cookies"] = map[string]any{"csrftoken": "csrfcookie", "sessionid": "sesscookie", "django_language": "de"}
	req["data"] = "email=bob%40example.com&password=formpw"
	planted, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	out, changed := Scrub(planted, Options{})
	if !changed {
		t.Fatal("nothing scrubbed")
	}
	for _, secret := range []string{"hunter2", "mwtoken", "csrfcookie", "sesscookie", "formpw"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("%q is still there", secret)
		}
	}
	for _, kept := range []string{"bob@example.com", "django_language=de", "NoReverseMatch", "WSGIRequest"} {
		if !strings.Contains(string(out), kept) {
			t.Errorf("%q was removed", kept)
		}
	}
	if got, want := strings.Count(string(out), filtered), 7; got != want {
		t.Errorf("%d values filtered, want %d", got, want)
	}
}

// quote returns s as a JSON string.
func quote(s string) string {
	var b strings.Builder
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(s); err != nil {
		panic(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// benchSample is a 13.4 KB .NET event with an exception, frames, request
// headers as lists, contexts and tags.
const benchSample = "csharp/bugsink_headers_as_lists.json"

// sampleDir is the repository's copy of the sample corpus.
func sampleDir() string { return "../event/testdata/events" }

func samples(t testing.TB) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(sampleDir(), "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 100 {
		t.Fatalf("found %d sample events in %s, want the whole corpus", len(paths), sampleDir())
	}
	for i, p := range paths {
		rel, _ := filepath.Rel(sampleDir(), p)
		paths[i] = filepath.ToSlash(rel)
	}
	return paths
}

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sampleDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
