package ingest

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/tinysink/tinysink/budget"
)

// body is a request body opened for reading: the raw bytes capped at
// lim.raw, decoded according to Content-Encoding, the decoded bytes capped
// at lim.decoded. Read errors come out as *ingestError.
type body struct {
	raw     rawReader
	src     io.Reader // the raw body: prefetched, then the rest of raw
	out     capReader
	enc     string
	lim     limits
	release []func() // run by Close, in reverse
}

// maxZstdWindow is the largest zstd window accepted: a stream may make the
// decoder hold this much.
const maxZstdWindow = 8 << 20

// heavyDecoders bounds the brotli and zstd decoders running at once in the
// process: each may hold 8–16 MiB however small the body.
var heavyDecoders = make(chan struct{}, 2)

// heavyDecoderWait is how long a request waits for a heavyDecoders slot.
const heavyDecoderWait = 5 * time.Second

// knownEncoding reports whether enc is a Content-Encoding decoder knows.
func knownEncoding(enc string) bool {
	switch enc {
	case "gzip", "x-gzip", "deflate", "br", "zstd":
		return true
	}
	return false
}

// maxPrefetch is how much of a raw body is read into memory before it is
// decoded. The heavy-decoder and big-event slots are taken only after that,
// so a client that sends slowly waits for itself, holding no slot and no
// more memory than it has sent; to hold a slot, a client must have sent its
// whole body or maxPrefetch bytes of it, and then keep up the minimum rate.
// Larger prefetches would hold a second copy of every large event (a flood
// of 1 MB events then took 30+ MiB of RSS under a 16 MiB limit, not 24).
const maxPrefetch = bigBody

// prefetchBuf holds a prefetched raw body; pooled when small.
type prefetchBuf struct {
	b  []byte
	rd bytes.Reader
}

var prefetchBufs = sync.Pool{New: func() any { return new(prefetchBuf) }}

// maxPooledPrefetch bounds the buffers kept in the pool.
const maxPooledPrefetch = 64 << 10

// prefetch reads the raw body into memory, up to maxPrefetch bytes, and
// sets b.src to read it (and the rest, if any). The buffer grows with the
// bytes that arrive, never with what the request announces.
func (b *body) prefetch() error {
	pb := prefetchBufs.Get().(*prefetchBuf)
	b.release = append(b.release, func() {
		pb.rd.Reset(nil)
		if cap(pb.b) <= maxPooledPrefetch {
			pb.b = pb.b[:0]
			prefetchBufs.Put(pb)
		}
	})
	buf := pb.b[:0]
	defer func() { pb.b = buf }()
	for len(buf) < maxPrefetch {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, max(4<<10, len(buf)))
		}
		n, err := b.raw.Read(buf[len(buf):min(cap(buf), maxPrefetch)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			pb.rd.Reset(buf)
			b.src = &pb.rd
			return nil
		}
		if err != nil {
			return err
		}
	}
	pb.rd.Reset(buf)
	b.src = io.MultiReader(&pb.rd, &b.raw)
	return nil
}

// Pools of the small decoders and of read buffers.
var (
	gzipReaders  sync.Pool // *gzip.Reader
	flateReaders sync.Pool // io.ReadCloser implementing flate.Resetter
	zlibReaders  sync.Pool // io.ReadCloser implementing zlib.Resetter
	rawBuffers   = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
)

// openBody opens r's body for reading under lim. The caller must Close it.
func openBody(w http.ResponseWriter, r *http.Request, lim limits) (*body, error) {
	if r.ContentLength > lim.raw.n {
		return nil, tooLargeErr(lim.raw)
	}
	b := &body{lim: lim, enc: strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))}
	b.raw.r = http.MaxBytesReader(w, r.Body, lim.raw.n)
	if !b.identity() && !knownEncoding(b.enc) {
		b.Close()
		return nil, malformedf("Unsupported Content-Encoding %q (use gzip, deflate, br or zstd)", truncate(b.enc, 40))
	}
	if err := b.prefetch(); err != nil {
		b.Close()
		return nil, b.classify(err)
	}
	dec, err := b.decoder(r)
	if err != nil {
		b.Close()
		return nil, b.classify(err)
	}
	b.out = capReader{r: dec, n: lim.decoded.n}
	return b, nil
}

// The request decoders, in the budget registry: each is made (or taken
// from a pool) per request, so the registry records only their first use.
var (
	gzipUsed    = budget.FirstUse("gzip-decoder")
	deflateUsed = budget.FirstUse("deflate-decoder")
	brotliUsed  = budget.FirstUse("brotli-decoder")
	zstdUsed    = budget.FirstUse("zstd-decoder")
)

// identity reports whether the body is not encoded.
func (b *body) identity() bool { return b.enc == "" || b.enc == "identity" }

// decoder returns the decoder for b.enc reading b.raw.
func (b *body) decoder(r *http.Request) (io.Reader, error) {
	if b.identity() {
		return b.src, nil
	}
	// Buffer the raw body: the decoders read it a byte at a time.
	src := rawBuffers.Get().(*bufio.Reader)
	src.Reset(b.src)
	b.release = append(b.release, func() { src.Reset(nil); rawBuffers.Put(src) })

	switch b.enc {
	case "gzip", "x-gzip":
		gzipUsed()
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		if zr == nil {
			zr = new(gzip.Reader)
		}
		b.release = append(b.release, func() { gzipReaders.Put(zr) })
		if err := zr.Reset(src); err != nil {
			return nil, err
		}
		return zr, nil
	case "deflate":
		deflateUsed()
		// RFC 9110 says zlib-wrapped; many clients send raw deflate.
		if head, err := src.Peek(2); err == nil && isZlibHeader(head) {
			return zlibDecoder(b, src)
		}
		fr, _ := flateReaders.Get().(io.ReadCloser)
		if fr == nil {
			fr = flate.NewReader(src)
		} else if err := fr.(flate.Resetter).Reset(src, nil); err != nil {
			return nil, err
		}
		b.release = append(b.release, func() { flateReaders.Put(fr) })
		return fr, nil
	}

	// brotli and zstd: at most len(heavyDecoders) at a time. The body is
	// in memory by now (unless larger than maxPrefetch), so a slot is held
	// for the time it takes to decode, not for a slow client's upload.
	t := time.NewTimer(heavyDecoderWait)
	defer t.Stop()
	select {
	case heavyDecoders <- struct{}{}:
		b.release = append(b.release, func() { <-heavyDecoders })
	case <-t.C:
		return nil, &ingestError{kind: unavailable, msg: "Server busy decoding; try again later"}
	case <-r.Context().Done():
		return nil, &ingestError{kind: unavailable, msg: "Server busy", err: r.Context().Err()}
	}
	if b.enc == "br" {
		brotliUsed()
		return brotli.NewReader(src), nil
	}
	zstdUsed()
	zr, err := zstd.NewReader(src,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(maxZstdWindow),
		// The memory option also caps the window: with the event cap (1
		// MiB) it refused the usual 2–8 MiB windows of `zstd -3`. The
		// decoder streams, so the decoded size is capped by b.out.
		zstd.WithDecoderMaxMemory(uint64(max(b.lim.decoded.n, maxZstdWindow))),
	)
	if err != nil {
		return nil, err
	}
	b.release = append(b.release, zr.Close)
	return zr, nil
}

func zlibDecoder(b *body, src *bufio.Reader) (io.Reader, error) {
	zr, _ := zlibReaders.Get().(io.ReadCloser)
	if zr == nil {
		var err error
		if zr, err = zlib.NewReader(src); err != nil {
			return nil, err
		}
	} else if err := zr.(zlib.Resetter).Reset(src, nil); err != nil {
		zlibReaders.Put(zr)
		return nil, err
	}
	b.release = append(b.release, func() { zlibReaders.Put(zr) })
	return zr, nil
}

// isZlibHeader reports whether h starts a zlib stream (RFC 1950): method 8
// and a header checksum divisible by 31. A raw deflate stream rarely passes.
func isZlibHeader(h []byte) bool {
	return h[0]&0x0f == 8 && h[0]>>4 <= 7 && (uint16(h[0])<<8|uint16(h[1]))%31 == 0
}

// Read reads decoded bytes.
func (b *body) Read(p []byte) (int, error) {
	n, err := b.out.Read(p)
	if err != nil && err != io.EOF {
		err = b.classify(err)
	}
	return n, err
}

// classify turns an error met while reading into the one to answer with.
func (b *body) classify(err error) error {
	var ie *ingestError
	switch {
	case b.raw.tooLarge:
		return tooLargeErr(b.lim.raw)
	case b.out.tooLarge, errors.Is(err, zstd.ErrDecoderSizeExceeded):
		return tooLargeErr(b.lim.decoded)
	case errors.As(err, &ie):
		return err
	case b.raw.err != nil:
		return &ingestError{kind: malformed, msg: "Could not read the request body (truncated?)", err: b.raw.err}
	case errors.Is(err, zstd.ErrWindowSizeExceeded):
		return malformedf("zstd window larger than %d bytes", maxZstdWindow)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return malformedf("Truncated %s body", b.enc)
	}
	return &ingestError{kind: malformed, msg: "Corrupt " + b.enc + " body", err: err}
}

// Close releases the decoders and buffers. It may be called more than once.
func (b *body) Close() error {
	for _, f := range slices.Backward(b.release) {
		f()
	}
	b.release = nil
	return nil
}

// rawReader reads the raw request body through http.MaxBytesReader and
// remembers why it failed, whatever a decoder makes of the error.
type rawReader struct {
	r        io.Reader
	tooLarge bool
	err      error
}

func (r *rawReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			r.tooLarge = true
		} else {
			r.err = err
		}
	}
	return n, err
}

// errCapped is returned by capReader past its limit.
var errCapped = errors.New("ingest: size limit reached")

// capReader passes on at most n bytes of r and fails, without reading on,
// when r has more.
type capReader struct {
	r        io.Reader
	n        int64 // bytes left
	tooLarge bool
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.tooLarge {
		return 0, errCapped
	}
	if int64(len(p)) > c.n+1 {
		p = p[:c.n+1]
	}
	n, err := c.r.Read(p)
	if int64(n) <= c.n {
		c.n -= int64(n)
		return n, err
	}
	c.tooLarge = true
	n = int(c.n)
	c.n = 0
	return n, errCapped
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
