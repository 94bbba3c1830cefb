package profile

// storedBrotli returns data as a brotli stream (RFC 7932) of uncompressed
// meta-blocks: what the profile needs to load the server's brotli decoder,
// without linking a brotli encoder into the binary.
func storedBrotli(data []byte) []byte {
	var w bitWriter
	w.bits(0, 1) // WBITS: 16
	for len(data) > 0 {
		n := min(len(data), 1<<16)
		w.bits(0, 1)            // ISLAST: no
		w.bits(0, 2)            // MNIBBLES: 4
		w.bits(uint32(n-1), 16) // MLEN-1
		w.bits(1, 1)            // ISUNCOMPRESSED
		w.flush()               // the data starts on a byte boundary
		w.out = append(w.out, data[:n]...)
		data = data[n:]
	}
	w.bits(1, 1) // ISLAST
	w.bits(1, 1) // ISLASTEMPTY
	w.flush()
	return w.out
}

// bitWriter packs bits least significant first, as brotli reads them.
type bitWriter struct {
	out  []byte
	acc  uint32
	nacc uint
}

func (w *bitWriter) bits(v uint32, n uint) {
	w.acc |= v << w.nacc
	w.nacc += n
	for w.nacc >= 8 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.nacc -= 8
	}
}

// flush pads the last byte with zero bits.
func (w *bitWriter) flush() {
	if w.nacc > 0 {
		w.out = append(w.out, byte(w.acc))
		w.acc, w.nacc = 0, 0
	}
}
