package ingest

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// compressors write the Content-Encodings the server accepts.
var compressors = map[string]func(io.Writer) io.WriteCloser{
	"gzip":         func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) },
	"deflate":      func(w io.Writer) io.WriteCloser { fw, _ := flate.NewWriter(w, flate.DefaultCompression); return fw },
	"deflate-zlib": func(w io.Writer) io.WriteCloser { return zlib.NewWriter(w) },
	"br":           func(w io.Writer) io.WriteCloser { return brotli.NewWriter(w) },
	"zstd": func(w io.Writer) io.WriteCloser {
		zw, _ := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1))
		return zw
	},
}

func compress(t testing.TB, enc string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := compressors[enc](&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// contentEncoding is the header value for a compressors key.
func contentEncoding(enc string) string { return strings.TrimSuffix(enc, "-zlib") }

func TestEncodings(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	event := []byte(`{"event_id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","message":"` + strings.Repeat("compress me ", 500) + `"}`)
	env := envelope(`{}`, `{"type":"event"}`, string(event))
	for enc := range compressors {
		for _, path := range []string{"/api/1/envelope/", "/api/1/store/"} {
			body := env
			if strings.HasSuffix(path, "/store/") {
				body = event
			}
			status, _, reply := ts.post(t, path+"?sentry_key="+testKey, bytes.NewReader(compress(t, enc, body)),
				"Content-Encoding", contentEncoding(enc))
			recs := ts.newRecords(t)
			if status != 200 || len(recs) != 1 || !bytes.Equal(recs[0].Payload, event) {
				t.Errorf("%s %s: %d %s, %d records", enc, path, status, reply, len(recs))
			}
		}
	}
	// Header values are matched without regard to case or spaces.
	for _, ce := range []string{"GZIP", " gzip ", "x-gzip"} {
		if status, body := ts.postEnvelope(t, compress(t, "gzip", env), "Content-Encoding", ce); status != 200 {
			t.Errorf("Content-Encoding %q: %d %s", ce, status, body)
		}
	}
	for _, ce := range []string{"identity", ""} {
		if status, body := ts.postEnvelope(t, env, "Content-Encoding", ce); status != 200 {
			t.Errorf("Content-Encoding %q: %d %s", ce, status, body)
		}
	}
	ts.newRecords(t)

	gz := compress(t, "gzip", env)
	for _, tt := range []struct {
		name, enc string
		body      []byte
		status    int
	}{
		{"unknown encoding", "compress", gz, 400},
		{"two encodings", "gzip, br", gz, 400},
		{"gzip of garbage", "gzip", append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, bytes.Repeat([]byte{0xee}, 200)...), 400},
		{"not gzip at all", "gzip", env, 400},
		{"truncated gzip", "gzip", gz[:len(gz)/2], 400},
		{"gzip, bad checksum", "gzip", flipByte(gz, len(gz)-6), 400},
		{"corrupt deflate", "deflate", bytes.Repeat([]byte{0xff}, 100), 400},
		{"corrupt br", "br", bytes.Repeat([]byte{0xff}, 100), 400},
		{"truncated br", "br", compress(t, "br", env)[:20], 400},
		{"corrupt zstd", "zstd", bytes.Repeat([]byte{0xff}, 100), 400},
		{"truncated zstd", "zstd", compress(t, "zstd", env)[:30], 400},
		{"empty gzip body", "gzip", nil, 400},
	} {
		status, body := ts.postEnvelope(t, tt.body, "Content-Encoding", tt.enc)
		if status != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.name, status, body, tt.status)
			continue
		}
		message(t, body)
	}
	if recs := ts.newRecords(t); len(recs) != 0 {
		t.Errorf("%d records spooled from bad bodies", len(recs))
	}
	ts.checkStillServes(t)
}

func flipByte(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0xff
	return c
}

func TestSizeLimits(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	big := `{"message":"` + strings.Repeat("x", 1<<20) + `"}` // just over 1 MiB
	for _, tt := range []struct {
		name, path, enc string
		body            []byte
		limit           string
	}{
		{"store body over the compressed cap", "/api/1/store/", "", []byte(`{"m":"` + strings.Repeat("y", 210<<10) + `"}`), "MaxEventCompressedSize: 204800"},
		{"store body decoded over 1 MiB", "/api/1/store/", "gzip", compress(t, "gzip", []byte(big)), "MaxEventSize: 1048576"},
		{"event item with length over 1 MiB", "/api/1/envelope/", "", envelope(`{}`, fmt.Sprintf(`{"type":"event","length":%d}`, len(big)), big), "MaxEventSize: 1048576"},
		{"event item without length over 1 MiB", "/api/1/envelope/", "", envelope(`{}`, `{"type":"event"}`, big), "MaxEventSize: 1048576"},
		{"envelope over the compressed cap", "/api/1/envelope/", "", envelope(`{}`, `{"type":"attachment"}`, strings.Repeat("z", 21<<20)), "MaxEnvelopeCompressedSize: 20971520"},
	} {
		status, _, body := ts.post(t, tt.path+"?sentry_key="+testKey, bytes.NewReader(tt.body), "Content-Encoding", tt.enc)
		if status != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: %d %s, want 413", tt.name, status, body)
			continue
		}
		if msg, want := message(t, body), "Max length ("+tt.limit+") exceeded"; msg != want {
			t.Errorf("%s: message %q, want %q", tt.name, msg, want)
		}
	}
	// A chunked body over the cap is cut off while it streams in.
	status, _, _ := ts.post(t, "/api/1/store/?sentry_key="+testKey, io.MultiReader(strings.NewReader(big)))
	if status != 413 {
		t.Errorf("chunked store body over the cap: %d, want 413", status)
	}
	// Exactly at the event cap is fine.
	exact := `{"message":"` + strings.Repeat("x", 1<<20-len(`{"message":""}`)) + `"}`
	if status, body := ts.postEnvelope(t, envelope(`{}`, `{"type":"event"}`, exact)); status != 200 {
		t.Errorf("event of exactly 1 MiB: %d %s", status, body)
	}
	if c := ts.h.Counters(); c.RefusedSize != 6 {
		t.Errorf("RefusedSize = %d, want 6", c.RefusedSize)
	}
	ts.checkStillServes(t)
}

// zeros is an endless stream of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// sendBomb posts a chunked body with Content-Encoding enc over a raw
// connection, so that the reply is read while the body is still being
// written; write produces the body and returns once writing fails.
func sendBomb(t *testing.T, ts *testServer, path, enc string, write func(io.Writer)) (status int, body []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: ingest.test\r\nContent-Encoding: %s\r\nTransfer-Encoding: chunked\r\n\r\n", path, enc)
	done := make(chan struct{})
	go func() {
		defer close(done)
		cw := httputil.NewChunkedWriter(conn)
		bw := bufio.NewWriterSize(cw, 32<<10)
		write(bw)
		bw.Flush()
		// End the body as a real client does: the server reads a body
		// (up to maxPrefetch) before it decodes it.
		cw.Close()
		io.WriteString(conn, "\r\n")
	}()
	defer func() { conn.Close(); <-done }()

	conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the reply: %v", err)
	}
	defer resp.Body.Close()
	body, _ = io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// TestDecompressionBombs sends bodies that expand to several GiB. The
// compressed bytes are made on the fly and never held whole.
// Serial: the client encodes its bombs as it sends them (brotli in pure
// Go, slow under the race detector), and beside other tests it could fall
// behind the server's body-arrival grace (408 instead of 413).
func TestDecompressionBombs(t *testing.T) {
	ts := newTestServer(t)
	// Pure-Go brotli is slow to encode and decode under the race detector:
	// its envelope bomb goes to a server with a 16 MiB envelope cap (the
	// mechanism is the same).
	small := newTestServer(t, func(c *Config) { c.MaxEnvelopeSize = 16 << 20 })
	const expanded = 4 << 30
	envPath := "/api/1/envelope/?sentry_key=" + testKey
	attachment := []byte("{}\n{\"type\":\"attachment\"}\n") // then zeros, no newline
	eventItem := []byte("{}\n{\"type\":\"event\"}\n")

	// gzip members and zstd frames may be concatenated: repeat one small
	// member of 8 MiB of zeros.
	zeroMember := func(enc string) []byte {
		var buf bytes.Buffer
		w := compressors[enc](&buf)
		io.CopyN(w, zeros{}, 8<<20)
		w.Close()
		return buf.Bytes()
	}
	repeated := func(enc string, prefix []byte) func(io.Writer) {
		member := zeroMember(enc)
		head := compress(t, enc, prefix)
		return func(w io.Writer) {
			if _, err := w.Write(head); err != nil {
				return
			}
			for range expanded / (8 << 20) {
				if _, err := w.Write(member); err != nil {
					return
				}
			}
		}
	}
	// brotli streams cannot be concatenated: encode one stream as it goes.
	// A 16 MiB window (lgwin 24) makes the decoder allocate the most.
	// The server reads a body (up to maxPrefetch) before decoding it, so
	// the whole stream is encoded: n bytes of zeros, a few times the cap.
	brotliStream := func(prefix []byte, lgwin int, n int64) func(io.Writer) {
		return func(w io.Writer) {
			bw := brotli.NewWriterOptions(w, brotli.WriterOptions{Quality: 1, LGWin: lgwin})
			if _, err := bw.Write(prefix); err != nil {
				return
			}
			io.CopyN(bw, zeros{}, n)
			bw.Close()
		}
	}

	for _, tt := range []struct {
		name  string
		ts    *testServer
		path  string
		enc   string
		write func(io.Writer)
		limit string
	}{
		{"gzip envelope", ts, envPath, "gzip", repeated("gzip", attachment), "MaxEnvelopeSize: 104857600"},
		{"gzip event item", ts, envPath, "gzip", repeated("gzip", eventItem), "MaxEventSize: 1048576"},
		// A /store/ bomb passes the compressed cap before it is decoded.
		{"gzip store", ts, "/api/1/store/?sentry_key=" + testKey, "gzip", repeated("gzip", []byte(`{"m":"`)), "MaxEventCompressedSize: 204800"},
		{"zstd envelope", ts, envPath, "zstd", repeated("zstd", attachment), "MaxEnvelopeSize: 104857600"},
		{"zstd event item", ts, envPath, "zstd", repeated("zstd", eventItem), "MaxEventSize: 1048576"},
		{"brotli envelope", small, envPath, "br", brotliStream(attachment, 24, 32<<20), "MaxEnvelopeSize: 16777216"},
		{"brotli store", ts, "/api/1/store/?sentry_key=" + testKey, "br", brotliStream([]byte(`{"m":"`), 18, expanded), "MaxEventCompressedSize: 204800"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			status, body := sendBomb(t, tt.ts, tt.path, tt.enc, tt.write)
			took := time.Since(start)
			if status != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d %s, want 413", status, body)
			}
			if msg, want := message(t, body), "Max length ("+tt.limit+") exceeded"; msg != want {
				t.Errorf("message %q, want %q", msg, want)
			}
			t.Logf("413 after %v", took)
			tt.ts.checkStillServes(t)
		})
	}

	// A zstd frame asking for a window over 8 MiB is refused outright.
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf, zstd.WithWindowSize(64<<20), zstd.WithEncoderConcurrency(1))
	zw.Write(attachment)
	io.CopyN(zw, zeros{}, 1<<20)
	zw.Close()
	if status, body := ts.postEnvelope(t, buf.Bytes(), "Content-Encoding", "zstd"); status != 400 {
		t.Errorf("zstd with a 64 MiB window: %d %s, want 400", status, body)
	}
}
