package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/digest/rawevent"
	"github.com/tinysink/tinysink/store"
)

// A backup taken through the running server while events keep arriving
// restores into a data directory that holds every event acknowledged before
// the backup started; ingest answers throughout.
func TestBackupUnderLoadRestoresEveryAckedEvent(t *testing.T) {
	ts := startServer(t, noQuota...)
	ps, _ := ts.db.Projects()
	p := ps[0]
	url := fmt.Sprintf("%s/api/%d/store/", ts.base, p.ID)
	hdr := map[string]string{"X-Sentry-Auth": "Sentry sentry_version=7, sentry_key=" + p.Key, "Content-Type": "application/json"}

	var mu sync.Mutex
	var acked []string // in acknowledgement order
	var failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := newID()
				body := fmt.Sprintf(`{"event_id":"%s","exception":{"values":[{"type":"LoadError%d","value":"worker %d event %d"}]}}`, id, i%7, w, i)
				req, _ := http.NewRequest("POST", url, strings.NewReader(body))
				for k, v := range hdr {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					continue
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		})
	}
	waitFor(t, 20*time.Second, "500 events acknowledged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 500
	})
	mu.Lock()
	before := slices.Clone(acked)
	mu.Unlock()

	file := filepath.Join(t.TempDir(), "backup.tar.zst")
	var out, errOut bytes.Buffer
	// The server holds the data directory: the command goes through it.
	if code := run([]string{"backup", file, "-url", ts.base, "-token", ts.token, "-data", ts.db.Dir()}, &out, &errOut); code != 0 {
		t.Fatalf("backup: %d %s", code, errOut.String())
	}
	mu.Lock()
	during := len(acked) - len(before)
	mu.Unlock()
	close(stop)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d requests failed during the test", n)
	}
	t.Logf("%s; %d events acknowledged before the backup, %d while it ran", strings.TrimSpace(out.String()), len(before), during)

	dir := filepath.Join(t.TempDir(), "restored")
	out.Reset()
	if code := run([]string{"restore", file, "-data", dir}, &out, &errOut); code != 0 {
		t.Fatalf("restore: %d %s", code, errOut.String())
	}
	// A restore refuses a directory that is not empty.
	if code := run([]string{"restore", file, "-data", dir}, io.Discard, &errOut); code == 0 || !strings.Contains(errOut.String(), "not empty") {
		t.Errorf("restore into a used directory: %d %s", code, errOut.String())
	}

	// Open the restored directory as a server does and digest its spool.
	s, err := newServer(defaultConfig(dir), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("newServer on the restored directory: %v", err)
	}
	defer s.close()
	if err := s.worker.Drain(); err != nil {
		t.Fatal(err)
	}
	missing := 0
	for _, id := range before {
		eid, _ := rawevent.ParseID(id)
		if _, _, err := s.db.ProjectEvent(p.ID, eid); err != nil {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d events acknowledged before the backup are missing after restore", missing, len(before))
	}
	rp, _ := s.db.Project(p.ID)
	if rp.StoredEventCount < int64(len(before)) {
		t.Errorf("restored project stores %d events, want at least %d", rp.StoredEventCount, len(before))
	}
}

// Without a running server, backup opens the store itself; with one and no
// token, it says what to do.
func TestBackupCommandOffline(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := db.CreateProject("offline")
	db.Close()
	file := filepath.Join(t.TempDir(), "b.tar.zst")
	var out, errOut bytes.Buffer
	if code := run([]string{"backup", file, "-data", dir}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "1 projects") {
		t.Fatalf("offline backup: %d %q %q", code, out.String(), errOut.String())
	}
	restored := filepath.Join(t.TempDir(), "r")
	if code := run([]string{"restore", file, "-data", restored}, &out, &errOut); code != 0 {
		t.Fatalf("restore: %s", errOut.String())
	}
	rdb, err := store.Open(restored)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := rdb.ProjectKey(p.ID); !ok || k != p.Key {
		t.Errorf("restored project key = %q, %v", k, ok)
	}
	rdb.Close()
	if code := run([]string{"backup", file, "-data", filepath.Join(dir, "nope")}, io.Discard, &errOut); code == 0 {
		t.Error("backup of a missing data directory succeeded")
	}

	ts := startServer(t)
	errOut.Reset()
	t.Setenv("TINYSINK_TOKEN", "")
	if code := run([]string{"backup", file, "-data", ts.db.Dir()}, io.Discard, &errOut); code == 0 || !strings.Contains(errOut.String(), "-token") {
		t.Errorf("backup of a held directory without a token: %d %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"backup", file, "-url", ts.base, "-token", "wrong", "-data", ts.db.Dir()}, io.Discard, &errOut); code == 0 || !strings.Contains(errOut.String(), "401") {
		t.Errorf("backup with a wrong token: %d %q", code, errOut.String())
	}
	// The token may also come from <data>/api-token (the Debian package
	// writes one).
	os.WriteFile(filepath.Join(ts.db.Dir(), "api-token"), []byte(ts.token+"\n"), 0o600)
	errOut.Reset()
	if code := run([]string{"backup", file, "-url", ts.base, "-data", ts.db.Dir()}, io.Discard, &errOut); code != 0 {
		t.Errorf("backup with the token file: %d %q", code, errOut.String())
	}
}

// BenchmarkBackup100k measures an online backup of 100,000 stored events
// taken through the running server's endpoint while four clients keep
// sending events, and reports the archive size and the ingest latency
// meanwhile. "samples" stores the sample events round robin (whose
// repeats the archive's zstd finds again); "unique" stores incompressible
// bodies of the same mean compressed size (1.2 KB), the worst case. Run it
// with
//
//	go test -run '^$' -bench Backup100k -benchtime 1x .
func BenchmarkBackup100k(b *testing.B) {
	var samples [][]byte
	filepath.WalkDir(filepath.Join("digest", "event", "testdata", "events"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".json") {
			if raw, err := os.ReadFile(path); err == nil {
				samples = append(samples, raw)
			}
		}
		return nil
	})
	b.Run("samples", func(b *testing.B) {
		benchBackup(b, samples, func(i int) []byte { return store.CompressBody(samples[i%len(samples)]) })
	})
	b.Run("unique", func(b *testing.B) {
		benchBackup(b, samples, func(i int) []byte {
			body := make([]byte, 1200)
			rand.Read(body)
			return store.CompressBody(body)
		})
	})
}

func benchBackup(b *testing.B, samples [][]byte, body func(i int) []byte) {
	const events = 100_000
	ts := startServer(b, noQuota...)
	ps, _ := ts.db.Projects()
	p := ps[0]
	for from := 0; from < events; from += 1000 {
		err := ts.db.Digest(func(tx *store.Tx) error {
			pr, err := tx.Project(p.ID)
			if err != nil {
				return err
			}
			pr.RetentionMax = 2 * events // keep them all
			for i := from; i < from+1000; i++ {
				k := i % len(samples)
				hash := fmt.Sprintf("%064x", k)
				iss, err := tx.IssueForGrouping(p.ID, hash)
				if err != nil {
					iss = &store.Issue{CalculatedType: "Sample", CalculatedValue: strconv.Itoa(k)}
					if err := tx.CreateIssue(pr, iss, hash, hash, "bench"); err != nil {
						return err
					}
				}
				iss.DigestedEventCount++
				pr.DigestedEventCount++
				var id [16]byte
				copy(id[:], fmt.Sprintf("%016d", i))
				if err := tx.AddEvent(pr, iss, &store.NewEvent{EventID: id, Ingested: time.Now(), Timestamp: time.Now(), Compressed: body(i)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	u, _ := ts.db.DataUsage()
	b.Logf("%d events stored: %s of events, %s of metadata", events, budget.FormatSize(u.Events), budget.FormatSize(u.Store))

	url := fmt.Sprintf("%s/api/%d/store/", ts.base, p.ID)
	file := filepath.Join(b.TempDir(), "backup.tar.zst")
	for b.Loop() {
		var mu sync.Mutex
		var lat []time.Duration
		var failed atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					req, _ := http.NewRequest("POST", url, bytes.NewReader(samples[i%len(samples)]))
					req.Header.Set("X-Sentry-Auth", "Sentry sentry_version=7, sentry_key="+p.Key)
					start := time.Now()
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						failed.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						failed.Add(1)
						b.Logf("ingest during the backup: %d %s", resp.StatusCode, resp.Header.Get("X-Sentry-Rate-Limits"))
					}
					mu.Lock()
					lat = append(lat, time.Since(start))
					mu.Unlock()
				}
			})
		}
		time.Sleep(100 * time.Millisecond) // the clients are under way
		start := time.Now()
		mu.Lock()
		n0 := len(lat)
		mu.Unlock()
		if code := run([]string{"backup", file, "-url", ts.base, "-token", ts.token, "-data", ts.db.Dir()}, io.Discard, os.Stderr); code != 0 {
			b.Fatal("backup failed")
		}
		took := time.Since(start)
		mu.Lock()
		during := slices.Clone(lat[n0:])
		mu.Unlock()
		close(stop)
		wg.Wait()
		st, _ := os.Stat(file)
		slices.Sort(during)
		var p99, worst time.Duration
		if len(during) > 0 {
			p99, worst = during[len(during)*99/100], during[len(during)-1]
		}
		b.ReportMetric(took.Seconds(), "s/backup")
		b.ReportMetric(float64(st.Size())/(1<<20), "MiB/archive")
		b.ReportMetric(float64(len(during))/took.Seconds(), "ingest-req/s")
		b.ReportMetric(float64(p99.Microseconds())/1000, "ingest-p99-ms")
		b.ReportMetric(float64(failed.Load()), "ingest-failed")
		b.Logf("backup %.2fs, archive %s, %d ingest requests answered meanwhile (p99 %v, max %v), %d failed",
			took.Seconds(), budget.FormatSize(st.Size()), len(during), p99, worst, failed.Load())
	}
}
