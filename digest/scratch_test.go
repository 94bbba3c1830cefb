package digest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/s2"
)

// decodeBody reads a stored body back: the tag and checksum (store/blob.go)
// then an S2 block.
func decodeBody(f []byte) ([]byte, error) {
	if len(f) < 5 || f[0] != 0xB2 {
		return nil, fmt.Errorf("not an S2 body: % x", f[:min(len(f), 5)])
	}
	return s2.Decode(nil, f[5:])
}

// TestScratchFrames compresses a batch's worth of bodies into the frame
// chunks and reads every frame back only at the end, so that a frame
// written over another would show; one body is too large for a chunk and
// must get its own allocation, as may one that does not fit in what is
// left of a chunk. The next batch reuses the chunks, and body buffers
// come back from the free list.
func TestScratchFrames(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var bodies [][]byte
	for i := range 300 {
		var b bytes.Buffer
		n := 200 + rng.IntN(400)
		if i%50 == 7 {
			n = 4000 // a large event
		}
		for j := range n {
			fmt.Fprintf(&b, `{"frame":%d,"event":%d,"v":%q},`, j, i, fmt.Sprint(rng.Uint64()))
		}
		bodies = append(bodies, b.Bytes())
	}
	noise := make([]byte, frameChunk+1000) // incompressible, larger than a chunk
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	bodies = append(bodies[:150], append([][]byte{noise}, bodies[150:]...)...)

	var s scratch
	for batch := range 2 {
		s.resetFrames()
		frames := make([][]byte, len(bodies))
		for i, b := range bodies {
			body := append(s.getBody(len(b)), b...)
			frames[i] = s.compress(body)
			s.putBody(body)
		}
		outOrdinary, outLarge := 0, 0
		for i, f := range frames {
			got, err := decodeBody(f)
			if err != nil || !bytes.Equal(got, bodies[i]) {
				t.Fatalf("batch %d, body %d: read back %d bytes, err %v", batch, i, len(got), err)
			}
			if cap(f) != len(f) {
				t.Fatalf("batch %d, body %d: a frame with room to append into the next", batch, i)
			}
			in := false
			for _, c := range s.frames {
				for k := range c {
					if len(f) > 0 && &f[0] == &c[k] {
						in = true
						break
					}
				}
			}
			switch {
			case in:
			case len(f) > frameChunk/16:
				outLarge++
			default:
				outOrdinary++
			}
		}
		// Outside the chunks: large frames (the one larger than a chunk
		// among them) that did not fit in what their chunk had left, and
		// at most one frame of ordinary size per chunk: the one that
		// found it full.
		if outLarge < 1 || outOrdinary > len(s.frames) {
			t.Errorf("batch %d: %d large and %d ordinary frames of %d outside the %d chunks", batch, outLarge, outOrdinary, len(bodies), len(s.frames))
		}
		if len(s.frames) < 2 {
			t.Errorf("batch %d: %d chunks: the batch should need more than one", batch, len(s.frames))
		}
	}
	// The next batch is compressed into the same chunks, and a body
	// buffer given back is the next one handed out.
	var bases []*byte
	for _, c := range s.frames {
		bases = append(bases, &c[:1][0])
	}
	s.resetFrames()
	for _, b := range bodies[:100] {
		s.compress(b)
	}
	if len(s.frames) != len(bases) {
		t.Fatalf("%d chunks after a smaller batch, were %d", len(s.frames), len(bases))
	}
	for i, c := range s.frames {
		if &c[:1][0] != bases[i] {
			t.Errorf("chunk %d was allocated again", i)
		}
	}
	for len(s.bodies) > 0 {
		<-s.bodies
	}
	buf := s.getBody(1000)
	s.putBody(buf)
	if again := s.getBody(1000); &again[:1][0] != &buf[:1][0] {
		t.Error("a body buffer given back was not handed out again")
	}
	s.drop()
	if len(s.frames) != 0 || len(s.bodies) != 0 {
		t.Errorf("drop kept %d chunks and %d bodies", len(s.frames), len(s.bodies))
	}
}

// TestScratchChunksGrow: a batch of a few events keeps one small chunk,
// and a large batch's chunks double up to frameChunk.
func TestScratchChunksGrow(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	body := func() []byte {
		b := make([]byte, 3000) // incompressible: ~3 KB frames
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	var s scratch
	s.resetFrames()
	for range 3 {
		s.compress(body())
	}
	if len(s.frames) != 1 || cap(s.frames[0]) != firstChunk {
		t.Fatalf("a 3-event batch: %d chunks, the first of %d bytes; want 1 of %d", len(s.frames), cap(s.frames[0]), firstChunk)
	}
	s.resetFrames()
	for range 400 {
		s.compress(body())
	}
	want := firstChunk
	for i, c := range s.frames {
		if cap(c) != want {
			t.Fatalf("chunk %d: %d bytes, want %d", i, cap(c), want)
		}
		want = min(2*want, frameChunk)
	}
	if cap(s.frames[len(s.frames)-1]) != frameChunk {
		t.Errorf("a 1.2 MB batch never reached %d-byte chunks", frameChunk)
	}
}

// TestScratchAddFrameConcurrent adds frames from several goroutines at
// once, as the normalising goroutines do (compressShared), and reads
// every one back only at the end: none may overlap another, whatever
// the interleaving. Run with -race, it also checks the lock.
func TestScratchAddFrameConcurrent(t *testing.T) {
	var s scratch
	const workers, each = 4, 500
	got := make([][][]byte, workers)
	want := func(w, i int) []byte {
		return bytes.Repeat([]byte{byte(w), byte(i)}, 1+(w*each+i)%700) // some past what a chunk has left
	}
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range each {
				got[w] = append(got[w], s.addFrame(want(w, i)))
			}
		}()
	}
	for range workers {
		<-done
	}
	for w := range workers {
		for i, f := range got[w] {
			if !bytes.Equal(f, want(w, i)) {
				t.Fatalf("goroutine %d's frame %d reads back wrong (%d bytes)", w, i, len(f))
			}
		}
	}
	if len(s.frames) < 2 {
		t.Errorf("%d chunks for %d frames: the test should fill more than one", len(s.frames), workers*each)
	}
}
