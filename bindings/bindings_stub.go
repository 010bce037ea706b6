//go:build !cgo || quarry_nonative

package bindings

// Available reports whether the native core is linked into this program:
// never in this build (CGO_ENABLED=0 or the quarry_nonative tag).
var Available = false

// Model is a loaded GGUF model (unavailable in this build).
type Model struct{}

// Load always fails: this build has no native core.
func Load(path string, p Params) (*Model, error) { return nil, ErrNoNative }

// Info returns the zero Info.
func (m *Model) Info() Info { return Info{} }

// Path returns "".
func (m *Model) Path() string { return "" }

// Close does nothing.
func (m *Model) Close() error { return nil }

// Embed always fails: this build has no native core.
func (m *Model) Embed(ids, types, seqStart []int32, normalize bool) ([]float32, int, error) {
	return nil, 0, ErrNoNative
}

// Rerank always fails: this build has no native core.
func (m *Model) Rerank(ids, types, seqStart []int32) ([]float32, int, error) {
	return nil, 0, ErrNoNative
}

// Sparse always fails: this build has no native core.
func (m *Model) Sparse(ids, types, seqStart []int32, k int) ([]int32, []float32, []int32, int, error) {
	return nil, nil, nil, 0, ErrNoNative
}

// RowSize returns -1.
func RowSize(t int, n int64) int64 { return -1 }

// Quantize always fails: this build has no native core.
func Quantize(t int, src []float32, rows, cols int) ([]byte, error) { return nil, ErrNoNative }

// SystemInfo returns "".
func SystemInfo() string { return "" }

// TopK always fails: this build has no native core.
func TopK(queries []float32, nq int, x *Vectors, k, threads int) ([]float32, []int64, []int64, error) {
	return nil, nil, nil, ErrNoNative
}
