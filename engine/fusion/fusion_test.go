package fusion

import (
	"encoding/json"
	"math"
	"math/rand"
	"reflect"
	"testing"
)

func hits(ords ...uint32) []Hit {
	out := make([]Hit, len(ords))
	for i, o := range ords {
		out[i] = Hit{Ord: o, Score: float64(len(ords) - i)}
	}
	return out
}

func ordsOf[T any](xs []T, ord func(T) uint32) []uint32 {
	out := make([]uint32, len(xs))
	for i, x := range xs {
		out[i] = ord(x)
	}
	return out
}

func fusedOrds(f []Fused) []uint32 { return ordsOf(f, func(x Fused) uint32 { return x.Ord }) }
func weightedOrds(w []WeightedHit) []uint32 {
	return ordsOf(w, func(x WeightedHit) uint32 { return x.Ord })
}

func TestRRFTable(t *testing.T) {
	tests := []struct {
		name    string
		lists   [][]Hit
		k       int
		weights []float64
		want    []Fused
	}{
		{"no lists", nil, 60, nil, nil},
		{"empty lists", [][]Hit{{}, {}}, 60, nil, nil},
		{"one list keeps its order", [][]Hit{hits(7, 3, 9)}, 60, nil, []Fused{
			{7, 1.0 / 61, []int{1}}, {3, 1.0 / 62, []int{2}}, {9, 1.0 / 63, []int{3}},
		}},
		{"two lists", [][]Hit{hits(1, 2, 3), hits(3, 1)}, 60, nil, []Fused{
			{1, 1.0/62 + 1.0/61, []int{1, 2}}, // 0.032522
			{3, 1.0/63 + 1.0/61, []int{3, 1}}, // 0.032266
			{2, 1.0 / 62, []int{2, 0}},
		}},
		{"weights", [][]Hit{hits(1, 2, 3), hits(3, 1)}, 60, []float64{2, 1}, []Fused{
			{1, 1.0/62 + 2.0/61, []int{1, 2}}, // 0.048916
			{3, 2.0/63 + 1.0/61, []int{3, 1}}, // 0.048140
			{2, 2.0 / 62, []int{2, 0}},        // 0.032258
		}},
		{"zero weight list still reports ranks", [][]Hit{hits(1), hits(2)}, 60, []float64{1, 0}, []Fused{
			{1, 1.0 / 61, []int{1, 0}}, {2, 0, []int{0, 1}},
		}},
		{"k = 0, symmetric tie broken by ordinal", [][]Hit{hits(6, 5), hits(5, 6)}, 0, nil, []Fused{
			{5, 1.0/2 + 1.0/1, []int{2, 1}}, {6, 1.0/2 + 1.0/1, []int{1, 2}},
		}},
		{"k = 1", [][]Hit{hits(4, 8)}, 1, nil, []Fused{{4, 0.5, []int{1}}, {8, 1.0 / 3, []int{2}}}},
		{"duplicate counts at its first position", [][]Hit{hits(1, 2, 1, 3)}, 60, nil, []Fused{
			{1, 1.0 / 61, []int{1}}, {2, 1.0 / 62, []int{2}}, {3, 1.0 / 64, []int{4}},
		}},
		{"scores are ignored", [][]Hit{{{Ord: 1, Score: -5}, {Ord: 2, Score: 100}}}, 60, nil, []Fused{
			{1, 1.0 / 61, []int{1}}, {2, 1.0 / 62, []int{2}},
		}},
		{"three lists", [][]Hit{hits(1, 2), hits(2, 3), hits(3, 1)}, 60, nil, []Fused{
			// every document has ranks {1, 2}: a three-way tie
			{1, 1.0/62 + 1.0/61, []int{1, 0, 2}}, {2, 1.0/62 + 1.0/61, []int{2, 1, 0}}, {3, 1.0/62 + 1.0/61, []int{0, 2, 1}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RRF(tc.lists, tc.k, tc.weights)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i].Ord != tc.want[i].Ord || math.Abs(got[i].Score-tc.want[i].Score) > 1e-15 || !reflect.DeepEqual(got[i].Ranks, tc.want[i].Ranks) {
					t.Fatalf("rank %d: got %+v, want %+v (all: %+v)", i, got[i], tc.want[i], got)
				}
			}
		})
	}
}

func TestRRFErrors(t *testing.T) {
	l := [][]Hit{hits(1), hits(2)}
	for _, tc := range []struct {
		name    string
		k       int
		weights []float64
	}{
		{"negative k", -1, nil},
		{"too few weights", 60, []float64{1}},
		{"too many weights", 60, []float64{1, 1, 1}},
		{"negative weight", 60, []float64{1, -1}},
		{"NaN weight", 60, []float64{math.NaN(), 1}},
		{"infinite weight", 60, []float64{math.Inf(1), 1}},
	} {
		if _, err := RRF(l, tc.k, tc.weights); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestWeightedTable(t *testing.T) {
	f := func(x float64) *float64 { return &x }
	tests := []struct {
		name         string
		dense, lex   []Hit
		alpha        float64
		wantOrds     []uint32
		wantScores   []float64
		wantDenseRaw []*float64
		wantBM25Raw  []*float64
	}{
		{
			// dense norm: 1→1, 2→0.5, 3→0; bm25 norm: 3→1, 4→1/3, 1→0.
			// fused: 1→0.5, 3→0.5 (tie: ordinal), 2→0.25, 4→1/6.
			name:  "half and half",
			dense: []Hit{{1, 0.9}, {2, 0.5}, {3, 0.1}}, lex: []Hit{{3, 12}, {4, 6}, {1, 3}}, alpha: 0.5,
			wantOrds: []uint32{1, 3, 2, 4}, wantScores: []float64{0.5, 0.5, 0.25, 1.0 / 6},
			wantDenseRaw: []*float64{f(0.9), f(0.1), f(0.5), nil}, wantBM25Raw: []*float64{f(3), f(12), nil, f(6)},
		},
		{
			name:  "alpha 1 is dense only",
			dense: []Hit{{1, 0.9}, {2, 0.5}, {3, 0.1}}, lex: []Hit{{3, 12}, {4, 6}, {1, 3}}, alpha: 1,
			wantOrds: []uint32{1, 2, 3, 4}, wantScores: []float64{1, 0.5, 0, 0},
		},
		{
			name:  "alpha 0 is bm25 only",
			dense: []Hit{{1, 0.9}, {2, 0.5}, {3, 0.1}}, lex: []Hit{{3, 12}, {4, 6}, {1, 3}}, alpha: 0,
			wantOrds: []uint32{3, 4, 1, 2}, wantScores: []float64{1, 1.0 / 3, 0, 0},
		},
		{
			// 0.3·1 + 0.7·0 vs 0.3·0 + 0.7·1
			name:  "alpha 0.3",
			dense: []Hit{{10, 5}, {11, 1}}, lex: []Hit{{11, 2}, {10, 1}}, alpha: 0.3,
			wantOrds: []uint32{11, 10}, wantScores: []float64{0.7, 0.3},
		},
		{
			name:  "single element lists normalize to 1",
			dense: []Hit{{5, 0.2}}, lex: []Hit{{6, 40}}, alpha: 0.25,
			wantOrds: []uint32{6, 5}, wantScores: []float64{0.75, 0.25},
			wantDenseRaw: []*float64{nil, f(0.2)}, wantBM25Raw: []*float64{f(40), nil},
		},
		{
			name:  "all-equal scores normalize to 1",
			dense: []Hit{{2, 0.7}, {1, 0.7}}, lex: []Hit{{1, 3}, {3, 1}}, alpha: 0.5,
			wantOrds: []uint32{1, 2, 3}, wantScores: []float64{1, 0.5, 0},
		},
		{
			name:  "negative scores",
			dense: []Hit{{1, -1}, {2, -3}}, lex: nil, alpha: 0.5,
			wantOrds: []uint32{1, 2}, wantScores: []float64{0.5, 0},
		},
		{
			name:  "duplicate keeps its first score",
			dense: []Hit{{1, 4}, {2, 2}, {1, 0}}, lex: nil, alpha: 1,
			wantOrds: []uint32{1, 2}, wantScores: []float64{1, 0},
			wantDenseRaw: []*float64{f(4), f(2)}, wantBM25Raw: []*float64{nil, nil},
		},
		{name: "both empty", alpha: 0.5},
		{
			name: "one empty", lex: []Hit{{9, 2}, {8, 1}}, alpha: 0.5,
			wantOrds: []uint32{9, 8}, wantScores: []float64{0.5, 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Weighted(tc.dense, tc.lex, tc.alpha)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(weightedOrds(got), append([]uint32{}, tc.wantOrds...)) {
				t.Fatalf("order %v, want %v (%+v)", weightedOrds(got), tc.wantOrds, got)
			}
			for i, w := range tc.wantScores {
				if math.Abs(got[i].Score-w) > 1e-15 {
					t.Errorf("ord %d: score %v, want %v", got[i].Ord, got[i].Score, w)
				}
				if got[i].Score < 0 || got[i].Score > 1 {
					t.Errorf("ord %d: score %v outside [0, 1]", got[i].Ord, got[i].Score)
				}
			}
			for i, w := range tc.wantDenseRaw {
				if !reflect.DeepEqual(got[i].Scores.Dense, w) {
					t.Errorf("ord %d: dense raw %v, want %v", got[i].Ord, got[i].Scores.Dense, w)
				}
			}
			for i, w := range tc.wantBM25Raw {
				if !reflect.DeepEqual(got[i].Scores.BM25, w) {
					t.Errorf("ord %d: bm25 raw %v, want %v", got[i].Ord, got[i].Scores.BM25, w)
				}
			}
		})
	}
}

func TestWeightedErrors(t *testing.T) {
	ok := []Hit{{1, 1}}
	for _, tc := range []struct {
		name       string
		dense, lex []Hit
		alpha      float64
	}{
		{"alpha < 0", ok, ok, -0.1},
		{"alpha > 1", ok, ok, 1.5},
		{"alpha NaN", ok, ok, math.NaN()},
		{"NaN dense score", []Hit{{1, math.NaN()}}, ok, 0.5},
		{"infinite bm25 score", ok, []Hit{{1, math.Inf(1)}}, 0.5},
	} {
		if _, err := Weighted(tc.dense, tc.lex, tc.alpha); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestComponentsJSON(t *testing.T) {
	got, err := Weighted([]Hit{{1, 0.5}}, []Hit{{2, 7}}, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got[0].Scores)
	if string(b) != `{"dense":0.5,"bm25":null}` && string(b) != `{"dense":null,"bm25":7}` {
		t.Fatalf("json %s", b)
	}
}

func TestInputsNotModified(t *testing.T) {
	a, b := []Hit{{3, 1}, {1, 5}, {2, 2}}, []Hit{{2, 9}, {3, 0}}
	ca, cb := append([]Hit{}, a...), append([]Hit{}, b...)
	if _, err := RRF([][]Hit{a, b}, 60, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Weighted(a, b, 0.4); err != nil {
		t.Fatal(err)
	}
	if _, err := MinMax(a); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, ca) || !reflect.DeepEqual(b, cb) {
		t.Fatal("inputs modified")
	}
}

// randomList is a ranked list of distinct ordinals from [0, universe) with
// decreasing scores (ties included).
func randomList(r *rand.Rand, n, universe int) []Hit {
	perm := r.Perm(universe)[:n]
	out := make([]Hit, n)
	s := 100.0
	for i, o := range perm {
		if r.Intn(4) != 0 {
			s -= r.Float64()
		}
		out[i] = Hit{Ord: uint32(o), Score: s}
	}
	return out
}

func TestRRFProperties(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for iter := range 500 {
		n := r.Intn(40)
		l := randomList(r, n, 60)
		want := ordsOf(l, func(h Hit) uint32 { return h.Ord })
		k := r.Intn(100)
		// One list, and a list fused with itself, keep its order.
		for _, lists := range [][][]Hit{{l}, {l, l}, {l, l, l}} {
			got, err := RRF(lists, k, nil)
			if err != nil {
				t.Fatal(err)
			}
			if n > 0 && !reflect.DeepEqual(fusedOrds(got), want) {
				t.Fatalf("iter %d: %d copies: %v, want %v", iter, len(lists), fusedOrds(got), want)
			}
		}
		// Permuting the lists (and their weights) permutes nothing else.
		lists := [][]Hit{l, randomList(r, r.Intn(40), 60), randomList(r, r.Intn(40), 60), randomList(r, r.Intn(40), 60)}
		weights := []float64{r.Float64(), r.Float64(), 1, 2}
		base, err := RRF(lists, k, weights)
		if err != nil {
			t.Fatal(err)
		}
		p := r.Perm(len(lists))
		pl, pw := make([][]Hit, len(lists)), make([]float64, len(lists))
		for i, j := range p {
			pl[i], pw[i] = lists[j], weights[j]
		}
		perm, _ := RRF(pl, k, pw)
		if len(perm) != len(base) {
			t.Fatal("permuted lists: different sizes")
		}
		for i := range base {
			if base[i].Ord != perm[i].Ord || base[i].Score != perm[i].Score {
				t.Fatalf("iter %d: permuted lists: rank %d: %+v vs %+v", iter, i, base[i], perm[i])
			}
			for li, j := range p {
				if perm[i].Ranks[li] != base[i].Ranks[j] {
					t.Fatalf("iter %d: permuted ranks", iter)
				}
			}
		}
		// Output is the union, sorted, and scores match the definition.
		union := map[uint32]bool{}
		for _, l := range lists {
			for _, h := range l {
				union[h.Ord] = true
			}
		}
		if len(base) != len(union) {
			t.Fatalf("iter %d: %d results for a union of %d", iter, len(base), len(union))
		}
		for i, f := range base {
			var s float64
			for li, rk := range f.Ranks {
				if rk > 0 {
					if lists[li][rk-1].Ord != f.Ord {
						t.Fatalf("iter %d: rank %d of list %d is not ord %d", iter, rk, li, f.Ord)
					}
					s += weights[li] / float64(k+rk)
				}
			}
			if math.Abs(s-f.Score) > 1e-12 {
				t.Fatalf("iter %d: ord %d score %v, want %v", iter, f.Ord, f.Score, s)
			}
			if i > 0 && !before(base[i-1].Score, base[i-1].Ord, f.Score, f.Ord) {
				t.Fatalf("iter %d: not sorted at %d", iter, i)
			}
		}
		// Dominance: better ranks everywhere never score lower.
		for _, a := range base {
			for _, b := range base {
				dominates := true
				for li := range lists {
					ra, rb := a.Ranks[li], b.Ranks[li]
					if rb != 0 && (ra == 0 || ra > rb) {
						dominates = false
					}
				}
				if dominates && a.Score < b.Score {
					t.Fatalf("iter %d: ord %d dominates %d but scores %v < %v", iter, a.Ord, b.Ord, a.Score, b.Score)
				}
			}
		}
	}
}

func TestWeightedProperties(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for iter := range 500 {
		d := randomList(r, r.Intn(30), 50)
		l := randomList(r, r.Intn(30), 50)
		alpha := r.Float64()
		if iter%10 == 0 {
			alpha = float64(iter % 20 / 10) // 0 or 1
		}
		got, err := Weighted(d, l, alpha)
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range got {
			if w.Score < 0 || w.Score > 1 || w.DenseNorm < 0 || w.DenseNorm > 1 || w.BM25Norm < 0 || w.BM25Norm > 1 {
				t.Fatalf("iter %d: out of [0, 1]: %+v", iter, w)
			}
			if i > 0 && !before(got[i-1].Score, got[i-1].Ord, w.Score, w.Ord) {
				t.Fatalf("iter %d: not sorted", iter)
			}
			if w.Scores.Dense == nil && w.Scores.BM25 == nil {
				t.Fatalf("iter %d: ord %d in neither list", iter, w.Ord)
			}
		}
		// A list fused with itself keeps its score order, for any alpha:
		// a·x + (1−a)·x is monotone in x even in floating point.
		self, _ := Weighted(d, d, alpha)
		if len(self) != len(d) {
			t.Fatalf("iter %d: self-fusion has %d hits for %d", iter, len(self), len(d))
		}
		for i := 1; i < len(self); i++ {
			if self[i-1].DenseNorm < self[i].DenseNorm || *self[i-1].Scores.Dense < *self[i].Scores.Dense {
				t.Fatalf("iter %d: self-fusion reordered: %+v", iter, self)
			}
		}
		// alpha = 1: documents of the dense list come in dense order.
		one, _ := Weighted(d, l, 1)
		var prev *WeightedHit
		for i := range one {
			if one[i].Scores.Dense == nil {
				continue
			}
			if prev != nil && *prev.Scores.Dense < *one[i].Scores.Dense {
				t.Fatalf("iter %d: alpha 1 not in dense order", iter)
			}
			prev = &one[i]
		}
	}
}
