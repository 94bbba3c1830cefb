package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/ingest/relay"
)

// relayProc is a relay-only tinysink run as a subprocess.
type relayProc struct {
	cmd  *exec.Cmd
	base string // http://ADDR
	dsn  string // what it prints for SDKs
}

// startRelayProc runs bin serve -store=false on dir, forwarding to dsn,
// and waits for its banner.
func startRelayProc(t testing.TB, bin, dir, dsn string) *relayProc {
	t.Helper()
	cmd := exec.Command(bin, "serve", "-store=false", "-addr", "127.0.0.1:0", "-data", dir, "-forward-dsn", dsn)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if *verbose {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	p := &relayProc{cmd: cmd}
	deadline := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if _, rest, ok := strings.Cut(line, " relaying on "); ok {
			addr, _, _ := strings.Cut(rest, " ")
			p.base = "http://" + addr
		}
		if rest, ok := strings.CutPrefix(line, "DSN:"); ok {
			p.dsn, _, _ = strings.Cut(strings.TrimSpace(rest), " ")
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	if p.base == "" || p.dsn == "" {
		t.Fatalf("relay did not print its address and DSN: %q, %q", p.base, p.dsn)
	}
	return p
}

// exe is the binary the process runs now (Linux), "" where that cannot
// be read.
func (p *relayProc) exe() string {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.cmd.Process.Pid))
	if err != nil {
		return ""
	}
	return filepath.Base(exe)
}

// copyAlone copies the tinysink binary bin into a directory of its own,
// without tinysink-relay beside it, and returns the copy's path.
func copyAlone(tb testing.TB, bin string) string {
	tb.Helper()
	b, err := os.ReadFile(bin)
	if err != nil {
		tb.Fatal(err)
	}
	alone := filepath.Join(tb.TempDir(), "tinysink")
	if err := os.WriteFile(alone, b, 0o755); err != nil {
		tb.Fatal(err)
	}
	return alone
}

// tinysink -store=false executes tinysink-relay when it lies beside it
// (the same process, so a supervisor keeps its PID), and runs the relay in
// its own process when it does not; both relay the events they acknowledge
// to the upstream, and stop cleanly on SIGTERM. Started by hand,
// tinysink-relay says how to start a relay.
func TestRelayBinary(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	up := startServer(t, noQuota...)
	dsn := upstreamDSN(t, up)
	p, err := up.db.Project(1)
	if err != nil {
		t.Fatal(err)
	}
	// Without the relay binary beside it: a copy of tinysink alone.
	alone := copyAlone(t, bin)
	var ids []string
	for _, c := range []struct {
		bin, exe string
	}{{bin, relay.Binary}, {alone, "tinysink"}} {
		r := startRelayProc(t, c.bin, t.TempDir(), dsn)
		if got := r.exe(); runtime.GOOS == "linux" && got != c.exe {
			t.Errorf("%s -store=false runs %q, want %q", c.bin, got, c.exe)
		}
		if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", r.cmd.Process.Pid)); err == nil && !strings.Contains(string(cmdline), "-store=false\x00") {
			t.Errorf("ps shows %q, without the arguments tinysink was started with", cmdline)
		}
		if want := strings.Replace(dsn, strings.TrimPrefix(up.base, "http://"), strings.TrimPrefix(r.base, "http://"), 1); r.dsn != want {
			t.Errorf("relay prints DSN %q, want %q", r.dsn, want)
		}
		ids = append(ids, sendEvents(t, r.base, 1, p.Key, 10)...)
		resp, err := http.Get(r.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		m, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(m), `mode="relay"`) || !strings.Contains(string(m), "tinysink_events_accepted_total 10\n") {
			t.Errorf("%s: relay /metrics:\n%s", c.exe, grepLines(string(m), "tinysink_"))
		}
		arrived(t, up, ids)
		r.cmd.Process.Signal(syscall.SIGTERM)
		if err := r.cmd.Wait(); err != nil {
			t.Errorf("%s: relay stopped by SIGTERM: %v", c.exe, err)
		}
	}

	cmd := exec.Command(filepath.Join(filepath.Dir(bin), relay.Binary))
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "-store=false") {
		t.Errorf("tinysink-relay started by hand: %v, %q; want exit 2 naming tinysink -store=false", err, out)
	}
}

// BenchmarkRelayIdleRSS measures an idle relay-only tinysink (-store=false)
// as ps sees it: started, one event relayed to a tinysink upstream, then 2 s
// idle. The relay binary (what tinysink executes when tinysink-relay lies
// beside it) against the same relay run inside the tinysink binary.
//
// By default it runs the binaries go test builds (unstripped, with
// HTTP/2); TINYSINK_BIN_DIR names a directory with the release builds
// (make relay-idle: tinysink and tinysink-relay from make build), and
// TINYSINK_RELAY_MAX_RSS (a size) fails the run when the relay binary's
// VmRSS is above it.
func BenchmarkRelayIdleRSS(b *testing.B) {
	var bin string
	var err error
	if dir := os.Getenv("TINYSINK_BIN_DIR"); dir != "" {
		bin = filepath.Join(dir, "tinysink")
	} else if bin, err = buildBinary(); err != nil {
		b.Fatal(err)
	}
	var maxRSS int64
	if s := os.Getenv("TINYSINK_RELAY_MAX_RSS"); s != "" {
		if maxRSS, err = budget.ParseSize(s); err != nil {
			b.Fatalf("TINYSINK_RELAY_MAX_RSS: %v", err)
		}
	}
	alone := copyAlone(b, bin)
	up := startServer(b, noQuota...)
	p, err := up.db.Project(1)
	if err != nil {
		b.Fatal(err)
	}
	var rel, inproc, relAnon, inprocAnon float64
	for range b.N {
		for _, c := range []struct {
			bin       string
			rss, anon *float64
		}{{bin, &rel, &relAnon}, {alone, &inproc, &inprocAnon}} {
			r := startRelayProc(b, c.bin, b.TempDir(), upstreamDSN(b, up))
			resp, err := http.Post(r.base+"/api/1/store/?sentry_key="+p.Key, "application/json", strings.NewReader(`{"message":"idle relay"}`))
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("relay store: %d", resp.StatusCode)
			}
			time.Sleep(2 * time.Second)
			m := budget.ReadProcPID(r.cmd.Process.Pid)
			*c.rss += float64(m.RSS) / (1 << 20)
			*c.anon += float64(m.RSSAnon) / (1 << 20)
			r.cmd.Process.Signal(syscall.SIGTERM)
			r.cmd.Wait()
		}
	}
	n := float64(b.N)
	if maxRSS > 0 && rel/n > float64(maxRSS)/(1<<20) {
		b.Errorf("the relay binary idles at %.1f MiB VmRSS, over TINYSINK_RELAY_MAX_RSS %.1f MiB", rel/n, float64(maxRSS)/(1<<20))
	}
	b.ReportMetric(rel/n, "relay-VmRSS-MiB")
	b.ReportMetric(relAnon/n, "relay-RssAnon-MiB")
	b.ReportMetric(inproc/n, "inprocess-VmRSS-MiB")
	b.ReportMetric(inprocAnon/n, "inprocess-RssAnon-MiB")
}
