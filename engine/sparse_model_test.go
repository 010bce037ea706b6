package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/bindings"
	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/bert"
	"github.com/quarry-search/quarry/engine/modelgen"
	"github.com/quarry-search/quarry/engine/sparse"
	"github.com/quarry-search/quarry/engine/store"
)

// genSplade writes a generated SPLADE model (BERT + MLM head).
func genSplade(t testing.TB, preset, typ string, seed uint64) string {
	t.Helper()
	vocab, err := modelgen.LoadVocab("")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), preset+"-splade-"+typ+".gguf")
	if err := modelgen.Generate(p, modelgen.Spec{Preset: preset, Kind: "splade", Type: typ, Seed: seed}, vocab); err != nil {
		t.Fatal(err)
	}
	return p
}

// sparseDiff compares a native sparse vector with the float64 reference's
// dense one: the largest |native − reference| / max(1, reference) over all
// dimensions, and the dimensions active above eps on one side only (ignoring
// those within tol of eps, which rounding may put on either side).
func sparseDiff(got sparse.Vec, want []float64, eps, tol float64) (maxRel float64, mismatched []int32) {
	dense := make([]float64, len(want))
	for i, id := range got.IDs {
		dense[id] = float64(got.Weights[i])
	}
	for v := range want {
		d := math.Abs(dense[v]-want[v]) / math.Max(1, want[v])
		maxRel = math.Max(maxRel, d)
		if (dense[v] > eps) != (want[v] > eps) && math.Abs(want[v]-eps) > tol {
			mismatched = append(mismatched, int32(v))
		}
	}
	return maxRel, mismatched
}

// TestSparseParityWithReference checks the native SPLADE head (fused decoder
// GEMM + max pooling) against the float64 reference on the same weights.
func TestSparseParityWithReference(t *testing.T) {
	skipWithoutNative(t)
	ctx := context.Background()
	for _, c := range []struct {
		preset, typ string
		bound       float64
	}{{"tiny", "f32", 1e-4}, {"small", "f32", 1e-4}, {"tiny", "f16", 1e-4}, {"small", "q8_0", 1e-4}} {
		t.Run(c.preset+"-"+c.typ, func(t *testing.T) {
			path := genSplade(t, c.preset, c.typ, 21)
			m, err := engine.LoadModel(path, engine.ModelOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if !m.SparseEncoder() || m.NativeInfo().Pooling != bindings.PoolingSplade || m.KTokens() != m.Vocab() {
				t.Fatalf("kind %v pooling %v k %d", m.NativeInfo().Kind, m.NativeInfo().Pooling, m.KTokens())
			}
			cfg, ck, _, err := bert.ReadGGUF(path)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := bert.NewReference(cfg, ck)
			if err != nil {
				t.Fatal(err)
			}
			texts := parityTexts
			got, st, err := m.SparseWithStats(ctx, texts)
			if err != nil {
				t.Fatal(err)
			}
			if st.Truncated == 0 {
				t.Fatal("no text was truncated; the parity set should exercise truncation")
			}
			tok := m.Tokenizer()
			var seqs []bert.Seq
			for _, tx := range texts {
				e := tok.Encode(tx, m.MaxTokens())
				seqs = append(seqs, bert.Seq{IDs: e.IDs, Types: e.TypeIDs})
			}
			want, err := ref.SparseBatch(ctx, seqs)
			if err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			var active []sparse.Vec
			for i := range texts {
				if err := got[i].Check(m.Vocab()); err != nil {
					t.Fatalf("text %d: %v", i, err)
				}
				rel, mis := sparseDiff(got[i], want[i], 1e-3, 1e-4)
				worst = math.Max(worst, rel)
				if rel > c.bound || len(mis) > 0 {
					t.Errorf("text %d %q: max relative error %.3g (bound %.3g), active-set mismatches %v", i, texts[i], rel, c.bound, mis)
				}
				active = append(active, got[i])
			}
			t.Logf("%s: max relative error %.3g over %d texts; %s", c.preset+"-"+c.typ, worst, len(texts), sparse.Sparsity(active, m.Vocab()))
		})
	}
}

// TestSparseBatchedEqualsSingle: a text's vector does not depend on the
// other texts of the call.
func TestSparseBatchedEqualsSingle(t *testing.T) {
	skipWithoutNative(t)
	ctx := context.Background()
	path := genSplade(t, "tiny", "f32", 22)
	m, err := engine.LoadModel(path, engine.ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	all, err := m.Sparse(ctx, parityTexts[:20])
	if err != nil {
		t.Fatal(err)
	}
	for i, tx := range parityTexts[:20] {
		one, err := m.Sparse(ctx, []string{tx})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(one[0].IDs, all[i].IDs) {
			t.Fatalf("text %d: active sets differ alone and batched", i)
		}
		for j := range one[0].Weights {
			if d := math.Abs(float64(one[0].Weights[j] - all[i].Weights[j])); d > 1e-5 {
				t.Fatalf("text %d: weight of %d differs by %g", i, one[0].IDs[j], d)
			}
		}
	}
}

// docVecs re-encodes every live document's passages with the model.
func docVecs(t *testing.T, ix *engine.Index, m *engine.Model) ([]store.DocRecord, [][]sparse.Vec) {
	t.Helper()
	docs, err := ix.Documents()
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, d := range docs {
		for _, p := range d.Passages {
			texts = append(texts, m.Config().DocumentPrompt+p.Text)
		}
	}
	all, err := m.Sparse(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	vecs := make([][]sparse.Vec, len(docs))
	for i, d := range docs {
		vecs[i], all = all[:len(d.Passages)], all[len(d.Passages):]
	}
	return docs, vecs
}

// bruteSparse is the exact sparse top-k by brute force: every live document
// (filtered by keep), every passage's vector, Vec.Dot with the query, best
// passage per document, descending score, ties by ordinal, positive scores
// only.
func bruteSparse(docs []store.DocRecord, vecs [][]sparse.Vec, q sparse.Vec, keep func(store.DocRecord) bool, k int) []engine.Result {
	var out []engine.Result
	for di, d := range docs {
		if keep != nil && !keep(d) {
			continue
		}
		best, bi := 0.0, -1
		for i, v := range vecs[di] {
			if s := q.Dot(v); bi < 0 || s > best {
				best, bi = s, i
			}
		}
		if best > 0 {
			out = append(out, engine.Result{ID: d.ID, Ord: d.Ord, Score: best, PassageIndex: bi})
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		return out[a].Score > out[b].Score || out[a].Score == out[b].Score && out[a].Ord < out[b].Ord
	})
	if len(out) > k {
		out = out[:k]
	}
	return out
}

func sameResults(t *testing.T, what string, got []engine.Result, want []engine.Result) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d results, brute force %d", what, len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Score != w.Score || g.PassageIndex != w.PassageIndex || g.Scores.Sparse == nil || *g.Scores.Sparse != w.Score {
			t.Fatalf("%s: result %d is %s (score %v, passage %d), brute force %s (score %v, passage %d)", what, i, g.ID, g.Score, g.PassageIndex, w.ID, w.Score, w.PassageIndex)
		}
	}
}

// TestSparseIndexSearch builds an index with a SPLADE model and checks
// that sparse search returns exactly the brute-force top-k, with filters,
// across segments, after deletes and a compaction, and after reopening.
func TestSparseIndexSearch(t *testing.T) {
	skipWithoutNative(t)
	ctx := context.Background()
	model := genSplade(t, "tiny", "f32", 23)
	dir := filepath.Join(t.TempDir(), "ix")
	ix, err := engine.Create(dir, engine.CreateOptions{Model: model, EmbedTitle: new(bool)})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	in := corpus(t, t.TempDir(), 240, 0)
	st, err := ix.Add(ctx, engine.AddOptions{Input: in, SegmentPassages: 90})
	if err != nil {
		t.Fatal(err)
	}
	if st.Segments < 3 || st.Sparse == nil || st.Sparse.Count != int(st.Passages) || st.Sparse.ActiveDims < 5 {
		t.Fatalf("add stats %+v sparse %+v", st, st.Sparse)
	}
	info := ix.Info()
	if info.Sparse == nil || info.Sparse.Vocab != modelgen.VocabSize || info.Sparse.KTokens != modelgen.VocabSize ||
		info.Sparse.Passages.Count != int(info.Passages) || math.Abs(info.Sparse.Passages.ActiveDims-st.Sparse.ActiveDims) > 1e-9 || info.Model.Pooling != "splade" {
		t.Fatalf("info %+v sparse %+v", info, info.Sparse)
	}
	t.Logf("indexed %d docs, %d passages: %s; %d terms used", st.Docs, st.Passages, info.Sparse.Passages, info.Sparse.Terms)
	queries := []string{"music history of the city", "title 17", "the quick brown fox", "information retrieval and search engines", "zzzz"}
	check := func(label string, ix *engine.Index) {
		t.Helper()
		m, err := ix.Model()
		if err != nil {
			t.Fatal(err)
		}
		docs, vecs := docVecs(t, ix, m)
		for _, qt := range queries {
			qv, err := m.Sparse(ctx, []string{qt})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []struct {
				filters []string
				keep    func(store.DocRecord) bool
			}{
				{nil, nil},
				{[]string{"lib=a"}, func(d store.DocRecord) bool { return strings.Contains(string(d.Metadata), `"lib":"a"`) }},
				{[]string{"likes>=250"}, func(d store.DocRecord) bool {
					var md struct{ Likes int }
					json.Unmarshal(d.Metadata, &md)
					return md.Likes >= 250
				}},
			} {
				for _, k := range []int{1, 7, 50} {
					resp, err := ix.Search(ctx, engine.Request{Text: qt, K: k, Mode: engine.ModeSparse, Filters: f.filters})
					if err != nil {
						t.Fatal(err)
					}
					if resp.QueryActiveDims != qv[0].Len() {
						t.Fatalf("query active dims %d, want %d", resp.QueryActiveDims, qv[0].Len())
					}
					want := bruteSparse(docs, vecs, qv[0], f.keep, k)
					sameResults(t, fmt.Sprintf("%s %q k=%d filters %v", label, qt, k, f.filters), resp.Results, want)
				}
			}
		}
	}
	check("fresh", ix)

	// Wrong modes are refused.
	for _, mode := range []engine.Mode{engine.ModeDense, engine.ModeHybrid} {
		if _, err := ix.Search(ctx, engine.Request{Text: "x", Mode: mode}); !errors.Is(err, engine.ErrModelKind) {
			t.Fatalf("mode %s on a sparse index: %v", mode, err)
		}
	}
	if r, err := ix.Search(ctx, engine.Request{Text: "title 3", Mode: engine.ModeBM25}); err != nil || len(r.Results) == 0 {
		t.Fatalf("bm25 on a sparse index: %v", err)
	}

	// Delete, compact: the postings follow the renumbered documents.
	if n, _, err := ix.Delete(ctx, []string{"doc-0003", "doc-0004", "doc-0100", "doc-0101", "doc-0200"}); err != nil || n != 5 {
		t.Fatal(n, err)
	}
	check("deleted", ix)
	if _, err := ix.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	check("compacted", ix)
	ix.Close()
	ix2, err := engine.Open(dir, engine.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix2.Close()
	check("reopened", ix2)
	if info := ix2.Info(); info.Sparse == nil || info.Documents != 235 {
		t.Fatalf("reopened info %+v", info)
	}
}

// TestSparseModeErrors: sparse search on a dense index, embedding with a
// SPLADE model, sparse vectors from a dense model and --dtype on a sparse
// index are clear errors.
func TestSparseModeErrors(t *testing.T) {
	skipWithoutNative(t)
	ctx := context.Background()
	dense := genModel(t, "tiny", "mean", "f32")
	_, ix := newIndex(t, tmodel{path: dense}, "f32")
	defer ix.Close()
	if _, err := ix.Add(ctx, engine.AddOptions{Input: corpus(t, t.TempDir(), 5, 0)}); err != nil {
		t.Fatal(err)
	}
	_, err := ix.Search(ctx, engine.Request{Text: "x", Mode: engine.ModeSparse})
	if !errors.Is(err, engine.ErrModelKind) || !strings.Contains(err.Error(), "SPLADE") {
		t.Fatalf("sparse on a dense index: %v", err)
	}
	dm, err := engine.LoadModel(dense, engine.ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer dm.Close()
	if _, err := dm.Sparse(ctx, []string{"x"}); !errors.Is(err, engine.ErrModelKind) {
		t.Fatalf("Sparse on a dense model: %v", err)
	}
	sp := genSplade(t, "tiny", "f16", 24)
	sm, err := engine.LoadModel(sp, engine.ModelOptions{KTokens: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	if _, err := sm.Embed(ctx, []string{"x"}); err == nil || !strings.Contains(err.Error(), "sparse encoder") {
		t.Fatalf("Embed on a SPLADE model: %v", err)
	}
	// KTokens keeps the largest weights.
	all, err := engine.LoadModel(sp, engine.ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	v5, _ := sm.Sparse(ctx, parityTexts[:10])
	vall, _ := all.Sparse(ctx, parityTexts[:10])
	for i := range v5 {
		if want := vall[i].Top(5); v5[i].Len() != min(5, vall[i].Len()) || !slices.Equal(v5[i].IDs, want.IDs) {
			t.Fatalf("text %d: top-5 %v, want %v", i, v5[i].IDs, want.IDs)
		}
	}
	if _, err := engine.Create(filepath.Join(t.TempDir(), "ix"), engine.CreateOptions{Model: sp, DType: "int8"}); !errors.Is(err, engine.ErrModelKind) {
		t.Fatalf("int8 sparse index: %v", err)
	}
	// The llama.cpp implementation loads the SPLADE GGUF (its encoder, with
	// an explicit pooling): the file stays loadable by llama.cpp.
	lm, err := engine.LoadModel(sp, engine.ModelOptions{Impl: "llama", Pooling: "mean"})
	if err != nil {
		t.Fatalf("llama.cpp cannot load the SPLADE GGUF: %v", err)
	}
	defer lm.Close()
	if v, err := lm.Embed(ctx, []string{"hello world"}); err != nil || len(v[0]) != lm.Dim() {
		t.Fatalf("llama.cpp embed: %v", err)
	}
	if _, err := engine.LoadModel(sp, engine.ModelOptions{Impl: "llama"}); err == nil || !strings.Contains(err.Error(), "SPLADE head runs in quarry's own graph") {
		t.Fatalf("llama impl with SPLADE pooling: %v", err)
	}
}
