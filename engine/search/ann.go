package search

import (
	"context"

	"github.com/quarry-search/quarry/bindings"
)

// HNSW is the native core's approximate-search graph over the rows of a
// Vectors (neighbour lists only; the rows are passed to each Search).
type HNSW = bindings.HNSW

// HNSWParams configure BuildHNSW (the zero value: M 16, ef_construction
// 200, all cores).
type HNSWParams = bindings.HNSWParams

// HNSWStats describe a graph.
type HNSWStats = bindings.HNSWStats

// BuildHNSW builds the graph of x's rows.
func BuildHNSW(ctx context.Context, x *Vectors, p HNSWParams) (*HNSW, error) {
	return bindings.BuildHNSW(ctx, x, p)
}

// LoadHNSW reads a graph written by HNSW.MarshalBinary (every field checked).
func LoadHNSW(b []byte) (*HNSW, error) { return bindings.LoadHNSW(b) }
