package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/quarry-search/quarry/engine/fusion"
	"github.com/quarry-search/quarry/engine/lexical"
	"github.com/quarry-search/quarry/engine/meta"
	"github.com/quarry-search/quarry/engine/search"
	"github.com/quarry-search/quarry/engine/sparse"
)

// Mode is how candidates are retrieved.
type Mode string

// Retrieval modes.
const (
	ModeDense  Mode = "dense"  // embedding similarity (exact top-k)
	ModeBM25   Mode = "bm25"   // lexical BM25 over title + text
	ModeHybrid Mode = "hybrid" // both, fused (RRF or weighted)
	ModeSparse Mode = "sparse" // SPLADE: exact dot-product top-k over the postings (indexes built with a SPLADE model)
)

// Request is one search.
type Request struct {
	ID   string // returned as Response.QueryID
	Text string
	K    int  // results; 0 = 10
	Mode Mode // "" = dense
	// Fusion of hybrid mode: "rrf" (default, k = 60) or "weighted" (Alpha ·
	// dense + (1 − Alpha) · bm25 after min-max normalization; Alpha 0 = 0.5).
	Fusion string
	Alpha  float64
	// Filters restrict results to documents whose metadata match all of them
	// ("pipeline_tag=text-classification", "likes>=100"); applied before top-k.
	Filters []string
	// Sort orders the Pool most relevant results by a metadata field
	// ("likes:desc"); the first K are returned.
	Sort string
	// Pool is how many relevant results are fused, reranked or sorted; 0 =
	// max(K, 100).
	Pool int
	// Rescore is how many candidates an int8/binary index rescores with
	// full precision; 0 = max(10·K, 100).
	Rescore int
	// Rerank, when set, reorders the best candidates with a cross-encoder
	// over each document's best passage.
	Rerank *Rerank
	// BM25 parameters (zero value: k1 1.2, b 0.75).
	BM25 *lexical.Params
}

// Rerank configures cross-encoder reranking of a search.
type Rerank struct {
	Model Reranker // e.g. a *Model loaded from a cross-encoder GGUF
	Top   int      // candidates reranked; 0 = Request.Pool
}

// Scores are the component scores of a result (nil when not computed).
type Scores struct {
	Dense     *float64 `json:"dense"`
	Sparse    *float64 `json:"sparse,omitempty"` // SPLADE dot product
	BM25      *float64 `json:"bm25"`
	Rerank    *float64 `json:"rerank"`
	Relevance *float64 `json:"rerank_relevance,omitempty"` // sigmoid of the rerank logit, in float64
}

// Result is one document found.
type Result struct {
	ID       string          `json:"id"`
	Score    float64         `json:"score"`
	Title    string          `json:"title,omitempty"`
	Passage  string          `json:"passage"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
	Scores   Scores          `json:"scores"`
	Ord      uint32          `json:"-"`
	// PassageIndex is which of the document's passages Passage is (-1: none).
	PassageIndex int `json:"passage_index"`
}

// Response is the answer to one Request.
type Response struct {
	QueryID string        `json:"query_id"`
	Results []Result      `json:"results"`
	Took    time.Duration `json:"-"`
	// QueryActiveDims is the number of active dimensions of the query's
	// sparse vector (ModeSparse).
	QueryActiveDims int `json:"query_active_dims,omitempty"`
}

type candidate struct {
	ord     uint32
	sparse  *float64
	dense   *float64
	bm25    *float64
	rerank  *float64
	score   float64
	passage int // -1 unknown
}

// Search runs one request.
func (ix *Index) Search(ctx context.Context, req Request) (*Response, error) {
	r, err := ix.SearchBatch(ctx, []Request{req})
	if err != nil {
		return nil, err
	}
	return r[0], nil
}

// SearchBatch runs many requests; dense queries are embedded and searched
// together (one native call per segment for all queries).
func (ix *Index) SearchBatch(ctx context.Context, reqs []Request) ([]*Response, error) {
	ix.mu.RLock()
	closed := ix.closed
	ix.mu.RUnlock()
	if closed {
		return nil, errClosed
	}
	t0 := time.Now()
	for i := range reqs {
		r := &reqs[i]
		if r.K <= 0 {
			r.K = 10
		}
		if r.Mode == "" {
			r.Mode = ModeDense
		}
		if r.Mode != ModeDense && r.Mode != ModeBM25 && r.Mode != ModeHybrid && r.Mode != ModeSparse {
			return nil, fmt.Errorf("search: unknown mode %q (dense, bm25, hybrid or sparse)", r.Mode)
		}
		if err := ix.checkMode(r.Mode); err != nil {
			return nil, err
		}
		if r.Pool <= 0 {
			r.Pool = max(r.K, 100)
		}
		r.Pool = max(r.Pool, r.K)
	}
	// Dense: embed all queries that need it at once.
	var qvecs [][]float32
	var dIdx []int
	var sIdx []int
	for i, r := range reqs {
		switch r.Mode {
		case ModeSparse:
			sIdx = append(sIdx, i)
		case ModeDense, ModeHybrid:
			dIdx = append(dIdx, i)
		}
	}
	sparseHits, qActive, err := ix.sparseQueries(ctx, reqs, sIdx)
	if err != nil {
		return nil, err
	}
	if len(dIdx) > 0 {
		m, err := ix.Model()
		if err != nil {
			return nil, err
		}
		texts := make([]string, len(dIdx))
		for j, i := range dIdx {
			texts[j] = m.Config().QueryPrompt + reqs[i].Text
		}
		if qvecs, err = m.Embed(ctx, texts); err != nil {
			return nil, fmt.Errorf("search: embed queries: %w", err)
		}
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := make([]*Response, len(reqs))
	qv := map[int][]float32{}
	for j, i := range dIdx {
		qv[i] = qvecs[j]
	}
	// Group dense queries with the same filters so they share native calls.
	denseHits := make(map[int][]search.Hit)
	type group struct {
		idx   []int
		allow meta.Bitmap
	}
	groups := map[string]*group{}
	allows := make([]meta.Bitmap, len(reqs))
	for i, r := range reqs {
		allow, err := ix.allowed(r.Filters)
		if err != nil {
			return nil, err
		}
		allows[i] = allow
		if r.Mode == ModeBM25 {
			continue
		}
		if r.Mode == ModeSparse {
			// The postings are searched per request (no native batching).
			bits := int(ix.man.NextDocOrd())
			var segs []*sparse.Segment
			for _, s := range ix.segs {
				segs = append(segs, s.sp)
			}
			hits, err := sparse.SearchAll(ctx, segs, []sparse.Vec{sparseHits[i].q}, []uint64(allow), bits, r.Pool)
			if err != nil {
				return nil, err
			}
			sparseHits[i] = sparseQuery{q: sparseHits[i].q, hits: hits[0]}
			continue
		}
		key := strings.Join(r.Filters, "\x00")
		g := groups[key]
		if g == nil {
			g = &group{allow: allow}
			groups[key] = g
		}
		g.idx = append(g.idx, i)
	}
	for _, g := range groups {
		qs := make([][]float32, len(g.idx))
		k, rescore := 0, 0
		for j, i := range g.idx {
			qs[j] = qv[i]
			k = max(k, reqs[i].Pool)
			rescore = max(rescore, reqs[i].Rescore)
		}
		hits, err := ix.denseSearch(ctx, qs, g.allow, k, rescore)
		if err != nil {
			return nil, err
		}
		for j, i := range g.idx {
			denseHits[i] = hits[j]
		}
	}
	for i := range reqs {
		resp, err := ix.finish(ctx, &reqs[i], denseHits[i], sparseHits[i].hits, allows[i])
		if err != nil {
			return nil, err
		}
		resp.Took = time.Since(t0)
		resp.QueryActiveDims = qActive[i]
		out[i] = resp
	}
	return out, nil
}

// sparseQuery is one ModeSparse request's query vector and hits.
type sparseQuery struct {
	q    sparse.Vec
	hits []sparse.Hit
}

// checkMode refuses a retrieval mode the index cannot serve: sparse needs a
// SPLADE index, dense and hybrid an index of dense vectors.
func (ix *Index) checkMode(mode Mode) error {
	ix.mu.RLock()
	sp := ix.man.Settings["sparse"] != ""
	model := ix.man.Model.Name
	ix.mu.RUnlock()
	switch {
	case mode == ModeSparse && !sp:
		return fmt.Errorf("search: mode sparse needs an index built with a SPLADE model; this index holds dense vectors of %s (use dense, bm25 or hybrid): %w", model, ErrModelKind)
	case (mode == ModeDense || mode == ModeHybrid) && sp:
		return fmt.Errorf("search: mode %s needs dense vectors; this index was built with the SPLADE model %s and holds sparse vectors (use sparse or bm25): %w", mode, model, ErrModelKind)
	}
	return nil
}

// sparseQueries encodes the ModeSparse requests' texts (with the query
// prompt) into sparse vectors, indexed like reqs, and their active
// dimensions.
func (ix *Index) sparseQueries(ctx context.Context, reqs []Request, idx []int) ([]sparseQuery, []int, error) {
	out := make([]sparseQuery, len(reqs))
	active := make([]int, len(reqs))
	if len(idx) == 0 {
		return out, active, nil
	}
	m, err := ix.Model()
	if err != nil {
		return nil, nil, err
	}
	texts := make([]string, len(idx))
	for j, i := range idx {
		texts[j] = m.Config().QueryPrompt + reqs[i].Text
	}
	vs, err := m.Sparse(ctx, texts)
	if err != nil {
		return nil, nil, fmt.Errorf("search: encode queries: %w", err)
	}
	for j, i := range idx {
		out[i].q = vs[j]
		active[i] = vs[j].Len()
	}
	return out, active, nil
}

// allowed is the bitset of live documents matching the filters.
func (ix *Index) allowed(filters []string) (meta.Bitmap, error) {
	live := ix.live()
	if len(filters) == 0 {
		return live, nil
	}
	fs := make([]meta.Filter, len(filters))
	for i, s := range filters {
		f, err := meta.ParseFilter(s)
		if err != nil {
			return nil, err
		}
		fs[i] = f
	}
	ix.mu.RUnlock()
	t, _, err := ix.metaTable()
	ix.mu.RLock()
	if err != nil {
		return nil, err
	}
	if err := t.Check(fs); err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	m := t.Match(fs)
	live.And(m)
	return live, nil
}

// denseSearch finds the k best documents per query over all segments.
func (ix *Index) denseSearch(ctx context.Context, qs [][]float32, allow meta.Bitmap, k, rescore int) ([][]search.Hit, error) {
	out := make([][]search.Hit, len(qs))
	bits := int(ix.man.NextDocOrd())
	for _, s := range ix.segs {
		if s.vecs.N == 0 {
			continue
		}
		c := &search.Corpus{Vectors: s.vecs, Rescore: s.rescore}
		c.Vectors.Allow, c.Vectors.AllowBits = []uint64(allow), bits
		hits, err := search.TopK(ctx, c, qs, search.Options{K: k, RescoreN: rescore, Threads: ix.opts.ModelOptions.Threads})
		if err != nil {
			return nil, err
		}
		for qi := range qs {
			// rows are segment-local: store the passage index instead
			for j := range hits[qi] {
				h := &hits[qi][j]
				first := sort.Search(len(s.groups), func(i int) bool { return s.groups[i] >= uint32(h.Group) })
				h.Row = h.Row - int64(first)
			}
			out[qi] = append(out[qi], hits[qi]...)
		}
	}
	for qi := range out {
		sort.Slice(out[qi], func(a, b int) bool {
			x, y := out[qi][a], out[qi][b]
			return x.Score > y.Score || (x.Score == y.Score && x.Group < y.Group)
		})
		if len(out[qi]) > k {
			out[qi] = out[qi][:k]
		}
	}
	return out, nil
}

func f64(x float64) *float64 { return &x }

// finish fuses, reranks, sorts and materializes one request's results.
func (ix *Index) finish(ctx context.Context, r *Request, dense []search.Hit, sp []sparse.Hit, allow meta.Bitmap) (*Response, error) {
	var cands []candidate
	var lexHits []lexical.Hit
	if r.Mode == ModeBM25 || r.Mode == ModeHybrid {
		if ix.lex != nil {
			params := lexical.DefaultParams()
			if r.BM25 != nil {
				params = *r.BM25
			}
			var err error
			if lexHits, err = ix.lex.Search(ctx, r.Text, r.Pool, params, []uint64(allow)); err != nil {
				return nil, err
			}
		}
	}
	switch r.Mode {
	case ModeDense:
		for _, h := range dense {
			cands = append(cands, candidate{ord: uint32(h.Group), dense: f64(float64(h.Score)), score: float64(h.Score), passage: int(h.Row)})
		}
	case ModeSparse:
		for _, h := range sp {
			cands = append(cands, candidate{ord: h.Group, sparse: f64(h.Score), score: h.Score, passage: h.Passage})
		}
	case ModeBM25:
		for _, h := range lexHits {
			cands = append(cands, candidate{ord: h.Ord, bm25: f64(h.Score), score: h.Score, passage: -1})
		}
	case ModeHybrid:
		dl := make([]fusion.Hit, len(dense))
		passage := map[uint32]int{}
		dscore := map[uint32]float64{}
		for i, h := range dense {
			dl[i] = fusion.Hit{Ord: uint32(h.Group), Score: float64(h.Score)}
			passage[uint32(h.Group)] = int(h.Row)
			dscore[uint32(h.Group)] = float64(h.Score)
		}
		ll := make([]fusion.Hit, len(lexHits))
		lscore := map[uint32]float64{}
		for i, h := range lexHits {
			ll[i] = fusion.Hit{Ord: h.Ord, Score: h.Score}
			lscore[h.Ord] = h.Score
		}
		mk := func(ord uint32, score float64) candidate {
			c := candidate{ord: ord, score: score, passage: -1}
			if s, ok := dscore[ord]; ok {
				c.dense, c.passage = f64(s), passage[ord]
			}
			if s, ok := lscore[ord]; ok {
				c.bm25 = f64(s)
			}
			return c
		}
		switch orDefault(r.Fusion, "rrf") {
		case "rrf":
			fused, err := fusion.RRF([][]fusion.Hit{dl, ll}, 60, nil)
			if err != nil {
				return nil, err
			}
			for _, f := range fused {
				cands = append(cands, mk(f.Ord, f.Score))
			}
		case "weighted":
			alpha := r.Alpha
			if alpha == 0 {
				alpha = 0.5
			}
			fused, err := fusion.Weighted(dl, ll, alpha)
			if err != nil {
				return nil, err
			}
			for _, f := range fused {
				cands = append(cands, mk(f.Ord, f.Score))
			}
		default:
			return nil, fmt.Errorf("search: unknown fusion %q (rrf or weighted)", r.Fusion)
		}
	}
	if len(cands) > r.Pool {
		cands = cands[:r.Pool]
	}
	// Materialize documents (needed for passages, rerank and output).
	recs := make([]docView, len(cands))
	for i := range cands {
		rec, err := ix.doc(cands[i].ord)
		if err != nil {
			return nil, err
		}
		recs[i] = docView{id: rec.ID, title: rec.Title, meta: rec.Metadata}
		for _, p := range rec.Passages {
			recs[i].passages = append(recs[i].passages, p.Text)
		}
		if cands[i].passage < 0 && len(recs[i].passages) > 0 {
			if ix.lex != nil {
				cands[i].passage = ix.lex.BestPassage(r.Text, recs[i].passages)
			}
			if cands[i].passage < 0 {
				cands[i].passage = 0
			}
		}
	}
	if r.Rerank != nil && r.Rerank.Model != nil {
		top := r.Rerank.Top
		if top <= 0 || top > len(cands) {
			top = len(cands)
		}
		docs := make([]string, top)
		for i := 0; i < top; i++ {
			docs[i] = passageText(recs[i], cands[i].passage)
		}
		scores, err := r.Rerank.Model.Rerank(ctx, r.Text, docs)
		if err != nil {
			return nil, fmt.Errorf("rerank: %w", err)
		}
		for i := 0; i < top; i++ {
			cands[i].rerank = f64(float64(scores[i]))
			cands[i].score = float64(scores[i])
		}
		idx := make([]int, top)
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return cands[idx[a]].score > cands[idx[b]].score })
		nc := make([]candidate, 0, len(cands))
		nr := make([]docView, 0, len(cands))
		for _, i := range idx {
			nc = append(nc, cands[i])
			nr = append(nr, recs[i])
		}
		cands, recs = append(nc, cands[top:]...), append(nr, recs[top:]...)
	}
	if r.Sort != "" {
		spec, err := meta.ParseSort(r.Sort)
		if err != nil {
			return nil, err
		}
		ix.mu.RUnlock()
		t, _, err := ix.metaTable()
		ix.mu.RLock()
		if err != nil {
			return nil, err
		}
		ords := make([]uint32, len(cands))
		pos := map[uint32]int{}
		for i, c := range cands {
			ords[i] = c.ord
			pos[c.ord] = i
		}
		t.Sort(ords, spec.Field, spec.Desc)
		nc := make([]candidate, len(cands))
		nr := make([]docView, len(cands))
		for i, o := range ords {
			nc[i], nr[i] = cands[pos[o]], recs[pos[o]]
		}
		cands, recs = nc, nr
	}
	resp := &Response{QueryID: r.ID}
	for i := range cands {
		if i == r.K {
			break
		}
		c := cands[i]
		res := Result{ID: recs[i].id, Ord: c.ord, Score: c.score, Title: recs[i].title, Metadata: recs[i].meta,
			PassageIndex: c.passage, Passage: passageText(recs[i], c.passage),
			Scores: Scores{Dense: c.dense, Sparse: c.sparse, BM25: c.bm25, Rerank: c.rerank}}
		if c.rerank != nil {
			res.Scores.Relevance = f64(Sigmoid(float32(*c.rerank)))
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

type docView struct {
	id, title string
	meta      json.RawMessage
	passages  []string
}

func passageText(d docView, i int) string {
	if i < 0 || i >= len(d.passages) {
		if len(d.passages) > 0 {
			return d.passages[0]
		}
		return d.title
	}
	return d.passages[i]
}

var _ = errors.New
