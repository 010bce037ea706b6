package search

import (
	"context"
	"fmt"

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

// ErrNoNative is the error of every native call in a build without the
// native core (HNSW graphs need it; exact top-k falls back to Go).
var ErrNoNative = bindings.ErrNoNative

// MaxEf is the largest beam width a graph search takes.
const MaxEf = bindings.MaxEf

// SearchHNSW is TopK through the graph g of c.Vectors' rows: the o.K best
// groups per query, approximately, with a beam of o.Ef rows (at least the
// candidates asked for). Disallowed groups (c.Vectors.Allow) are traversed
// but never returned; below a small allowed fraction the native core scans
// the allowed rows exactly instead. For int8 rows with a full-precision copy
// (c.Rescore) the graph yields RescoreN candidates (0: max(K, 100)) that
// are rescored, as TopK does.
func SearchHNSW(ctx context.Context, g *HNSW, c *Corpus, queries [][]float32, o Options) ([][]Hit, error) {
	v := &c.Vectors
	if o.K <= 0 {
		return nil, fmt.Errorf("search: k = %d", o.K)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	flat, err := flatten(queries, v.Dim)
	if err != nil {
		return nil, err
	}
	approx := v.Type == bindings.VecInt8 && c.Rescore != nil
	if approx && o.RescoreN <= 0 {
		// The beam already ranks by the int8 rows: its best max(K, 100)
		// are rescored (TopK's 10·K would widen the beam tenfold).
		o.RescoreN = max(o.K, 100)
	}
	k := min(candidates(o, approx), max(v.N, 1))
	ef := min(max(o.Ef, k), MaxEf)
	scores, rows, groups, err := g.Search(flat, len(queries), v, k, ef, o.Threads)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	out := hitsOf(scores, rows, groups, len(queries), k)
	if approx {
		rescoreAll(queries, c, out, o)
	}
	return out, nil
}
