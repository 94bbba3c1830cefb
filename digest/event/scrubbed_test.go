package event

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tinysink/tinysink/digest/scrub"
)

// scrubOptions are the option sets the scrubbing tests try.
var scrubOptions = []scrub.Options{
	{},
	{ScrubIP: true, ExtraKeys: []string{"iban", "order"}},
}

// secretEvents hold secrets in every part the scrubber looks at, in every
// shape the normaliser writes them: header and tag lists of pairs (with a
// name that is not a string, and one nested too deep), a JSON and a form
// request body, cookies, query strings, URLs, an IP, card numbers as
// strings and numbers, secret keys over objects, lists, numbers and null,
// a bare exception and bare breadcrumbs, a logentry string, frames' code,
// spans, invalid UTF-8 and NUL bytes inside secrets and keys, and escapes.
var secretEvents = []string{
	`{"request":{"headers":[["Cookie","a=1; sessionid=x"],["Authorization","t"],[1,"token=abc"],"Bearer abcdefghij1",[]],"cookies":"PHPSESSID=1","query_string":"a=1&token=x","data":"{\"password\":\"x\",\"n\":[1,{\"iban\":\"DE1\"}]}","url":"https://u:p@h/?token=1#access_token=2","fragment":[["key","v"]],"env":{"REMOTE_ADDR":"1.2.3.4","PWD":"/x"}}}`,
	`{"request":{"data":"a=%zz&pass%77ord=1","headers":{"X-Forwarded-For":"1.2.3.4","Cookie":"remember_me=1","x-api-key":null,"Api-Key":{"a":[1,2]}},"cookies":[["csrftoken","x"],["sid","y"]]}}`,
	`{"extra":{"s":"card 4111 1111 1111 1111, password: x, {'token': 'y'}, db=postgres://a:b@c","order_id":7,"n":4111111111111111,"t\u0000oken":"x","k\u00e9y":"v","\"secret\"":"z"},"user":{"ip_address":"{{auto}}","email":"a@b","password":"p"}}`,
	`{"exception":[{"type":"E","value":"password=hunter2 \ud83d\ude00","stacktrace":{"frames":[{"vars":{"secret":{"a":[1,2]},"n":4111111111111111,"list":["token=x",{"api_key":"y"}]},"context_line":"password = \"x\"","pre_context":["pwd = \"y\"","token = request.form['t']"],"post_context":null}]},"raw_stacktrace":{"frames":[{"vars":{"auth":"x"}}]}}]}`,
	`{"breadcrumbs":[{"message":"auth=\u0041\ud83d\ude00","data":{"k":"\"token\": [\"x\"","url":"https://a:b@c/"}}],"threads":{"values":[{"stacktrace":{"frames":[{"vars":{"passwd":"1"}}]}}],"other":{"password":"kept, not user data"}}}`,
	`{"tags":[["X-Signature","a"],["n","4111-1111-1111-1111"],[["nested"],"sk_live_abcdefgh1"]],"message":"Bearer abcdefgh1","logentry":{"message":"%s","params":["sk_live_abcdefgh1"]},"transaction":"/x?key=1","culprit":"token=2"}`,
	`{"logentry":"password=secret","message":{"formatted":"token: abc"},"stacktrace":{"frames":[{"vars":{"token":"x"}}]}}`,
	`{"exception":{"values":[{"value":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.x AKIAIOSFODNN7EXAMPLE","stacktrace":{"frames":[{"context_line":"'secret' => 'x'","pre_context":["pwd = \"y\""]}]}}]}}`,
	`{"spans":[{"description":"-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----","data":{"sig":1},"tags":{"pin":"1"}}],"extra":{"session:duration":1,"password":"[Filtered]","token":""}}`,
	"{\"extra\":{\"pass\\u0000word\":\"x\",\"k\":\"card 4111\\u00001111 1111 1111 \xff token=\xfe\xffab\"},\"user\":{\"ip_address\":\"10.0.0.1\"},\"tags\":{\"api_key\":\"\xff\"}}",
	`{"contexts":{"a":{"secret":[[[[[[[[1]]]]]]]]}},"request":{"env":[["PASSWORD","x"]]}}`,
}

// NormalizeScrubbed writes what scrub.Scrub makes of NormalizeTemp's
// output, byte for byte, says whether it changed, and then gives the
// fields of the scrubbed document: over every sample event, the planted
// secrets of the scrub package's tests, and secretEvents, with each option
// set.
func TestNormalizeScrubbedIsScrub(t *testing.T) {
	inputs := map[string][]byte{}
	for _, name := range samples(t) {
		inputs[name] = readSample(t, name)
	}
	planted, err := filepath.Glob("../scrub/testdata/planted/*.json")
	if err != nil || len(planted) == 0 {
		t.Fatalf("no planted samples: %v", err)
	}
	for _, p := range planted {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		inputs[p] = b
	}
	for i, s := range secretEvents {
		inputs["secretEvents["+string(rune('a'+i))+"]"] = []byte(s)
	}
	changed := 0
	n := NewNormalizer()
	for name, raw := range inputs {
		for _, opts := range scrubOptions {
			if checkScrubbed(t, n, raw, opts) {
				changed++
			}
		}
		if t.Failed() {
			t.Fatalf("input %s", name)
		}
		if len(name)%2 == 0 {
			n.Shed() // what an idle digest does; the next event must not mind
		}
	}
	// Every secret event changes under both option sets.
	if changed < 2*len(secretEvents) {
		t.Errorf("only %d documents changed", changed)
	}
}

// checkScrubbed checks NormalizeScrubbed against NormalizeTemp and
// scrub.Scrub for raw, and reports whether scrubbing changed it.
func checkScrubbed(t *testing.T, n *Normalizer, raw []byte, opts scrub.Options) bool {
	t.Helper()
	meta := testMeta
	meta.EventID = "0123456789abcdef0123456789abcdef" // else each call makes one up
	_, plain, err := NewNormalizer().Normalize(raw, meta)
	ev, got, scrubbed, err2 := n.NormalizeScrubbed(raw, meta, opts)
	if (err == nil) != (err2 == nil) {
		t.Fatalf("Normalize: %v; NormalizeScrubbed: %v", err, err2)
	}
	if err != nil {
		return false
	}
	want, changed := scrub.Scrub(plain, opts)
	if !bytes.Equal(got, want) {
		t.Fatalf("NormalizeScrubbed with %+v wrote\n%s\nwant\n%s", opts, got, want)
	}
	if scrubbed != changed {
		t.Fatalf("scrubbed = %v, Scrub changed = %v", scrubbed, changed)
	}
	wantEv, err := NewNormalizer().Reindex(want, meta)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ev, wantEv) {
		t.Fatalf("fields of the scrubbed event:\n%+v\nwant\n%+v", ev, wantEv)
	}
	return changed
}

// FuzzNormalizeScrubbed checks the same on any input.
func FuzzNormalizeScrubbed(f *testing.F) {
	for _, s := range secretEvents {
		f.Add([]byte(s), false)
	}
	f.Add(readSample(f, "python/glitchtip_django_template_error.json"), true)
	n := NewNormalizer()
	f.Fuzz(func(t *testing.T, raw []byte, ip bool) {
		checkScrubbed(t, n, raw, scrubOptions[map[bool]int{false: 0, true: 1}[ip]])
	})
}

// BenchmarkNormalizeScrubbed compares the digest's one walk
// (NormalizeScrubbed) with writing the document and then scrubbing it
// (NormalizeTemp, scrub.Scrub), over every sample event.
func BenchmarkNormalizeScrubbed(b *testing.B) {
	var raws [][]byte
	for _, name := range samples(b) {
		raws = append(raws, readSample(b, name))
	}
	n := NewNormalizer()
	n.DeferSearchText = true
	b.Run("two-walks", func(b *testing.B) {
		for i := range b.N {
			if _, body, err := n.NormalizeTemp(raws[i%len(raws)], testMeta); err == nil {
				scrub.Scrub(body, scrub.Options{})
			}
		}
	})
	b.Run("one-walk", func(b *testing.B) {
		for i := range b.N {
			n.NormalizeScrubbed(raws[i%len(raws)], testMeta, scrub.Options{})
		}
	})
}
