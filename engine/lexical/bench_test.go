package lexical

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/quarry-search/quarry/engine/lexical/synth"
	"github.com/quarry-search/quarry/engine/store"
)

// Benchmark corpus: 100k documents of ~100 words (50 to 150) with titles of
// up to 8 words, from a 50k-word Zipfian vocabulary (s = 1.1).
var benchOpts = synth.Options{Docs: 100_000, WordsPerDoc: 100, TitleWords: 8, Vocab: 50_000, Seed: 42}

func benchDocs(n int) []Doc {
	o := benchOpts
	o.Docs = n
	var docs []Doc
	for i, d := range synth.Corpus(o) {
		docs = append(docs, Doc{Ord: uint32(i), Title: d.Title, Text: d.Text})
	}
	return docs
}

// BenchmarkBuild measures BuildSegment over 100k documents (analysis,
// inversion, encoding, fsync).
func BenchmarkBuild(b *testing.B) {
	docs := benchDocs(benchOpts.Docs)
	dir := b.TempDir()
	path := filepath.Join(dir, SegmentFileName(0))
	var ref store.FileRef
	var info SegmentInfo
	b.ResetTimer()
	for b.Loop() {
		os.Remove(path) // BuildSegment never replaces a file
		var err error
		ref, info, err = BuildSegment(context.Background(), path, docs, English())
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(docs))*float64(b.N)/b.Elapsed().Seconds(), "docs/s")
	b.ReportMetric(float64(ref.Size)/(1<<20), "MiB")
	b.ReportMetric(float64(info.Terms), "terms")
}

// BenchmarkSearch measures top-10 queries of 1 to 5 mid-frequency terms over
// the 100k documents (in 4 segments), with and without filters.
func BenchmarkSearch(b *testing.B) {
	docs := benchDocs(benchOpts.Docs)
	ix := buildIndex(b, docs, English(), 25_000, 25_000, 25_000)
	queries := synth.Queries(benchOpts, 1000, 5, 10, 5000, 42)
	// Frequent words: each of ranks 0 to 100 is in 5% to 80% of documents.
	frequent := synth.Queries(benchOpts, 1000, 5, 0, 100, 43)
	r := rand.New(rand.NewSource(1))
	ctx := context.Background()
	for _, bc := range []struct {
		name    string
		p       Params
		density float64
		queries []string
	}{
		{"combined", DefaultParams(), -1, queries},
		{"best_fields", BEIRParams(), -1, queries},
		{"combined/filter50%", DefaultParams(), 0.5, queries},
		{"combined/filter1%", DefaultParams(), 0.01, queries},
		{"combined/frequent", DefaultParams(), -1, frequent},
		{"combined/frequent/k100", DefaultParams(), -1, frequent},
	} {
		var allowed []uint64
		if bc.density >= 0 {
			allowed = randomBitset(r, len(docs), bc.density)
		}
		b.Run(bc.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				k := 10
				if strings.HasSuffix(bc.name, "k100") {
					k = 100
				}
				if _, err := ix.Search(ctx, bc.queries[i%len(bc.queries)], k, bc.p, allowed); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkOpen measures reading and fully validating a 100k-document
// segment.
func BenchmarkOpen(b *testing.B) {
	p := filepath.Join(b.TempDir(), "lex-000000.bm25")
	if _, _, err := BuildSegment(context.Background(), p, benchDocs(benchOpts.Docs), English()); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(p)
	b.SetBytes(st.Size())
	for b.Loop() {
		if _, err := Open([]string{p}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestConcurrentSearch runs searches from many goroutines on one index
// (run with -race).
func TestConcurrentSearch(t *testing.T) {
	docs := synthDocs(800, 0, 11)
	ix := buildIndex(t, docs, English(), 300)
	queries := synth.Queries(synthOpts(11), 50, 4, 0, 400, 11)
	want := make([][]Hit, len(queries))
	for i, q := range queries {
		want[i], _ = ix.Search(context.Background(), q, 10, DefaultParams(), nil)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for j := range 200 {
				i := (g*31 + j) % len(queries)
				got, err := ix.Search(context.Background(), queries[i], 10, DefaultParams(), nil)
				if err != nil || len(got) != len(want[i]) {
					errs <- queries[i]
					return
				}
				for h := range got {
					if got[h] != want[i][h] {
						errs <- queries[i]
						return
					}
				}
				_ = ix.BestPassage(queries[i], []string{queries[(i+1)%len(queries)], queries[i]})
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for q := range errs {
		t.Errorf("concurrent search for %q differs", q)
	}
}

// longQuery is about n bytes of corpus text: many distinct indexed terms.
func longQuery(docs []Doc, n int) string {
	var sb strings.Builder
	for i := 0; sb.Len() < n; i++ {
		sb.WriteString(docs[i%len(docs)].Text)
		sb.WriteByte(' ')
	}
	return sb.String()[:n]
}

// BenchmarkLongQuery measures queries of 16 KiB to 1 MiB over 20k documents:
// the cost is bounded by MaxQueryTerms distinct terms, not by the length.
func BenchmarkLongQuery(b *testing.B) {
	docs := benchDocs(20_000)
	ix := buildIndex(b, docs, English(), 10_000)
	ctx := context.Background()
	for _, n := range []int{16 << 10, 256 << 10, 1 << 20} {
		q := longQuery(docs, n)
		b.Run(fmt.Sprintf("%dKiB", n>>10), func(b *testing.B) {
			for b.Loop() {
				if _, err := ix.Search(ctx, q, 10, DefaultParams(), nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
