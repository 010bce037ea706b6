package gguf

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// ReadTensor returns the raw bytes of a tensor from the file behind ra.
func (f *File) ReadTensor(ra io.ReaderAt, name string) ([]byte, *TensorInfo, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, nil, fmt.Errorf("tensor %q not found", name)
	}
	b := make([]byte, t.Size)
	if _, err := ra.ReadAt(b, f.DataOffset+t.Offset); err != nil {
		return nil, nil, fmt.Errorf("tensor %q: read %d bytes at %d: %w", name, t.Size, f.DataOffset+t.Offset, err)
	}
	return b, t, nil
}

// ReadFloat32 returns a tensor's elements converted to float32. F32, F16,
// BF16 and Q8_0 are supported.
func (f *File) ReadFloat32(ra io.ReaderAt, name string) ([]float32, *TensorInfo, error) {
	b, t, err := f.ReadTensor(ra, name)
	if err != nil {
		return nil, nil, err
	}
	out, err := Dequantize(t.Type, b, t.Elements())
	if err != nil {
		return nil, nil, fmt.Errorf("tensor %q: %w", name, err)
	}
	return out, t, nil
}

// Dequantize converts n elements of type t stored in b to float32.
func Dequantize(t TensorType, b []byte, n int64) ([]float32, error) {
	size, err := t.RowSize(n)
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != size {
		return nil, fmt.Errorf("%d bytes for %d %s elements, want %d", len(b), n, t, size)
	}
	out := make([]float32, n)
	switch t {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case F16:
		for i := range out {
			out[i] = F16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case BF16:
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
	case Q8_0:
		for blk := int64(0); blk < n/32; blk++ {
			p := b[blk*34:]
			d := F16ToF32(binary.LittleEndian.Uint16(p))
			for j := 0; j < 32; j++ {
				out[blk*32+int64(j)] = d * float32(int8(p[2+j]))
			}
		}
	default:
		return nil, fmt.Errorf("reading %s tensors as float is not supported", t)
	}
	return out, nil
}

// F16ToF32 converts an IEEE 754 half-precision value to float32 exactly.
func F16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: normalise
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// F32ToF16 converts float32 to half precision, rounding to nearest even, as
// ggml's scalar conversion does.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff { // inf or nan
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		r := mant >> shift
		rem := mant & ((1 << shift) - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++ // may carry into the exponent, which is correct rounding
	}
	return sign | uint16(r)
}
