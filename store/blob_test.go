package store

import (
	"bytes"
	"testing"
)

// TestReleaseBuffersDropsEncoder: the digest's idle shed lets the GC have
// the zstd encoder, and the next body builds a new one that writes the
// same frames.
func TestReleaseBuffersDropsEncoder(t *testing.T) {
	db := openTest(t, t.TempDir())
	body := bytes.Repeat([]byte(`{"message":"compress me","n":12345},`), 100)
	first := CompressBody(body)
	if encCur.Load() == nil {
		t.Fatal("no encoder kept after compressing a body")
	}
	db.ReleaseBuffers()
	if encCur.Load() != nil {
		t.Fatal("ReleaseBuffers kept the encoder")
	}
	again := CompressBody(body)
	if encCur.Load() == nil {
		t.Fatal("no encoder built again")
	}
	if !bytes.Equal(first, again) {
		t.Error("the rebuilt encoder writes other frames")
	}
	got, err := decompressBlob(again)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("read back %d bytes, err %v", len(got), err)
	}
}
