package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/tinysink/tinysink/budget"
)

// Event bodies are stored compressed, each on its own, in one of two forms:
//
//   - an S2 body (written since round 5): the byte s2Tag, the CRC-32C
//     (Castagnoli) of the uncompressed body, little-endian, then one S2
//     block (klauspost/compress/s2: a uvarint of the body's length, then
//     its literals and copies);
//   - a zstd frame (written before): recognised by zstd's magic number and
//     still read, so that a data directory written by an older tinysink
//     keeps its events.
//
// S2 compresses loadgen's ~14 KB events 4.2× faster than zstd's fastest
// level (10 µs against 43 µs on the 2-vCPU VM the README's figures come
// from), to 24.6% of their size against 19.0%: compression was the
// digest's largest cost per event. It keeps no encoder between bodies (a
// 1–64 KiB hash table per call comes from the library's pool, against the
// ~0.3 MB the zstd encoder held), and needs no decoder state to read back.
// The checksum stands where zstd's frame checksum stood: it is the body's
// only integrity check.

// s2Tag opens an S2 body. A zstd frame opens with 0x28 (the magic number
// 0xFD2FB528, little-endian) and a skippable frame with 0x50–0x5F.
const s2Tag = 0xB2

// s2Header is the tag and the checksum.
const s2Header = 5

// maxBodyLen bounds the length an S2 body may claim before it is decoded
// (zstd's decoder was bounded the same way).
const maxBodyLen = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var encTouched = budget.FirstUse("s2-encoder")

var blobDecoder = budget.Lazy("zstd-blob-decoder", func() *zstd.Decoder {
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(maxBodyLen),
	)
	if err != nil {
		panic(err)
	}
	return dec
})

// compressBlob appends the S2 body of src to dst. dst is grown when its
// spare capacity is less than the worst case (s2.MaxEncodedLen plus the
// header): the block is then built in pooled scratch and copied, so that
// dst grows only when the body does not fit.
func compressBlob(dst, src []byte) []byte {
	encTouched()
	worst := s2.MaxEncodedLen(len(src))
	if worst < 0 {
		panic(s2.ErrTooLarge) // > 4 GiB: the ingest limits never let one through
	}
	if cap(dst)-len(dst) >= s2Header+worst {
		return appendS2(dst, src)
	}
	sp := compressScratch.Get().(*[]byte)
	if cap(*sp) < s2Header+worst {
		*sp = make([]byte, 0, s2Header+worst)
	}
	out := appendS2((*sp)[:0], src)
	dst = append(dst, out...)
	if cap(out) <= maxPooledScratch {
		*sp = out[:0]
		compressScratch.Put(sp)
	}
	return dst
}

// appendS2 appends the S2 body of src to dst, which has room for the
// worst case.
func appendS2(dst, src []byte) []byte {
	n := len(dst)
	dst = dst[:n+s2Header]
	dst[n] = s2Tag
	binary.LittleEndian.PutUint32(dst[n+1:], crc32.Checksum(src, castagnoli))
	block := s2.Encode(dst[n+s2Header:cap(dst)], src)
	return dst[:n+s2Header+len(block)]
}

// CompressBody returns the stored (compressed) form of an event body, for
// NewEvent.Compressed, in a slice of about its own size (built in pooled
// scratch and copied out: the caller keeps it until the batch commits).
// Safe for concurrent use.
func CompressBody(body []byte) []byte { return compressBlob(nil, body) }

// DecompressBody returns the event body whose stored form CompressBody
// made.
func DecompressBody(b []byte) ([]byte, error) { return decompressBlob(b) }

// AppendCompressed appends the stored (compressed) form of an event body
// to dst, as CompressBody makes it, and returns the extended slice: dst is
// grown only when the body does not fit in its capacity.
func AppendCompressed(dst, body []byte) []byte { return compressBlob(dst, body) }

// maxPooledScratch bounds the buffers compressScratch keeps (an ordinary
// event's worst case is a few tens of KB).
const maxPooledScratch = 256 << 10

var compressScratch = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

var errBodyCorrupt = errors.New("decompress event body: corrupt")

func decompressBlob(src []byte) ([]byte, error) {
	if len(src) > 0 && src[0] == s2Tag {
		return decodeS2(src)
	}
	b, err := blobDecoder().DecodeAll(src, nil)
	if err != nil {
		return nil, fmt.Errorf("decompress event body: %w", err)
	}
	return b, nil
}

func decodeS2(src []byte) ([]byte, error) {
	if len(src) < s2Header+1 {
		return nil, errBodyCorrupt
	}
	n, err := s2.DecodedLen(src[s2Header:])
	if err != nil {
		return nil, fmt.Errorf("decompress event body: %w", err)
	}
	if n > maxBodyLen {
		return nil, fmt.Errorf("decompress event body: claims %d bytes", n)
	}
	b, err := s2.Decode(make([]byte, n), src[s2Header:])
	if err != nil {
		return nil, fmt.Errorf("decompress event body: %w", err)
	}
	if crc32.Checksum(b, castagnoli) != binary.LittleEndian.Uint32(src[1:]) {
		return nil, errors.New("decompress event body: checksum mismatch")
	}
	return b, nil
}
