package profile

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Latency is what a client's stopwatch saw for one page: n requests, one
// after the other, over loopback, each timed from sending the request to
// reading the last byte of the answer.
type Latency struct {
	Page string        `json:"page"`
	N    int           `json:"n"`
	P50  time.Duration `json:"p50_ns"`
	P99  time.Duration `json:"p99_ns"`
	Max  time.Duration `json:"max_ns"`
	// CPU is the server's user+system CPU time per request: unlike the
	// stopwatch, it does not grow when other work shares the machine.
	CPU time.Duration `json:"server_cpu_per_request_ns"`
}

// listPages are the issue-list pages the old scenario times: the UI's
// default page and its sort by events, and the API's first page.
func listPages() []string {
	return []string{
		"/projects/1/",
		"/projects/1/?sort=events",
		"/api/canonical/0/issues/?project=1&sort=last_seen&order=desc",
	}
}

// latencies times n requests of each page, after a few untimed ones. UI
// pages go with the session's login cookie, API pages with its token.
func (s *session) latencies(pages []string, n int) ([]Latency, error) {
	var out []Latency
	for _, page := range pages {
		lat := make([]time.Duration, 0, n)
		var cpu0 time.Duration
		for i := -5; i < n; i++ {
			if i == 0 {
				cpu0 = procCPU(s.cmd.Process.Pid)
			}
			req, _ := http.NewRequest("GET", s.base+page, nil)
			req.Header.Set("Authorization", "Bearer "+s.token)
			t0 := time.Now()
			resp, err := s.client.Do(req)
			if err != nil {
				return nil, err
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			d := time.Since(t0)
			if err != nil {
				return nil, err
			}
			if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != req.URL.Path {
				return nil, fmt.Errorf("GET %s: %s (at %s)", page, resp.Status, resp.Request.URL.Path)
			}
			if i >= 0 {
				lat = append(lat, d)
			}
		}
		cpu := (procCPU(s.cmd.Process.Pid) - cpu0) / time.Duration(n)
		slices.Sort(lat)
		out = append(out, Latency{Page: page, N: n, P50: lat[n/2], P99: lat[n*99/100], Max: lat[n-1], CPU: cpu})
	}
	return out, nil
}

func writeLatencies(w io.Writer, ls []Latency) {
	if len(ls) == 0 {
		return
	}
	fmt.Fprintf(w, "\n| page (after warming) | requests | p50 | p99 | max | server CPU per request |\n|---|---|---|---|---|---|\n")
	for _, l := range ls {
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s |\n", l.Page, l.N, ms(l.P50), ms(l.P99), ms(l.Max), ms(l.CPU))
	}
}

// procCPU is pid's user+system CPU time so far, from /proc/PID/stat (in
// clock ticks of 1/100 s, as on every Linux build Go supports), or 0.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name may hold spaces; the fields start after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
