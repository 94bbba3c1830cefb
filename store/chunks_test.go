package store

import (
	"archive/zip"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func sha1hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

func TestChunksPutMissingAssemble(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	a, b := []byte("hello, "), []byte("chunked world")
	whole := sha1hex(append(append([]byte{}, a...), b...))

	missing, err := db.MissingChunks([]string{sha1hex(a), sha1hex(b), sha1hex(a)})
	if err != nil || len(missing) != 2 {
		t.Fatalf("MissingChunks before upload = %v, %v; want both", missing, err)
	}
	if err := db.PutChunk(sha1hex(a), bytes.NewReader(a)); err != nil {
		t.Fatal(err)
	}
	if missing, _ = db.MissingChunks([]string{sha1hex(a), sha1hex(b)}); len(missing) != 1 || missing[0] != sha1hex(b) {
		t.Fatalf("MissingChunks = %v, want [%s]", missing, sha1hex(b))
	}
	if _, _, err := db.AssembleChunks(whole, []string{sha1hex(a), sha1hex(b)}); !errors.Is(err, ErrChunkMissing) {
		t.Fatalf("AssembleChunks with a chunk missing: %v, want ErrChunkMissing", err)
	}
	if err := db.PutChunk(strings.ToUpper(sha1hex(b)), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	f, size, err := db.AssembleChunks(whole, []string{sha1hex(a), sha1hex(b)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if string(got) != "hello, chunked world" || size != int64(len(got)) {
		t.Errorf("assembled %q (%d bytes)", got, size)
	}
	if _, _, err := db.AssembleChunks(sha1hex([]byte("x")), []string{sha1hex(a), sha1hex(b)}); !errors.Is(err, ErrChunkChecksum) {
		t.Errorf("AssembleChunks with the wrong whole checksum: %v, want ErrChunkChecksum", err)
	}
}

func TestChunksRefuseBadInput(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	if err := db.PutChunk(sha1hex([]byte("a")), strings.NewReader("b")); !errors.Is(err, ErrChunkChecksum) {
		t.Errorf("wrong bytes: %v, want ErrChunkChecksum", err)
	}
	if err := db.PutChunk("../../etc/passwd", strings.NewReader("b")); !errors.Is(err, ErrChunkChecksum) {
		t.Errorf("a path as checksum: %v, want ErrChunkChecksum", err)
	}
	if _, err := db.MissingChunks([]string{"zz"}); !errors.Is(err, ErrChunkChecksum) {
		t.Errorf("MissingChunks(zz): %v, want ErrChunkChecksum", err)
	}
	big := bytes.Repeat([]byte{'x'}, ChunkSize+1)
	if err := db.PutChunk(sha1hex(big), bytes.NewReader(big)); !errors.Is(err, ErrChunkTooLarge) {
		t.Errorf("oversized chunk: %v, want ErrChunkTooLarge", err)
	}
	entries, _ := os.ReadDir(db.dir + "/chunks")
	if len(entries) != 0 {
		t.Errorf("refused chunks left %d files behind", len(entries))
	}
}

func TestChunksBoundedAndExpire(t *testing.T) {
	old := chunksMaxBytes
	chunksMaxBytes = 100
	t.Cleanup(func() { chunksMaxBytes = old })
	db := openTest(t, t.TempDir())
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	c1 := bytes.Repeat([]byte{'1'}, 60)
	c2 := bytes.Repeat([]byte{'2'}, 60)
	if err := db.PutChunk(sha1hex(c1), bytes.NewReader(c1)); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(db.chunkPath(sha1hex(c1)), now, now)
	if err := db.PutChunk(sha1hex(c2), bytes.NewReader(c2)); !errors.Is(err, ErrChunksFull) {
		t.Fatalf("over the cap: %v, want ErrChunksFull", err)
	}
	// Once the first chunk has expired, the second takes its place.
	now = now.Add(ChunkTTL + time.Minute)
	if err := db.PutChunk(sha1hex(c2), bytes.NewReader(c2)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if missing, _ := db.MissingChunks([]string{sha1hex(c1), sha1hex(c2)}); len(missing) != 1 || missing[0] != sha1hex(c1) {
		t.Errorf("MissingChunks = %v, want only the expired chunk", missing)
	}
	// A store opened anew counts what the directory holds.
	db.chunk.loaded = false
	db.chunkMu.Lock()
	total := db.chunkTotalLocked()
	db.chunkMu.Unlock()
	if total != 60 {
		t.Errorf("chunk bytes = %d, want 60", total)
	}
}

// Bundles unused for ArtifactRetention go, with their bodies; a bundle
// used since stays.
func TestVacuumUploads(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir())
	p, _ := db.CreateProject("web")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	add := func(name, debugID string) string {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.Create(name)
		io.WriteString(w, name+" body")
		w, _ = zw.Create("manifest.json")
		fmt.Fprintf(w, `{"files":{%q:{"url":"~/%s","type":"source_map","headers":{"debug-id":%q}}}}`, name, name, debugID)
		zw.Close()
		sum := sha1hex(buf.Bytes())
		if _, err := db.AddArtifactBundle([]int{p.ID}, sum, bytes.NewReader(buf.Bytes()), int64(buf.Len()), "", ""); err != nil {
			t.Fatal(err)
		}
		return sum
	}
	const used, unused = "11111111-0000-4000-8000-000000000001", "11111111-0000-4000-8000-000000000002"
	add("a.js.map", used)
	add("b.js.map", unused)
	now = now.Add(ArtifactRetention - time.Hour)
	f, err := db.ArtifactByDebugID(p.ID, used, "source_map")
	if err != nil {
		t.Fatal(err)
	}
	db.TouchArtifact(f)
	now = now.Add(2 * time.Hour)
	if _, bundles := db.VacuumUploads(now); bundles != 1 {
		t.Errorf("VacuumUploads removed %d bundles, want 1", bundles)
	}
	if _, err := db.ArtifactByDebugID(p.ID, unused, "source_map"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the unused bundle's map is still found: %v", err)
	}
	if b, err := db.ArtifactBody(f, 1<<20); err != nil || string(b) != "a.js.map body" {
		t.Errorf("the used bundle's body = %q, %v", b, err)
	}
	entries, _ := os.ReadDir(db.dir + "/artifacts")
	if len(entries) != 1 {
		t.Errorf("%d bodies left, want 1", len(entries))
	}
}
