package store

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestFilters(t *testing.T) {
	rng := rand.New(rand.NewPCG(101, 102))
	for _, size := range []int{1, 2, 3, 4} {
		for _, n := range []int{0, 1, 2, 3, 5, 8, 17, 1000} {
			src := make([]byte, n)
			for i := range src {
				src[i] = byte(rng.Uint32())
			}
			sh := make([]byte, n)
			shuffle(sh, src, size)
			back := make([]byte, n)
			unshuffle(back, sh, size)
			if !bytes.Equal(back, src) {
				t.Fatalf("shuffle size %d, %d bytes: round trip differs", size, n)
			}
			if size == 4 && n >= 8 && (sh[0] != src[0] || sh[1] != src[4] || sh[n/4] != src[1]) {
				t.Fatalf("shuffle layout: %v from %v", sh[:8], src[:8])
			}
		}
	}
	u := AppendUint32s(nil, []uint32{5, 5, 6, 1 << 31, 7})
	d := bytes.Clone(u)
	delta32(d)
	if got := AppendUint32s(nil, []uint32{5, 0, 1, 1<<31 - 6, 1<<31 + 7}); !bytes.Equal(d, got) {
		t.Fatalf("delta32: %v", d)
	}
	undelta32(d)
	if !bytes.Equal(d, u) {
		t.Fatal("undelta32")
	}
}
