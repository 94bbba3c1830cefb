package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tinysink/tinysink/store"
)

// clock is the wall clock moved by an offset, so that backoffs still
// elapse while a test jumps an hour ahead.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

const testBaseURL = "http://tinysink.test"

// quickRetry keeps retries short in tests.
var quickRetry = Retry{First: 20 * time.Millisecond, Max: 100 * time.Millisecond, Attempts: 4}

func openDB(t *testing.T, dir string, c *clock) *store.DB {
	t.Helper()
	db, err := store.Open(dir)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	db.Now = c.Now
	return db
}

// newDB opens a store in a fresh directory, closed when the test ends.
func newDB(t *testing.T, c *clock) *store.DB {
	t.Helper()
	db := openDB(t, t.TempDir(), c)
	t.Cleanup(func() { db.Close() })
	return db
}

// seed creates a project with one issue, the way the digest does.
func seed(t *testing.T, db *store.DB, name string) (*store.Project, *store.Issue) {
	t.Helper()
	p, err := db.CreateProject(name)
	if err != nil {
		t.Fatal(err)
	}
	var iss *store.Issue
	err = db.Digest(func(tx *store.Tx) error {
		tp, err := tx.Project(p.ID)
		if err != nil {
			return err
		}
		iss = &store.Issue{
			FirstSeen: t0, LastSeen: t0.Add(5 * time.Minute), CalculatedType: "ValueError",
			CalculatedValue: "bad input\nsecond line", Transaction: "/api/orders",
			DigestedEventCount: 3,
		}
		if err := tx.CreateIssue(tp, iss, "hash-"+name, "key", "test"); err != nil {
			return err
		}
		var id [16]byte
		copy(id[:], "0123456789abcdef")
		return tx.AddEvent(tp, iss, &store.NewEvent{EventID: id, Ingested: t0, Timestamp: t0, Body: []byte(`{"message":"bad input"}`)})
	})
	if err != nil {
		t.Fatal(err)
	}
	p, _ = db.Project(p.ID)
	return p, iss
}

func enqueue(t *testing.T, db *store.DB, a store.Alert) {
	t.Helper()
	if err := db.Digest(func(tx *store.Tx) error { return tx.EnqueueAlert(&a) }); err != nil {
		t.Fatalf("EnqueueAlert: %v", err)
	}
}

func addBackend(t *testing.T, db *store.DB, pid int, kind string, cfg map[string]string) *store.AlertBackend {
	t.Helper()
	b := &store.AlertBackend{Project: pid, Kind: kind, Config: cfg}
	if err := db.CreateAlertBackend(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

func newSender(t *testing.T, db *store.DB, c *clock, edit func(*Config)) *Sender {
	cfg := Config{DB: db, BaseURL: testBaseURL + "/", Log: testLog(t), Now: c.Now, Retry: quickRetry}
	if edit != nil {
		edit(&cfg)
	}
	return New(cfg)
}

// run starts s.Run and returns a function that stops it and waits.
func run(t *testing.T, s *Sender) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Run = %v, want context.Canceled", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// hit is one request a receiver got.
type hit struct {
	at     time.Time
	path   string
	host   string
	header http.Header
	body   []byte
	status int
}

// receiver is an HTTP endpoint on 127.0.0.1 that records what it gets
// and answers with reply (200 "ok" when nil).
type receiver struct {
	*httptest.Server
	mu    sync.Mutex
	hits  []hit
	reply func(n int, w http.ResponseWriter, r *http.Request) int // n counts from 0; returns the status written
}

func newReceiver(t *testing.T, reply func(n int, w http.ResponseWriter, r *http.Request) int) *receiver {
	rc := &receiver{reply: reply}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.hits)
		rc.hits = append(rc.hits, hit{at: time.Now(), path: r.URL.Path, host: r.Host, header: r.Header.Clone(), body: body})
		f := rc.reply
		rc.mu.Unlock()
		status := http.StatusOK
		if f != nil {
			status = f(n, w, r)
		} else {
			w.Write([]byte("ok"))
		}
		rc.mu.Lock()
		rc.hits[n].status = status
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) setReply(f func(n int, w http.ResponseWriter, r *http.Request) int) {
	rc.mu.Lock()
	rc.reply = f
	rc.mu.Unlock()
}

func (rc *receiver) got() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

// count returns the requests answered with status (0: all requests).
func (rc *receiver) count(status int) int {
	n := 0
	for _, h := range rc.got() {
		if status == 0 || h.status == status {
			n++
		}
	}
	return n
}

func reply(status int, body string) func(int, http.ResponseWriter, *http.Request) int {
	return func(_ int, w http.ResponseWriter, _ *http.Request) int {
		w.WriteHeader(status)
		io.WriteString(w, body)
		return status
	}
}

// sameJSON reports whether got and want hold the same JSON value.
func sameJSON(t *testing.T, got []byte, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("invalid JSON %q: %v", got, err)
		return false
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want JSON: %v", err)
	}
	return reflect.DeepEqual(g, w)
}
