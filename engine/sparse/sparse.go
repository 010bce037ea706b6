// Package sparse holds quarry's SPLADE side: the sparse vector type, the
// per-segment inverted index file (sparse-NNNNNN.qsp, docs/sparse.md), exact
// dot-product top-k search over its postings with an allow bitset, and the
// sparsity statistics sentence-transformers' SparseEncoder reports.
//
// The package is pure Go (it builds with CGO_ENABLED=0); vectors come from
// engine.Model.Sparse.
package sparse

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// Vec is a sparse vector over a vocabulary: IDs strictly increasing, each
// with its weight (> 0 and finite for SPLADE vectors).
type Vec struct {
	IDs     []int32   `json:"ids"`
	Weights []float32 `json:"weights"`
}

// Len is the number of active (stored) dimensions.
func (v Vec) Len() int { return len(v.IDs) }

// Dot is the dot product, accumulated in float64 in ascending id order (the
// order the index's search adds terms in, so scores agree bit for bit).
func (v Vec) Dot(o Vec) float64 {
	var s float64
	i, j := 0, 0
	for i < len(v.IDs) && j < len(o.IDs) {
		switch {
		case v.IDs[i] < o.IDs[j]:
			i++
		case v.IDs[i] > o.IDs[j]:
			j++
		default:
			s += float64(v.Weights[i]) * float64(o.Weights[j])
			i++
			j++
		}
	}
	return s
}

// Norm is the L2 norm.
func (v Vec) Norm() float64 {
	var s float64
	for _, w := range v.Weights {
		s += float64(w) * float64(w)
	}
	return math.Sqrt(s)
}

// Check verifies the invariants: equal lengths, ids strictly increasing in
// [0, vocab), weights finite and > 0.
func (v Vec) Check(vocab int) error {
	if len(v.IDs) != len(v.Weights) {
		return fmt.Errorf("%d ids but %d weights", len(v.IDs), len(v.Weights))
	}
	for i, id := range v.IDs {
		if id < 0 || int(id) >= vocab {
			return fmt.Errorf("id %d outside the vocabulary [0, %d)", id, vocab)
		}
		if i > 0 && id <= v.IDs[i-1] {
			return fmt.Errorf("ids not strictly increasing at %d (%d after %d)", i, id, v.IDs[i-1])
		}
		if w := v.Weights[i]; !(w > 0) || math.IsInf(float64(w), 0) {
			return fmt.Errorf("id %d has weight %v (want finite and > 0)", id, w)
		}
	}
	return nil
}

// FromPairs builds a Vec from (id, weight) pairs in any order (e.g. the
// native core's best-first output), sorting them by id. Entries with weight
// <= 0 are dropped.
func FromPairs(ids []int32, weights []float32) Vec {
	idx := make([]int, 0, len(ids))
	for i := range ids {
		if weights[i] > 0 {
			idx = append(idx, i)
		}
	}
	sort.Slice(idx, func(a, b int) bool { return ids[idx[a]] < ids[idx[b]] })
	v := Vec{IDs: make([]int32, len(idx)), Weights: make([]float32, len(idx))}
	for j, i := range idx {
		v.IDs[j], v.Weights[j] = ids[i], weights[i]
	}
	return v
}

// FromDense keeps the entries of a dense vector that are > 0.
func FromDense(d []float32) Vec {
	var v Vec
	for i, x := range d {
		if x > 0 {
			v.IDs = append(v.IDs, int32(i))
			v.Weights = append(v.Weights, x)
		}
	}
	return v
}

// Top returns the k largest entries of v (ties: lower id first), still
// sorted by id; k <= 0 or k >= Len returns v itself.
func (v Vec) Top(k int) Vec {
	if k <= 0 || k >= len(v.IDs) {
		return v
	}
	idx := make([]int, len(v.IDs))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool {
		wa, wb := v.Weights[idx[a]], v.Weights[idx[b]]
		return wa > wb || wa == wb && v.IDs[idx[a]] < v.IDs[idx[b]]
	})
	idx = idx[:k]
	slices.Sort(idx)
	out := Vec{IDs: make([]int32, k), Weights: make([]float32, k)}
	for j, i := range idx {
		out.IDs[j], out.Weights[j] = v.IDs[i], v.Weights[i]
	}
	return out
}

// ByWeight returns the entries best first (ties: lower id first), for
// display.
func (v Vec) ByWeight() []Entry {
	out := make([]Entry, len(v.IDs))
	for i := range v.IDs {
		out[i] = Entry{v.IDs[i], v.Weights[i]}
	}
	sort.Slice(out, func(a, b int) bool {
		return out[a].Weight > out[b].Weight || out[a].Weight == out[b].Weight && out[a].ID < out[b].ID
	})
	return out
}

// Entry is one active dimension.
type Entry struct {
	ID     int32
	Weight float32
}

// Stats are sparsity statistics as sentence-transformers'
// SparseEncoder.sparsity reports them: the mean number of active (non-zero)
// dimensions and the mean sparsity ratio 1 − active/vocab, plus the extremes.
type Stats struct {
	Count         int     `json:"count"`          // vectors
	Vocab         int     `json:"vocab"`          // dimensions of each vector
	ActiveDims    float64 `json:"active_dims"`    // mean active dimensions per vector
	MinActive     int     `json:"min_active"`     // fewest active dimensions of a vector
	MaxActive     int     `json:"max_active"`     // most
	SparsityRatio float64 `json:"sparsity_ratio"` // mean of 1 − active/vocab
}

// Sparsity computes the statistics of vecs (vectors of vocab dimensions).
func Sparsity(vecs []Vec, vocab int) Stats {
	st := Stats{Count: len(vecs), Vocab: vocab}
	var sum int64
	for i, v := range vecs {
		n := v.Len()
		sum += int64(n)
		if i == 0 || n < st.MinActive {
			st.MinActive = n
		}
		if n > st.MaxActive {
			st.MaxActive = n
		}
	}
	return FromCounts(len(vecs), sum, st.MinActive, st.MaxActive, vocab)
}

// FromCounts makes Stats from totals: count vectors with sum active
// dimensions in all.
func FromCounts(count int, sum int64, minActive, maxActive, vocab int) Stats {
	st := Stats{Count: count, Vocab: vocab, MinActive: minActive, MaxActive: maxActive, SparsityRatio: 1}
	if count > 0 {
		st.ActiveDims = float64(sum) / float64(count)
		if vocab > 0 {
			st.SparsityRatio = 1 - st.ActiveDims/float64(vocab)
		}
	}
	return st
}

// String is a one-line summary, e.g. "active dims mean 41.3 (min 12, max
// 97), sparsity 99.86% of 30522".
func (s Stats) String() string {
	return fmt.Sprintf("active dims mean %.1f (min %d, max %d), sparsity %.2f%% of %d", s.ActiveDims, s.MinActive, s.MaxActive, 100*s.SparsityRatio, s.Vocab)
}
