package profile

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/andybalholm/brotli"
)

// The stored brotli stream decodes to its input, for sizes around the
// meta-block length.
func TestStoredBrotli(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 100, 1<<16 - 1, 1 << 16, 1<<16 + 1, 3<<16 + 5} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(r.IntN(256))
		}
		got, err := io.ReadAll(brotli.NewReader(bytes.NewReader(storedBrotli(data))))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%d bytes: decoded %d bytes, %v", n, len(got), err)
		}
	}
}
