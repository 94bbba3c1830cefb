package ingest

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// zstdEvent is a /store/ event of about n bytes.
func zstdEvent(n int) []byte {
	return fmt.Appendf(nil, `{"event_id":"0123456789abcdef0123456789abcdef","message":"zstd","extra":{"pad":"%s"}}`, strings.Repeat("x", n))
}

// What `zstd -3` sends, a frame with the format's usual window (2 MiB from
// the CLI on a pipe, 8 MiB from klauspost's level 3), is decoded for /store/
// although the window is larger than the event cap; the decoded-size cap
// still applies.
func TestZstdLevel3StoreBody(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	var bodies []struct {
		name string
		b    []byte
	}
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(zstdEvent(10 << 10))
	zw.Close()
	bodies = append(bodies, struct {
		name string
		b    []byte
	}{"klauspost level 3", buf.Bytes()})
	if cli, err := exec.LookPath("zstd"); err == nil {
		cmd := exec.Command(cli, "-3", "-c", "-q")
		cmd.Stdin = bytes.NewReader(zstdEvent(10 << 10))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("zstd -3: %v", err)
		}
		bodies = append(bodies, struct {
			name string
			b    []byte
		}{"zstd -3 CLI", out})
	} else {
		t.Log("zstd CLI not installed (apt-get install zstd): testing klauspost's level 3 only")
	}
	for _, tt := range bodies {
		status, _, body := ts.post(t, "/api/1/store/?sentry_key="+testKey, bytes.NewReader(tt.b), "Content-Encoding", "zstd")
		if status != 200 {
			t.Errorf("%s: status %d %s, want 200", tt.name, status, body)
		}
	}
	if recs := ts.newRecords(t); len(recs) != len(bodies) {
		t.Errorf("%d events spooled, want %d", len(recs), len(bodies))
	}

	// The event cap still holds for such a frame.
	buf.Reset()
	zw.Reset(&buf)
	zw.Write(zstdEvent(2 << 20))
	zw.Close()
	status, _, body := ts.post(t, "/api/1/store/?sentry_key="+testKey, bytes.NewReader(buf.Bytes()), "Content-Encoding", "zstd")
	if status != 413 || !strings.Contains(string(body), "MaxEventSize") {
		t.Errorf("2 MiB event in a level-3 frame: %d %s, want 413 MaxEventSize", status, body)
	}
}
