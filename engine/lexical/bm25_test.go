package lexical

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"path/filepath"
	"sort"
	"testing"

	"github.com/quarry-search/quarry/engine/lexical/synth"
)

// refIndex is a straightforward BM25 implementation with plain maps, written
// from the formula and independent of the segment format: the oracle for
// Search.
type refIndex struct {
	docs  []refDoc
	stats [nStats]*refStats // per field, computed on first use
}

// refStats are one field's collection statistics and term frequencies.
type refStats struct {
	n     int
	avgdl float64
	df    map[string]int
	tf    []map[string]int // per document
	dl    []int
}

type refDoc struct {
	ord   uint32
	terms [2][]string // title, text
}

func newRef(docs []Doc, an Analyzer) *refIndex {
	r := &refIndex{}
	for _, d := range docs {
		r.docs = append(r.docs, refDoc{ord: d.Ord, terms: [2][]string{an.Analyze(d.Title), an.Analyze(d.Text)}})
	}
	return r
}

// field returns document d's terms in the field f (fTitle, fText or fAny).
func (d refDoc) field(f int) []string {
	if f == fAny {
		return append(append([]string(nil), d.terms[0]...), d.terms[1]...)
	}
	return d.terms[f]
}

func (r *refIndex) fieldStats(f int) *refStats {
	if r.stats[f] != nil {
		return r.stats[f]
	}
	st := &refStats{df: map[string]int{}}
	total := 0
	for _, d := range r.docs {
		terms := d.field(f)
		if len(terms) > 0 {
			st.n++
		}
		total += len(terms)
		tf := map[string]int{}
		for _, t := range terms {
			tf[t]++
		}
		for t := range tf {
			st.df[t]++
		}
		st.tf = append(st.tf, tf)
		st.dl = append(st.dl, len(terms))
	}
	st.avgdl = float64(total) / float64(st.n)
	r.stats[f] = st
	return st
}

// fieldScores returns BM25 scores over field f for every document.
func (r *refIndex) fieldScores(query []string, f int, p Params) map[uint32]float64 {
	st := r.fieldStats(f)
	scores := map[uint32]float64{}
	for i, d := range r.docs {
		tf := st.tf[i]
		dl := float64(st.dl[i])
		if p.LuceneNorms {
			dl = float64(luceneLength(uint32(st.dl[i])))
		}
		var s float64
		for _, q := range query { // a repeated query term counts again
			if tf[q] == 0 {
				continue
			}
			idf := math.Log(1 + (float64(st.n)-float64(st.df[q])+0.5)/(float64(st.df[q])+0.5))
			x := float64(tf[q])
			part := idf * x / (x + p.K1*(1-p.B+p.B*dl/st.avgdl))
			if p.K1Plus1 {
				part *= p.K1 + 1
			}
			s += part
		}
		if s > 0 {
			scores[d.ord] = s
		}
	}
	return scores
}

func (r *refIndex) search(query string, an Analyzer, k int, p Params, allowed func(uint32) bool) []Hit {
	q := an.Analyze(query)
	var scores map[uint32]float64
	if p.Fields == Combined {
		scores = r.fieldScores(q, fAny, p)
	} else {
		title, text := r.fieldScores(q, fTitle, p), r.fieldScores(q, fText, p)
		scores = map[uint32]float64{}
		for _, d := range r.docs {
			a, b := title[d.ord], text[d.ord]
			if a > 0 || b > 0 {
				scores[d.ord] = math.Max(a, b) + p.TieBreaker*math.Min(a, b)
			}
		}
	}
	var hits []Hit
	for ord, s := range scores {
		if allowed == nil || allowed(ord) {
			hits = append(hits, Hit{ord, s})
		}
	}
	sort.Slice(hits, func(i, j int) bool { return better(hits[i], hits[j]) })
	if len(hits) > k {
		hits = hits[:k]
	}
	return hits
}

// sameHits compares a top-k result with the reference's full ranking: the
// first k of it, scores equal within tol rank by rank, and the same
// ordinals except where two reference scores are within tol of each other
// (a tie the last bits may break either way).
func sameHits(t *testing.T, what string, got, want []Hit, k int, tol float64) {
	t.Helper()
	if len(got) != min(k, len(want)) {
		t.Fatalf("%s: %d hits, want %d\n got %v\nwant %v", what, len(got), min(k, len(want)), got, want)
	}
	for i := range got {
		if math.Abs(got[i].Score-want[i].Score) > tol {
			t.Fatalf("%s: rank %d: score %.15g (ord %d), want %.15g (ord %d)", what, i, got[i].Score, got[i].Ord, want[i].Score, want[i].Ord)
		}
		if got[i].Ord != want[i].Ord {
			nearTie := (i > 0 && want[i-1].Score-want[i].Score <= tol) || (i+1 < len(want) && want[i].Score-want[i+1].Score <= tol)
			if !nearTie {
				t.Fatalf("%s: rank %d: ord %d, want %d (score %.15g)", what, i, got[i].Ord, want[i].Ord, want[i].Score)
			}
		}
	}
}

// smallCorpus has stop words, possessives, repeats, empty titles, an empty
// document and a stop-word-only one.
func smallCorpus(start uint32) []Doc {
	raw := [][2]string{
		{"Berlin", "Berlin is the capital of Germany. Berlin's museums are well known."},
		{"", "How many people live in Berlin? About 3.7 million people live in Berlin."},
		{"Paris", "Paris is the capital and most populous city of France."},
		{"Capital cities", "A capital city is the municipality holding primary status in a country."},
		{"", ""},
		{"The", "the of and to"},
		{"Museums of Berlin", "Museum Island holds five museums; the museums are visited by millions."},
		{"Germany", "Germany is a country in Central Europe. Its capital is Berlin."},
		{"Dogs", "The dog's bowl; dogs' bowls; a dog runs, dogs running, running dogs."},
		{"Cats and dogs", "Cats are independent. Dogs are loyal. Cats and dogs can live together."},
		{"", "Running is a method of terrestrial locomotion by which humans and animals move rapidly on foot."},
		{"Population", "The population of Paris is about 2.1 million; Berlin has 3.7 million people."},
	}
	docs := make([]Doc, len(raw))
	for i, r := range raw {
		docs[i] = Doc{Ord: start + uint32(i), Title: r[0], Text: r[1]}
	}
	return docs
}

// synthOpts is the small synthetic corpus of the tests: ~30 words from a
// 400-word vocabulary, so that terms repeat and scores tie.
func synthOpts(seed int64) synth.Options {
	return synth.Options{WordsPerDoc: 30, TitleWords: 4, Vocab: 400, Seed: seed}
}

func synthDocs(n int, start uint32, seed int64) []Doc {
	var docs []Doc
	o := synthOpts(seed)
	o.Docs = n
	for i, d := range synth.Corpus(o) {
		if i%17 == 0 {
			d.Title = ""
		}
		docs = append(docs, Doc{Ord: start + uint32(i), Title: d.Title, Text: d.Text})
	}
	return docs
}

// buildIndex writes docs as segments split at the given sizes and opens
// them.
func buildIndex(t testing.TB, docs []Doc, an Analyzer, sizes ...int) *Index {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, lo := 0, 0; lo < len(docs); i++ {
		n := len(docs) - lo
		if i < len(sizes) {
			n = min(sizes[i], n)
		}
		p := filepath.Join(dir, SegmentFileName(uint64(i)))
		if _, _, err := BuildSegment(context.Background(), p, docs[lo:lo+n], an); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		lo += n
	}
	ix, err := Open(paths)
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func paramGrid() []Params {
	var ps []Params
	for _, k1 := range []float64{0, 0.9, 1.2, 2} {
		for _, b := range []float64{0, 0.4, 0.75, 1} {
			for _, mode := range []FieldMode{Combined, BestFields} {
				p := Params{K1: k1, B: b, Fields: mode, TieBreaker: 0.5}
				ps = append(ps, p)
				if k1 == 1.2 && b == 0.75 {
					for _, tie := range []float64{0, 1} {
						q := p
						q.TieBreaker = tie
						ps = append(ps, q)
					}
					q := p
					q.K1Plus1 = true
					ps = append(ps, q)
					q = p
					q.LuceneNorms = true
					ps = append(ps, q)
				}
			}
		}
	}
	return append(ps, BEIRParams())
}

func TestSearchMatchesReference(t *testing.T) {
	ctx := context.Background()
	corpora := []struct {
		name    string
		docs    []Doc
		queries []string
	}{
		{"small", smallCorpus(100), []string{
			"berlin", "Berlin capital", "capital capital city", "How many people live in Berlin?",
			"dogs running", "the of", "museum", "zzz unknown", "Paris population million", "Germany's capital Berlin Berlin",
		}},
		{"synthetic", synthDocs(400, 7, 1), synth.Queries(synthOpts(1), 40, 5, 0, 400, 1)},
	}
	for _, c := range corpora {
		for _, an := range []Analyzer{English(), Standard()} {
			ix := buildIndex(t, c.docs, an)
			ref := newRef(c.docs, an)
			for _, p := range paramGrid() {
				for _, q := range c.queries {
					want := ref.search(q, an, math.MaxInt, p, nil)
					for _, k := range []int{1, 3, 10, 1000} {
						got, err := ix.Search(ctx, q, k, p, nil)
						if err != nil {
							t.Fatal(err)
						}
						sameHits(t, fmt.Sprintf("%s/%s %+v q=%q k=%d", c.name, an.Name(), p, q, k), got, want, k, 1e-9)
					}
				}
			}
		}
	}
}

// TestKnownScores pins a few scores computed by hand from the formula.
func TestKnownScores(t *testing.T) {
	docs := []Doc{
		{Ord: 0, Text: "apple banana"},
		{Ord: 1, Text: "apple apple cherry cherry"},
		{Ord: 2, Text: "banana"},
	}
	ix := buildIndex(t, docs, Standard())
	// N = 3, avgdl = 7/3; "cherry": df 1, idf = ln(1 + 2.5/1.5);
	// doc 1: tf 2, dl 4 -> 2 / (2 + 1.2 (0.25 + 0.75·4/(7/3))).
	idf := math.Log(1 + 2.5/1.5)
	want := idf * 2 / (2 + 1.2*(0.25+0.75*4/(7.0/3)))
	got, err := ix.Search(context.Background(), "cherry", 10, DefaultParams(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Ord != 1 || math.Abs(got[0].Score-want) > 1e-12 {
		t.Fatalf("cherry: %v, want [{1 %v}]", got, want)
	}
	// Duplicate query term counts twice.
	got2, _ := ix.Search(context.Background(), "cherry cherry", 10, DefaultParams(), nil)
	if math.Abs(got2[0].Score-2*want) > 1e-12 {
		t.Fatalf("cherry cherry: %v, want %v", got2[0].Score, 2*want)
	}
	// (k1+1) factor.
	p := DefaultParams()
	p.K1Plus1 = true
	got3, _ := ix.Search(context.Background(), "cherry", 10, p, nil)
	if math.Abs(got3[0].Score-2.2*want) > 1e-12 {
		t.Fatalf("K1Plus1: %v, want %v", got3[0].Score, 2.2*want)
	}
	// "apple banana": docs 0 and 1 have apple, 0 and 2 banana; ties broken by ordinal.
	all, _ := ix.Search(context.Background(), "banana", 10, Params{K1: 1.2, B: 0}, nil)
	if len(all) != 2 || all[0].Ord != 0 || all[1].Ord != 2 || all[0].Score != all[1].Score {
		t.Fatalf("banana with b=0: %v, want a tie of 0 and 2 in ordinal order", all)
	}
}

func TestMultiSegmentEqualsSingle(t *testing.T) {
	ctx := context.Background()
	docs := synthDocs(500, 1000, 2)
	one := buildIndex(t, docs, English())
	splits := [][]int{{250}, {1, 99, 300}, {37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37}}
	queries := synth.Queries(synthOpts(2), 30, 4, 0, 400, 2)
	for _, sizes := range splits {
		many := buildIndex(t, docs, English(), sizes...)
		if one.Stats().DocCount != many.Stats().DocCount || one.Stats().AvgDocLen != many.Stats().AvgDocLen || one.Stats().Terms != many.Stats().Terms || one.Stats().Postings != many.Stats().Postings {
			t.Fatalf("stats differ: %+v vs %+v", one.Stats(), many.Stats())
		}
		for term, e := range one.terms {
			if many.terms[term] == nil || many.terms[term].df != e.df {
				t.Fatalf("df(%q) differs", term)
			}
		}
		for _, p := range []Params{DefaultParams(), BEIRParams()} {
			for _, q := range queries {
				a, _ := one.Search(ctx, q, 20, p, nil)
				b, _ := many.Search(ctx, q, 20, p, nil)
				if fmt.Sprint(a) != fmt.Sprint(b) {
					t.Fatalf("split %v, %q: %v vs %v", sizes, q, a, b)
				}
			}
		}
	}
}

func randomBitset(r *rand.Rand, n int, density float64) []uint64 {
	b := make([]uint64, (n+63)/64)
	for i := range n {
		if r.Float64() < density {
			b[i/64] |= 1 << (i % 64)
		}
	}
	return b
}

func TestFilteredTopKExact(t *testing.T) {
	ctx := context.Background()
	docs := synthDocs(600, 0, 3)
	ix := buildIndex(t, docs, English(), 200, 150)
	ref := newRef(docs, English())
	r := rand.New(rand.NewSource(4))
	queries := synth.Queries(synthOpts(3), 20, 4, 0, 400, 3)
	for _, density := range []float64{0, 0.01, 0.1, 0.5, 0.9, 1} {
		allowed := randomBitset(r, len(docs), density)
		fn := func(o uint32) bool { return allowed[o/64]>>(o%64)&1 == 1 }
		for _, q := range queries {
			for _, p := range []Params{DefaultParams(), BEIRParams()} {
				want := ref.search(q, English(), math.MaxInt, p, fn)
				for _, k := range []int{1, 5, 50} {
					got, err := ix.Search(ctx, q, k, p, allowed)
					if err != nil {
						t.Fatal(err)
					}
					for _, h := range got {
						if !fn(h.Ord) {
							t.Fatalf("ord %d not allowed", h.Ord)
						}
					}
					sameHits(t, fmt.Sprintf("density %v q=%q k=%d", density, q, k), got, want, k, 1e-9)
				}
			}
		}
	}
	// A short bitset admits nothing past its end; an empty non-nil one
	// admits nothing at all.
	short := []uint64{^uint64(0)}
	got, _ := ix.Search(ctx, "", 10, DefaultParams(), short)
	if len(got) != 0 {
		t.Fatalf("empty query: %v", got)
	}
	for _, q := range queries {
		got, _ := ix.Search(ctx, q, 1000, DefaultParams(), short)
		for _, h := range got {
			if h.Ord >= 64 {
				t.Fatalf("short bitset let ord %d through", h.Ord)
			}
		}
		none, _ := ix.Search(ctx, q, 1000, DefaultParams(), []uint64{})
		if len(none) != 0 {
			t.Fatalf("empty bitset: %v", none)
		}
	}
}

func TestSearchArguments(t *testing.T) {
	ctx := context.Background()
	ix := buildIndex(t, smallCorpus(0), English())
	bad := []Params{
		{K1: -1, B: 0.5}, {K1: math.NaN(), B: 0.5}, {K1: math.Inf(1), B: 0.5},
		{K1: 1, B: -0.1}, {K1: 1, B: 1.1}, {K1: 1, B: math.NaN()},
		{K1: 1, B: 0.5, Fields: 7}, {K1: 1, B: 0.5, TieBreaker: 2},
	}
	for _, p := range bad {
		if _, err := ix.Search(ctx, "berlin", 10, p, nil); err == nil {
			t.Errorf("params %+v accepted", p)
		}
	}
	if _, err := ix.Search(ctx, "berlin", -1, DefaultParams(), nil); err == nil {
		t.Error("k = -1 accepted")
	}
	if got, err := ix.Search(ctx, "berlin", 0, DefaultParams(), nil); err != nil || got != nil {
		t.Errorf("k = 0: %v, %v", got, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := ix.Search(cancelled, "berlin", 10, DefaultParams(), nil); err == nil {
		t.Error("cancelled context: no error")
	}
	empty, err := Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := empty.Search(ctx, "berlin", 10, DefaultParams(), nil); err != nil || got != nil {
		t.Errorf("empty index: %v, %v", got, err)
	}
	if empty.Analyzer().Name() != AnalyzerEnglish {
		t.Errorf("empty index analyzer %q", empty.Analyzer().Name())
	}
}

func TestStats(t *testing.T) {
	docs := smallCorpus(5)
	ix := buildIndex(t, docs, English(), 4, 5)
	st := ix.Stats()
	// Doc 4 (empty) and doc 5 (stop words only) have no terms.
	if st.Segments != 3 || st.Docs != 12 || st.DocCount != 10 {
		t.Fatalf("stats %+v", st)
	}
	total := 0
	for _, d := range docs {
		total += len(English().Analyze(d.Title)) + len(English().Analyze(d.Text))
	}
	if want := float64(total) / 10; st.AvgDocLen != want {
		t.Fatalf("avgdl %v, want %v", st.AvgDocLen, want)
	}
}

func TestBestPassage(t *testing.T) {
	ix := buildIndex(t, smallCorpus(0), English())
	tests := []struct {
		query    string
		passages []string
		want     int
	}{
		{"berlin", nil, -1},
		{"berlin", []string{"nothing here", "nor here"}, 0},
		{"berlin", []string{"Paris", "Berlin!", "Berlin Berlin"}, 1},
		// "museum" is rarer than "berlin": one museum beats one berlin.
		{"berlin museums", []string{"Berlin, Berlin, Berlin", "a museum"}, 1},
		{"berlin museums", []string{"a museum", "Berlin museums"}, 1},
		// Stemming applies to passages too.
		{"running dogs", []string{"cats", "a dog ran", "dogs run"}, 2},
	}
	for _, tc := range tests {
		if got := ix.BestPassage(tc.query, tc.passages); got != tc.want {
			t.Errorf("BestPassage(%q, %q) = %d, want %d", tc.query, tc.passages, got, tc.want)
		}
	}
	if ix.IDF("museum") <= ix.IDF("berlin") {
		t.Fatalf("idf(museum) %v <= idf(berlin) %v", ix.IDF("museum"), ix.IDF("berlin"))
	}
	if got := BestPassage(Standard(), "a b", []string{"a", "b a", "a b a"}, nil); got != 1 {
		t.Fatalf("unweighted: %d", got)
	}
}

func TestLuceneNorms(t *testing.T) {
	// Values from Lucene's SmallFloat: exact below 24, then 4 significant
	// bits, rounded down.
	for dl, want := range map[uint32]uint32{0: 0, 1: 1, 23: 23, 24: 24, 25: 25, 31: 31, 32: 32, 33: 33, 39: 39, 40: 40, 41: 40, 100: 96, 1000: 984, 1 << 20: 983064, math.MaxUint32: 2013265944} {
		if got := luceneLength(dl); got != want {
			t.Errorf("luceneLength(%d) = %d, want %d", dl, got, want)
		}
	}
	prev := uint32(0)
	for i := 0; i < 256; i++ {
		v := luceneByte4ToInt(byte(i))
		if i > 0 && v <= prev {
			t.Fatalf("byte4ToInt not increasing at %d", i)
		}
		if luceneIntToByte4(v) != byte(i) {
			t.Fatalf("intToByte4(byte4ToInt(%d)) = %d", i, luceneIntToByte4(v))
		}
		prev = v
	}
}
