package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sync"
	"sync/atomic"
)

// ReadFrom calls fn, in order, for up to max records that are durable and lie
// after p, stopping early once about maxBytes of payload were passed
// (maxBytes <= 0: no byte limit); next is the position just after that
// record. It returns the position after the last record passed to fn (p if
// none). If fn returns an error, ReadFrom stops and returns that error with
// the position after the last record for which fn returned nil. r and
// r.Payload are only valid during fn.
//
// A damaged record inside a segment (bad CRC, impossible length) is
// skipped: ReadFrom counts the segment in Stats.Damaged (once) and goes on
// with the segment's next whole record (resync), or, in a version 1
// segment or when there is none, with the next segment. An incomplete
// record at the end of a segment left by an earlier process (a crash
// during a write that was never acknowledged) is skipped silently.
func (s *Spool) ReadFrom(p Pos, max int, maxBytes int64, fn func(r *Record, next Pos) error) (Pos, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return p, ErrClosed
	}
	var segs []segment
	for _, sg := range s.segs {
		if sg.seq >= p.Seg {
			segs = append(segs, sg)
		}
	}
	s.mu.Unlock()

	// The scanner (and its 64 KiB buffer) is taken only for a segment
	// with something to read: an idle server's polls and readiness
	// checks find the spool fully read and need none.
	var sc *scanner
	defer func() {
		if sc != nil {
			s.putScanner(sc, max)
		}
	}()

	pos := p
	var n int
	var total int64
	for _, sg := range segs {
		if n >= max {
			break
		}
		off := fileHeaderSize
		if sg.seq == p.Seg && p.Off > off {
			off = p.Off
		}
		if off >= sg.size {
			continue
		}
		if sc == nil {
			sc = s.getScanner(max)
		}
		res, err := s.scan(sc, sg, off, true, func(r *Record, next Pos) (bool, error) {
			if err := fn(r, next); err != nil {
				return true, err
			}
			pos = next
			n++
			total += int64(len(r.Payload))
			return n >= max || maxBytes > 0 && total >= maxBytes, nil
		})
		if sc.damaged {
			s.noteDamaged(sg.seq)
		}
		if err != nil {
			return pos, err
		}
		if res == scanStopped {
			return pos, nil
		}
	}
	return pos, nil
}

// noteDamaged counts segment seq as damaged, once, unless it was released
// while it was being read: its file may then be a spare or a new segment
// by now (see Spool.spares), whose bytes are not this segment's.
func (s *Spool) noteDamaged(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.ContainsFunc(s.segs, func(sg segment) bool { return sg.seq == seq }) {
		return
	}
	if !s.damSeen[seq] {
		s.damSeen[seq] = true
		s.damaged++
	}
}

// scanResult says why scan returned.
type scanResult int

const (
	// scanEnd: reached the segment's durable end, a torn tail, or damage
	// with no whole record after it (scanner.damaged tells damage apart).
	scanEnd     scanResult = iota
	scanStopped            // emit asked to stop
)

// scanner holds the buffers of one ReadFrom call; pooled.
type scanner struct {
	br   *bufio.Reader
	hdr  [frameHeaderSize]byte
	body []byte
	rec  Record
	// damaged reports that the last scan met a damaged record (whether
	// or not it found a whole one after it).
	damaged bool
}

var scanners = sync.Pool{New: func() any {
	scannersMade.Add(1)
	return &scanner{br: bufio.NewReaderSize(nil, 64<<10)}
}}

// scannersMade and peekersMade count the scanners the pools built (for the
// tests: a pool's contents cannot be looked at).
var scannersMade, peekersMade atomic.Int64

// peekers serve reads of one record (the readiness check's look at the
// oldest undigested event), which a 4 KiB buffer does as well: a larger
// body is read past the buffer.
var peekers = sync.Pool{New: func() any {
	peekersMade.Add(1)
	return &scanner{br: bufio.NewReaderSize(nil, 4<<10)}
}}

// pool returns the scanners for a read of up to max records.
func pool(max int) *sync.Pool {
	if max <= 1 {
		return &peekers
	}
	return &scanners
}

// getScanner returns a scanner for a read of up to max records: for a
// batch, the one the last batch read used when it is kept (see
// Spool.batchScanner), else one from the pool.
func (s *Spool) getScanner(max int) *scanner {
	if max > 1 {
		if sc := s.batchScanner.Swap(nil); sc != nil {
			return sc
		}
	}
	return pool(max).Get().(*scanner)
}

// putScanner gives back a scanner getScanner returned: a batch read's is
// kept for the next one, unless its body buffer is larger than
// maxHeldBody or another is kept already.
func (s *Spool) putScanner(sc *scanner, max int) {
	if max > 1 && cap(sc.body) <= maxHeldBody && s.batchScanner.CompareAndSwap(nil, sc) {
		return
	}
	pool(max).Put(sc)
}

// ReleaseBuffers lets the GC have the scanner kept for batch reads. The
// digest calls it when the spool has been empty for a while.
func (s *Spool) ReleaseBuffers() { s.batchScanner.Store(nil) }

// maxHeldBody bounds the body buffer of the scanner kept for batch reads.
const maxHeldBody = 256 << 10

// maxKeptBody bounds the body buffer a pooled scanner keeps.
const maxKeptBody = 2 << 20

// scan reads the records of segment sg from offset off up to sg.size and
// passes each to emit, which reports whether to stop. With skip, a damaged
// record is skipped (resync); without, it ends the scan.
func (s *Spool) scan(sc *scanner, sg segment, off int64, skip bool, emit func(*Record, Pos) (bool, error)) (scanResult, error) {
	sc.damaged = false
	f, err := os.Open(s.path(sg.seq))
	if errors.Is(err, fs.ErrNotExist) {
		return scanEnd, nil // released meanwhile
	}
	if err != nil {
		return scanEnd, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	defer func() {
		sc.br.Reset(nil)
		if cap(sc.body) > maxKeptBody {
			sc.body = nil
		}
	}()

	if sg.size < fileHeaderSize {
		return scanEnd, nil // crashed before the magic was written
	}
	var magic [fileHeaderSize]byte
	if _, err := f.ReadAt(magic[:], 0); err != nil {
		return readFailure(err)
	}
	hsize := int64(frameHeaderSize)
	switch string(magic[:]) {
	case fileMagic, fileMagicReused:
	case fileMagicV1:
		hsize = frameHeaderV1
	default:
		sc.damaged = true
		return scanEnd, nil
	}
	hdr := sc.hdr[:hsize]

	sc.br.Reset(io.NewSectionReader(f, off, sg.size-off))
	// damage skips the damaged record at off: it finds the segment's next
	// whole record and reads on from it, or reports that there is none.
	damage := func() (bool, error) {
		sc.damaged = true
		if !skip || hsize != frameHeaderSize {
			return false, nil // version 1 frames carry no segment number to resync on
		}
		next, ok, err := resync(f, sg.seq, off+1, sg.size, sc)
		if err != nil || !ok {
			return false, err
		}
		off = next
		sc.br.Reset(io.NewSectionReader(f, off, sg.size-off))
		return true, nil
	}
	for off < sg.size {
		rem := sg.size - off
		if rem < hsize {
			return scanEnd, nil // torn frame header
		}
		if _, err := io.ReadFull(sc.br, hdr); err != nil {
			return readFailure(err)
		}
		l, fr := readFrame(hdr, sg.seq)
		switch fr {
		case frameForeign:
			// An earlier use of a reused file: what follows was never
			// written to this segment (a crash before it was sealed).
			return scanEnd, nil
		case frameBad:
			zero, err := zeroTail(hdr, sc.br)
			if err != nil {
				return readFailure(err)
			}
			if zero {
				return scanEnd, nil // file extended with zeros by a crash
			}
			if on, err := damage(); !on {
				return scanEnd, err
			}
			continue
		}
		if hsize+l > rem {
			return scanEnd, nil // torn body
		}
		if int64(cap(sc.body)) < l {
			sc.body = make([]byte, l)
		}
		body := sc.body[:l]
		if _, err := io.ReadFull(sc.br, body); err != nil {
			return readFailure(err)
		}
		if !checkBody(hdr, body) || decodeBody(body, &sc.rec) != nil {
			sc.rec = Record{}
			if on, err := damage(); !on {
				return scanEnd, err
			}
			continue
		}
		off += hsize + l
		stop, err := emit(&sc.rec, Pos{Seg: sg.seq, Off: off})
		sc.rec = Record{}
		if err != nil {
			return scanStopped, err
		}
		if stop {
			return scanStopped, nil
		}
	}
	return scanEnd, nil
}

// resync returns the offset of the first whole record of segment seq
// (version 2) that starts at or after from and ends by size: a frame
// header sealed for seq whose body matches its CRC and decodes. The seal
// (the segment's number under the length's CRC) and the body's CRC make
// finding one inside other bytes about a 1 in 2^64 chance at each offset.
// ok is false when there is none. Only damage costs the byte-by-byte
// walk.
func resync(f *os.File, seq uint64, from, size int64, sc *scanner) (next int64, ok bool, err error) {
	const chunk = 64 << 10
	buf := make([]byte, chunk+frameHeaderSize-1)
	for base := from; base+frameHeaderSize <= size; base += chunk {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-base)], base)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, false, fmt.Errorf("spool: read: %w", err)
		}
		for i := 0; i+frameHeaderSize <= n; i++ {
			h := buf[i : i+frameHeaderSize]
			if binary.LittleEndian.Uint32(h[4:8]) != uint32(seq) {
				continue
			}
			l, fr := readFrame(h, seq)
			at := base + int64(i)
			if fr != frameOK || at+frameHeaderSize+l > size {
				continue
			}
			if int64(cap(sc.body)) < l {
				sc.body = make([]byte, l)
			}
			body := sc.body[:l]
			if _, err := f.ReadAt(body, at+frameHeaderSize); err != nil {
				return 0, false, fmt.Errorf("spool: read: %w", err)
			}
			var r Record
			if checkBody(h, body) && decodeBody(body, &r) == nil {
				return at, true, nil
			}
		}
	}
	return 0, false, nil
}

// readFailure treats a file that ends early (truncated behind our back) as
// the end of the segment and anything else as an error.
func readFailure(err error) (scanResult, error) {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return scanEnd, nil
	}
	return scanEnd, fmt.Errorf("spool: read: %w", err)
}

// zeroTail reports whether head and everything left in r are zero bytes.
func zeroTail(head []byte, r io.Reader) (bool, error) {
	if !allZero(head) {
		return false, nil
	}
	var buf [4096]byte
	for {
		n, err := r.Read(buf[:])
		if !allZero(buf[:n]) {
			return false, nil
		}
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
