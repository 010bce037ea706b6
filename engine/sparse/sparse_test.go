package sparse

import (
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func vec(pairs ...float64) Vec {
	var v Vec
	for i := 0; i+1 < len(pairs); i += 2 {
		v.IDs = append(v.IDs, int32(pairs[i]))
		v.Weights = append(v.Weights, float32(pairs[i+1]))
	}
	return v
}

// randVec draws a valid vector of about n active dimensions of vocab, with
// weights from a small set (so that equal products, hence ties, happen).
func randVec(r *rand.Rand, vocab, n int) Vec {
	seen := map[int32]bool{}
	var ids []int32
	var ws []float32
	for range n {
		id := int32(r.IntN(vocab))
		if seen[id] {
			continue
		}
		seen[id] = true
		ids = append(ids, id)
		ws = append(ws, float32(1+r.IntN(8))/4)
	}
	return FromPairs(ids, ws)
}

func TestDotNorm(t *testing.T) {
	a := vec(1, 2, 4, 0.5, 9, 3)
	b := vec(0, 7, 4, 4, 9, -1, 12, 5)
	if got := a.Dot(b); got != 2-3 {
		t.Errorf("Dot = %v, want -1", got)
	}
	if got, want := a.Dot(b), b.Dot(a); got != want {
		t.Errorf("Dot not symmetric: %v, %v", got, want)
	}
	if got := a.Dot(Vec{}); got != 0 {
		t.Errorf("Dot with empty = %v", got)
	}
	if got, want := a.Norm(), math.Sqrt(4+0.25+9); math.Abs(got-want) > 1e-15 {
		t.Errorf("Norm = %v, want %v", got, want)
	}
	if a.Len() != 3 || (Vec{}).Len() != 0 {
		t.Errorf("Len = %d", a.Len())
	}
}

func TestCheck(t *testing.T) {
	ok := []Vec{{}, vec(0, 1), vec(0, 1, 9, 2)}
	for _, v := range ok {
		if err := v.Check(10); err != nil {
			t.Errorf("Check(%v): %v", v, err)
		}
	}
	bad := map[string]Vec{
		"ids but":            {IDs: []int32{1, 2}, Weights: []float32{1}},
		"outside":            vec(10, 1),
		"outside the":        vec(-1, 1),
		"strictly":           vec(3, 1, 3, 1),
		"strictly increasin": vec(4, 1, 3, 1),
		"weight 0":           vec(2, 0),
		"weight -1":          vec(2, -1),
		"weight NaN":         {IDs: []int32{2}, Weights: []float32{float32(math.NaN())}},
		"weight +Inf":        {IDs: []int32{2}, Weights: []float32{float32(math.Inf(1))}},
	}
	for want, v := range bad {
		err := v.Check(10)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check(%v) = %v, want an error containing %q", v, err, want)
		}
	}
}

func TestFromPairsFromDense(t *testing.T) {
	// Best-first order as the native core returns it, with a zero and a
	// negative weight (dropped) and a NaN (dropped).
	got := FromPairs([]int32{7, 2, 30, 5, 11, 3}, []float32{3, 2.5, 1, 0, -1, float32(math.NaN())})
	want := vec(2, 2.5, 7, 3, 30, 1)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FromPairs = %v, want %v", got, want)
	}
	if err := got.Check(31); err != nil {
		t.Error(err)
	}
	if got := FromPairs(nil, nil); got.Len() != 0 {
		t.Errorf("FromPairs(nil) = %v", got)
	}
	d := FromDense([]float32{0, 1.5, -2, 0, 4})
	if want := vec(1, 1.5, 4, 4); !reflect.DeepEqual(d, want) {
		t.Errorf("FromDense = %v, want %v", d, want)
	}
}

func TestTopByWeight(t *testing.T) {
	v := vec(1, 0.5, 3, 2, 4, 1, 8, 2, 9, 0.25)
	// The 3 largest: 2 (id 3), 2 (id 8), 1 (id 4); ids ascending.
	if got, want := v.Top(3), vec(3, 2, 4, 1, 8, 2); !reflect.DeepEqual(got, want) {
		t.Errorf("Top(3) = %v, want %v", got, want)
	}
	// A tie at the cut: the lower id is kept.
	if got, want := v.Top(1), vec(3, 2); !reflect.DeepEqual(got, want) {
		t.Errorf("Top(1) = %v, want %v", got, want)
	}
	for _, k := range []int{0, -1, 5, 6} {
		if got := v.Top(k); !reflect.DeepEqual(got, v) {
			t.Errorf("Top(%d) = %v, want v", k, got)
		}
	}
	want := []Entry{{3, 2}, {8, 2}, {4, 1}, {1, 0.5}, {9, 0.25}}
	if got := v.ByWeight(); !reflect.DeepEqual(got, want) {
		t.Errorf("ByWeight = %v, want %v", got, want)
	}
	// Top(k) agrees with the first k of ByWeight.
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		v := randVec(r, 50, 20)
		k := r.IntN(v.Len() + 2)
		got := v.Top(k)
		if err := got.Check(50); err != nil {
			t.Fatal(err)
		}
		if k > 0 && k < v.Len() {
			bw := v.ByWeight()[:k]
			if got.Len() != k {
				t.Fatalf("Top(%d) has %d entries", k, got.Len())
			}
			set := map[int32]float32{}
			for _, e := range bw {
				set[e.ID] = e.Weight
			}
			for i, id := range got.IDs {
				if w, ok := set[id]; !ok || w != got.Weights[i] {
					t.Fatalf("Top(%d) of %v has %d:%v, not among the best %v", k, v, id, got.Weights[i], bw)
				}
			}
		}
	}
}

// The figures are checked by hand: 3 vectors of 0, 2 and 7 active
// dimensions over 100 give a mean of 3, a sparsity of 1 − 3/100 = 0.97.
func TestSparsity(t *testing.T) {
	vecs := []Vec{{}, vec(1, 1, 2, 1), vec(0, 1, 1, 1, 2, 1, 3, 1, 4, 1, 5, 1, 6, 1)}
	got := Sparsity(vecs, 100)
	want := Stats{Count: 3, Vocab: 100, ActiveDims: 3, MinActive: 0, MaxActive: 7, SparsityRatio: 0.97}
	if got.Count != want.Count || got.Vocab != want.Vocab || got.ActiveDims != want.ActiveDims ||
		got.MinActive != want.MinActive || got.MaxActive != want.MaxActive || math.Abs(got.SparsityRatio-want.SparsityRatio) > 1e-15 {
		t.Errorf("Sparsity = %+v, want %+v", got, want)
	}
	if s, w := got.String(), "active dims mean 3.0 (min 0, max 7), sparsity 97.00% of 100"; s != w {
		t.Errorf("String = %q, want %q", s, w)
	}
	// The first vector sets the minimum even when later ones are larger.
	got = Sparsity([]Vec{vec(1, 1, 2, 1, 3, 1), vec(4, 1, 5, 1)}, 30522)
	if got.MinActive != 2 || got.MaxActive != 3 || got.ActiveDims != 2.5 || math.Abs(got.SparsityRatio-(1-2.5/30522)) > 1e-15 {
		t.Errorf("Sparsity = %+v", got)
	}
	// sentence-transformers' sparsity() of no vectors: 0 active, ratio 1.
	if got := Sparsity(nil, 10); got.ActiveDims != 0 || got.SparsityRatio != 1 || got.Count != 0 {
		t.Errorf("Sparsity(nil) = %+v", got)
	}
	if got := FromCounts(4, 10, 1, 5, 20); got.ActiveDims != 2.5 || got.SparsityRatio != 0.875 || got.MinActive != 1 || got.MaxActive != 5 {
		t.Errorf("FromCounts = %+v", got)
	}
}
