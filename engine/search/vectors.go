package search

import "github.com/quarry-search/quarry/bindings"

// Vectors is a block of stored rows as the top-k kernels read it (the
// native core's layout): Type, Dim, N rows of Data, per-row Scales for
// int8, Groups (document ordinal of each row), and the Allow bitset.
type Vectors = bindings.Vectors

// VecType is the element type of Vectors.
type VecType = bindings.VecType

// The element types, in the order of store.DType minus one (store.F32 = 1
// is VecF32 = 0).
const (
	VecF32    = bindings.VecF32
	VecF16    = bindings.VecF16
	VecInt8   = bindings.VecInt8
	VecBinary = bindings.VecBinary
)

// Native reports whether the native SIMD kernels are linked in (otherwise
// TopK runs the pure-Go kernel).
func Native() bool { return bindings.Available }

// Kernels describes the native core's CPU features ("" without it).
func Kernels() string { return bindings.SystemInfo() }
