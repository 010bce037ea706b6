package store

import (
	"fmt"
	"strings"
)

// DType is the element type of stored vectors. The numeric values are part of
// the on-disk format (the dtype byte of a .qvec header); never renumber them.
type DType uint8

// Vector element types. The zero DType means "none" (for example: a segment
// without rescore vectors).
const (
	// F32 is IEEE-754 binary32, little-endian, 4 bytes per dimension.
	F32 DType = 1
	// F16 is IEEE-754 binary16, little-endian, 2 bytes per dimension, rounded
	// to nearest even (gguf.F32ToF16).
	F16 DType = 2
	// Int8 is a signed byte per dimension with one float32 scale per vector:
	// x ≈ q·scale, scale = max|x|/127, q = round(x/scale) ∈ [-127, 127].
	Int8 DType = 3
	// Binary is one bit per dimension, set when x > 0. Dimension j is bit j%8
	// (least significant first) of byte j/8; a row is ceil(dim/8) bytes and
	// the unused high bits of its last byte are zero.
	Binary DType = 4
)

// MaxDim is the largest vector dimension a segment may hold.
const MaxDim = 1 << 16

// String returns the name ParseDType accepts ("f32", "f16", "int8",
// "binary"), or "none" for the zero DType.
func (d DType) String() string {
	switch d {
	case 0:
		return "none"
	case F32:
		return "f32"
	case F16:
		return "f16"
	case Int8:
		return "int8"
	case Binary:
		return "binary"
	}
	return fmt.Sprintf("dtype(%d)", uint8(d))
}

// Valid reports whether d is one of F32, F16, Int8, Binary.
func (d DType) Valid() bool { return d >= F32 && d <= Binary }

// ParseDType parses "f32", "f16", "int8" or "binary" (case-insensitive;
// "float32", "float16", "fp16", "i8", "bin" and "bit" are accepted too).
func ParseDType(s string) (DType, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "f32", "float32", "fp32":
		return F32, nil
	case "f16", "float16", "fp16", "half":
		return F16, nil
	case "int8", "i8", "q8":
		return Int8, nil
	case "binary", "bin", "bit", "bits", "ubinary":
		return Binary, nil
	}
	return 0, fmt.Errorf("unknown vector dtype %q (want f32, f16, int8 or binary)", s)
}

// MarshalText encodes d as its name, so manifests read "dtype": "int8".
func (d DType) MarshalText() ([]byte, error) {
	if d != 0 && !d.Valid() {
		return nil, fmt.Errorf("invalid dtype %d", uint8(d))
	}
	return []byte(d.String()), nil
}

// UnmarshalText parses a name written by MarshalText ("none" is the zero
// DType).
func (d *DType) UnmarshalText(b []byte) error {
	if string(b) == "none" || len(b) == 0 {
		*d = 0
		return nil
	}
	v, err := ParseDType(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// RowBytes is the number of bytes one stored vector of dimension dim takes:
// 4·dim (F32), 2·dim (F16), dim (Int8; the scale is kept apart in
// Vectors.Scales), ceil(dim/8) (Binary). It returns 0 for an invalid dtype or
// a dimension outside [1, MaxDim].
func RowBytes(d DType, dim int) int {
	if dim < 1 || dim > MaxDim {
		return 0
	}
	switch d {
	case F32:
		return 4 * dim
	case F16:
		return 2 * dim
	case Int8:
		return dim
	case Binary:
		return (dim + 7) / 8
	}
	return 0
}

// elemSize is the byte-shuffle element size of d's rows (1 = shuffling is a
// no-op).
func (d DType) elemSize() int {
	switch d {
	case F32:
		return 4
	case F16:
		return 2
	}
	return 1
}
