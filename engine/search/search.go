// Package search runs exact top-k over stored vectors: the native SIMD
// kernel when the native core is linked in, a pure-Go implementation of the
// same semantics otherwise, and full-precision rescoring for int8 and binary
// vectors.
//
// Semantics (both implementations): rows belong to groups (a document's
// passages); a query's result is the k best groups by their best row's dot
// product, each with that row, best first, ties by group ascending. An allow
// bitset over groups is applied before scoring (filters and deletions), so a
// filtered search returns exactly the filtered top-k.
package search

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"sort"
	"sync"

	"github.com/quarry-search/quarry/bindings"
	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/gguf"
)

// Hit is one result: a group (document ordinal), its best row (passage) and
// the score.
type Hit struct {
	Group int64
	Row   int64
	Score float32
}

// Corpus is what a search runs over.
type Corpus struct {
	// Vectors are the stored rows (any type). Groups must be sorted
	// ascending when Rescore is used.
	Vectors bindings.Vectors
	// Rescore, for int8/binary Vectors, holds the same rows in full
	// precision (f16 or f32) to rescore candidates.
	Rescore *bindings.Vectors
}

// Options of a search.
type Options struct {
	K int
	// RescoreN is how many candidate groups an approximate (int8/binary)
	// search rescores with full precision; 0 = max(10·K, 100).
	RescoreN int
	Threads  int
	// Ef is the beam width of a graph search (SearchHNSW); 0 or less than
	// the candidates asked for means that many.
	Ef int
	// ForceGo uses the pure-Go kernel even with the native core present.
	ForceGo bool
}

// TopK searches nq queries (each Dim floats).
func TopK(ctx context.Context, c *Corpus, queries [][]float32, o Options) ([][]Hit, error) {
	v := &c.Vectors
	if o.K <= 0 {
		return nil, fmt.Errorf("search: k = %d", o.K)
	}
	flat, err := flatten(queries, v.Dim)
	if err != nil {
		return nil, err
	}
	rescore := c.Rescore != nil && (v.Type == bindings.VecInt8 || v.Type == bindings.VecBinary)
	hits, err := topk(ctx, flat, len(queries), v, candidates(o, rescore), o)
	if err != nil {
		return nil, err
	}
	if rescore {
		rescoreAll(queries, c, hits, o)
	}
	return hits, nil
}

// flatten lays the queries out back to back, each checked to have dim
// floats.
func flatten(queries [][]float32, dim int) ([]float32, error) {
	flat := make([]float32, 0, len(queries)*dim)
	for i, q := range queries {
		if len(q) != dim {
			return nil, fmt.Errorf("search: query %d has %d dimensions, the index %d", i, len(q), dim)
		}
		flat = append(flat, q...)
	}
	return flat, nil
}

// candidates is how many groups the first stage returns: K, or with
// rescoring RescoreN (0: max(10·K, 100)), at least K.
func candidates(o Options, rescore bool) int {
	if !rescore {
		return o.K
	}
	k := o.RescoreN
	if k <= 0 {
		k = max(10*o.K, 100)
	}
	return max(k, o.K)
}

// hitsOf splits the native outputs (nq·k slots, -1 rows unused) into each
// query's hits.
func hitsOf(scores []float32, rows, groups []int64, nq, k int) [][]Hit {
	out := make([][]Hit, nq)
	for qi := 0; qi < nq; qi++ {
		for j := 0; j < k; j++ {
			i := qi*k + j
			if rows[i] < 0 {
				break
			}
			out[qi] = append(out[qi], Hit{Group: groups[i], Row: rows[i], Score: scores[i]})
		}
	}
	return out
}

// rescoreAll rescores every query's candidates, queries spread over
// o.Threads goroutines when there are several.
func rescoreAll(queries [][]float32, c *Corpus, hits [][]Hit, o Options) {
	threads := o.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	threads = min(threads, len(hits))
	if threads <= 1 {
		for qi := range hits {
			hits[qi] = Rescore(queries[qi], c, hits[qi], o.K)
		}
		return
	}
	var g errs.Group // a worker's panic is raised again here, not in a bare goroutine
	for t := 0; t < threads; t++ {
		g.Go(func() {
			for qi := t; qi < len(hits); qi += threads {
				hits[qi] = Rescore(queries[qi], c, hits[qi], o.K)
			}
		})
	}
	g.Wait()
}

func topk(ctx context.Context, flat []float32, nq int, v *bindings.Vectors, k int, o Options) ([][]Hit, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if bindings.Available && !o.ForceGo {
		scores, rows, groups, err := bindings.TopK(flat, nq, v, k, o.Threads)
		if err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
		return hitsOf(scores, rows, groups, nq, k), nil
	}
	return goTopK(ctx, flat, nq, v, k, o.Threads)
}

// Rescore recomputes the candidates' scores with the full-precision rows
// (c.Rescore) of every row of each candidate group and keeps the best k:
// the second stage of a search over int8/binary rows, or over an
// approximate graph's candidates.
func Rescore(q []float32, c *Corpus, cand []Hit, k int) []Hit {
	v, full := &c.Vectors, c.Rescore
	q64 := make([]float64, len(q))
	for j, x := range q {
		q64[j] = float64(x)
	}
	out := make([]Hit, 0, len(cand))
	for _, h := range cand {
		lo, hi := h.Row, h.Row+1
		if v.Groups != nil {
			g := uint32(h.Group)
			lo = int64(sort.Search(v.N, func(i int) bool { return v.Groups[i] >= g }))
			hi = int64(sort.Search(v.N, func(i int) bool { return v.Groups[i] > g }))
		}
		best := Hit{Group: h.Group, Row: -1, Score: float32(math.Inf(-1))}
		for r := lo; r < hi; r++ {
			s := float32(dotRow64(q, q64, full, int(r)))
			if best.Row < 0 || s > best.Score {
				best = Hit{Group: h.Group, Row: r, Score: s}
			}
		}
		out = append(out, best)
	}
	sortHits(out)
	if len(out) > k {
		out = out[:k]
	}
	return out
}

func sortHits(h []Hit) {
	sort.Slice(h, func(a, b int) bool {
		return h[a].Score > h[b].Score || (h[a].Score == h[b].Score && h[a].Group < h[b].Group)
	})
}

// f16Table maps every IEEE half to its float32 value (256 KB, built once).
var f16Table = sync.OnceValue(func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = gguf.F16ToF32(uint16(i))
	}
	return &t
})

// dotRow64 is dotRow for rescoring: q64 is q in float64; f32 and f16 rows
// take an unrolled loop with four partial sums (f16 through f16Table).
func dotRow64(q []float32, q64 []float64, v *bindings.Vectors, r int) float64 {
	switch v.Type {
	case bindings.VecF32:
		rb := 4 * v.Dim
		b := v.Data[r*rb : (r+1)*rb]
		var s0, s1, s2, s3 float64
		j := 0
		for ; j+4 <= len(q64); j += 4 {
			e := b[4*j : 4*j+16]
			s0 += q64[j] * float64(math.Float32frombits(binary.LittleEndian.Uint32(e[0:])))
			s1 += q64[j+1] * float64(math.Float32frombits(binary.LittleEndian.Uint32(e[4:])))
			s2 += q64[j+2] * float64(math.Float32frombits(binary.LittleEndian.Uint32(e[8:])))
			s3 += q64[j+3] * float64(math.Float32frombits(binary.LittleEndian.Uint32(e[12:])))
		}
		for ; j < len(q64); j++ {
			s0 += q64[j] * float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:])))
		}
		return (s0 + s1) + (s2 + s3)
	case bindings.VecF16:
		t := f16Table()
		rb := 2 * v.Dim
		b := v.Data[r*rb : (r+1)*rb]
		var s0, s1, s2, s3 float64
		j := 0
		for ; j+4 <= len(q64); j += 4 {
			e := b[2*j : 2*j+8]
			s0 += q64[j] * float64(t[binary.LittleEndian.Uint16(e[0:])])
			s1 += q64[j+1] * float64(t[binary.LittleEndian.Uint16(e[2:])])
			s2 += q64[j+2] * float64(t[binary.LittleEndian.Uint16(e[4:])])
			s3 += q64[j+3] * float64(t[binary.LittleEndian.Uint16(e[6:])])
		}
		for ; j < len(q64); j++ {
			s0 += q64[j] * float64(t[binary.LittleEndian.Uint16(b[2*j:])])
		}
		return (s0 + s1) + (s2 + s3)
	}
	return dotRow(q, v, r)
}

// dotRow is q·row in float64 for f32/f16 rows (and the approximate types,
// dequantized).
func dotRow(q []float32, v *bindings.Vectors, r int) float64 {
	rb := v.Type.RowBytes(v.Dim)
	b := v.Data[r*rb : (r+1)*rb]
	var s float64
	switch v.Type {
	case bindings.VecF32:
		for j := range q {
			s += float64(q[j]) * float64(math.Float32frombits(le32(b[4*j:])))
		}
	case bindings.VecF16:
		for j := range q {
			s += float64(q[j]) * float64(gguf.F16ToF32(le16(b[2*j:])))
		}
	case bindings.VecInt8:
		for j := range q {
			s += float64(q[j]) * float64(int8(b[j]))
		}
		s *= float64(v.Scales[r])
	case bindings.VecBinary:
		for j := range q {
			if b[j/8]>>(j%8)&1 == 1 {
				s += float64(q[j])
			} else {
				s -= float64(q[j])
			}
		}
	}
	return s
}

func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// ---- pure-Go kernel ----

type heap struct {
	k int
	h []Hit
}

func (t *heap) worse(a, b Hit) bool {
	return a.Score < b.Score || (a.Score == b.Score && a.Group > b.Group)
}

func (t *heap) push(s float32, row, group int64) {
	if len(t.h) == t.k && !(s > t.h[0].Score) {
		return
	}
	for i := range t.h {
		if t.h[i].Group == group {
			if s > t.h[i].Score || (s == t.h[i].Score && row < t.h[i].Row) {
				t.h[i].Score, t.h[i].Row = s, row
				t.down(i)
			}
			return
		}
	}
	if len(t.h) < t.k {
		t.h = append(t.h, Hit{Group: group, Row: row, Score: s})
		for i := len(t.h) - 1; i > 0; {
			p := (i - 1) / 2
			if !t.worse(t.h[i], t.h[p]) {
				break
			}
			t.h[i], t.h[p] = t.h[p], t.h[i]
			i = p
		}
		return
	}
	t.h[0] = Hit{Group: group, Row: row, Score: s}
	t.down(0)
}

func (t *heap) down(i int) {
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(t.h) && t.worse(t.h[l], t.h[m]) {
			m = l
		}
		if r < len(t.h) && t.worse(t.h[r], t.h[m]) {
			m = r
		}
		if m == i {
			return
		}
		t.h[i], t.h[m] = t.h[m], t.h[i]
		i = m
	}
}

func allowed(v *bindings.Vectors, g int64) bool {
	if v.Allow == nil {
		return true
	}
	if g < 0 || g >= int64(v.AllowBits) {
		return false
	}
	return v.Allow[g>>6]>>(g&63)&1 == 1
}

func goTopK(ctx context.Context, flat []float32, nq int, v *bindings.Vectors, k, threads int) ([][]Hit, error) {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	threads = max(1, min(threads, v.N/4096))
	// Approximate types score like the native kernel: int8 against the
	// query quantized to 7 bits (q ∈ [-63, 63], scale max|x|/63: the native
	// many-query kernel adds 64 to make it unsigned), binary by
	// dim − 2·hamming.
	q8 := make([][]int8, nq)
	q8s := make([]float32, nq)
	qbin := make([][]byte, nq)
	for qi := 0; qi < nq; qi++ {
		q := flat[qi*v.Dim : (qi+1)*v.Dim]
		switch v.Type {
		case bindings.VecInt8:
			var amax float32
			for _, x := range q {
				amax = max(amax, float32(math.Abs(float64(x))))
			}
			sc := float32(1)
			if amax > 0 {
				sc = amax / 63
			}
			q8s[qi] = sc
			q8[qi] = make([]int8, v.Dim)
			for j, x := range q {
				q8[qi][j] = int8(math.RoundToEven(float64(x / sc)))
			}
		case bindings.VecBinary:
			qbin[qi] = make([]byte, (v.Dim+7)/8)
			for j, x := range q {
				if x > 0 {
					qbin[qi][j/8] |= 1 << (j % 8)
				}
			}
		}
	}
	rb := v.Type.RowBytes(v.Dim)
	score := func(qi, r int) float32 {
		b := v.Data[r*rb : (r+1)*rb]
		switch v.Type {
		case bindings.VecInt8:
			var s int32
			for j, x := range q8[qi] {
				s += int32(x) * int32(int8(b[j]))
			}
			return float32(s) * q8s[qi] * v.Scales[r]
		case bindings.VecBinary:
			ham := 0
			for j := range b {
				ham += bits.OnesCount8(b[j] ^ qbin[qi][j])
			}
			return float32(v.Dim - 2*ham)
		}
		var s float32
		q := flat[qi*v.Dim : (qi+1)*v.Dim]
		if v.Type == bindings.VecF32 {
			for j := range q {
				s += q[j] * math.Float32frombits(le32(b[4*j:]))
			}
		} else {
			for j := range q {
				s += q[j] * gguf.F16ToF32(le16(b[2*j:]))
			}
		}
		return s
	}
	group := func(r int) int64 {
		if v.Groups != nil {
			return int64(v.Groups[r])
		}
		return int64(r)
	}
	per := make([][]heap, threads)
	chunk := (v.N + threads - 1) / threads
	var g errs.Group
	var cerr error
	var once sync.Once
	for t := 0; t < threads; t++ {
		per[t] = make([]heap, nq)
		for qi := range per[t] {
			per[t][qi].k = k
		}
		g.Go(func() {
			lo, hi := t*chunk, min(v.N, (t+1)*chunk)
			for r := lo; r < hi; r++ {
				if r%65536 == 0 && ctx.Err() != nil {
					once.Do(func() { cerr = ctx.Err() })
					return
				}
				g := group(r)
				if !allowed(v, g) {
					continue
				}
				for qi := 0; qi < nq; qi++ {
					per[t][qi].push(score(qi, r), int64(r), g)
				}
			}
		})
	}
	g.Wait()
	if cerr != nil {
		return nil, cerr
	}
	out := make([][]Hit, nq)
	for qi := 0; qi < nq; qi++ {
		m := heap{k: k}
		for t := range per {
			for _, h := range per[t][qi].h {
				m.push(h.Score, h.Row, h.Group)
			}
		}
		sortHits(m.h)
		out[qi] = m.h
	}
	return out, nil
}
