package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/quarry-search/quarry/engine/encoder"
	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/fusion"
	"github.com/quarry-search/quarry/engine/lexical"
	"github.com/quarry-search/quarry/engine/meta"
	"github.com/quarry-search/quarry/engine/search"
	"github.com/quarry-search/quarry/engine/sparse"
	"github.com/quarry-search/quarry/engine/tokenize"
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

// Fusion methods of hybrid mode.
const (
	FusionRRF      = "rrf"      // reciprocal rank fusion, k = 60
	FusionWeighted = "weighted" // Alpha · dense + (1 − Alpha) · bm25 after min-max normalization
)

// Request is one search.
type Request struct {
	ID   string // returned as Response.QueryID
	Text string
	K    int  // results; 0 = 10; at most MaxK
	Mode Mode // "" = dense
	// Fusion of hybrid mode: FusionRRF (default) or FusionWeighted.
	Fusion string
	// Alpha is the dense weight of weighted fusion, in [0, 1]: 1 is dense
	// only, 0 is BM25 only; nil = 0.5.
	Alpha *float64
	// Filters restrict results to documents whose metadata match all of them
	// ("pipeline_tag=text-classification", "likes>=100"); applied before top-k.
	Filters []string
	// Sort orders the Pool most relevant results by a metadata field
	// ("likes:desc"); the first K are returned. A field no document has is
	// an error.
	Sort string
	// Pool is how many relevant results are fused, reranked or sorted; 0 =
	// max(K, 100); at most MaxK.
	Pool int
	// Rescore is how many candidates an int8/binary index's exact scan, and
	// every graph search (int8 traversal), rescore with full precision; 0 =
	// max(10·K, 100) for the scan, max(Pool, 100) for a graph.
	Rescore int
	// Ef is the beam width of the HNSW graph search of segments with a
	// graph: larger is slower and closer to exact; 0 = DefaultEf. It is
	// raised to the candidates asked for (Pool, or Rescore when set).
	Ef int
	// Exact scans every segment's vectors even where a graph exists (the
	// exact top-k; also the way to search past a damaged graph file).
	Exact bool
	// Rerank, when set, reorders the best candidates with a cross-encoder
	// over each document's best passage.
	Rerank *Rerank
	// BM25 parameters; nil = k1 1.2, b 0.75 and the index's field mode
	// (Info.BM25Fields).
	BM25 *lexical.Params
	// MaxQueryBytes bounds len(Text); 0 = OpenOptions.MaxQueryBytes. A
	// longer query is an errs.Limit error.
	MaxQueryBytes int
}

// Search limits. K, Pool, Rescore and Rerank.Top above MaxK are an
// errs.Limit error naming the field; K and Pool are then capped to the live
// documents of the index, so nothing is allocated for results the corpus
// cannot have. A query longer than its byte limit (Request.MaxQueryBytes,
// OpenOptions.MaxQueryBytes, DefaultMaxQueryBytes) is an errs.Limit error;
// BM25 scores at most lexical.MaxQueryTerms distinct terms of a query. A
// SearchBatch whose pools add up to more than MaxBatchCandidates is searched
// in consecutive parts over the same snapshot, so the candidates held at
// once stay bounded (the responses are the caller's: split huge batches).
const (
	MaxK                 = 10_000
	DefaultMaxQueryBytes = 16 << 10
	MaxBatchCandidates   = 1 << 20
)

// batchCandidates is MaxBatchCandidates; tests lower it.
var batchCandidates = MaxBatchCandidates

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

// What a Result's Score is.
const (
	ScoreDense    = "dense"    // cosine / dot product of the embeddings
	ScoreBM25     = "bm25"     // BM25
	ScoreSparse   = "sparse"   // SPLADE dot product
	ScoreRRF      = "rrf"      // reciprocal rank fusion of dense and BM25
	ScoreWeighted = "weighted" // weighted min-max fusion of dense and BM25
	ScoreRerank   = "rerank"   // cross-encoder logit
)

// Result is one document found.
type Result struct {
	ID    string  `json:"id"`
	Score float64 `json:"score"`
	// ScoreKind says what Score is (ScoreDense, ScoreRerank, ...): with Sort
	// and a rerank of fewer than Pool candidates, reranked and not reranked
	// results are mixed.
	ScoreKind string          `json:"score_kind"`
	Title     string          `json:"title,omitempty"`
	Passage   string          `json:"passage"`
	Metadata  json.RawMessage `json:"metadata,omitempty"`
	Scores    Scores          `json:"scores"`
	Ord       uint32          `json:"-"`
	// PassageIndex is which of the document's passages Passage is (-1: none).
	PassageIndex int `json:"passage_index"`
}

// Response is the answer to one Request.
type Response struct {
	QueryID string        `json:"query_id"`
	Results []Result      `json:"results"`
	Took    time.Duration `json:"-"`
	// Generation is the index generation the search read.
	Generation uint64 `json:"-"`
	// Timing splits Took by pipeline stage (the batch's shared stages count
	// for each of its responses).
	Timing Timing `json:"-"`
	// QueryActiveDims is the number of active dimensions of the query's
	// sparse vector (ModeSparse).
	QueryActiveDims int `json:"query_active_dims,omitempty"`
}

// Timing is where a search spent its time.
type Timing struct {
	Encode   time.Duration // embedding / encoding the query
	Retrieve time.Duration // dense scan, BM25, sparse (and the filters' bitmaps)
	Finish   time.Duration // fusion, rerank, sort, fetching the documents
}

type candidate struct {
	ord     uint32
	sparse  *float64
	dense   *float64
	bm25    *float64
	rerank  *float64
	score   float64
	kind    string
	passage int // -1 unknown
}

// query is a validated request and what its retrievers found.
type query struct {
	req    Request
	params lexical.Params
	sort   *meta.SortSpec
	filter string // key of its filter set
	allow  meta.Bitmap
	qvec   []float32
	svec   sparse.Vec

	dense  []search.Hit
	bm25   []lexical.Hit
	sparse []sparse.Hit
}

// Search runs one request.
func (ix *Index) Search(ctx context.Context, req Request) (*Response, error) {
	r, err := ix.SearchBatch(ctx, []Request{req})
	if err != nil {
		return nil, err
	}
	return r[0], nil
}

// SearchBatch runs many requests over one snapshot of the index; dense
// queries are embedded together and searched together (one native call per
// segment for all queries with the same filters). Each request goes down
// one pipeline: retrievers (dense, bm25, sparse) → fusion → rerank → sort →
// documents. Every request is validated first (see MaxK); a batch whose
// pools add up to more than MaxBatchCandidates is searched in consecutive
// parts, so its candidates are bounded; the responses are not (split huge
// batches, as the CLI's --queries does).
func (ix *Index) SearchBatch(ctx context.Context, reqs []Request) ([]*Response, error) {
	s, err := ix.acquire()
	if err != nil {
		return nil, err
	}
	defer s.release()
	t0 := time.Now()
	if err := s.ready(); err != nil {
		return nil, err
	}
	lim := limits{live: s.live.Count(), queryBytes: ix.opts.MaxQueryBytes}
	if lim.queryBytes <= 0 {
		lim.queryBytes = DefaultMaxQueryBytes
	}
	qs := make([]query, len(reqs))
	for i := range reqs {
		if err := s.prepare(&qs[i], reqs[i], lim); err != nil {
			if len(reqs) > 1 {
				return nil, fmt.Errorf("query %d (%q): %w", i+1, reqs[i].ID, err)
			}
			return nil, err
		}
	}
	out := make([]*Response, 0, len(qs))
	for lo := 0; lo < len(qs); {
		hi, pool := lo, 0
		for hi < len(qs) && (hi == lo || pool+qs[hi].req.Pool <= batchCandidates) {
			pool += qs[hi].req.Pool
			hi++
		}
		resps, err := ix.searchPart(ctx, s, qs[lo:hi], t0)
		if err != nil {
			return nil, err
		}
		for i := lo; i < hi; i++ {
			qs[i] = query{} // the part's candidates are garbage now
		}
		out = append(out, resps...)
		lo = hi
	}
	return out, nil
}

// searchPart runs prepared requests (a part of a batch) over snapshot s.
func (ix *Index) searchPart(ctx context.Context, s *snapshot, qs []query, t0 time.Time) ([]*Response, error) {
	var tm Timing
	t1 := time.Now()
	if err := s.filter(qs); err != nil { // before encoding: bad filters fail fast
		return nil, err
	}
	t2 := time.Now()
	if err := ix.encodeQueries(ctx, qs); err != nil {
		return nil, err
	}
	t3 := time.Now()
	tm.Encode = t3.Sub(t2)
	if err := s.retrieve(ctx, qs, ix.opts.ModelOptions.Threads); err != nil {
		return nil, err
	}
	tm.Retrieve = t2.Sub(t1) + time.Since(t3)
	out := make([]*Response, len(qs))
	for i := range qs {
		t4 := time.Now()
		resp, err := s.finish(ctx, &qs[i])
		if err != nil {
			return nil, err
		}
		resp.Took = time.Since(t0)
		resp.Generation = s.man.Generation
		resp.Timing = tm
		resp.Timing.Finish = time.Since(t4)
		out[i] = resp
	}
	return out, nil
}

// limits are what prepare checks a request against.
type limits struct {
	live       int // live documents of the snapshot: K and Pool are capped to it
	queryBytes int // most bytes of Request.Text
}

// prepare validates a request against the snapshot and fills defaults.
func (s *snapshot) prepare(q *query, r Request, lim limits) error {
	bad := func(format string, args ...any) error {
		return errs.New(errs.BadInput, "search: "+format, args...)
	}
	over := func(field string, v int) error {
		return errs.New(errs.Limit, "search: %s = %d: above the limit of %d (MaxK)", field, v, MaxK)
	}
	switch {
	case r.K < 0:
		return bad("k = %d: want k ≥ 1 (0 means 10)", r.K)
	case r.Pool < 0:
		return bad("pool = %d: want pool ≥ 1 (0 means max(k, 100))", r.Pool)
	case r.Rescore < 0:
		return bad("rescore = %d: want rescore ≥ 1 (0 means max(10·k, 100))", r.Rescore)
	case r.Rerank != nil && r.Rerank.Top < 0:
		return bad("rerank top = %d: want ≥ 1 (0 means the pool)", r.Rerank.Top)
	case r.MaxQueryBytes < 0:
		return bad("max query bytes = %d: want ≥ 1 (0 means the index's limit)", r.MaxQueryBytes)
	case r.K > MaxK:
		return over("k", r.K)
	case r.Pool > MaxK:
		return over("pool", r.Pool)
	case r.Rescore > MaxK:
		return over("rescore", r.Rescore)
	case r.Rerank != nil && r.Rerank.Top > MaxK:
		return over("rerank top", r.Rerank.Top)
	case r.Ef < 0:
		return bad("ef = %d: want ef ≥ 1 (0 means the default, %d)", r.Ef, DefaultEf)
	case r.Ef > MaxEf:
		return errs.New(errs.Limit, "search: ef = %d: above the limit of %d (MaxEf)", r.Ef, MaxEf)
	}
	maxBytes := lim.queryBytes
	if r.MaxQueryBytes > 0 {
		maxBytes = r.MaxQueryBytes
	}
	if len(r.Text) > maxBytes {
		return errs.New(errs.Limit, "search: query of %d bytes: above the limit of %d bytes (MaxQueryBytes)", len(r.Text), maxBytes)
	}
	if r.K == 0 {
		r.K = 10
	}
	if r.Mode == "" {
		r.Mode = ModeDense
	}
	switch r.Mode {
	case ModeDense, ModeBM25, ModeHybrid, ModeSparse:
	default:
		return bad("unknown mode %q (dense, bm25, hybrid or sparse)", r.Mode)
	}
	switch {
	case r.Mode == ModeSparse && !s.sparse:
		return fmt.Errorf("search: mode sparse needs an index built with a SPLADE model; this index holds dense vectors of %s (use dense, bm25 or hybrid): %w", s.man.Model.Name, ErrModelKind)
	case (r.Mode == ModeDense || r.Mode == ModeHybrid) && s.sparse:
		return fmt.Errorf("search: mode %s needs dense vectors; this index was built with the SPLADE model %s and holds sparse vectors (use sparse or bm25): %w", r.Mode, s.man.Model.Name, ErrModelKind)
	}
	if r.Mode == ModeHybrid {
		r.Fusion = orDefault(r.Fusion, FusionRRF)
		if r.Fusion != FusionRRF && r.Fusion != FusionWeighted {
			return bad("unknown fusion %q (rrf or weighted)", r.Fusion)
		}
	} else if r.Fusion != "" && r.Fusion != FusionRRF && r.Fusion != FusionWeighted {
		return bad("unknown fusion %q (rrf or weighted)", r.Fusion)
	}
	if r.Alpha != nil && !(*r.Alpha >= 0 && *r.Alpha <= 1) {
		return bad("alpha = %v: want 0 ≤ alpha ≤ 1 (1 = dense only, 0 = BM25 only)", *r.Alpha)
	}
	if r.Pool == 0 {
		r.Pool = max(r.K, 100)
	}
	r.Pool = max(r.Pool, r.K)
	// Nothing is allocated for results the corpus cannot have.
	r.K = max(1, min(r.K, lim.live))
	r.Pool = max(1, min(r.Pool, lim.live))
	q.params = lexical.DefaultParams()
	q.params.Fields, _ = lexical.ParseFieldMode(s.bm25Fields)
	if r.BM25 != nil {
		q.params = *r.BM25
	}
	if r.Sort != "" {
		spec, err := meta.ParseSort(r.Sort)
		if err != nil {
			return errs.Mark(errs.BadInput, fmt.Errorf("search: %w", err))
		}
		q.sort = &spec
	}
	q.req = r
	return nil
}

// filter computes each request's allow bitmap (live documents matching its
// filters, one per distinct filter set) and checks sort fields.
func (s *snapshot) filter(qs []query) error {
	var t *meta.Table
	needTable := false
	for i := range qs {
		needTable = needTable || len(qs[i].req.Filters) > 0 || qs[i].sort != nil
	}
	if needTable {
		var err error
		if t, err = s.table(); err != nil {
			return err
		}
	}
	byKey := map[string]meta.Bitmap{}
	for i := range qs {
		q := &qs[i]
		if q.sort != nil && !t.HasField(q.sort.Field) {
			fields := t.Fields()
			list := "none: no document has metadata"
			if len(fields) > 0 {
				list = strings.Join(fields, ", ")
			}
			return errs.New(errs.BadInput, "search: sort: no document has the field %q (sortable fields: %s)", q.sort.Field, list)
		}
		q.filter = strings.Join(q.req.Filters, "\x00")
		if b, ok := byKey[q.filter]; ok {
			q.allow = b
			continue
		}
		allow := s.live
		if len(q.req.Filters) > 0 {
			fs := make([]meta.Filter, len(q.req.Filters))
			for j, f := range q.req.Filters {
				pf, err := meta.ParseFilter(f)
				if err != nil {
					return errs.Mark(errs.BadInput, err)
				}
				fs[j] = pf
			}
			if err := t.Check(fs); err != nil {
				return errs.Mark(errs.BadInput, fmt.Errorf("filter: %w", err))
			}
			allow = s.live.Clone()
			allow.And(t.Match(fs))
		}
		byKey[q.filter] = allow
		q.allow = allow
	}
	return nil
}

// encodeQueries embeds the dense queries and encodes the sparse ones, each
// kind in one batch, with the model's query prompt.
func (ix *Index) encodeQueries(ctx context.Context, qs []query) error {
	var dense, sp []int
	for i := range qs {
		switch qs[i].req.Mode {
		case ModeDense, ModeHybrid:
			dense = append(dense, i)
		case ModeSparse:
			sp = append(sp, i)
		}
	}
	if len(dense) == 0 && len(sp) == 0 {
		return nil
	}
	enc, err := ix.Encoder()
	if err != nil {
		return err
	}
	texts := func(idx []int) []string {
		out := make([]string, len(idx))
		for j, i := range idx {
			out[j] = enc.Info().QueryPrompt + qs[i].req.Text
		}
		return out
	}
	if len(dense) > 0 {
		vecs, err := encodeTexts(ctx, enc, texts(dense), enc.EmbedEncodings)
		if err != nil {
			return fmt.Errorf("search: embed queries: %w", err)
		}
		for j, i := range dense {
			qs[i].qvec = vecs[j]
		}
	}
	if len(sp) > 0 {
		vecs, err := encodeTexts(ctx, enc, texts(sp), enc.SparseEncodings)
		if err != nil {
			return fmt.Errorf("search: encode queries: %w", err)
		}
		for j, i := range sp {
			qs[i].svec = vecs[j]
		}
	}
	return nil
}

// encodeChunk is how many texts go to one encoder call.
const encodeChunk = 256

// encodeTexts tokenizes texts (truncated to the model's max tokens) and
// encodes them with fn, encodeChunk at a time.
func encodeTexts[T any](ctx context.Context, enc encoder.Encoder, texts []string, fn func([]tokenize.Encoding) ([]T, error)) ([]T, error) {
	tok, maxLen := enc.Tokenizer(), enc.Info().MaxTokens
	out := make([]T, 0, len(texts))
	encs := make([]tokenize.Encoding, 0, min(len(texts), encodeChunk))
	for lo := 0; lo < len(texts); lo += encodeChunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+encodeChunk, len(texts))
		encs = encs[:0]
		for _, t := range texts[lo:hi] {
			encs = append(encs, tok.Encode(t, maxLen))
		}
		v, err := fn(encs)
		if err != nil {
			return nil, err
		}
		out = append(out, v...)
	}
	return out, nil
}

// retrieve runs every request's retrievers: dense (batched per filter set),
// BM25 and sparse.
func (s *snapshot) retrieve(ctx context.Context, qs []query, threads int) error {
	type group struct {
		idx   []int
		k     int
		res   int
		ef    int
		exact bool
	}
	groups := map[string]*group{}
	var order []string
	for i := range qs {
		q := &qs[i]
		mode := q.req.Mode
		if mode == ModeDense || mode == ModeHybrid {
			// One dense search per filter set and graph setting.
			key := fmt.Sprintf("%d\x00%t\x00%s", q.req.Ef, q.req.Exact, q.filter)
			g := groups[key]
			if g == nil {
				g = &group{ef: q.req.Ef, exact: q.req.Exact}
				groups[key] = g
				order = append(order, key)
			}
			g.idx = append(g.idx, i)
			g.k = max(g.k, q.req.Pool)
			g.res = max(g.res, q.req.Rescore)
		}
		if (mode == ModeBM25 || mode == ModeHybrid) && s.lex != nil {
			hits, err := s.lex.Search(ctx, q.req.Text, q.req.Pool, q.params, []uint64(q.allow))
			if err != nil {
				return errs.Mark(errs.BadInput, fmt.Errorf("search: %w", err))
			}
			q.bm25 = hits
		}
		if mode == ModeSparse {
			segs := make([]*sparse.Segment, len(s.segs))
			for j, seg := range s.segs {
				segs[j] = seg.sp
			}
			hits, err := sparse.SearchAll(ctx, segs, []sparse.Vec{q.svec}, []uint64(q.allow), s.bits, q.req.Pool)
			if err != nil {
				return err
			}
			q.sparse = hits[0]
		}
	}
	for _, key := range order {
		g := groups[key]
		vecs := make([][]float32, len(g.idx))
		for j, i := range g.idx {
			vecs[j] = qs[i].qvec
		}
		hits, err := s.denseSearch(ctx, vecs, qs[g.idx[0]].allow, dense{k: g.k, rescore: g.res, ef: g.ef, exact: g.exact, threads: threads})
		if err != nil {
			return err
		}
		for j, i := range g.idx {
			h := hits[j]
			if len(h) > qs[i].req.Pool {
				h = h[:qs[i].req.Pool]
			}
			qs[i].dense = h
		}
	}
	return nil
}

// dense configures a dense search: documents per query, int8 candidates
// rescored, graph beam width (0: DefaultEf), exact scan forced, threads.
type dense struct {
	k, rescore, ef int
	exact          bool
	threads        int
}

// denseSearch finds the k best documents per query over all segments,
// through each segment's graph where it has one (unless exact) and by the
// exact scan elsewhere; each hit's Row is the passage index within its
// document.
func (s *snapshot) denseSearch(ctx context.Context, qs [][]float32, allow meta.Bitmap, d dense) ([][]search.Hit, error) {
	k := d.k
	out := make([][]search.Hit, len(qs))
	for _, seg := range s.segs {
		if seg.vecs.N == 0 {
			continue
		}
		o := search.Options{K: k, RescoreN: d.rescore, Threads: d.threads, Ef: orDefaultInt(d.ef, DefaultEf)}
		var hits [][]search.Hit
		g, err := seg.graph(s.dir, d.exact)
		if err != nil {
			return nil, err
		}
		c := &search.Corpus{Vectors: seg.vecs, Rescore: seg.rescore}
		if g != nil {
			// int8 traversal, candidates rescored with the full-precision rows.
			c = &search.Corpus{Vectors: seg.trav, Rescore: seg.travResc}
		}
		c.Vectors.Allow, c.Vectors.AllowBits = []uint64(allow), s.bits
		if g != nil {
			hits, err = search.SearchHNSW(ctx, g, c, qs, o)
		} else {
			hits, err = search.TopK(ctx, c, qs, o)
		}
		if err != nil {
			return nil, err
		}
		for qi := range qs {
			for j := range hits[qi] {
				h := &hits[qi][j]
				h.Row -= int64(seg.first[uint32(h.Group)-seg.meta.DocOrdStart])
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

func orDefaultInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// fuse turns a request's retrieved lists into one ranked candidate list.
func fuse(q *query) ([]candidate, error) {
	var cands []candidate
	switch q.req.Mode {
	case ModeDense:
		for _, h := range q.dense {
			cands = append(cands, candidate{ord: uint32(h.Group), dense: f64(float64(h.Score)), score: float64(h.Score), kind: ScoreDense, passage: int(h.Row)})
		}
	case ModeSparse:
		for _, h := range q.sparse {
			cands = append(cands, candidate{ord: h.Group, sparse: f64(h.Score), score: h.Score, kind: ScoreSparse, passage: h.Passage})
		}
	case ModeBM25:
		for _, h := range q.bm25 {
			cands = append(cands, candidate{ord: h.Ord, bm25: f64(h.Score), score: h.Score, kind: ScoreBM25, passage: -1})
		}
	case ModeHybrid:
		dl := make([]fusion.Hit, len(q.dense))
		passage := make(map[uint32]int, len(q.dense))
		dscore := make(map[uint32]float64, len(q.dense))
		for i, h := range q.dense {
			dl[i] = fusion.Hit{Ord: uint32(h.Group), Score: float64(h.Score)}
			passage[uint32(h.Group)] = int(h.Row)
			dscore[uint32(h.Group)] = float64(h.Score)
		}
		ll := make([]fusion.Hit, len(q.bm25))
		lscore := make(map[uint32]float64, len(q.bm25))
		for i, h := range q.bm25 {
			ll[i] = fusion.Hit{Ord: h.Ord, Score: h.Score}
			lscore[h.Ord] = h.Score
		}
		var fused []fusion.Hit
		kind := ScoreRRF
		if q.req.Fusion == FusionWeighted {
			alpha := 0.5
			if q.req.Alpha != nil {
				alpha = *q.req.Alpha
			}
			w, err := fusion.Weighted(dl, ll, alpha)
			if err != nil {
				return nil, err
			}
			for _, h := range w {
				fused = append(fused, fusion.Hit{Ord: h.Ord, Score: h.Score})
			}
			kind = ScoreWeighted
		} else {
			r, err := fusion.RRF([][]fusion.Hit{dl, ll}, fusion.DefaultRRFK, nil)
			if err != nil {
				return nil, err
			}
			for _, h := range r {
				fused = append(fused, fusion.Hit{Ord: h.Ord, Score: h.Score})
			}
		}
		for _, f := range fused {
			c := candidate{ord: f.Ord, score: f.Score, kind: kind, passage: -1}
			if sc, ok := dscore[f.Ord]; ok {
				c.dense, c.passage = f64(sc), passage[f.Ord]
			}
			if sc, ok := lscore[f.Ord]; ok {
				c.bm25 = f64(sc)
			}
			cands = append(cands, c)
		}
	}
	if len(cands) > q.req.Pool {
		cands = cands[:q.req.Pool]
	}
	return cands, nil
}

// docView is a fetched document.
type docView struct {
	id, title string
	meta      json.RawMessage
	passages  []string
}

// load fetches candidate c's document and settles its passage: a candidate
// without one (BM25) gets the passage that matches the query best.
func (s *snapshot) load(c *candidate, picker func() *lexical.PassagePicker) (docView, error) {
	rec, err := s.doc(c.ord)
	if err != nil {
		return docView{}, err
	}
	d := docView{id: rec.ID, title: rec.Title, meta: rec.Metadata, passages: make([]string, len(rec.Passages))}
	for i, p := range rec.Passages {
		d.passages[i] = p.Text
	}
	if c.passage < 0 && len(d.passages) > 0 {
		if s.lex != nil && len(d.passages) > 1 {
			c.passage = picker().Best(d.passages)
		}
		c.passage = max(c.passage, 0)
	}
	return d, nil
}

// finish fuses, reranks, sorts and materializes one request's results.
// Documents are fetched only for the candidates reranked and returned.
func (s *snapshot) finish(ctx context.Context, q *query) (*Response, error) {
	r := &q.req
	cands, err := fuse(q)
	if err != nil {
		return nil, err
	}
	docs := make(map[uint32]docView)
	var pp *lexical.PassagePicker
	picker := func() *lexical.PassagePicker { // the query analyzed once, for all its documents
		if pp == nil {
			pp = s.lex.PassagePicker(r.Text)
		}
		return pp
	}
	get := func(c *candidate) (docView, error) {
		if d, ok := docs[c.ord]; ok {
			return d, nil
		}
		d, err := s.load(c, picker)
		if err != nil {
			return docView{}, err
		}
		docs[c.ord] = d
		return d, nil
	}
	if r.Rerank != nil && r.Rerank.Model != nil {
		top := r.Rerank.Top
		if top <= 0 || top > len(cands) {
			top = len(cands)
		}
		texts := make([]string, top)
		for i := 0; i < top; i++ {
			d, err := get(&cands[i])
			if err != nil {
				return nil, err
			}
			texts[i] = passageText(d, cands[i].passage)
		}
		scores, err := r.Rerank.Model.Rerank(ctx, r.Text, texts)
		if err != nil {
			return nil, fmt.Errorf("rerank: %w", err)
		}
		if len(scores) != top {
			return nil, fmt.Errorf("rerank: %d scores for %d documents", len(scores), top)
		}
		for i := 0; i < top; i++ {
			cands[i].rerank = f64(float64(scores[i]))
			cands[i].score, cands[i].kind = float64(scores[i]), ScoreRerank
		}
		head := cands[:top]
		sort.SliceStable(head, func(a, b int) bool { return head[a].score > head[b].score })
	}
	if q.sort != nil {
		t, err := s.table()
		if err != nil {
			return nil, err
		}
		ords := make([]uint32, len(cands))
		pos := make(map[uint32]int, len(cands))
		for i, c := range cands {
			ords[i] = c.ord
			pos[c.ord] = i
		}
		t.Sort(ords, q.sort.Field, q.sort.Desc)
		sorted := make([]candidate, len(cands))
		for i, o := range ords {
			sorted[i] = cands[pos[o]]
		}
		cands = sorted
	}
	if len(cands) > r.K {
		cands = cands[:r.K]
	}
	resp := &Response{QueryID: r.ID, Results: make([]Result, 0, len(cands)), QueryActiveDims: q.svec.Len()}
	for i := range cands {
		c := &cands[i]
		d, err := get(c)
		if err != nil {
			return nil, err
		}
		res := Result{ID: d.id, Ord: c.ord, Score: c.score, ScoreKind: c.kind, Title: d.title, Metadata: d.meta,
			PassageIndex: c.passage, Passage: passageText(d, c.passage),
			Scores: Scores{Dense: c.dense, Sparse: c.sparse, BM25: c.bm25, Rerank: c.rerank}}
		if c.rerank != nil {
			res.Scores.Relevance = f64(Sigmoid(float32(*c.rerank)))
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
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
