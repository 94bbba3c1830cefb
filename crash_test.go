package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds tinysink once per test run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "tinysink-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "tinysink")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// proc is a tinysink subprocess.
type proc struct {
	cmd  *exec.Cmd
	base string
	dsn  string
	key  string
}

func startProc(t *testing.T, dir string, extra ...string) *proc {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "-addr", "127.0.0.1:0", "-data", dir}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "TINYSINK_ADMIN_PASSWORD=test-password")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for sc.Scan() {
		line := sc.Text()
		if _, rest, ok := strings.Cut(line, " listening on "); ok {
			p.base = strings.TrimSpace(rest)
		}
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "DSN:"); ok {
			p.dsn = strings.TrimSpace(rest)
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	if p.base == "" || p.dsn == "" {
		t.Fatalf("server did not print its address and DSN")
	}
	u := strings.TrimPrefix(p.dsn, "http://")
	p.key, _, _ = strings.Cut(u, "@")
	return p
}

// load sends envelopes from workers until stop is closed and records the
// event ids that got a 200.
func load(p *proc, workers int, stop <-chan struct{}, acked chan<- string) {
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := newID()
				ev := fmt.Sprintf(`{"event_id":"%s","platform":"go","level":"error","exception":{"values":[{"type":"CrashTest","value":"worker %d failed"}]},"extra":{"pad":"%s"}}`, id, w, strings.Repeat("x", 2000))
				body := fmt.Sprintf("{\"event_id\":\"%s\"}\n{\"type\":\"event\",\"length\":%d}\n%s\n", id, len(ev), ev)
				req, _ := http.NewRequest("POST", p.base+"/api/1/envelope/?sentry_key="+p.key, strings.NewReader(body))
				resp, err := client.Do(req)
				if err != nil {
					return // the server died
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					acked <- id
				}
			}
		})
	}
	wg.Wait()
}

// tinysink is killed with SIGKILL while SDKs send events, twice, and
// restarted: every event that got a 200 is stored exactly once.
func TestCrashSafety(t *testing.T) {
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
		time.Sleep(time.Duration(300+200*round) * time.Millisecond)
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
	get := func(path string, v any) int {
		req, _ := http.NewRequest("GET", p.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if v != nil {
			json.NewDecoder(resp.Body).Decode(v)
		}
		return resp.StatusCode
	}
	var proj struct {
		Stored int `json:"stored_event_count"`
	}
	waitFor(t, 60*time.Second, "the spool to drain", func() bool {
		get("/api/canonical/0/projects/1/", &proj)
		return proj.Stored >= len(acked)
	})
	time.Sleep(200 * time.Millisecond)
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

func createToken(t *testing.T, dir string) string {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "token", "create", "-data", dir).Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	return strings.TrimSpace(string(out))
}
