package main

import (
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountSmallFS mounts a 16 MiB tmpfs in a temporary directory and returns
// its path, or skips the test where mounting is not possible.
func mountSmallFS(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a size-limited file system (tmpfs) for the full-disk test")
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (no privileges for mount?): %v %s", err, out)
	}
	// Registered first, so it runs after the server is killed.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mnt, err, out)
		}
	})
	return mnt
}

// fillDisk writes zeros into name until the file system is full.
func fillDisk(t *testing.T, name string) {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			break
		}
	}
	// The last partial page, byte by byte.
	for {
		if _, err := f.Write(buf[:1]); err != nil {
			break
		}
	}
}

// After a reboot onto a full disk the server starts anyway: health and the
// UI answer, the API reads, ingest refuses with a 429 that SDKs honour, and
// once space returns ingest recovers by itself.
func TestStartOnFullDisk(t *testing.T) {
	// A subprocess of its own, mostly waiting: it runs beside the other
	// such tests, after the serial ones (TestSlowloris among them).
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs subprocesses on a mounted file system")
	}
	mnt := mountSmallFS(t)
	data := filepath.Join(mnt, "data")

	// A first run creates the data directory, then it is stopped.
	p := startProc(t, data)
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	tok := createToken(t, data)

	fill := filepath.Join(mnt, "fill")
	fillDisk(t, fill)

	// -min-free-disk 0: the free-space check is off, so what refuses is the
	// spool that could not start a segment file.
	p = startProc(t, data, "-min-free-disk", "0")
	client := &http.Client{Timeout: 30 * time.Second}
	get := func(path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", p.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	send := func(id string) *http.Response {
		t.Helper()
		body := `{"event_id":"` + id + `","message":"after the disk filled up"}`
		resp, err := client.Post(p.base+"/api/1/store/?sentry_key="+p.key, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST store: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	if code, _ := get("/health/live"); code != 200 {
		t.Errorf("/health/live on a full disk = %d", code)
	}
	if code, body := get("/health/ready"); code != 503 || !strings.Contains(body, "no space left on device") {
		t.Errorf("/health/ready on a full disk = %d %s, want 503 naming the full disk", code, body)
	}
	if code, body := get("/accounts/login/"); code != 200 || !strings.Contains(body, "password") {
		t.Errorf("login page on a full disk = %d", code)
	}
	if code, body := get("/api/canonical/0/projects/"); code != 200 || !strings.Contains(body, `"default"`) {
		t.Errorf("API read on a full disk = %d %s", code, body)
	}
	// Logging in writes a session: it works, or says why it cannot.
	jar, _ := cookiejar.New(nil)
	ui := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := ui.PostForm(p.base+"/accounts/login/", url.Values{"name": {"admin"}, "password": {"test-password"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusFound, http.StatusSeeOther:
		if resp, err := ui.Get(p.base + "/projects/"); err != nil || resp.StatusCode != 200 {
			t.Errorf("project list on a full disk: %v %v", resp, err)
		} else {
			resp.Body.Close()
		}
	case http.StatusInsufficientStorage:
		if !strings.Contains(string(b), "disk is full") {
			t.Errorf("login refused on a full disk without saying why:\n%s", b)
		}
	default:
		t.Errorf("login on a full disk = %d", resp.StatusCode)
	}

	resp = send(newID())
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("ingest on a full disk = %d, want 429", resp.StatusCode)
	}
	if got := resp.Header.Get("Retry-After"); got == "" {
		t.Error("no Retry-After on the disk_full 429")
	}
	if got := resp.Header.Get("X-Sentry-Rate-Limits"); !strings.HasSuffix(got, "::organization:disk_full") {
		t.Errorf("X-Sentry-Rate-Limits = %q, want all categories, reason disk_full", got)
	}

	// Space returns: the spool starts a segment by itself (every 10 s) and
	// ingest takes events again.
	if err := os.Remove(fill); err != nil {
		t.Fatal(err)
	}
	id := newID()
	waitFor(t, 60*time.Second, "ingest to recover", func() bool { return send(id).StatusCode == 200 })
	waitFor(t, 60*time.Second, "the event to be digested", func() bool {
		code, _ := get("/api/canonical/0/projects/1/events/" + id + "/")
		if code == 404 {
			code, _ = get("/api/canonical/0/events/" + id + "/")
		}
		return code == 200
	})
	waitFor(t, 90*time.Second, "/health/ready to pass", func() bool {
		code, _ := get("/health/ready")
		return code == 200
	})
}
