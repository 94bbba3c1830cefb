package main

// Slowloris: connections that hold the server's resources without sending
// an event (idle keep-alive, headers or bodies trickled a byte at a time,
// slow compressed or large bodies) must not keep a legitimate client from
// getting its events accepted. Each variant runs against a real tinysink
// subprocess over real TCP on 127.0.0.1; the test asserts that every
// legitimate event gets 200, BenchmarkSlowloris reports its latency.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// slowloris is one variant of the attack and the legitimate traffic that
// must get through while it runs.
type slowloris struct {
	name  string
	conns int
	// open sends what a connection sends before it starts trickling; it
	// returns false if the connection is to go idle instead of trickling.
	open func(p *proc, c net.Conn) (trickle bool, err error)
	// legit returns the i-th legitimate request.
	legit func(p *proc, i int) *http.Request
}

// trickleEvery is how often a trickling connection sends its next byte.
const trickleEvery = 5 * time.Second

func slowlorisVariants() []slowloris {
	return []slowloris{
		{
			// A body of 190 KB announced, then 1 byte every 5 s (with the key).
			name: "slow-body", conns: 110,
			open: func(p *proc, c net.Conn) (bool, error) {
				_, err := fmt.Fprintf(c, "POST /api/1/store/?sentry_key=%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 190000\r\n\r\n{", p.key)
				return true, err
			},
			legit: legitEnvelope,
		},
		{
			// Headers begun, never finished, no key.
			name: "headers", conns: 2000,
			open: func(p *proc, c net.Conn) (bool, error) {
				_, err := io.WriteString(c, "POST /api/1/envelope/ HTTP/1.1\r\nHost: x\r\nX-")
				return true, err
			},
			legit: legitEnvelope,
		},
		{
			// Ordinary keep-alive clients that went idle after one event.
			name: "idle", conns: 2000,
			open: func(p *proc, c net.Conn) (bool, error) {
				body := envelopeBody(newID(), 2000)
				fmt.Fprintf(c, "POST /api/1/envelope/?sentry_key=%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", p.key, len(body), body)
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					return false, err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return false, nil
			},
			legit: legitEnvelope,
		},
		{
			// zstd bodies whose first bytes arrive, then 1 byte every 5 s.
			name: "slow-zstd", conns: 4,
			open: func(p *proc, c net.Conn) (bool, error) {
				z := zstdBody(envelopeBody(newID(), 20000))
				fmt.Fprintf(c, "POST /api/1/envelope/?sentry_key=%s HTTP/1.1\r\nHost: x\r\nContent-Encoding: zstd\r\nContent-Length: %d\r\n\r\n", p.key, len(z))
				_, err := c.Write(z[:len(z)/2])
				return true, err
			},
			legit: func(p *proc, i int) *http.Request {
				req := envelopeRequest(p, zstdBody(envelopeBody(newID(), 2000)))
				req.Header.Set("Content-Encoding", "zstd")
				return req
			},
		},
		{
			// Envelopes announcing a 300 KB event, then 1 byte every 5 s.
			name: "slow-big-body", conns: 4,
			open: func(p *proc, c net.Conn) (bool, error) {
				body := envelopeBody(newID(), 300000)
				fmt.Fprintf(c, "POST /api/1/envelope/?sentry_key=%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", p.key, len(body))
				_, err := io.WriteString(c, body[:200])
				return true, err
			},
			legit: func(p *proc, i int) *http.Request {
				return envelopeRequest(p, []byte(envelopeBody(newID(), 300000)))
			},
		},
	}
}

// envelopeBody returns an envelope holding one event of about size bytes.
func envelopeBody(id string, size int) string {
	ev := fmt.Sprintf(`{"event_id":"%s","platform":"go","level":"error","exception":{"values":[{"type":"SlowTest","value":"legit"}]},"extra":{"pad":"%s"}}`, id, strings.Repeat("x", max(0, size-150)))
	return fmt.Sprintf("{\"event_id\":\"%s\"}\n{\"type\":\"event\",\"length\":%d}\n%s\n", id, len(ev), ev)
}

func zstdBody(s string) []byte {
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	defer enc.Close()
	return enc.EncodeAll([]byte(s), nil)
}

func envelopeRequest(p *proc, body []byte) *http.Request {
	req, _ := http.NewRequest("POST", p.base+"/api/1/envelope/?sentry_key="+p.key, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-sentry-envelope")
	return req
}

func legitEnvelope(p *proc, i int) *http.Request {
	return envelopeRequest(p, []byte(envelopeBody(newID(), 2000+i%8*1000)))
}

// raiseNofile makes sure the process may open n files (the subprocess
// inherits the limit), or skips the test.
func raiseNofile(tb testing.TB, n uint64) {
	tb.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Skipf("cannot read RLIMIT_NOFILE: %v", err)
	}
	if lim.Cur >= n {
		return
	}
	lim.Cur = min(n, lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < n {
		tb.Skipf("need RLIMIT_NOFILE ≥ %d for this test, have %d (hard limit %d): %v", n, lim.Cur, lim.Max, err)
	}
}

// attack holds v.conns connections to p until ctx is done: a connection
// the server closes is opened again after a pause, as a slowloris tool
// does (idle clients do not come back). It returns once all of them have
// been opened once, and a function that waits for them to stop.
func (v slowloris) attack(ctx context.Context, tb testing.TB, p *proc) (wait func()) {
	addr := strings.TrimPrefix(p.base, "http://")
	var wg sync.WaitGroup
	var opened sync.WaitGroup
	var failed atomic.Int64
	opened.Add(v.conns)
	for range v.conns {
		wg.Go(func() {
			first := true
			for ctx.Err() == nil {
				v.hold(ctx, p, addr, func(err error) {
					if first {
						first = false
						if err != nil {
							failed.Add(1)
						}
						opened.Done()
					}
				})
				if v.name == "idle" {
					break
				}
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			if first {
				opened.Done()
			}
		})
	}
	opened.Wait()
	if n := failed.Load(); n > 0 {
		tb.Logf("%s: %d of %d connections failed to open", v.name, n, v.conns)
	}
	return wg.Wait
}

// hold opens one connection and keeps it open until the server closes it
// or ctx is done; opened is called once the connection is set up.
func (v slowloris) hold(ctx context.Context, p *proc, addr string, opened func(error)) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		opened(err)
		return
	}
	defer c.Close()
	trickle, err := v.open(p, c)
	opened(err)
	if err != nil {
		return
	}
	closed := make(chan struct{})
	go func() { io.Copy(io.Discard, c); close(closed) }()
	for {
		var tick <-chan time.Time
		if trickle {
			tick = time.After(trickleEvery)
		}
		select {
		case <-ctx.Done():
			return
		case <-closed:
			return
		case <-tick:
			if _, err := c.Write([]byte("x")); err != nil {
				return
			}
		}
	}
}

// legitResult is what the legitimate client saw.
type legitResult struct {
	lat    []time.Duration
	codes  map[int]int
	errs   []error
	resent int // requests sent again after the server closed their connection
}

func (r *legitResult) percentile(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	s := slices.Clone(r.lat)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// send sends one legitimate request and records the outcome. A request
// whose connection the server closed before answering (at the connection
// cap an idle keep-alive connection can be evicted just as the client
// reuses it) is sent once more, as an SDK's transport may: the event keeps
// its id, so the store takes it once.
func (r *legitResult) send(client *http.Client, req *http.Request) {
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil && req.GetBody != nil && (errors.Is(err, io.EOF) || strings.Contains(err.Error(), "server closed idle connection")) {
		r.resent++
		body, _ := req.GetBody()
		again := req.Clone(req.Context())
		again.Body = body
		resp, err = client.Do(again)
	}
	if err != nil {
		r.errs = append(r.errs, err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r.lat = append(r.lat, time.Since(t0))
	r.codes[resp.StatusCode]++
}

// underAttack starts a tinysink, runs attack v against it and calls fn
// with the server while the attack holds its connections.
func underAttack(tb testing.TB, v slowloris, fn func(p *proc, client *http.Client)) {
	raiseNofile(tb, uint64(2*v.conns+1024))
	p := startProc(tb, tb.TempDir(), "-quota-project-month", "0", "-quota-install-month", "0")
	ctx, cancel := context.WithCancel(context.Background())
	wait := v.attack(ctx, tb, p)
	defer func() { cancel(); wait() }()
	// Let the server take in what the attackers sent.
	time.Sleep(time.Second)
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	fn(p, client)
}

// While each variant runs, every event of a legitimate client is accepted.
//
// It measures a client beside 2,000 hostile connections, so it runs alone:
// only when -run names it (make test runs it after the other packages).
// Beside every other package's tests, as in a plain go test ./..., the
// machine is too busy for the client it measures and it fails by itself.
func TestSlowloris(t *testing.T) {
	if testing.Short() {
		t.Skip("holds thousands of connections to a subprocess")
	}
	if run := flag.Lookup("test.run"); run == nil || !strings.Contains(run.Value.String(), "Slowloris") {
		t.Skip("runs alone: go test -run '^TestSlowloris$' . (as make test does)")
	}
	for _, v := range slowlorisVariants() {
		t.Run(v.name, func(t *testing.T) {
			res := &legitResult{codes: map[int]int{}}
			underAttack(t, v, func(p *proc, client *http.Client) {
				for i := range 20 {
					res.send(client, v.legit(p, i))
				}
			})
			t.Logf("%s: codes %v, p50 %v, p99 %v, resent %d", v.name, res.codes, res.percentile(0.5), res.percentile(0.99), res.resent)
			for _, err := range res.errs {
				t.Errorf("legitimate request failed: %v", err)
			}
			if res.codes[200] != 20 {
				t.Errorf("legitimate events: status codes %v, want 20 × 200", res.codes)
			}
			if res.resent > 2 {
				t.Errorf("%d of 20 legitimate requests lost their connection", res.resent)
			}
		})
	}
}

// BenchmarkSlowloris measures a legitimate client's latency while each
// variant runs (and with no attack, for comparison); it reports the p50
// and p99 in ms and the requests that did not get 200.
func BenchmarkSlowloris(b *testing.B) {
	for _, v := range append([]slowloris{{name: "none", legit: legitEnvelope}}, slowlorisVariants()...) {
		b.Run(v.name, func(b *testing.B) {
			res := &legitResult{codes: map[int]int{}}
			underAttack(b, v, func(p *proc, client *http.Client) {
				i := 0
				for b.Loop() {
					res.send(client, v.legit(p, i))
					i++
				}
			})
			b.ReportMetric(float64(res.percentile(0.5).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(res.percentile(0.99).Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(len(res.errs)+len(res.lat)-res.codes[200]), "not-200")
		})
	}
}

// BenchmarkIdleConnHeap measures what idle keep-alive connections cost the
// server in heap: per connection with no cap, and in all with 2,000 idle
// clients against the default cap.
func BenchmarkIdleConnHeap(b *testing.B) {
	idle := slowlorisVariants()[2]
	heap := func(p *proc, tok string) float64 {
		var s struct {
			HeapAlloc float64 `json:"heap_alloc"`
			Conns     struct{ Open int }
		}
		p.get(b, tok, "/debug/budget?gc=1", &s)
		return s.HeapAlloc
	}
	for _, tt := range []struct {
		name string
		args []string
	}{{"uncapped", []string{"-max-conns", "0"}}, {"default-cap", nil}} {
		b.Run(tt.name, func(b *testing.B) {
			raiseNofile(b, uint64(2*idle.conns+1024))
			dir := b.TempDir()
			tok := createToken(b, dir)
			p := startProc(b, dir, tt.args...)
			var before, after float64
			for b.Loop() {
				before = heap(p, tok)
				ctx, cancel := context.WithCancel(context.Background())
				wait := idle.attack(ctx, b, p)
				time.Sleep(time.Second)
				after = heap(p, tok)
				cancel()
				wait()
			}
			b.ReportMetric(after/(1<<20), "heap-MiB")
			b.ReportMetric((after-before)/float64(idle.conns), "heap-B/conn")
		})
	}
}
