package store

import (
	"fmt"

	"github.com/klauspost/compress/zstd"
	"github.com/tinysink/tinysink/budget"
)

// Event bodies are stored as independent zstd frames. One encoder and one
// decoder serve every goroutine (EncodeAll and DecodeAll are safe for
// concurrent use); both are built on first use.

var blobEncoder = budget.Lazy("zstd-encoder", func() *zstd.Encoder {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithLowerEncoderMem(true),
		zstd.WithWindowSize(256<<10),
	)
	if err != nil {
		panic(err) // only on invalid options
	}
	return enc
})

var blobDecoder = budget.Lazy("zstd-blob-decoder", func() *zstd.Decoder {
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(64<<20),
	)
	if err != nil {
		panic(err)
	}
	return dec
})

func compressBlob(dst, src []byte) []byte { return blobEncoder().EncodeAll(src, dst) }

func decompressBlob(src []byte) ([]byte, error) {
	b, err := blobDecoder().DecodeAll(src, nil)
	if err != nil {
		return nil, fmt.Errorf("decompress event body: %w", err)
	}
	return b, nil
}
