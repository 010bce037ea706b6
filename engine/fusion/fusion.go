// Package fusion combines ranked result lists from several retrievers (dense
// vectors, BM25) into one ranking. Every function is pure: inputs are not
// modified and equal inputs give equal outputs, ties included.
//
// Two methods:
//
//   - RRF, reciprocal rank fusion (Cormack, Clarke and Büttcher, SIGIR 2009):
//     score(d) = Σ_i w_i / (k + rank_i(d)), rank 1-based, over the lists
//     that contain d. It uses ranks only, so lists with incomparable score
//     scales fuse without tuning; k = 60 is the paper's (and Elasticsearch's,
//     OpenSearch's, Vespa's) default.
//   - Weighted, a convex combination of min-max normalized scores:
//     alpha·minmax(dense) + (1 − alpha)·minmax(bm25), with each component's
//     raw score kept for display.
//
// Shared conventions:
//
//   - A list is in rank order: element 0 is rank 1. RRF ignores scores.
//   - A document that appears more than once in a list counts once, at its
//     first (best) position; ranks are positions, so later entries keep
//     their positions.
//   - A document missing from a list gets nothing from that list.
//   - Output holds every document of the union, best first; equal fused
//     scores are ordered by ordinal, ascending. Callers cut it to their k.
package fusion

import (
	"fmt"
	"math"
	"sort"
)

// Hit is one entry of an input list: a document ordinal and the retriever's
// score (higher is better).
type Hit struct {
	Ord   uint32
	Score float64
}

// DefaultRRFK is the usual RRF rank constant.
const DefaultRRFK = 60

// Fused is one document of an RRF ranking.
type Fused struct {
	Ord   uint32
	Score float64
	// Ranks has one entry per input list: the document's 1-based rank in
	// it, or 0 if the list does not contain it.
	Ranks []int
}

// RRF fuses lists by reciprocal rank: score(d) = Σ w_i / (k + rank_i(d)).
// weights may be nil (every list weighs 1) or have one finite, non-negative
// weight per list. k must be >= 0 (DefaultRRFK is customary).
//
// A document's contributions are added smallest first, so its score does not
// depend on the order of the lists: documents with the same ranks under
// permuted lists get bit-identical scores, and tie as they should.
func RRF(lists [][]Hit, k int, weights []float64) ([]Fused, error) {
	if k < 0 {
		return nil, fmt.Errorf("fusion: rrf: k = %d, want >= 0", k)
	}
	if weights != nil && len(weights) != len(lists) {
		return nil, fmt.Errorf("fusion: rrf: %d weights for %d lists", len(weights), len(lists))
	}
	for i, w := range weights {
		if !(w >= 0) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("fusion: rrf: weight %d = %v, want a finite value >= 0", i, w)
		}
	}
	index := make(map[uint32]int) // ord -> position in out
	var out []Fused
	for li, list := range lists {
		for pos, h := range list {
			j, ok := index[h.Ord]
			if !ok {
				j = len(out)
				index[h.Ord] = j
				out = append(out, Fused{Ord: h.Ord, Ranks: make([]int, len(lists))})
			}
			if out[j].Ranks[li] == 0 {
				out[j].Ranks[li] = pos + 1
			}
		}
	}
	parts := make([]float64, 0, len(lists))
	for j := range out {
		parts = parts[:0]
		for li, r := range out[j].Ranks {
			if r == 0 {
				continue
			}
			w := 1.0
			if weights != nil {
				w = weights[li]
			}
			parts = append(parts, w/float64(k+r))
		}
		out[j].Score = sumAscending(parts)
	}
	sort.Slice(out, func(a, b int) bool { return before(out[a].Score, out[a].Ord, out[b].Score, out[b].Ord) })
	return out, nil
}

// sumAscending adds non-negative terms smallest first (in place).
func sumAscending(parts []float64) float64 {
	sort.Float64s(parts)
	s := 0.0
	for _, p := range parts {
		s += p
	}
	return s
}

// before is the output order: higher score first, then lower ordinal.
func before(sa float64, oa uint32, sb float64, ob uint32) bool {
	if sa != sb {
		return sa > sb
	}
	return oa < ob
}

// Components are a fused document's raw scores from each retriever; nil
// where the document is not in that retriever's list.
type Components struct {
	Dense *float64 `json:"dense"`
	BM25  *float64 `json:"bm25"`
}

// WeightedHit is one document of a Weighted ranking.
type WeightedHit struct {
	Ord   uint32
	Score float64 // alpha·DenseNorm + (1 − alpha)·BM25Norm, in [0, 1]
	// DenseNorm and BM25Norm are the min-max normalized component scores,
	// 0 where the document is missing from that list.
	DenseNorm, BM25Norm float64
	Scores              Components // raw scores, for output as {dense, bm25}
}

// MinMax normalizes a list's scores to [0, 1]: (s − min) / (max − min), so
// the best becomes 1 and the worst 0. When every score is equal (which
// includes a list of one) there is no spread to normalize and every score
// becomes 1: each is the best its retriever found. Duplicate ordinals count
// at their first position only; the result has one value per distinct
// ordinal, in first-occurrence order. Scores must be finite.
func MinMax(list []Hit) ([]Hit, error) {
	seen := make(map[uint32]bool, len(list))
	out := make([]Hit, 0, len(list))
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, h := range list {
		if math.IsNaN(h.Score) || math.IsInf(h.Score, 0) {
			return nil, fmt.Errorf("fusion: min-max: score %d (ord %d) is %v", i, h.Ord, h.Score)
		}
		if seen[h.Ord] {
			continue
		}
		seen[h.Ord] = true
		out = append(out, h)
		lo, hi = math.Min(lo, h.Score), math.Max(hi, h.Score)
	}
	for i := range out {
		if hi == lo {
			out[i].Score = 1
		} else {
			out[i].Score = (out[i].Score - lo) / (hi - lo)
		}
	}
	return out, nil
}

// Weighted fuses a dense and a lexical (BM25) list by
// alpha·minmax(dense) + (1 − alpha)·minmax(bm25), alpha in [0, 1]: 1 is
// dense only, 0 BM25 only. A document missing from a list gets 0 from it
// (the normalized score of that list's worst hit). See MinMax for lists of
// one element or of equal scores. Each hit keeps both raw scores.
func Weighted(dense, lexical []Hit, alpha float64) ([]WeightedHit, error) {
	if !(alpha >= 0 && alpha <= 1) {
		return nil, fmt.Errorf("fusion: weighted: alpha = %v, want 0 <= alpha <= 1", alpha)
	}
	dn, err := MinMax(dense)
	if err != nil {
		return nil, fmt.Errorf("fusion: weighted: dense list: %w", err)
	}
	ln, err := MinMax(lexical)
	if err != nil {
		return nil, fmt.Errorf("fusion: weighted: bm25 list: %w", err)
	}
	index := make(map[uint32]int, len(dn)+len(ln))
	out := make([]WeightedHit, 0, len(dn)+len(ln))
	get := func(ord uint32) *WeightedHit {
		j, ok := index[ord]
		if !ok {
			j = len(out)
			index[ord] = j
			out = append(out, WeightedHit{Ord: ord})
		}
		return &out[j]
	}
	// Raw scores from the first occurrence, as MinMax uses.
	for _, h := range dn {
		get(h.Ord).DenseNorm = h.Score
	}
	for _, h := range ln {
		get(h.Ord).BM25Norm = h.Score
	}
	for _, h := range dense {
		if w := get(h.Ord); w.Scores.Dense == nil {
			s := h.Score
			w.Scores.Dense = &s
		}
	}
	for _, h := range lexical {
		if w := get(h.Ord); w.Scores.BM25 == nil {
			s := h.Score
			w.Scores.BM25 = &s
		}
	}
	for i := range out {
		out[i].Score = alpha*out[i].DenseNorm + (1-alpha)*out[i].BM25Norm
	}
	sort.Slice(out, func(a, b int) bool { return before(out[a].Score, out[a].Ord, out[b].Score, out[b].Ord) })
	return out, nil
}
