package sparse

import (
	"context"
	"slices"
	"sort"
)

// Hit is one document found by Search: its ordinal, its best passage (the
// row's index among the document's rows in the segment) and that passage's
// score.
type Hit struct {
	Group   uint32
	Passage int
	Score   float64
}

// allowed reports whether group g is in the bitset (nil: everything).
func allowed(allow []uint64, bits int, g uint32) bool {
	if allow == nil {
		return true
	}
	return int(g) < bits && int(g)/64 < len(allow) && allow[g/64]&(1<<(g%64)) != 0
}

// Search returns the k documents of the segment with the highest dot product
// between q and one of their rows (a document scores by its best passage),
// best first; ties go to the lower ordinal, and within a document to the
// earlier passage. Only documents whose ordinal is set in allow (a bitset of
// bits bits; nil allows all) and whose score is > 0 (they share an active
// dimension with the query) are returned. Scores are exact: float64 sums of
// float32 products in ascending dimension order, as Vec.Dot computes them.
func (s *Segment) Search(q Vec, allow []uint64, bits, k int) []Hit {
	if k <= 0 || len(s.Groups) == 0 {
		return nil
	}
	acc := make([]float64, len(s.Groups))
	seen := make([]bool, len(s.Groups))
	var touched []uint32
	for i, t := range q.IDs {
		if t < 0 || int(t) >= s.Vocab {
			continue
		}
		qw := float64(q.Weights[i])
		for p := s.offs[t]; p < s.offs[t+1]; p++ {
			r := s.rows[p]
			if !allowed(allow, bits, s.Groups[r]) {
				continue
			}
			if !seen[r] {
				seen[r] = true
				touched = append(touched, r)
			}
			acc[r] += qw * float64(s.weights[p])
		}
	}
	slices.Sort(touched)
	var hits []Hit
	for i := 0; i < len(touched); {
		g := s.Groups[touched[i]]
		best := touched[i]
		j := i + 1
		for ; j < len(touched) && s.Groups[touched[j]] == g; j++ {
			if acc[touched[j]] > acc[best] {
				best = touched[j]
			}
		}
		if acc[best] > 0 {
			first := sort.Search(len(s.Groups), func(x int) bool { return s.Groups[x] >= g })
			hits = append(hits, Hit{Group: g, Passage: int(best) - first, Score: acc[best]})
		}
		i = j
	}
	return topHits(hits, k)
}

func topHits(hits []Hit, k int) []Hit {
	sort.Slice(hits, func(a, b int) bool {
		return hits[a].Score > hits[b].Score || hits[a].Score == hits[b].Score && hits[a].Group < hits[b].Group
	})
	if len(hits) > k {
		hits = hits[:k:k]
	}
	return hits
}

// SearchAll runs every query over every segment (their ordinal ranges are
// disjoint) and merges the results: the exact top k per query.
func SearchAll(ctx context.Context, segs []*Segment, qs []Vec, allow []uint64, bits, k int) ([][]Hit, error) {
	out := make([][]Hit, len(qs))
	for qi, q := range qs {
		for _, s := range segs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if s != nil {
				out[qi] = append(out[qi], s.Search(q, allow, bits, k)...)
			}
		}
		out[qi] = topHits(out[qi], k)
	}
	return out, nil
}
