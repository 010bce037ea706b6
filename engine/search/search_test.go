package search

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/quarry-search/quarry/bindings"
	"github.com/quarry-search/quarry/engine/gguf"
)

// data makes n unit vectors around a few cluster centres (so neighbours are
// meaningful, as with real embeddings), with groups of 1-4 consecutive rows.
func data(n, dim int, seed uint64) ([][]float32, []uint32) {
	r := rand.New(rand.NewPCG(seed, 99))
	centres := make([][]float64, 50)
	for i := range centres {
		centres[i] = make([]float64, dim)
		for j := range centres[i] {
			centres[i][j] = r.NormFloat64()
		}
	}
	vecs := make([][]float32, n)
	groups := make([]uint32, n)
	g := uint32(0)
	left := 0
	for i := range vecs {
		if left == 0 {
			left = 1 + r.IntN(4)
			if i > 0 {
				g++
			}
		}
		left--
		groups[i] = g
		c := centres[r.IntN(len(centres))]
		v := make([]float64, dim)
		var ss float64
		for j := range v {
			v[j] = c[j] + 0.8*r.NormFloat64()
			ss += v[j] * v[j]
		}
		vecs[i] = make([]float32, dim)
		for j := range v {
			vecs[i][j] = float32(v[j] / math.Sqrt(ss))
		}
	}
	return vecs, groups
}

// queriesNear makes queries as noisy copies of random corpus rows, as real
// queries resemble some documents.
func queriesNear(vecs [][]float32, n int, seed uint64) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([][]float32, n)
	for i := range out {
		src := vecs[r.IntN(len(vecs))]
		q := make([]float64, len(src))
		var ss float64
		for j := range q {
			q[j] = float64(src[j]) + 0.05*r.NormFloat64()
			ss += q[j] * q[j]
		}
		out[i] = make([]float32, len(q))
		for j := range q {
			out[i][j] = float32(q[j] / math.Sqrt(ss))
		}
	}
	return out
}

func encode(t bindings.VecType, vecs [][]float32) ([]byte, []float32) {
	dim := len(vecs[0])
	rb := t.RowBytes(dim)
	b := make([]byte, len(vecs)*rb)
	var scales []float32
	for i, v := range vecs {
		row := b[i*rb : (i+1)*rb]
		switch t {
		case bindings.VecF32:
			for j, x := range v {
				binary.LittleEndian.PutUint32(row[4*j:], math.Float32bits(x))
			}
		case bindings.VecF16:
			for j, x := range v {
				binary.LittleEndian.PutUint16(row[2*j:], gguf.F32ToF16(x))
			}
		case bindings.VecInt8:
			var amax float64
			for _, x := range v {
				amax = math.Max(amax, math.Abs(float64(x)))
			}
			sc := amax / 127
			scales = append(scales, float32(sc))
			for j, x := range v {
				row[j] = byte(int8(math.Round(float64(x) / sc)))
			}
		case bindings.VecBinary:
			for j, x := range v {
				if x > 0 {
					row[j/8] |= 1 << (j % 8)
				}
			}
		}
	}
	return b, scales
}

// brute is the float64 reference: best row per group, top k groups.
func brute(q []float32, vecs [][]float32, groups []uint32, allow func(uint32) bool, k int) []Hit {
	best := map[uint32]Hit{}
	for r, v := range vecs {
		g := groups[r]
		if allow != nil && !allow(g) {
			continue
		}
		var s float64
		for j := range q {
			s += float64(q[j]) * float64(v[j])
		}
		h, ok := best[g]
		if !ok || float32(s) > h.Score {
			best[g] = Hit{Group: int64(g), Row: int64(r), Score: float32(s)}
		}
	}
	out := make([]Hit, 0, len(best))
	for _, h := range best {
		out = append(out, h)
	}
	sort.Slice(out, func(a, b int) bool {
		return out[a].Score > out[b].Score || (out[a].Score == out[b].Score && out[a].Group < out[b].Group)
	})
	if len(out) > k {
		out = out[:k]
	}
	return out
}

func bitset(n int, keep func(uint32) bool) []uint64 {
	b := make([]uint64, (n+63)/64)
	for g := 0; g < n; g++ {
		if keep(uint32(g)) {
			b[g/64] |= 1 << (g % 64)
		}
	}
	return b
}

func TestExactAgainstBruteForce(t *testing.T) {
	const n, dim, k = 6000, 96, 10
	vecs, groups := data(n, dim, 1)
	qs := queriesNear(vecs, 12, 2)
	ngroups := int(groups[n-1]) + 1
	filters := map[string]func(uint32) bool{
		"none":   nil,
		"half":   func(g uint32) bool { return g%2 == 0 },
		"sparse": func(g uint32) bool { return g%97 == 3 },
		"single": func(g uint32) bool { return g == 17 },
	}
	full, _ := encode(bindings.VecF32, vecs)
	f16full, _ := encode(bindings.VecF16, vecs)
	impls := []bool{true}
	if bindings.Available {
		impls = append(impls, false)
	}
	for _, typ := range []bindings.VecType{bindings.VecF32, bindings.VecF16, bindings.VecInt8, bindings.VecBinary} {
		data, scales := encode(typ, vecs)
		for fname, f := range filters {
			for _, forceGo := range impls {
				c := &Corpus{Vectors: bindings.Vectors{Type: typ, Dim: dim, N: n, Data: data, Scales: scales, Groups: groups}}
				if f != nil {
					c.Vectors.Allow = bitset(ngroups, f)
					c.Vectors.AllowBits = ngroups
				}
				ref := vecs
				switch typ {
				case bindings.VecF16:
					ref = dequant(bindings.VecF16, f16full, n, dim)
				case bindings.VecInt8, bindings.VecBinary:
					// rescored with the f32 rows: exact over f32
					c.Rescore = &bindings.Vectors{Type: bindings.VecF32, Dim: dim, N: n, Data: full}
				}
				rescoreN := 0
				if typ == bindings.VecBinary {
					rescoreN = 300 // sign bits of 96 dims are coarse: rescore more candidates
				}
				got, err := TopK(context.Background(), c, qs, Options{K: k, RescoreN: rescoreN, ForceGo: forceGo})
				if err != nil {
					t.Fatal(err)
				}
				for qi, q := range qs {
					want := brute(q, ref, groups, f, k)
					if len(got[qi]) != len(want) {
						t.Fatalf("%v %s go=%v q%d: %d hits, want %d", typ, fname, forceGo, qi, len(got[qi]), len(want))
					}
					for j := range want {
						g, w := got[qi][j], want[j]
						if g.Group != w.Group || g.Row != w.Row || math.Abs(float64(g.Score-w.Score)) > 1e-5 {
							t.Fatalf("%v %s go=%v q%d rank %d: got %+v want %+v", typ, fname, forceGo, qi, j, g, w)
						}
					}
				}
			}
		}
	}
}

func dequant(t bindings.VecType, b []byte, n, dim int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, dim)
		for j := range out[i] {
			out[i][j] = gguf.F16ToF32(binary.LittleEndian.Uint16(b[(i*dim+j)*2:]))
		}
	}
	return out
}

func TestNativeMatchesGoApproximate(t *testing.T) {
	if !bindings.Available {
		t.Skip("no native core")
	}
	const n, dim, k = 3000, 64, 20
	vecs, groups := data(n, dim, 3)
	qs := queriesNear(vecs, 7, 4)
	for _, typ := range []bindings.VecType{bindings.VecInt8, bindings.VecBinary} {
		d, sc := encode(typ, vecs)
		c := &Corpus{Vectors: bindings.Vectors{Type: typ, Dim: dim, N: n, Data: d, Scales: sc, Groups: groups}}
		a, err := TopK(context.Background(), c, qs, Options{K: k})
		if err != nil {
			t.Fatal(err)
		}
		b, err := TopK(context.Background(), c, qs, Options{K: k, ForceGo: true})
		if err != nil {
			t.Fatal(err)
		}
		for qi := range qs {
			for j := range a[qi] {
				if a[qi][j].Group != b[qi][j].Group || math.Abs(float64(a[qi][j].Score-b[qi][j].Score)) > 1e-4*math.Max(1, math.Abs(float64(b[qi][j].Score))) {
					t.Fatalf("%v q%d rank %d: native %+v go %+v", typ, qi, j, a[qi][j], b[qi][j])
				}
			}
		}
	}
}

func TestEdgeCases(t *testing.T) {
	vecs, _ := data(5, 16, 5)
	d, _ := encode(bindings.VecF32, vecs)
	c := &Corpus{Vectors: bindings.Vectors{Type: bindings.VecF32, Dim: 16, N: 5, Data: d}}
	for _, forceGo := range []bool{true, false} {
		if !forceGo && !bindings.Available {
			continue
		}
		got, err := TopK(context.Background(), c, [][]float32{vecs[2]}, Options{K: 10, ForceGo: forceGo})
		if err != nil {
			t.Fatal(err)
		}
		if len(got[0]) != 5 || got[0][0].Row != 2 {
			t.Errorf("go=%v: k > n: %+v", forceGo, got[0])
		}
		c2 := *c
		c2.Vectors.Allow = []uint64{0}
		c2.Vectors.AllowBits = 5
		got, err = TopK(context.Background(), &c2, [][]float32{vecs[2]}, Options{K: 3, ForceGo: forceGo})
		if err != nil || len(got[0]) != 0 {
			t.Errorf("go=%v: nothing allowed: %+v %v", forceGo, got, err)
		}
	}
	if _, err := TopK(context.Background(), c, [][]float32{make([]float32, 3)}, Options{K: 1}); err == nil {
		t.Error("wrong query dim accepted")
	}
	if _, err := TopK(context.Background(), c, [][]float32{vecs[0]}, Options{K: 0}); err == nil {
		t.Error("k = 0 accepted")
	}
}
