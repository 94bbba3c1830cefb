package store

import (
	"bytes"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

var blobSample = bytes.Repeat([]byte(`{"message":"compress me","n":12345},`), 100)

// TestS2BodyRoundTrip: a body reads back as it was written, whatever its
// size, and the stored form is the tag, the checksum and an S2 block.
func TestS2BodyRoundTrip(t *testing.T) {
	for _, body := range [][]byte{nil, []byte("x"), []byte(`{"a":1}`), blobSample, []byte(strings.Repeat("abcdefghij", 50000))} {
		c := CompressBody(body)
		if c[0] != s2Tag {
			t.Fatalf("%d-byte body stored with tag %#x", len(body), c[0])
		}
		if len(body) > 1000 && len(c) > len(body)/4 {
			t.Errorf("%d-byte repetitive body stored in %d bytes", len(body), len(c))
		}
		got, err := decompressBlob(c)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("%d-byte body read back as %d bytes, err %v", len(body), len(got), err)
		}
	}
}

// TestZstdBodiesStillRead: a data directory written before S2 holds zstd
// frames, and they still read back.
func TestZstdBodiesStillRead(t *testing.T) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	frame := enc.EncodeAll(blobSample, nil)
	got, err := decompressBlob(frame)
	if err != nil || !bytes.Equal(got, blobSample) {
		t.Fatalf("zstd frame read back as %d bytes, err %v", len(got), err)
	}
}

// TestS2BodyCorrupt: a flipped byte anywhere in a stored body, a cut body
// and a body that claims more than the bound are errors, not wrong events.
func TestS2BodyCorrupt(t *testing.T) {
	c := CompressBody(blobSample)
	for i := 1; i < len(c); i++ {
		bad := bytes.Clone(c)
		bad[i] ^= 0x20
		if got, err := decompressBlob(bad); err == nil {
			t.Fatalf("byte %d flipped: read back %d bytes without an error", i, len(got))
		}
	}
	for _, n := range []int{1, s2Header, len(c) / 2, len(c) - 1} {
		if _, err := decompressBlob(c[:n]); err == nil {
			t.Errorf("cut to %d bytes: no error", n)
		}
	}
	// A block claiming 1 GiB: the uvarint of 1<<30 and nothing else.
	huge := []byte{s2Tag, 0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x04}
	if _, err := decompressBlob(huge); err == nil || !strings.Contains(err.Error(), "claims") {
		t.Errorf("1 GiB claim: %v", err)
	}
}

// TestAppendCompressedInPlace: a body whose worst case fits in dst's spare
// capacity is compressed in place, and one that does not is appended (dst
// grows); both read back, and what dst held before is kept.
func TestAppendCompressedInPlace(t *testing.T) {
	roomy := make([]byte, 3, 64<<10)
	copy(roomy, "abc")
	out := AppendCompressed(roomy, blobSample)
	if &out[0] != &roomy[0] {
		t.Error("dst grew though the worst case fitted")
	}
	tight := make([]byte, 3, 3+len(blobSample)/2) // the frame fits, the worst case does not
	copy(tight, "abc")
	out2 := AppendCompressed(tight, blobSample)
	for _, o := range [][]byte{out, out2} {
		if string(o[:3]) != "abc" {
			t.Fatalf("prefix lost: %q", o[:3])
		}
		got, err := decompressBlob(o[3:])
		if err != nil || !bytes.Equal(got, blobSample) {
			t.Fatalf("read back %d bytes, err %v", len(got), err)
		}
	}
	if !bytes.Equal(out[3:], out2[3:]) {
		t.Error("in place and through scratch wrote different bodies")
	}
	if &out2[0] != &tight[0] {
		t.Error("dst grew though the body fitted in its capacity")
	}
}

// FuzzDecompressBody: whatever a segment file holds, reading it back is
// an error or a body, never a panic, and an S2 body that reads back is
// one whose checksum matches what it decoded to.
func FuzzDecompressBody(f *testing.F) {
	f.Add(CompressBody(blobSample))
	f.Add(CompressBody(nil))
	f.Add([]byte{s2Tag, 1, 2, 3, 4, 0})
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decompressBlob(b)
		if err != nil || len(b) == 0 || b[0] != s2Tag {
			return
		}
		if again := CompressBody(got); !bytes.Equal(again[:s2Header], b[:s2Header]) {
			t.Fatalf("read back a body whose checksum is not the stored one")
		}
	})
}

// TestCompressBodyExactSize: a body compressed for keeping does not keep
// the worst case's room (~117 % of the input) behind it.
func TestCompressBodyExactSize(t *testing.T) {
	c := CompressBody(blobSample)
	if cap(c) > 2*len(c)+64 {
		t.Errorf("%d-byte stored body in a slice of capacity %d (input %d bytes)", len(c), cap(c), len(blobSample))
	}
}
