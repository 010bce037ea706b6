//go:build cgo && !quarry_nonative

package bindings_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/quarry-search/quarry/bindings"
)

// clusteredRows draws n unit vectors around nc random centres (seeded).
func clusteredRows(n, nc, dim int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	centres := make([]float64, nc*dim)
	for i := range centres {
		centres[i] = r.NormFloat64()
	}
	out := make([]float32, n*dim)
	for i := 0; i < n; i++ {
		c := centres[r.IntN(nc)*dim:]
		var ss float64
		row := make([]float64, dim)
		for j := range row {
			row[j] = c[j] + 0.5*r.NormFloat64()
			ss += row[j] * row[j]
		}
		for j := range row {
			out[i*dim+j] = float32(row[j] / math.Sqrt(ss))
		}
	}
	return out
}

func f32Vectors(x []float32, dim int) *bindings.Vectors {
	return &bindings.Vectors{Type: bindings.VecF32, Dim: dim, N: len(x) / dim, Data: unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x))}
}

// TestHNSWRoundTripFilterCorrupt: a marshaled graph loads into one that
// answers identically; a filter is honoured (no disallowed row returned,
// the allowed top-10 found); single-thread builds with one seed are byte
// identical; damaged buffers are CodeCorrupt errors; Close is idempotent.
func TestHNSWRoundTripFilterCorrupt(t *testing.T) {
	if !bindings.Available {
		t.Skip("no native core")
	}
	t.Setenv("QUARRY_HNSW_GRAPH_WORK", "0") // 4000 rows would be the exact scan: test the graph
	const n, dim, nq, k = 4000, 32, 40, 10
	x := clusteredRows(n, 40, dim, 1)
	q := clusteredRows(nq, 40, dim, 2)
	v := f32Vectors(x, dim)
	g, err := bindings.BuildHNSW(context.Background(), v, bindings.HNSWParams{Threads: 1, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	b, err := g.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	g2, err := bindings.BuildHNSW(context.Background(), v, bindings.HNSWParams{Threads: 1, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := g2.MarshalBinary()
	g2.Close()
	if !bytes.Equal(b, b2) {
		t.Error("two single-thread builds with one seed differ")
	}
	h, err := bindings.LoadHNSW(b)
	if err != nil {
		t.Fatal(err)
	}
	_, r1, _, err := g.Search(q, nq, v, k, 64, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, r2, _, err := h.Search(q, nq, v, k, 64, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range r1 {
		if r1[i] != r2[i] {
			t.Fatalf("loaded graph answers row %d at %d, the built one %d", r2[i], i, r1[i])
		}
	}
	if err := h.Close(); err != nil || h.Close() != nil {
		t.Fatal("Close twice:", err)
	}
	if _, _, _, err := h.Search(q, nq, v, k, 64, 1); !errors.Is(err, bindings.ErrClosed) {
		t.Fatalf("search after Close: %v", err)
	}

	// Filter: every third row allowed (groups = rows).
	fv := *v
	fv.Allow, fv.AllowBits = make([]uint64, (n+63)/64), n
	for i := 0; i < n; i += 3 {
		fv.Allow[i/64] |= 1 << (i % 64)
	}
	_, want, _, err := bindings.TopK(q, nq, &fv, k, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, got, _, err := g.Search(q, nq, &fv, k, 128, 1)
	if err != nil {
		t.Fatal(err)
	}
	hit := 0
	for qi := 0; qi < nq; qi++ {
		set := map[int64]bool{}
		for _, r := range want[qi*k : (qi+1)*k] {
			set[r] = true
		}
		for _, r := range got[qi*k : (qi+1)*k] {
			if r >= 0 && r%3 != 0 {
				t.Fatalf("query %d: disallowed row %d returned", qi, r)
			}
			if set[r] {
				hit++
			}
		}
	}
	if rec := float64(hit) / float64(nq*k); rec < 0.98 {
		t.Errorf("filtered recall@10 %.3f at ef 128", rec)
	}

	// Damage: truncations and flipped bytes are errors, never a crash.
	for _, cut := range []int{0, 1, 8, len(b) / 2, len(b) - 1} {
		if _, err := bindings.LoadHNSW(b[:cut]); err == nil {
			t.Errorf("a graph cut to %d of %d bytes loaded", cut, len(b))
		}
	}
	r := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < 50; i++ {
		d := bytes.Clone(b)
		d[r.IntN(len(d))] ^= byte(1 + r.IntN(255))
		if g3, err := bindings.LoadHNSW(d); err == nil {
			g3.Close()
			t.Errorf("a graph with a flipped byte loaded")
		} else {
			var be *bindings.Error
			if !errors.As(err, &be) || be.Code != bindings.CodeCorrupt {
				t.Errorf("flipped byte: %v, want a CodeCorrupt error", err)
			}
		}
	}
}

// FuzzLoadHNSW: any buffer is loaded or refused, never a crash; what loads
// answers a search.
// TestHNSWCostModel: where the exact scan costs less (few rows, or a
// selective filter) the graph search is that scan: its answers are TopK's,
// bit for bit; forced onto the graph (QUARRY_HNSW_GRAPH_WORK=0) a 0.5 %
// filter is still honoured. Also: MaxEf is the native limit.
func TestHNSWCostModel(t *testing.T) {
	if !bindings.Available {
		t.Skip("no native core")
	}
	const n, dim, nq, k = 3000, 16, 20, 10
	x := clusteredRows(n, 30, dim, 5)
	q := clusteredRows(nq, 30, dim, 6)
	v := f32Vectors(x, dim)
	g, err := bindings.BuildHNSW(context.Background(), v, bindings.HNSWParams{Threads: 1, Seed: 1, M: 4, EfConstruction: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	same := func(name string, v *bindings.Vectors, ef int) {
		t.Helper()
		es, er, _, err := bindings.TopK(q, nq, v, k, 1)
		if err != nil {
			t.Fatal(err)
		}
		gs, gr, _, err := g.Search(q, nq, v, k, ef, 1)
		if err != nil {
			t.Fatal(err)
		}
		for i := range er {
			if er[i] != gr[i] || es[i] != gs[i] {
				t.Fatalf("%s: slot %d: graph search gave row %d (%v), the exact scan %d (%v)", name, i, gr[i], gs[i], er[i], es[i])
			}
		}
	}
	same("3000 rows at ef 64 (3000 < 64·64)", v, 64)
	fv := *v
	fv.Allow, fv.AllowBits = make([]uint64, (n+63)/64), n
	for i := 0; i < n; i += 200 {
		fv.Allow[i/64] |= 1 << (i % 64)
	}
	same("0.5 % allowed at ef 16", &fv, 16)
	t.Setenv("QUARRY_HNSW_GRAPH_WORK", "0")
	_, rows, _, err := g.Search(q, nq, &fv, k, 16, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r >= 0 && r%200 != 0 {
			t.Fatalf("forced graph search returned disallowed row %d", r)
		}
	}
	if _, err := bindings.BuildHNSW(context.Background(), v, bindings.HNSWParams{EfConstruction: bindings.MaxEf + 1}); err == nil {
		t.Errorf("ef_construction MaxEf+1 = %d accepted", bindings.MaxEf+1)
	}
	if _, _, _, err := g.Search(q, nq, v, k, bindings.MaxEf, 1); err != nil {
		t.Errorf("ef = MaxEf: %v", err)
	}
}

func FuzzLoadHNSW(f *testing.F) {
	if !bindings.Available {
		f.Skip("no native core")
	}
	const dim = 8
	x := clusteredRows(200, 5, dim, 1)
	v := f32Vectors(x, dim)
	g, err := bindings.BuildHNSW(context.Background(), v, bindings.HNSWParams{M: 4, Threads: 1, Seed: 1})
	if err != nil {
		f.Fatal(err)
	}
	b, _ := g.MarshalBinary()
	g.Close()
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := bindings.LoadHNSW(data)
		if err != nil {
			return
		}
		defer h.Close()
		if st := h.Stats(); st.N == int64(v.N) && st.Dim == dim {
			if _, _, _, err := h.Search(x[:dim], 1, v, 5, 16, 1); err != nil {
				t.Fatalf("a loaded graph failed to search: %v", err)
			}
		}
	})
}
