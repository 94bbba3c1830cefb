package event

import (
	"fmt"
	"testing"
)

// sameSet returns n keys that fall into one set of c.
func sameSet(c *recent[int], n int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	first := &c.set("k0")[0]
	keys := []string{"k0"}
	for i := 1; len(keys) < n; i++ {
		k := fmt.Sprintf("k%d", i)
		if &c.set(k)[0] == first {
			keys = append(keys, k)
		}
	}
	return keys
}

// TestRecentKeepsASet checks that a set holds recentWays keys at once and
// that a new key pushes out the one used longest ago, not the one put
// longest ago.
func TestRecentKeepsASet(t *testing.T) {
	c := newRecent[int](16, 64)
	keys := sameSet(c, recentWays+1)
	for i, k := range keys[:recentWays] {
		c.put(k, i)
	}
	for i, k := range keys[:recentWays] {
		if v, ok := c.get(k); !ok || v != i {
			t.Fatalf("get(%q) = %d, %v; want %d", k, v, ok, i)
		}
	}
	// keys[0] is now the least recently used; touch it, so keys[1] is.
	c.get(keys[0])
	c.put(keys[recentWays], 99)
	if _, ok := c.get(keys[1]); ok {
		t.Fatalf("%q, used longest ago, was kept", keys[1])
	}
	for _, k := range append([]string{keys[0]}, keys[2:]...) {
		if _, ok := c.get(k); !ok {
			t.Fatalf("%q was pushed out", k)
		}
	}
	// Putting a key again replaces its value in place.
	c.put(keys[0], 7)
	if v, _ := c.get(keys[0]); v != 7 {
		t.Fatalf("get = %d after a second put", v)
	}
	n := 0
	for _, e := range c.set(keys[0]) {
		if e.key == keys[0] {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%q is in %d slots", keys[0], n)
	}
	// Too long a key is neither kept nor found.
	long := fmt.Sprintf("%065d", 1)
	c.put(long, 1)
	if _, ok := c.get(long); ok {
		t.Fatal("a key longer than maxKey was kept")
	}
}
