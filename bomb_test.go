// End-to-end tests of hostile and unusual envelopes: value-dense
// compression bombs against a subprocess under the default memory ceiling,
// and envelopes that carry more than one event.
package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinysink/tinysink/budget"
)

// denseBomb returns a gzip'd event of about 1 MB (just under the 1 MiB event
// cap) that is ~520,000 tiny JSON values, and has no event_id: ~1 KB on the
// wire. Parsing it into a tree costs ~200 MiB.
func denseBomb(t testing.TB, envelope bool) []byte {
	t.Helper()
	var ev bytes.Buffer
	ev.WriteString(`{"message":"dense","extra":{"a":[0`)
	for ev.Len() < 1<<20-64 {
		ev.WriteString(",0")
	}
	ev.WriteString(`]}}`)
	var raw bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&raw, gzip.BestCompression)
	if envelope {
		fmt.Fprintf(zw, "{}\n{\"type\":\"event\",\"length\":%d}\n", ev.Len())
	}
	zw.Write(ev.Bytes())
	if envelope {
		zw.Write([]byte("\n"))
	}
	zw.Close()
	return raw.Bytes()
}

// Eight clients each send value-dense gzip bombs (half to /store/, half to
// /envelope/), with nothing but the public key, to a server at the default
// memory limit (24 MiB). The process's peak resident memory (VmHWM) stays
// under the limit plus 8 MiB, and every acknowledged bomb is stored.
func TestDenseBombUnderMemoryLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a subprocess")
	}
	dir := t.TempDir()
	tok := createToken(t, dir)
	p := startProc(t, dir, "-quota-project-month", "0", "-quota-install-month", "0")
	pid := p.cmd.Process.Pid
	bombs := map[string][]byte{"store": denseBomb(t, false), "envelope": denseBomb(t, true)}
	t.Logf("bomb: %d bytes gzip'd to /store/, %d to /envelope/", len(bombs["store"]), len(bombs["envelope"]))
	start := budget.ReadProcPID(pid)

	const clients, each = 8, 4
	var mu sync.Mutex
	codes := map[int]int{}
	acked := 0
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 60 * time.Second}
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				kind := "store"
				if (c+i)%2 == 1 {
					kind = "envelope"
				}
				req, _ := http.NewRequest("POST", p.base+"/api/1/"+kind+"/?sentry_key="+p.key, bytes.NewReader(bombs[kind]))
				req.Header.Set("Content-Encoding", "gzip")
				resp, err := client.Do(req)
				if err != nil {
					t.Errorf("request failed (the server must keep serving): %v", err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				codes[resp.StatusCode]++
				if resp.StatusCode == 200 {
					acked++
				} else if !strings.HasPrefix(string(body), `{"message":`) {
					t.Errorf("%d reply %q is not a JSON message", resp.StatusCode, body)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	var proj struct {
		Stored int `json:"stored_event_count"`
	}
	waitFor(t, 60*time.Second, "the digest to catch up", func() bool {
		p.get(t, tok, "/api/canonical/0/projects/1/", &proj)
		return proj.Stored >= acked
	})
	end := budget.ReadProcPID(pid)
	const ceiling = 24<<20 + 8<<20
	t.Logf("status codes %v; %d acknowledged, %d stored; VmRSS at start %.1f MiB, VmHWM %.1f MiB (ceiling %d MiB)",
		codes, acked, proj.Stored, float64(start.RSS)/(1<<20), float64(end.HWM)/(1<<20), ceiling>>20)
	if end.HWM == 0 {
		t.Skip("no /proc: cannot read the peak resident memory")
	}
	if end.HWM >= ceiling {
		t.Errorf("VmHWM %.1f MiB, want under %d MiB", float64(end.HWM)/(1<<20), ceiling>>20)
	}
	if acked < clients {
		t.Errorf("only %d of %d bombs acknowledged (%v): trimming, not refusing, is the answer to a dense event", acked, clients*each, codes)
	}
}

// An Android outbox envelope with a Java event and then a native one, both
// under one event_id (made of the sentry-java fixtures), stores both events: each
// is digested and can be read through the API.
func TestEnvelopeWithTwoEventsStoresBoth(t *testing.T) {
	ts := startServer(t)
	env, err := os.ReadFile("ingest/testdata/envelopes/sentry-java/android-java-then-native.txt")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ts.db.Project(1)
	if err != nil {
		t.Fatal(err)
	}
	status, body := post(t, fmt.Sprintf("%s/api/1/envelope/?sentry_key=%s", ts.base, p.Key), nil, env)
	const headerID = "9ec79c33ec9942ab8353589fcb2e04dc"
	if status != 200 || strings.TrimSpace(body) != `{"id":"`+headerID+`"}` {
		t.Fatalf("%d %s", status, body)
	}
	ts.drain(t)

	// Every event of every issue, with the platform digest stored.
	platforms := map[string]string{} // platform -> event id
	n := 0
	for _, iss := range ts.issues(t, 1) {
		var events listT[struct {
			EventID string `json:"event_id"`
		}]
		if code := ts.apiGet(t, "/api/canonical/0/events/?issue="+iss.ID, &events); code != 200 {
			t.Fatalf("GET events of issue %s: %d", iss.ID, code)
		}
		for _, e := range events.Results {
			var ev struct {
				Data struct {
					Platform string `json:"platform"`
				} `json:"data"`
			}
			if code := ts.apiGet(t, "/api/canonical/0/events/"+e.EventID+"/", &ev); code != 200 {
				t.Fatalf("GET event %s: %d", e.EventID, code)
			}
			platforms[ev.Data.Platform] = e.EventID
			n++
		}
	}
	if n != 2 || platforms["java"] != headerID || platforms["native"] == "" || platforms["native"] == headerID {
		t.Errorf("%d stored events %v, want the java event as %s and the native one under an id of its own", n, platforms, headerID)
	}
	// Sent again (an SDK retry), it is not stored twice.
	post(t, fmt.Sprintf("%s/api/1/envelope/?sentry_key=%s", ts.base, p.Key), nil, env)
	ts.drain(t)
	proj, err := ts.db.Project(1)
	if err != nil {
		t.Fatal(err)
	}
	if proj.StoredEventCount != 2 {
		t.Errorf("%d events stored after a retry, want 2", proj.StoredEventCount)
	}
}
