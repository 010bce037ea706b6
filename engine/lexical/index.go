package lexical

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"sync"
)

// FieldMode says how title and text are scored together.
type FieldMode int

const (
	// Combined scores one field made of the title and the text, exactly as
	// if title + " " + text had been indexed as a single field: tf is the
	// sum of both fields' frequencies, the document length the sum of both
	// lengths, df counts documents with the term in either. This is the
	// default, and how Pyserini/Anserini index BEIR ("contents").
	Combined FieldMode = iota
	// BestFields scores title and text as two fields, each with its own
	// statistics (docCount, average length, df), and combines them like
	// Elasticsearch's multi_match of type best_fields:
	// max(title, text) + TieBreaker × min(title, text). BEIR's published
	// BM25 baseline is exactly this, with TieBreaker 0.5 (see BEIRParams).
	BestFields
)

func (m FieldMode) String() string {
	switch m {
	case Combined:
		return "combined"
	case BestFields:
		return "best_fields"
	}
	return fmt.Sprintf("FieldMode(%d)", int(m))
}

// ParseFieldMode parses a FieldMode's name ("combined", "best_fields").
func ParseFieldMode(s string) (FieldMode, error) {
	for _, m := range []FieldMode{Combined, BestFields} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("unknown BM25 field mode %q (best_fields or combined)", s)
}

// Params are the BM25 parameters of one search.
type Params struct {
	K1 float64 // term frequency saturation, >= 0 (Elasticsearch: 1.2)
	B  float64 // length normalization, in [0, 1] (Elasticsearch: 0.75)

	Fields     FieldMode
	TieBreaker float64 // BestFields only, in [0, 1]

	// K1Plus1 multiplies every term score by (k1 + 1), the classic
	// Robertson form (Lucene before 8, Elasticsearch 6, rank_bm25). Off by
	// default, as in Lucene 8+ and Elasticsearch 7+, whose scores are then
	// numerically comparable. It scales all scores by the same constant, so
	// rankings do not change.
	K1Plus1 bool
	// LuceneNorms scores with document lengths rounded the way Lucene's
	// one-byte norms round them (exact below 24, 4 significant bits above).
	// Off by default: exact lengths.
	LuceneNorms bool
}

// DefaultParams is Elasticsearch's BM25 (k1 = 1.2, b = 0.75) over the
// Combined field.
func DefaultParams() Params { return Params{K1: 1.2, B: 0.75, Fields: Combined, TieBreaker: 0.5} }

// BEIRParams reproduces BEIR's Elasticsearch BM25 baseline: the "english"
// analyzer on two text fields, multi_match best_fields with tie_breaker 0.5,
// ES's default similarity (k1 1.2, b 0.75, no (k1+1) factor) and Lucene's
// rounded norms. Index with ElasticEnglish().
func BEIRParams() Params {
	return Params{K1: 1.2, B: 0.75, Fields: BestFields, TieBreaker: 0.5, LuceneNorms: true}
}

func (p Params) validate() error {
	switch {
	case !(p.K1 >= 0) || math.IsInf(p.K1, 0):
		return fmt.Errorf("lexical: k1 = %v, want a finite value >= 0", p.K1)
	case !(p.B >= 0 && p.B <= 1):
		return fmt.Errorf("lexical: b = %v, want 0 <= b <= 1", p.B)
	case p.Fields != Combined && p.Fields != BestFields:
		return fmt.Errorf("lexical: unknown field mode %v", p.Fields)
	case !(p.TieBreaker >= 0 && p.TieBreaker <= 1):
		return fmt.Errorf("lexical: tie breaker = %v, want 0 <= t <= 1", p.TieBreaker)
	}
	return nil
}

// Hit is one search result.
type Hit struct {
	Ord   uint32
	Score float64
}

// Index is a set of segments opened together, with BM25 statistics summed
// over all of them. It is immutable and safe for concurrent use; it holds
// no open files.
type Index struct {
	an    Analyzer
	segs  []*segment // by start ordinal
	terms map[string]*termEntry
	stats segStats
	maxN  uint32
	pool  sync.Pool // *scratch
	// del is the bitmap of deleted ordinals of a WithDeleted view (deleted
	// of them); stats then exclude them.
	del     []uint64
	deleted int
}

// termEntry is a term's global document frequencies and where its postings
// are, segment by segment (in segment order).
type termEntry struct {
	df   [nStats]uint64
	refs []termRef
}

type termRef struct {
	seg int
	t   *segTerm
}

type scratch struct {
	acc     [2][]float64
	touched []uint32
}

// Open reads and validates the segment files at paths and sums their
// statistics. The segments must not overlap in ordinals and must share one
// analyzer. No paths gives an empty index that uses English().
//
// Statistics count every document of every segment given, tombstoned ones
// included (as Lucene does until a merge): pass the live segments of the
// manifest, and exclude deleted documents through Search's allowed bitset.
func Open(paths []string) (*Index, error) {
	ix := &Index{an: English(), terms: make(map[string]*termEntry)}
	for _, p := range paths {
		s, err := readSegment(p)
		if err != nil {
			return nil, fmt.Errorf("lexical: open: %w", err)
		}
		ix.segs = append(ix.segs, s)
	}
	if err := ix.init(); err != nil {
		return nil, fmt.Errorf("lexical: open: %w", err)
	}
	return ix, nil
}

// openParsed is Open over already parsed segments (tests, fuzzing).
func openParsed(segs []*segment) (*Index, error) {
	ix := &Index{an: English(), terms: make(map[string]*termEntry), segs: segs}
	return ix, ix.init()
}

func (ix *Index) init() error {
	sort.Slice(ix.segs, func(i, j int) bool { return ix.segs[i].start < ix.segs[j].start })
	for i, s := range ix.segs {
		if i > 0 {
			p := ix.segs[i-1]
			if p.end() > uint64(s.start) {
				return fmt.Errorf("segments %s [%d, %d) and %s [%d, %d) overlap", p.path, p.start, p.end(), s.path, s.start, s.end())
			}
			if s.analyzer != p.analyzer {
				return fmt.Errorf("segments %s and %s use different analyzers (%q, %q)", p.path, s.path, p.analyzer, s.analyzer)
			}
		}
		for f := range nStats {
			ix.stats.docCount[f] += s.stats.docCount[f]
			ix.stats.sumTF[f] += s.stats.sumTF[f]
		}
		ix.maxN = max(ix.maxN, s.n)
		for j := range s.terms {
			t := &s.terms[j]
			e := ix.terms[t.term]
			if e == nil {
				e = &termEntry{}
				ix.terms[t.term] = e
			}
			for f := range nStats {
				e.df[f] += uint64(t.df[f])
			}
			e.refs = append(e.refs, termRef{seg: i, t: t})
		}
	}
	if len(ix.segs) > 0 {
		an, err := AnalyzerByName(ix.segs[0].analyzer)
		if err != nil {
			return err
		}
		ix.an = an
	}
	ix.pool.New = func() any {
		return &scratch{acc: [2][]float64{make([]float64, ix.maxN), make([]float64, ix.maxN)}}
	}
	return nil
}

// Analyzer is the analyzer the index's segments were built with.
func (ix *Index) Analyzer() Analyzer { return ix.an }

// Stats summarizes an index.
type Stats struct {
	Segments  int
	Docs      uint64  // documents in all segments (tombstoned ones included)
	DocCount  uint64  // documents with at least one term: BM25's N (Combined)
	AvgDocLen float64 // average length of those, in terms: BM25's avgdl (Combined)
	Terms     int     // distinct terms
	Postings  uint64  // (term, document) pairs
}

// Stats returns the index's size and its Combined-field BM25 statistics.
func (ix *Index) Stats() Stats {
	st := Stats{Segments: len(ix.segs), DocCount: ix.stats.docCount[fAny], Terms: len(ix.terms)}
	for _, s := range ix.segs {
		st.Docs += uint64(s.n)
		st.Postings += s.entries
	}
	if st.DocCount > 0 {
		st.AvgDocLen = float64(ix.stats.sumTF[fAny]) / float64(st.DocCount)
	}
	return st
}

// idf is Lucene's BM25 idf, ln(1 + (N - df + 0.5) / (df + 0.5)); always > 0.
func idf(n, df uint64) float64 {
	return math.Log(1 + (float64(n)-float64(df)+0.5)/(float64(df)+0.5))
}

// IDF is the Combined-field idf of an analyzed term (a term the index does
// not have gets the idf of df = 0).
func (ix *Index) IDF(term string) float64 {
	var df uint64
	if e := ix.terms[term]; e != nil {
		df = ix.liveDF(e)[fAny]
	}
	return idf(ix.stats.docCount[fAny], df)
}

// MaxQueryTerms is the most distinct terms of a query that BM25 scores (the
// first ones, in query order, that the index holds) and that BestPassage
// weighs (the first ones in query order).
const MaxQueryTerms = 1024

// queryTerm is one distinct analyzed query term with its repeat count.
type queryTerm struct {
	e   *termEntry
	qtf float64
	w   [2]float64 // per-field weight qtf × idf (× (k1+1)); Combined uses w[0]
}

// fieldNorm computes k1 × (1 − b + b × dl / avgdl) for one field, as
// c0 + c1 × dl.
type fieldNorm struct {
	c0, c1 float64
	lucene bool
}

func newFieldNorm(k1, b float64, docCount, sumTF uint64, lucene bool) fieldNorm {
	fn := fieldNorm{c0: k1 * (1 - b), lucene: lucene}
	if docCount > 0 && sumTF > 0 {
		avgdl := float64(sumTF) / float64(docCount)
		fn.c1 = k1 * b / avgdl
	}
	return fn
}

func (fn fieldNorm) norm(dl uint32) float64 {
	if fn.lucene {
		dl = luceneLength(dl)
	}
	return fn.c0 + fn.c1*float64(dl)
}

// Search returns the k best documents for query by BM25, best first, among
// the documents that allowed admits: nil admits every document; otherwise
// ordinal o is admitted iff o/64 < len(allowed) and bit o%64 of
// allowed[o/64] is set. Fold tombstones into allowed.
//
// The search is exhaustive over the postings of the query's terms (term at a
// time into per-segment accumulators), so the result is exactly the filtered
// top k. Equal scores are ordered by ordinal, ascending. A query term that
// repeats counts as many times as it appears (as in Lucene and
// Elasticsearch). Documents that match no query term are never returned, so
// fewer than k hits may come back.
func (ix *Index) Search(ctx context.Context, query string, k int, p Params, allowed []uint64) ([]Hit, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	if k < 0 {
		return nil, fmt.Errorf("lexical: search: k = %d, want >= 0", k)
	}
	if k == 0 || len(ix.segs) == 0 {
		return nil, nil
	}
	qts := ix.queryTerms(query, p)
	if len(qts) == 0 {
		return nil, nil
	}
	var norms [nStats]fieldNorm
	for f := range nStats {
		norms[f] = newFieldNorm(p.K1, p.B, ix.stats.docCount[f], ix.stats.sumTF[f], p.LuceneNorms)
	}

	sc := ix.pool.Get().(*scratch)
	defer ix.pool.Put(sc)
	top := topK{k: k}
	next := make([]int, len(qts)) // per query term, its next ref (refs are in segment order)
	for si, s := range ix.segs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("lexical: search: %w", err)
		}
		sc.touched = sc.touched[:0]
		for qi, qt := range qts {
			if c := next[qi]; c < len(qt.e.refs) && qt.e.refs[c].seg == si {
				ix.accumulate(s, qt.e.refs[c].t, qt, p.Fields, &norms, allowed, sc)
				next[qi]++
			}
		}
		for _, i := range sc.touched {
			var score float64
			if p.Fields == Combined {
				score = sc.acc[0][i]
				sc.acc[0][i] = 0
			} else {
				a, b := sc.acc[fTitle][i], sc.acc[fText][i]
				sc.acc[fTitle][i], sc.acc[fText][i] = 0, 0
				score = max(a, b) + p.TieBreaker*min(a, b)
			}
			top.push(Hit{Ord: s.start + i, Score: score})
		}
	}
	return top.sorted(), nil
}

// queryTerms analyzes the query and returns its distinct indexed terms in
// term order (the order in which every document's score is summed, so that
// scores do not depend on how documents are split into segments).
//
// Only the first MaxQueryTerms distinct terms of the query that the index
// holds count (later new terms are ignored, repeats of counted ones still
// count), so a search costs at most MaxQueryTerms postings lists whatever
// the length of the query.
func (ix *Index) queryTerms(query string, p Params) []queryTerm {
	counts := make(map[string]int)
	ix.an.each(query, func(term []byte) {
		if n, ok := counts[string(term)]; ok {
			counts[string(term)] = n + 1
			return
		}
		if len(counts) < MaxQueryTerms && ix.terms[string(term)] != nil {
			counts[string(term)] = 1
		}
	})
	names := make([]string, 0, len(counts))
	for t := range counts {
		names = append(names, t)
	}
	sort.Strings(names)
	scale := 1.0
	if p.K1Plus1 {
		scale = p.K1 + 1
	}
	qts := make([]queryTerm, 0, len(names))
	for _, t := range names {
		e := ix.terms[t]
		df := ix.liveDF(e)
		if df[fAny] == 0 {
			continue // only deleted documents have the term
		}
		qt := queryTerm{e: e, qtf: float64(counts[t])}
		if p.Fields == Combined {
			qt.w[0] = qt.qtf * idf(ix.stats.docCount[fAny], df[fAny]) * scale
		} else {
			for f := range 2 {
				if df[f] > 0 {
					qt.w[f] = qt.qtf * idf(ix.stats.docCount[f], df[f]) * scale
				}
			}
		}
		qts = append(qts, qt)
	}
	return qts
}

// accumulate adds one term's BM25 contributions in segment s.
func (ix *Index) accumulate(s *segment, t *segTerm, qt queryTerm, mode FieldMode, norms *[nStats]fieldNorm, allowed []uint64, sc *scratch) {
	b := s.postings[t.off : t.off+t.size]
	pos := 0
	ord := int64(s.start) - 1
	// The segment was validated when it was opened, so these reads cannot
	// fail.
	for range t.df[fAny] {
		delta, n := binary.Uvarint(b[pos:])
		pos += n
		code, n := binary.Uvarint(b[pos:])
		pos += n
		var tfTitle uint64
		if code&1 != 0 {
			tfTitle, n = binary.Uvarint(b[pos:])
			pos += n
		}
		tfText := code >> 1
		ord += int64(delta)
		if ix.deleted > 0 && ix.isDeleted(uint64(ord)) {
			continue
		}
		if allowed != nil {
			w := uint64(ord) >> 6
			if w >= uint64(len(allowed)) || allowed[w]&(1<<(uint64(ord)&63)) == 0 {
				continue
			}
		}
		i := uint32(ord - int64(s.start))
		if mode == Combined {
			tf := float64(tfTitle + tfText)
			sc.mark(i, sc.acc[0][i] == 0)
			sc.acc[0][i] += qt.w[0] * tf / (tf + norms[fAny].norm(s.dl[fTitle][i]+s.dl[fText][i]))
			continue
		}
		sc.mark(i, sc.acc[fTitle][i] == 0 && sc.acc[fText][i] == 0)
		if tfTitle > 0 {
			tf := float64(tfTitle)
			sc.acc[fTitle][i] += qt.w[fTitle] * tf / (tf + norms[fTitle].norm(s.dl[fTitle][i]))
		}
		if tfText > 0 {
			tf := float64(tfText)
			sc.acc[fText][i] += qt.w[fText] * tf / (tf + norms[fText].norm(s.dl[fText][i]))
		}
	}
}

func (sc *scratch) mark(i uint32, first bool) {
	if first {
		sc.touched = append(sc.touched, i)
	}
}

// better is the result order: higher score first, then lower ordinal.
func better(a, b Hit) bool {
	if a.Score != b.Score {
		return a.Score > b.Score
	}
	return a.Ord < b.Ord
}

// topK keeps the k best hits in a heap whose root is the worst kept.
type topK struct {
	k int
	h []Hit
}

func (t *topK) push(x Hit) {
	if len(t.h) < t.k {
		t.h = append(t.h, x)
		for i := len(t.h) - 1; i > 0; {
			p := (i - 1) / 2
			if !better(t.h[p], t.h[i]) {
				break
			}
			t.h[p], t.h[i] = t.h[i], t.h[p]
			i = p
		}
		return
	}
	if !better(x, t.h[0]) {
		return
	}
	t.h[0] = x
	for i := 0; ; {
		l, r, w := 2*i+1, 2*i+2, i
		if l < len(t.h) && better(t.h[w], t.h[l]) {
			w = l
		}
		if r < len(t.h) && better(t.h[w], t.h[r]) {
			w = r
		}
		if w == i {
			return
		}
		t.h[w], t.h[i] = t.h[i], t.h[w]
		i = w
	}
}

func (t *topK) sorted() []Hit {
	sort.Slice(t.h, func(i, j int) bool { return better(t.h[i], t.h[j]) })
	return t.h
}
