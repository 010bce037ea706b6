package store

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/quarry-search/quarry/engine/gguf"
)

// Alignment is the byte alignment of Vectors.Data produced by this package
// (Quantize, NewVectors, segment readers): the native SIMD search kernels load
// whole cache lines from it. Only the start is aligned; rows follow each other
// with a stride of RowBytes, so row i is aligned too only when RowBytes is a
// multiple of 64 (true for f32/f16/int8 at every dimension that is a multiple
// of 64, e.g. 384 or 768; binary rows of 384 dimensions are 48 bytes).
const Alignment = 64

// Vectors is a batch of N vectors of one dtype and dimension, stored row after
// row in Data (N·RowBytes(DType, Dim) bytes, little-endian elements, no padding
// between rows). Int8 vectors carry one scale per row in Scales (x ≈ q·scale);
// other dtypes leave Scales nil.
type Vectors struct {
	DType  DType
	Dim    int
	N      int
	Data   []byte
	Scales []float32
}

// alignedBytes returns a zeroed slice of n bytes whose first byte sits at an
// address that is a multiple of Alignment. Go's garbage collector does not
// move heap objects, and the slice escapes to the heap, so the alignment
// holds for the slice's lifetime.
func alignedBytes(n int) []byte {
	if n <= 0 {
		return nil
	}
	b := make([]byte, n+Alignment-1)
	off := int(-uintptr(unsafe.Pointer(&b[0])) & (Alignment - 1))
	return b[off : off+n : off+n]
}

// isAligned reports whether b is empty or starts at an Alignment boundary.
func isAligned(b []byte) bool {
	return len(b) == 0 || uintptr(unsafe.Pointer(&b[0]))&(Alignment-1) == 0
}

// reuseAligned returns an aligned slice of n bytes, reusing b when it is
// aligned and large enough. The contents are not cleared.
func reuseAligned(b []byte, n int) []byte {
	if cap(b) >= n && isAligned(b[:cap(b)]) {
		return b[:n]
	}
	return alignedBytes(n)
}

// NewVectors returns n zero vectors of the given dtype and dimension with
// 64-byte aligned Data (and Scales for Int8).
func NewVectors(d DType, dim, n int) (Vectors, error) {
	rb := RowBytes(d, dim)
	if rb == 0 {
		return Vectors{}, fmt.Errorf("new vectors: dtype %v, dim %d: need dtype f32/f16/int8/binary and dim in [1, %d]", d, dim, MaxDim)
	}
	if n < 0 || n > math.MaxInt/rb {
		return Vectors{}, fmt.Errorf("new vectors: count %d out of range", n)
	}
	v := Vectors{DType: d, Dim: dim, N: n, Data: alignedBytes(n * rb)}
	if d == Int8 {
		v.Scales = make([]float32, n)
	}
	return v, nil
}

// RowBytes is RowBytes(v.DType, v.Dim).
func (v *Vectors) RowBytes() int { return RowBytes(v.DType, v.Dim) }

// Aligned reports whether v.Data starts at a 64-byte boundary.
func (v *Vectors) Aligned() bool { return isAligned(v.Data) }

// Quantize converts float32 rows of length dim to dtype d. Every row is
// checked first: a NaN, an infinity, an all-zero row, a row of the wrong
// length, or a value that f16 cannot represent (|x| > 65504, or a row that
// underflows to all zeros) is an error naming the row (and dimension).
//
// Int8 scales are per vector, computed from that vector alone (max|x|/127),
// so one vector quantizes exactly as it would inside any batch.
func Quantize(d DType, dim int, rows [][]float32) (Vectors, error) {
	v, err := NewVectors(d, dim, len(rows))
	if err != nil {
		return Vectors{}, fmt.Errorf("quantize: %w", err)
	}
	rb := v.RowBytes()
	for i, x := range rows {
		if err := checkRow(x, dim); err != nil {
			return Vectors{}, fmt.Errorf("quantize to %v: row %d: %w", d, i, err)
		}
		if err := encodeRow(d, v.Data[i*rb:(i+1)*rb], x, v.Scales, i); err != nil {
			return Vectors{}, fmt.Errorf("quantize to %v: row %d: %w", d, i, err)
		}
	}
	return v, nil
}

// checkRow rejects rows of the wrong length, with NaN or Inf, or all zero.
func checkRow(x []float32, dim int) error {
	if len(x) != dim {
		return fmt.Errorf("length %d, want %d", len(x), dim)
	}
	nonzero := false
	for j, f := range x {
		if f != f {
			return fmt.Errorf("NaN at dimension %d", j)
		}
		if math.IsInf(float64(f), 0) {
			return fmt.Errorf("%v at dimension %d", f, j)
		}
		if f != 0 {
			nonzero = true
		}
	}
	if !nonzero {
		return fmt.Errorf("all-zero vector (no direction to search by)")
	}
	return nil
}

// encodeRow writes checked row x into dst (RowBytes long) as dtype d; for Int8
// it sets scales[i].
func encodeRow(d DType, dst []byte, x []float32, scales []float32, i int) error {
	switch d {
	case F32:
		for j, f := range x {
			binary.LittleEndian.PutUint32(dst[4*j:], math.Float32bits(f))
		}
	case F16:
		nonzero := false
		for j, f := range x {
			h := gguf.F32ToF16(f)
			if h&0x7c00 == 0x7c00 {
				return fmt.Errorf("value %g at dimension %d overflows f16 (|x| > 65504)", f, j)
			}
			if h&0x7fff != 0 {
				nonzero = true
			}
			binary.LittleEndian.PutUint16(dst[2*j:], h)
		}
		if !nonzero {
			return fmt.Errorf("every value underflows to zero in f16")
		}
	case Int8:
		var m float64
		for _, f := range x {
			m = math.Max(m, math.Abs(float64(f)))
		}
		scale := float32(m / 127)
		if scale == 0 || math.IsInf(float64(scale), 0) {
			return fmt.Errorf("int8 scale %g is not usable (max |x| = %g)", scale, m)
		}
		for j, f := range x {
			q := math.Round(float64(f) / float64(scale))
			dst[j] = byte(int8(max(-127, min(127, q))))
		}
		scales[i] = scale
	case Binary:
		clear(dst)
		for j, f := range x {
			if f > 0 {
				dst[j>>3] |= 1 << (j & 7)
			}
		}
	default:
		return fmt.Errorf("invalid dtype %v", d)
	}
	return nil
}

// Row returns vector i dequantized to float32: the stored value (F32), its
// f16 value widened exactly (F16), q·scale (Int8), or +1/-1 per bit (Binary:
// +1 where the bit is set). It panics if i is out of range, like a slice
// index.
func (v *Vectors) Row(i int) []float32 {
	out := make([]float32, v.Dim)
	v.RowInto(out, i)
	return out
}

// RowInto writes vector i, dequantized as Row does, into dst[:v.Dim].
func (v *Vectors) RowInto(dst []float32, i int) {
	if i < 0 || i >= v.N {
		panic(fmt.Sprintf("store: Vectors.Row(%d) with N = %d", i, v.N))
	}
	rb := v.RowBytes()
	r := v.Data[i*rb : (i+1)*rb]
	dst = dst[:v.Dim]
	switch v.DType {
	case F32:
		for j := range dst {
			dst[j] = math.Float32frombits(binary.LittleEndian.Uint32(r[4*j:]))
		}
	case F16:
		for j := range dst {
			dst[j] = gguf.F16ToF32(binary.LittleEndian.Uint16(r[2*j:]))
		}
	case Int8:
		s := v.Scales[i]
		for j := range dst {
			dst[j] = float32(int8(r[j])) * s
		}
	case Binary:
		for j := range dst {
			if r[j>>3]>>(j&7)&1 == 1 {
				dst[j] = 1
			} else {
				dst[j] = -1
			}
		}
	default:
		panic(fmt.Sprintf("store: Vectors.Row on invalid dtype %v", v.DType))
	}
}

// Slice returns rows [i, j) as a view sharing v's memory. The view's Data is
// 64-byte aligned only when i·RowBytes is a multiple of 64.
func (v *Vectors) Slice(i, j int) Vectors {
	if i < 0 || j < i || j > v.N {
		panic(fmt.Sprintf("store: Vectors.Slice(%d, %d) with N = %d", i, j, v.N))
	}
	rb := v.RowBytes()
	s := Vectors{DType: v.DType, Dim: v.Dim, N: j - i, Data: v.Data[i*rb : j*rb : j*rb]}
	if v.Scales != nil {
		s.Scales = v.Scales[i:j:j]
	}
	return s
}

// Validate checks that v is well formed: a valid dtype and dimension,
// len(Data) = N·RowBytes, one finite positive scale per row for Int8 (none
// otherwise), and every stored value usable: finite f32/f16 values and not an
// all-zero row, int8 codes in [-127, 127], binary padding bits clear. Errors
// name the row.
func (v *Vectors) Validate() error {
	rb := RowBytes(v.DType, v.Dim)
	if rb == 0 {
		return fmt.Errorf("vectors: dtype %v, dim %d: need dtype f32/f16/int8/binary and dim in [1, %d]", v.DType, v.Dim, MaxDim)
	}
	if v.N < 0 || v.N > math.MaxInt/rb || len(v.Data) != v.N*rb {
		return fmt.Errorf("vectors: %d bytes of data for %d rows of %d bytes", len(v.Data), v.N, rb)
	}
	if v.DType == Int8 {
		if len(v.Scales) != v.N {
			return fmt.Errorf("vectors: %d int8 scales for %d rows", len(v.Scales), v.N)
		}
	} else if len(v.Scales) != 0 {
		return fmt.Errorf("vectors: %d scales for dtype %v (only int8 has scales)", len(v.Scales), v.DType)
	}
	for i := 0; i < v.N; i++ {
		if err := v.validateRow(i, rb); err != nil {
			return fmt.Errorf("vectors: row %d: %w", i, err)
		}
	}
	return nil
}

func (v *Vectors) validateRow(i, rb int) error {
	r := v.Data[i*rb : (i+1)*rb]
	switch v.DType {
	case F32:
		nonzero := false
		for j := 0; j < v.Dim; j++ {
			b := binary.LittleEndian.Uint32(r[4*j:])
			if b&0x7f800000 == 0x7f800000 {
				return fmt.Errorf("non-finite f32 at dimension %d", j)
			}
			nonzero = nonzero || b&0x7fffffff != 0
		}
		if !nonzero {
			return fmt.Errorf("all-zero vector")
		}
	case F16:
		nonzero := false
		for j := 0; j < v.Dim; j++ {
			h := binary.LittleEndian.Uint16(r[2*j:])
			if h&0x7c00 == 0x7c00 {
				return fmt.Errorf("non-finite f16 at dimension %d", j)
			}
			nonzero = nonzero || h&0x7fff != 0
		}
		if !nonzero {
			return fmt.Errorf("all-zero vector")
		}
	case Int8:
		s := v.Scales[i]
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return fmt.Errorf("int8 scale %g is not finite and positive", s)
		}
		nonzero := false
		for j, b := range r {
			if b == 0x80 {
				return fmt.Errorf("int8 code -128 at dimension %d (codes are in [-127, 127])", j)
			}
			nonzero = nonzero || b != 0
		}
		if !nonzero {
			return fmt.Errorf("all-zero vector")
		}
	case Binary:
		if pad := v.Dim % 8; pad != 0 && r[rb-1]>>pad != 0 {
			return fmt.Errorf("binary padding bits set in the last byte (dim %d)", v.Dim)
		}
	}
	return nil
}
