package main

import (
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tinysink is killed with SIGKILL while SDKs send events, twice, and
// restarted: every event that got a 200 is stored exactly once.
func TestCrashSafety(t *testing.T) {
	t.Parallel() // a subprocess of its own; see TestStartOnFullDisk
	if testing.Short() {
		t.Skip("builds and kills subprocesses")
	}
	dir := t.TempDir()
	ackedCh := make(chan string, 1<<16)
	for round := range 3 {
		p := startProc(t, dir)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { load(p, 8, stop, ackedCh); close(done) }()
		// The kill lands mid-load, after 150, 300, then 450 more acks (not
		// after a fixed time: on a busy machine that may be before any).
		want := len(ackedCh) + 150*(round+1)
		waitFor(t, 60*time.Second, "acknowledgements before the kill", func() bool { return len(ackedCh) >= want })
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
		close(stop)
		<-done
	}
	close(ackedCh)
	acked := map[string]bool{}
	for id := range ackedCh {
		acked[id] = true
	}
	if len(acked) < 50 {
		t.Fatalf("only %d events acknowledged before the kills", len(acked))
	}

	// Restart; the digest drains the spool left behind.
	tok := createToken(t, dir)
	p := startProc(t, dir)
	get := func(path string, v any) int { return p.get(t, tok, path, v) }
	var proj struct {
		Stored int `json:"stored_event_count"`
	}
	waitFor(t, 60*time.Second, "the spool to drain", func() bool {
		get("/api/canonical/0/projects/1/", &proj)
		return proj.Stored >= len(acked)
	})
	// Events sent but never acknowledged may still wait in the spool: the
	// walk below starts once the digest has found it empty.
	waitFor(t, 60*time.Second, "the digest to go idle", func() bool {
		req, _ := http.NewRequest("GET", p.base+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "\ntinysink_digest_idle 1\n") && strings.Contains(string(b), "\ntinysink_spool_oldest_age_seconds 0\n")
	})
	for id := range acked {
		if code := get("/api/canonical/0/events/"+id+"/", nil); code != 200 {
			t.Errorf("acknowledged event %s: %d", id, code)
		}
	}
	// No event is stored twice: walk every issue's events.
	var issues struct {
		Results []struct {
			ID     string `json:"id"`
			Stored int    `json:"stored_event_count"`
		} `json:"results"`
	}
	get("/api/canonical/0/issues/?project=1", &issues)
	seen := map[string]bool{}
	total := 0
	for _, iss := range issues.Results {
		path := "/api/canonical/0/events/?issue=" + iss.ID
		for path != "" {
			var l struct {
				Next    *string `json:"next"`
				Results []struct {
					EventID string `json:"event_id"`
				} `json:"results"`
			}
			get(path, &l)
			for _, e := range l.Results {
				if seen[e.EventID] {
					t.Errorf("event %s stored twice", e.EventID)
				}
				seen[e.EventID] = true
				total++
			}
			path = ""
			if l.Next != nil {
				path = strings.TrimPrefix(*l.Next, p.base)
			}
		}
	}
	get("/api/canonical/0/projects/1/", &proj)
	if total != proj.Stored {
		t.Errorf("walked %d events, project says %d stored", total, proj.Stored)
	}
	t.Logf("%d acknowledged, %d stored after 3 kills", len(acked), total)
}

// SIGKILL while retention rounds and compactions run (a retention of 300
// makes them run all the time) and while a backup streams: every restart
// opens the store, and what it holds is consistent.
func TestCrashDuringRetentionAndBackup(t *testing.T) {
	t.Parallel() // a subprocess of its own; see TestStartOnFullDisk
	if testing.Short() {
		t.Skip("builds and kills subprocesses")
	}
	dir := t.TempDir()
	tok := createToken(t, dir)
	for round := range 3 {
		p := startProc(t, dir)
		if round == 0 {
			req, _ := http.NewRequest("PATCH", p.base+"/api/canonical/0/projects/1/", strings.NewReader(`{"retention_max_event_count": 300}`))
			req.Header.Set("Authorization", "Bearer "+tok)
			if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
				t.Fatalf("PATCH retention: %v %v", resp, err)
			}
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		sink := make(chan string, 1<<14)
		go func() { load(p, 4, stop, sink); close(done) }()
		if round == 2 {
			// A backup streaming into a reader that stops reading: the kill
			// lands while it holds the digest.
			req, _ := http.NewRequest("POST", p.base+"/api/canonical/0/backup/", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				io.CopyN(io.Discard, resp.Body, 1024)
				defer resp.Body.Close()
			}
		}
		// Mid-load: after 100, 200, then 300 acks in this round.
		waitFor(t, 60*time.Second, "acknowledgements before the kill", func() bool { return len(sink) >= 100*(round+1) })
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
		close(stop)
		<-done
	}
	p := startProc(t, dir)
	waitFor(t, 30*time.Second, "ready", func() bool {
		resp, err := http.Get(p.base + "/health/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	n := consistent(t, p, tok)
	if n == 0 || n > 300+300/20+50 {
		t.Errorf("%d events stored with a retention of 300", n)
	}
}
