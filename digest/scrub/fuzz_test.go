package scrub

import (
	"encoding/json"
	"testing"
)

// FuzzScrub checks that Scrub never panics, returns its input when that is
// not JSON, and otherwise returns valid JSON that a second pass leaves alone.
func FuzzScrub(f *testing.F) {
	for _, name := range []string{benchSample, "python/glitchtip_django_template_error.json", "other/sentry-java_sentry_event.json"} {
		f.Add(readSample(f, name), false)
	}
	for _, s := range []string{
		`{"request":{"headers":[["Cookie","a=1; sessionid=x"],["Authorization","t"]],"cookies":"PHPSESSID=1","query_string":"a=1&token=x","data":"{\"password\":\"x\"}","url":"https://u:p@h/?token=1#access_token=2","env":{"REMOTE_ADDR":"1.2.3.4"}}}`,
		`{"extra":{"s":"card 4111 1111 1111 1111, password: x, {'token': 'y'}, db=postgres://a:b@c"},"user":{"ip_address":"1.2.3.4"}}`,
		`{"exception":{"values":[{"stacktrace":{"frames":[{"vars":{"secret":{"a":[1,2]},"n":4111111111111111}}]}}]}}`,
		`{"breadcrumbs":[{"message":"auth=\u0041\ud83d\ude00","data":{"k":"\"token\": [\"x\""}}]}`,
		`{"request":{"data":"a=%zz&pass%77ord=1"}}`,
		`{"tags":[["X-Signature","a"],["n","4111-1111-1111-1111"]],"message":"Bearer abcdefgh1","logentry":{"params":["sk_live_abcdefgh1"]},"transaction":"/x?key=1"}`,
		`{"exception":{"values":[{"value":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.x AKIAIOSFODNN7EXAMPLE","stacktrace":{"frames":[{"context_line":"'secret' => 'x'","pre_context":["pwd = \"y\""]}]}}]}}`,
		`{"spans":[{"description":"-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----","data":{"sig":1},"tags":{"pin":"1"}}],"extra":{"session:duration":1}}`,
	} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, doc []byte, ip bool) {
		opts := Options{ScrubIP: ip, ExtraKeys: []string{"iban"}}
		in := string(doc)
		out, changed := Scrub(doc, opts)
		if string(doc) != in {
			t.Fatal("input modified")
		}
		if !json.Valid(doc) {
			if changed || string(out) != in {
				t.Fatalf("invalid input %q changed to %q", in, out)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("Scrub(%q) = %q, not valid JSON", in, out)
		}
		if changed == (string(out) == in) {
			t.Fatalf("Scrub(%q) changed = %v, but output %q", in, changed, out)
		}
		again, changed2 := Scrub(out, opts)
		if changed2 || string(again) != string(out) {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, out, again)
		}
	})
}
