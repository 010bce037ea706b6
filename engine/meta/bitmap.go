package meta

import "math/bits"

// Bitmap is a dense set of ordinals: bit i of word i/64 is ordinal i. The
// native search kernels read it as words. A Bitmap made by NewBitmap(n)
// holds ordinals below n; Has is false beyond its words.
type Bitmap []uint64

// NewBitmap returns an empty bitmap with room for ordinals 0..n-1.
func NewBitmap(n int) Bitmap {
	if n <= 0 {
		return nil
	}
	return make(Bitmap, (n+63)/64)
}

// Has reports whether ordinal i is in the set.
func (b Bitmap) Has(i uint32) bool {
	w := int(i >> 6)
	return w < len(b) && b[w]>>(i&63)&1 != 0
}

// Set adds ordinal i, growing the bitmap if needed.
func (b *Bitmap) Set(i uint32) {
	w := int(i >> 6)
	if w >= len(*b) {
		*b = append(*b, make(Bitmap, w+1-len(*b))...)
	}
	(*b)[w] |= 1 << (i & 63)
}

// Unset removes ordinal i.
func (b Bitmap) Unset(i uint32) {
	if w := int(i >> 6); w < len(b) {
		b[w] &^= 1 << (i & 63)
	}
}

// Count returns the number of ordinals in the set.
func (b Bitmap) Count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// And keeps the ordinals that are also in o (in place).
func (b Bitmap) And(o Bitmap) {
	n := min(len(b), len(o))
	for i := range n {
		b[i] &= o[i]
	}
	clear(b[n:])
}

// AndNot removes the ordinals that are in o (in place).
func (b Bitmap) AndNot(o Bitmap) {
	n := min(len(b), len(o))
	for i := range n {
		b[i] &^= o[i]
	}
}

// Or adds the ordinals of o, growing the bitmap if needed.
func (b *Bitmap) Or(o Bitmap) {
	if len(o) > len(*b) {
		*b = append(*b, make(Bitmap, len(o)-len(*b))...)
	}
	for i, w := range o {
		(*b)[i] |= w
	}
}

// Clone returns a copy.
func (b Bitmap) Clone() Bitmap {
	if b == nil {
		return nil
	}
	return append(Bitmap(nil), b...)
}

// Ords returns the ordinals in the set, ascending.
func (b Bitmap) Ords() []uint32 {
	out := make([]uint32, 0, b.Count())
	b.ForEach(func(i uint32) bool {
		out = append(out, i)
		return true
	})
	return out
}

// ForEach calls f with each ordinal, ascending, until f returns false.
func (b Bitmap) ForEach(f func(uint32) bool) {
	for wi, w := range b {
		for w != 0 {
			i := uint32(wi)<<6 | uint32(bits.TrailingZeros64(w))
			if !f(i) {
				return
			}
			w &= w - 1
		}
	}
}
