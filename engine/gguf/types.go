// Package gguf reads, validates and writes GGUF files (the model container of
// ggml and llama.cpp) in pure Go.
//
// The reader never trusts the file: every count and length is checked against
// the bytes that remain, so a truncated or hostile file yields an error that
// names the offending field instead of a panic or a huge allocation. quarry
// validates a model here before the native core sees it.
package gguf

import (
	"fmt"
	"math"
)

// Magic is the first four bytes of every GGUF file.
const Magic = "GGUF"

// DefaultAlignment is the data alignment when general.alignment is absent.
const DefaultAlignment = 32

// ValueType is the type tag of a metadata value.
type ValueType uint32

// Metadata value types, as numbered by the GGUF specification.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

func (t ValueType) String() string {
	switch t {
	case TypeUint8:
		return "u8"
	case TypeInt8:
		return "i8"
	case TypeUint16:
		return "u16"
	case TypeInt16:
		return "i16"
	case TypeUint32:
		return "u32"
	case TypeInt32:
		return "i32"
	case TypeFloat32:
		return "f32"
	case TypeBool:
		return "bool"
	case TypeString:
		return "string"
	case TypeArray:
		return "array"
	case TypeUint64:
		return "u64"
	case TypeInt64:
		return "i64"
	case TypeFloat64:
		return "f64"
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// scalarSize is the encoded size of a fixed-size value type, 0 for others.
func (t ValueType) scalarSize() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// TensorType is a ggml tensor element type (enum ggml_type).
type TensorType uint32

// The ggml tensor types quarry names. Others are accepted by the reader when
// their block layout is known (see typeTraits).
const (
	F32  TensorType = 0
	F16  TensorType = 1
	Q4_0 TensorType = 2
	Q4_1 TensorType = 3
	Q5_0 TensorType = 6
	Q5_1 TensorType = 7
	Q8_0 TensorType = 8
	Q8_1 TensorType = 9
	Q2_K TensorType = 10
	Q3_K TensorType = 11
	Q4_K TensorType = 12
	Q5_K TensorType = 13
	Q6_K TensorType = 14
	Q8_K TensorType = 15
	I8   TensorType = 24
	I16  TensorType = 25
	I32  TensorType = 26
	I64  TensorType = 27
	F64  TensorType = 28
	BF16 TensorType = 30
)

type typeTrait struct {
	name      string
	blockSize int64 // elements per block
	typeSize  int64 // bytes per block
}

// typeTraits mirrors ggml's type_traits table (blck_size, type_size) for the
// types a GGUF file may hold.
var typeTraits = map[TensorType]typeTrait{
	F32:  {"F32", 1, 4},
	F16:  {"F16", 1, 2},
	Q4_0: {"Q4_0", 32, 18},
	Q4_1: {"Q4_1", 32, 20},
	Q5_0: {"Q5_0", 32, 22},
	Q5_1: {"Q5_1", 32, 24},
	Q8_0: {"Q8_0", 32, 34},
	Q8_1: {"Q8_1", 32, 36},
	Q2_K: {"Q2_K", 256, 84},
	Q3_K: {"Q3_K", 256, 110},
	Q4_K: {"Q4_K", 256, 144},
	Q5_K: {"Q5_K", 256, 176},
	Q6_K: {"Q6_K", 256, 210},
	Q8_K: {"Q8_K", 256, 292},
	16:   {"IQ2_XXS", 256, 66},
	17:   {"IQ2_XS", 256, 74},
	18:   {"IQ3_XXS", 256, 98},
	19:   {"IQ1_S", 256, 50},
	20:   {"IQ4_NL", 32, 18},
	21:   {"IQ3_S", 256, 110},
	22:   {"IQ2_S", 256, 82},
	23:   {"IQ4_XS", 256, 136},
	I8:   {"I8", 1, 1},
	I16:  {"I16", 1, 2},
	I32:  {"I32", 1, 4},
	I64:  {"I64", 1, 8},
	F64:  {"F64", 1, 8},
	29:   {"IQ1_M", 256, 56},
	BF16: {"BF16", 1, 2},
	34:   {"TQ1_0", 256, 54},
	35:   {"TQ2_0", 256, 66},
	39:   {"MXFP4", 32, 17},
}

func (t TensorType) String() string {
	if tr, ok := typeTraits[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// Known reports whether the reader knows the block layout of t.
func (t TensorType) Known() bool { _, ok := typeTraits[t]; return ok }

// BlockSize is the number of elements in one block of t (1 for plain types).
func (t TensorType) BlockSize() int64 { return typeTraits[t].blockSize }

// RowSize returns the bytes of n elements of type t, or an error when n is not
// a whole number of blocks or the type is unknown.
func (t TensorType) RowSize(n int64) (int64, error) {
	tr, ok := typeTraits[t]
	if !ok {
		return 0, fmt.Errorf("unknown tensor type %d", uint32(t))
	}
	if n%tr.blockSize != 0 {
		return 0, fmt.Errorf("%d elements are not a whole number of %s blocks of %d", n, tr.name, tr.blockSize)
	}
	if n < 0 || n/tr.blockSize > math.MaxInt64/tr.typeSize {
		return 0, fmt.Errorf("%d elements of %s overflow a byte size", n, tr.name)
	}
	return n / tr.blockSize * tr.typeSize, nil
}

// ParseTensorType maps a name such as "f16" or "Q8_0" to its type.
func ParseTensorType(s string) (TensorType, error) {
	for t, tr := range typeTraits {
		if equalFold(tr.name, s) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown tensor type %q", s)
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
