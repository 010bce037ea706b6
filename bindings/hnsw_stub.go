//go:build !cgo || quarry_nonative

package bindings

import "context"

// HNSW is an approximate-search graph (unavailable in this build).
type HNSW struct{}

// BuildHNSW always fails: this build has no native core.
func BuildHNSW(ctx context.Context, x *Vectors, p HNSWParams) (*HNSW, error) { return nil, ErrNoNative }

// LoadHNSW always fails: this build has no native core.
func LoadHNSW(b []byte) (*HNSW, error) { return nil, ErrNoNative }

// Search always fails: this build has no native core.
func (h *HNSW) Search(queries []float32, nq int, x *Vectors, k, ef, threads int) ([]float32, []int64, []int64, error) {
	return nil, nil, nil, ErrNoNative
}

// MarshalBinary always fails: this build has no native core.
func (h *HNSW) MarshalBinary() ([]byte, error) { return nil, ErrNoNative }

// Stats returns the zero HNSWStats.
func (h *HNSW) Stats() HNSWStats { return HNSWStats{} }

// Close does nothing.
func (h *HNSW) Close() error { return nil }
