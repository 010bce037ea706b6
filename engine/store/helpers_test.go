package store

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// unitRows returns n random-normal vectors of length dim, L2-normalized.
func unitRows(rng *rand.Rand, n, dim int) [][]float32 {
	rows := make([][]float32, n)
	for i := range rows {
		r := make([]float32, dim)
		for j := range r {
			r[j] = float32(rng.NormFloat64())
		}
		rows[i] = normalize(r)
	}
	return rows
}

// embeddingLike returns n normalized vectors shaped like sentence
// embeddings: a shared mean direction (anisotropy: mean pairwise cosine
// about 0.3), a low-rank correlated part (k latent topics) and a little
// isotropic noise, with per-dimension scales that vary.
func embeddingLike(rng *rand.Rand, n, dim int) [][]float32 {
	const k = 32
	mean := make([]float64, dim)
	scale := make([]float64, dim)
	mix := make([][]float64, dim)
	for j := range mean {
		mean[j] = rng.NormFloat64() * 0.6
		scale[j] = 0.5 + rng.ExpFloat64()*0.5
		mix[j] = make([]float64, k)
		for t := range mix[j] {
			mix[j][t] = rng.NormFloat64() / math.Sqrt(k)
		}
	}
	rows := make([][]float32, n)
	z := make([]float64, k)
	for i := range rows {
		for t := range z {
			z[t] = rng.NormFloat64()
		}
		r := make([]float32, dim)
		for j := range r {
			v := mean[j]
			for t, zt := range z {
				v += mix[j][t] * zt
			}
			r[j] = float32((v + 0.3*rng.NormFloat64()) * scale[j])
		}
		rows[i] = normalize(r)
	}
	return rows
}

func normalize(r []float32) []float32 {
	var s float64
	for _, v := range r {
		s += float64(v) * float64(v)
	}
	inv := 1 / math.Sqrt(s)
	for j := range r {
		r[j] = float32(float64(r[j]) * inv)
	}
	return r
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

// groupsFor assigns rows to documents: 1–4 passages per document, starting
// at ordinal first.
func groupsFor(rng *rand.Rand, n int, first uint32) []uint32 {
	g := make([]uint32, n)
	ord := first
	left := 1 + rng.IntN(4)
	for i := range g {
		if left == 0 {
			ord++
			left = 1 + rng.IntN(4)
		}
		g[i] = ord
		left--
	}
	return g
}

func mustQuantize(t testing.TB, d DType, dim int, rows [][]float32) Vectors {
	t.Helper()
	v, err := Quantize(d, dim, rows)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantErr(t testing.TB, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", subs)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("error %q does not contain %q", err, s)
		}
	}
}

var allDTypes = []DType{F32, F16, Int8, Binary}
