// Command bleveeval measures bleve v2 (scorch index, BM25 scoring) against
// quarry's engine/lexical on the same synthetic corpus: build time and size,
// query latency, filtered top-k, score agreement, and what a crash between
// bleve's commit and quarry's manifest commit leaves behind. It is its own
// module so that bleve's index packages stay out of quarry's build.
//
//	go run . -docs 100000 -words 100 -queries 1000
//
// See ../README.md for the results and the decision they support.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/blevesearch/bleve/v2"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search/query"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/quarry-search/quarry/engine/lexical"
	"github.com/quarry-search/quarry/engine/lexical/synth"
)

func main() {
	docsN := flag.Int("docs", 100_000, "documents")
	words := flag.Int("words", 100, "mean words per document")
	nq := flag.Int("queries", 1000, "queries")
	dir := flag.String("dir", "", "work directory (default: a temporary one)")
	child := flag.String("crash-child", "", "internal: index a batch into this bleve index, then die")
	flag.Parse()
	if *child != "" {
		crashChild(*child)
		return
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "bleveeval-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	if err := run(*dir, *docsN, *words, *nq); err != nil {
		log.Fatal(err)
	}
}

type doc struct {
	Body string `json:"body"`
}

func newMapping() *mapping.IndexMappingImpl {
	m := bleve.NewIndexMapping()
	m.ScoringModel = index.BM25Scoring
	m.DefaultAnalyzer = "en"
	body := bleve.NewTextFieldMapping()
	body.Analyzer = "en"
	body.Store = false
	body.IncludeInAll = false
	body.IncludeTermVectors = false
	body.DocValues = false
	dm := bleve.NewDocumentStaticMapping()
	dm.AddFieldMappingsAt("body", body)
	m.DefaultMapping = dm
	return m
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}

func pct(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(math.Min(float64(len(s)-1), p*float64(len(s))))]
}

func mean(d []time.Duration) time.Duration {
	var t time.Duration
	for _, x := range d {
		t += x
	}
	return t / time.Duration(len(d))
}

func bleveSearch(ix bleve.Index, q query.Query, k int) ([]lexical.Hit, error) {
	req := bleve.NewSearchRequestOptions(q, k, 0, false)
	res, err := ix.Search(req)
	if err != nil {
		return nil, err
	}
	hits := make([]lexical.Hit, len(res.Hits))
	for i, h := range res.Hits {
		o, _ := strconv.Atoi(h.ID)
		hits[i] = lexical.Hit{Ord: uint32(o), Score: h.Score}
	}
	return hits, nil
}

func overlap(a, b []lexical.Hit) int {
	in := map[uint32]bool{}
	for _, h := range a {
		in[h.Ord] = true
	}
	n := 0
	for _, h := range b {
		if in[h.Ord] {
			n++
		}
	}
	return n
}

func run(dir string, n, words, nq int) error {
	ctx := context.Background()
	fmt.Printf("corpus: %d docs, ~%d words, titles up to 8 words, Zipf vocabulary 50000 (s=1.1)\n", n, words)
	opts := synth.Options{Docs: n, WordsPerDoc: words, TitleWords: 8, Vocab: 50_000, Seed: 42}
	corpus := synth.Corpus(opts)
	queries := synth.Queries(opts, nq, 5, 10, 5000, 42)
	docs := make([]lexical.Doc, n)
	for i, d := range corpus {
		docs[i] = lexical.Doc{Ord: uint32(i), Title: d.Title, Text: d.Text}
	}

	// quarry: 4 segments.
	qdir := filepath.Join(dir, "quarry")
	if err := os.MkdirAll(qdir, 0o755); err != nil {
		return err
	}
	t0 := time.Now()
	var paths []string
	for s := 0; s < 4; s++ {
		lo, hi := s*n/4, (s+1)*n/4
		p := filepath.Join(qdir, lexical.SegmentFileName(uint64(s)))
		if _, _, err := lexical.BuildSegment(ctx, p, docs[lo:hi], lexical.English()); err != nil {
			return err
		}
		paths = append(paths, p)
	}
	qBuild := time.Since(t0)
	t0 = time.Now()
	qix, err := lexical.Open(paths)
	if err != nil {
		return err
	}
	qOpen := time.Since(t0)
	fmt.Printf("quarry build: %.2fs (%.0f docs/s), %.1f MiB on disk, open+validate %.0f ms, avgdl %.2f\n",
		qBuild.Seconds(), float64(n)/qBuild.Seconds(), float64(dirSize(qdir))/(1<<20), float64(qOpen.Milliseconds()), qix.Stats().AvgDocLen)

	// bleve: same text as one field (quarry's Combined mode), batches of 1000.
	bdir := filepath.Join(dir, "bleve")
	t0 = time.Now()
	bix, err := bleve.New(bdir, newMapping())
	if err != nil {
		return err
	}
	for lo := 0; lo < n; lo += 1000 {
		b := bix.NewBatch()
		for i := lo; i < min(lo+1000, n); i++ {
			if err := b.Index(strconv.Itoa(i), doc{Body: docs[i].Title + " " + docs[i].Text}); err != nil {
				return err
			}
		}
		if err := bix.Batch(b); err != nil {
			return err
		}
	}
	bBuild := time.Since(t0)
	if err := bix.Close(); err != nil {
		return err
	}
	fmt.Printf("bleve build:  %.2fs (%.0f docs/s), %.1f MiB on disk (%s)\n", bBuild.Seconds(), float64(n)/bBuild.Seconds(), float64(dirSize(bdir))/(1<<20), "scorch, batches of 1000")
	bix, err = bleve.Open(bdir)
	if err != nil {
		return err
	}
	defer bix.Close()

	// Latency, k = 10.
	var ql, bl []time.Duration
	agree, overlapSum := 0, 0
	for _, q := range queries {
		t := time.Now()
		qh, err := qix.Search(ctx, q, 10, lexical.DefaultParams(), nil)
		if err != nil {
			return err
		}
		ql = append(ql, time.Since(t))
		mq := bleve.NewMatchQuery(q)
		mq.SetField("body")
		t = time.Now()
		bh, err := bleveSearch(bix, mq, 10)
		if err != nil {
			return err
		}
		bl = append(bl, time.Since(t))
		o := overlap(qh, bh)
		overlapSum += o
		if o == len(qh) && len(qh) == len(bh) {
			agree++
		}
	}
	fmt.Printf("query latency k=10 over %d queries: quarry mean %v p50 %v p99 %v; bleve mean %v p50 %v p99 %v\n",
		len(queries), mean(ql), pct(ql, 0.5), pct(ql, 0.99), mean(bl), pct(bl, 0.5), pct(bl, 0.99))
	fmt.Printf("top-10 agreement with exact BM25: %d/%d queries identical sets, mean overlap %.2f/10\n", agree, len(queries), float64(overlapSum)/float64(len(queries)))

	// Scores for one query, and bleve's BM25 statistics.
	q := queries[0]
	qh, _ := qix.Search(ctx, q, 3, lexical.DefaultParams(), nil)
	mq := bleve.NewMatchQuery(q)
	mq.SetField("body")
	bh, _ := bleveSearch(bix, mq, 3)
	fmt.Printf("query %q: quarry (Lucene BM25) %v; bleve %v\n", q, qh, bh)
	st := qix.Stats()
	fmt.Printf("true avgdl %.3f over %d docs; bleve uses ceil(distinct terms / docs) = ceil(%d / %d) = %.0f as avgdl, and multiplies by k1 instead of (k1+1) or 1\n",
		st.AvgDocLen, st.DocCount, st.Terms, n, math.Ceil(float64(st.Terms)/float64(n)))

	// Filtered top-k.
	r := rand.New(rand.NewSource(1))
	for _, density := range []float64{0.01, 0.5} {
		allowed := make([]uint64, (n+63)/64)
		var ids []string
		for i := 0; i < n; i++ {
			if r.Float64() < density {
				allowed[i/64] |= 1 << (i % 64)
				ids = append(ids, strconv.Itoa(i))
			}
		}
		var qf, bf, bp []time.Duration
		short := 0
		for _, q := range queries[:200] {
			t := time.Now()
			qh, _ := qix.Search(ctx, q, 10, lexical.DefaultParams(), allowed)
			qf = append(qf, time.Since(t))
			mq := bleve.NewMatchQuery(q)
			mq.SetField("body")
			t = time.Now()
			_, err := bleveSearch(bix, bleve.NewConjunctionQuery(mq, bleve.NewDocIDQuery(ids)), 10)
			if err != nil {
				return err
			}
			bf = append(bf, time.Since(t))
			// Post-filtering bleve's unfiltered top 10 is fast but not the
			// filtered top 10.
			t = time.Now()
			bh, _ := bleveSearch(bix, mq, 10)
			kept := 0
			for _, h := range bh {
				if allowed[h.Ord/64]>>(h.Ord%64)&1 == 1 {
					kept++
				}
			}
			bp = append(bp, time.Since(t))
			if kept < len(qh) {
				short++
			}
		}
		fmt.Printf("filter %.0f%% (%d ids): quarry exact %v mean; bleve conjunction with DocIDQuery %v mean; bleve top-10 then filter %v mean but short of the true filtered top 10 in %d/200 queries\n",
			density*100, len(ids), mean(qf), mean(bf), mean(bp), short)
	}
	return crashTest(dir)
}

// crashTest: segment 1 is committed in bleve and (by assumption) in the
// manifest; a child process indexes segment 2 into bleve and is killed
// before quarry's manifest commit. What does bleve hold after a restart?
func crashTest(dir string) error {
	bdir := filepath.Join(dir, "crash")
	ix, err := bleve.New(bdir, newMapping())
	if err != nil {
		return err
	}
	b := ix.NewBatch()
	for i := 0; i < 1000; i++ {
		_ = b.Index(strconv.Itoa(i), doc{Body: "committed segment one"})
	}
	if err := ix.Batch(b); err != nil {
		return err
	}
	if err := ix.Close(); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "-crash-child", bdir)
	out, _ := cmd.CombinedOutput() // exits 3 by design
	ix, err = bleve.Open(bdir)
	if err != nil {
		return fmt.Errorf("reopen after crash: %w (child said %s)", err, out)
	}
	defer ix.Close()
	count, _ := ix.DocCount()
	mq := bleve.NewMatchQuery("uncommitted")
	mq.SetField("body")
	res, err := ix.Search(bleve.NewSearchRequest(mq))
	if err != nil {
		return err
	}
	var files []string
	_ = filepath.Walk(bdir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(bdir, p)
			files = append(files, rel)
		}
		return nil
	})
	fmt.Printf("crash between bleve Batch and manifest commit: manifest says 1000 docs, bleve reopens with %d docs; %d docs of the uncommitted segment are searchable; bleve's own files: %v\n",
		count, res.Total, files)
	return nil
}

func crashChild(bdir string) {
	ix, err := bleve.Open(bdir)
	if err != nil {
		log.Fatal(err)
	}
	b := ix.NewBatch()
	for i := 1000; i < 2000; i++ {
		_ = b.Index(strconv.Itoa(i), doc{Body: "uncommitted segment two"})
	}
	if err := ix.Batch(b); err != nil {
		log.Fatal(err)
	}
	// Killed here: after bleve's batch returned, before quarry writes the
	// manifest that would commit segment 2.
	os.Exit(3)
}
