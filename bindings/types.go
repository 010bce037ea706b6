// Package bindings is quarry's only cgo package: a thin, safe Go wrapper
// over the native core's C API (native/include/quarry.h).
//
// A *Model is safe for concurrent use: the native core keeps Params.Workers
// compute contexts and each call takes one (calls beyond that wait). Close
// waits for calls in flight, frees the native model and is idempotent; calls
// after Close return ErrClosed. No C memory escapes to Go: outputs are Go
// slices filled by C, errors come back through a buffer in the same call.
//
// Built with CGO_ENABLED=0, every function returns ErrNoNative. Built with
// cgo, the package refers to the C API weakly and links without the native
// libraries; a package of the program links them in (internal/nativelink in
// this repository, quarry_native.go written by cmd/quarry-native in an
// application). Without them Available is false and every function returns
// ErrNotLinked, whose message names the command to run.
package bindings

import (
	"errors"
	"fmt"
)

// Pooling selects how token states become one vector (llama.cpp numbering).
type Pooling int32

// Pooling modes.
const (
	PoolingFromModel Pooling = -1
	PoolingNone      Pooling = 0
	PoolingMean      Pooling = 1
	PoolingCLS       Pooling = 2
	PoolingLast      Pooling = 3
	PoolingRank      Pooling = 4
	// PoolingSplade is quarry's own (not llama.cpp's): SPLADE sparse
	// vectors from the MLM head (see Model.Sparse).
	PoolingSplade Pooling = 16
)

func (p Pooling) String() string {
	switch p {
	case PoolingFromModel:
		return "from-model"
	case PoolingNone:
		return "none"
	case PoolingMean:
		return "mean"
	case PoolingCLS:
		return "cls"
	case PoolingLast:
		return "last"
	case PoolingRank:
		return "rank"
	case PoolingSplade:
		return "splade"
	}
	return "unknown"
}

// Kind tells bi-encoders from cross-encoders.
type Kind int32

// Model kinds.
const (
	BiEncoder     Kind = 1
	CrossEncoder  Kind = 2
	SparseEncoder Kind = 3 // SPLADE
)

func (k Kind) String() string {
	switch k {
	case BiEncoder:
		return "bi-encoder"
	case CrossEncoder:
		return "cross-encoder"
	case SparseEncoder:
		return "sparse-encoder"
	}
	return "unknown"
}

// Impl selects the encoder implementation.
type Impl int32

// Implementations.
const (
	ImplGraph Impl = 0 // quarry's own batched ggml graph
	ImplLlama Impl = 1 // llama.cpp's llama_encode, one sequence per call
)

// GELU selects the activation of the graph implementation.
type GELU int32

// GELU forms.
const (
	GELUErf  GELU = 0 // exact, as Hugging Face
	GELUTanh GELU = 1 // tanh approximation, as llama.cpp
)

// Params configure Load. The zero value is not valid; start from DefaultParams.
type Params struct {
	Threads        int // compute threads per worker; 0 = all cores
	Workers        int // concurrent compute contexts; 0 = 1
	MaxBatchTokens int // padded tokens per graph evaluation; 0 = 4096
	Pooling        Pooling
	Impl           Impl
	GELU           GELU
}

// DefaultParams returns all cores, one worker, pooling from the model, the
// own graph and exact GELU.
func DefaultParams() Params {
	return Params{Pooling: PoolingFromModel, Impl: ImplGraph, GELU: GELUErf}
}

// Info describes a loaded model.
type Info struct {
	Arch        string
	Kind        Kind
	Pooling     Pooling
	Dim         int // embedding dimension (hidden size)
	Layers      int
	Heads       int
	FFN         int
	Vocab       int
	MaxTokens   int // positions; longer inputs are truncated
	TokenTypes  int
	NumLabels   int // rerank outputs per pair (0 for bi-encoders)
	WeightType  int // ggml type of the layer weights
	Impl        Impl
	Threads     int
	Params      int64
	Tensors     int64
	WeightBytes int64
}

// Error is returned by the native core. Code is the C return code.
type Error struct {
	Op   string
	Code int
	Msg  string
}

func (e *Error) Error() string { return e.Op + ": " + e.Msg }

// Return codes of the native core.
const (
	CodeArg     = -1
	CodeModel   = -2
	CodeCompute = -3
)

// ErrClosed is returned by calls on a closed model.
var ErrClosed = errors.New("bindings: model is closed")

// ErrNoNative is returned when quarry was built without the native core
// (CGO_ENABLED=0 or the quarry_nonative tag). errors.Is(err, ErrNoNative)
// also holds for ErrNotLinked, a cgo build without the native libraries.
var ErrNoNative = errors.New("quarry was built without the native core (CGO_ENABLED=0 or the quarry_nonative tag): build with CGO_ENABLED=1 and a C compiler")

// VecType is the element type of stored vectors (the index's dtype).
type VecType int32

// Stored vector types.
const (
	VecF32    VecType = 0
	VecF16    VecType = 1
	VecInt8   VecType = 2 // per-row scale: x ≈ Scales[i]·q
	VecBinary VecType = 3 // sign bits, dimension j = bit j%8 of byte j/8
)

// RowBytes is the size of one stored row, or -1.
func (t VecType) RowBytes(dim int) int {
	if dim <= 0 {
		return -1
	}
	switch t {
	case VecF32:
		return 4 * dim
	case VecF16:
		return 2 * dim
	case VecInt8:
		return dim
	case VecBinary:
		return (dim + 7) / 8
	}
	return -1
}

// Vectors describes stored rows for TopK.
type Vectors struct {
	Type   VecType
	Dim    int
	N      int
	Data   []byte    // N rows of Type.RowBytes(Dim) bytes
	Scales []float32 // VecInt8: N scales
	Groups []uint32  // row -> group (document ordinal); nil: each row its own group
	// Allow, when non-nil, is a bitset over groups (bit g%64 of word g/64);
	// groups at or beyond AllowBits are excluded.
	Allow     []uint64
	AllowBits int
}

func (x *Vectors) check() error {
	if x == nil {
		return errors.New("vectors are nil")
	}
	rb := x.Type.RowBytes(x.Dim)
	if rb < 0 {
		return fmt.Errorf("invalid vector type %d or dim %d", x.Type, x.Dim)
	}
	if x.N < 0 || len(x.Data) != x.N*rb {
		return fmt.Errorf("%d bytes of data for %d rows of %d bytes", len(x.Data), x.N, rb)
	}
	if x.Type == VecInt8 && len(x.Scales) != x.N {
		return fmt.Errorf("%d scales for %d int8 rows", len(x.Scales), x.N)
	}
	if x.Groups != nil && len(x.Groups) != x.N {
		return fmt.Errorf("%d groups for %d rows", len(x.Groups), x.N)
	}
	if x.Allow != nil && (x.AllowBits < 0 || x.AllowBits > 64*len(x.Allow)) {
		return fmt.Errorf("allow bitset of %d words cannot hold %d bits", len(x.Allow), x.AllowBits)
	}
	return nil
}
