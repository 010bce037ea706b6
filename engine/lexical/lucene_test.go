package lexical

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/lexical/synth"
)

// The tests in this file compare with Lucene itself (the engine inside
// Elasticsearch) through scripts/lexical/lucene/LuceneBM25.java. They are
// skipped unless QUARRY_LUCENE_CP holds the class path of lucene-core and
// lucene-analysis-common (scripts/lexical/lucene/run.sh sets it up).

func luceneTool(t *testing.T) func(args ...string) []byte {
	t.Helper()
	cp := os.Getenv("QUARRY_LUCENE_CP")
	if cp == "" {
		t.Skip("QUARRY_LUCENE_CP not set (see scripts/lexical/lucene/run.sh)")
	}
	src, err := filepath.Abs("../../scripts/lexical/lucene/LuceneBM25.java")
	if err != nil {
		t.Fatal(err)
	}
	return func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command("java", append([]string{"-cp", cp, src}, args...)...)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("java %v: %v", args, err)
		}
		return out
	}
}

func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// compareLucene runs LuceneBM25 score (with luceneQueries, queries as Lucene
// should see them) and checks Search (with queries) against it: every
// score within a relative 1e-5 (Lucene scores in float32), the same
// ordinals except at float32 near-ties. It returns the largest relative
// difference and how many scores it compared.
func compareLucene(t *testing.T, lucene func(...string) []byte, analyzer string, ix *Index, corpusPath string, queries, luceneQueries []string, k int, p Params) (float64, int) {
	t.Helper()
	dir := t.TempDir()
	var ql []string
	for i, q := range luceneQueries {
		ql = append(ql, fmt.Sprintf("%d\t%s", i, q))
	}
	queriesPath := filepath.Join(dir, "queries.tsv")
	writeLines(t, queriesPath, ql)
	mode := "combined"
	if p.Fields == BestFields {
		mode = "best_fields"
	}
	out := lucene("score", analyzer, corpusPath, queriesPath,
		strconv.FormatFloat(p.K1, 'g', -1, 64), strconv.FormatFloat(p.B, 'g', -1, 64), mode,
		strconv.FormatFloat(p.TieBreaker, 'g', -1, 64), strconv.Itoa(k))
	want := make([][]Hit, len(queries))
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		qi, _ := strconv.Atoi(f[0])
		ord, _ := strconv.Atoi(f[1])
		s, _ := strconv.ParseFloat(f[2], 64)
		want[qi] = append(want[qi], Hit{Ord: uint32(ord), Score: s})
	}
	maxRel, compared := 0.0, 0
	for qi, q := range queries {
		got, err := ix.Search(context.Background(), q, k, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		w := want[qi]
		if len(got) != len(w) {
			t.Fatalf("%+v q=%q: %d hits, Lucene %d", p, q, len(got), len(w))
		}
		for i := range got {
			rel := math.Abs(got[i].Score-w[i].Score) / w[i].Score
			maxRel = math.Max(maxRel, rel)
			if rel > 1e-5 {
				t.Fatalf("%+v q=%q rank %d: quarry %d %.9g, Lucene %d %.9g", p, q, i, got[i].Ord, got[i].Score, w[i].Ord, w[i].Score)
			}
			if got[i].Ord != w[i].Ord {
				tied := (i > 0 && math.Abs(w[i-1].Score-w[i].Score) <= 1e-5*w[i].Score) ||
					(i+1 < len(w) && math.Abs(w[i].Score-w[i+1].Score) <= 1e-5*w[i].Score)
				if !tied {
					t.Fatalf("%+v q=%q rank %d: quarry ord %d, Lucene ord %d", p, q, i, got[i].Ord, w[i].Ord)
				}
			}
			compared++
		}
	}
	return maxRel, compared
}

// TestLuceneParity checks the scoring alone: documents are analyzed here and
// handed to Lucene as pre-analyzed terms. Combined is compared with a bool of
// SHOULD term queries on one field, BestFields with Elasticsearch's
// multi_match best_fields (a dis_max of per-field bools), both with
// LuceneNorms.
func TestLuceneParity(t *testing.T) {
	lucene := luceneTool(t)
	an := English()
	var docs []Doc
	opts := synth.Options{Docs: 3000, WordsPerDoc: 60, TitleWords: 6, Vocab: 3000, Seed: 17}
	for i, d := range synth.Corpus(opts) {
		if i%5 == 0 {
			d.Title = ""
		}
		if i%97 == 0 {
			d.Text = ""
		}
		docs = append(docs, Doc{Ord: uint32(i), Title: d.Title, Text: d.Text})
	}
	ix := buildIndex(t, docs, an, 1000, 700)
	var corpus []string
	for _, d := range docs {
		corpus = append(corpus, fmt.Sprintf("%d\t%s\t%s", d.Ord, strings.Join(an.Analyze(d.Title), " "), strings.Join(an.Analyze(d.Text), " ")))
	}
	corpusPath := filepath.Join(t.TempDir(), "corpus.tsv")
	writeLines(t, corpusPath, corpus)
	queries := synth.Queries(opts, 200, 5, 0, 3000, 17)
	var analyzed []string
	for _, q := range queries {
		analyzed = append(analyzed, strings.Join(an.Analyze(q), " "))
	}
	for _, p := range []Params{
		{K1: 1.2, B: 0.75, Fields: Combined, LuceneNorms: true},
		{K1: 0.9, B: 0.4, Fields: Combined, LuceneNorms: true},
		BEIRParams(),
		{K1: 2, B: 1, Fields: BestFields, TieBreaker: 0.3, LuceneNorms: true},
	} {
		maxRel, n := compareLucene(t, lucene, "standard", ix, corpusPath, queries, analyzed, 20, p)
		t.Logf("%s k1=%v b=%v tie=%v: %d scores agree with Lucene, max relative difference %.2g", p.Fields, p.K1, p.B, p.TieBreaker, n, maxRel)
	}
}

// englishSamples are sentences written for these tests, with the things
// analyzers disagree on: possessives, contractions, hyphens, numbers,
// acronyms, URLs, e-mail addresses, accents, other scripts.
var englishSamples = []string{
	"The quick brown fox jumps over the lazy dog.",
	"How many people live in Berlin, and what is its population density?",
	"John's car isn't as fast as Mary's; the dogs' bowls were empty.",
	"She said: \"We're going to the U.S.A. in 2024, aren't we?\"",
	"COVID-19 vaccines reduced hospitalizations by 90% in adults aged 65+.",
	"The function returns 3.14159 when x = 1,000 and y = -2.5e10.",
	"Contact support@example.com or visit https://example.com/help?id=42.",
	"Naïve café owners in Zürich serve crème brûlée and smørrebrød.",
	"東京タワーは東京都港区にある電波塔です。",
	"Москва — столица России, крупнейший город страны.",
	"Generalization, generalizations and generalizing are hard to generalize.",
	"Running runners ran; the run-off was running off the runway.",
	"Connection, connections, connected, connecting and connective.",
	"He was happily hopping, hoping the hopper's hops would happen.",
	"Relational databases use normalization; denormalized schemas trade consistency for speed.",
	"What does DNA stand for? Deoxyribonucleic acid, which encodes genetic information.",
	"Is it true that vitamin C prevents the common cold? Studies are inconclusive.",
	"The 19th-century novelist's manuscripts—unpublished until 1990—sold for $2.5M.",
	"Photosynthesis converts CO2 and H2O into glucose using sunlight.",
	"I/O-bound workloads, e.g. web servers, benefit from async runtimes like Tokio.",
	"C++ and C# developers often debate garbage collection vs. RAII.",
	"Mr. O'Neil's daughter-in-law lives at 221B Baker St., London NW1.",
	"Flu season peaks between December and February in the northern hemisphere.",
	"Their theories were theoretical, theorized by theorists.",
	"Ponies, ties, skies, flies, cries and dries.",
	"Argued, arguing, argues, argument, arguments, argumentative.",
}

// TestLuceneEnglishAnalyzer compares ElasticEnglish with Lucene's
// EnglishAnalyzer (Elasticsearch's "english") term for term.
func TestLuceneEnglishAnalyzer(t *testing.T) {
	lucene := luceneTool(t)
	texts := append([]string(nil), englishSamples...)
	for _, d := range synth.Corpus(synth.Options{Docs: 300, WordsPerDoc: 40, TitleWords: 5, Vocab: 5000, Seed: 23}) {
		texts = append(texts, d.Title+" "+d.Text)
	}
	path := filepath.Join(t.TempDir(), "texts.txt")
	writeLines(t, path, texts)
	lines := strings.Split(strings.TrimSuffix(string(lucene("analyze", path)), "\n"), "\n")
	if len(lines) != len(texts) {
		t.Fatalf("%d lines back for %d texts", len(lines), len(texts))
	}
	an := ElasticEnglish()
	differ := 0
	for i, text := range texts {
		got := strings.Join(an.Analyze(text), " ")
		if got != lines[i] {
			differ++
			t.Logf("differs: %q\n  quarry: %s\n  lucene: %s", text, got, lines[i])
		}
	}
	t.Logf("%d of %d texts analyzed identically", len(texts)-differ, len(texts))
	if differ > 0 {
		t.Errorf("%d texts analyzed differently", differ)
	}
}

// TestLuceneEndToEnd is BEIR's Elasticsearch setup against quarry's, from raw
// text: Lucene's EnglishAnalyzer on title and text, multi_match best_fields
// with tie 0.5, BM25 1.2/0.75; quarry's ElasticEnglish and BEIRParams.
func TestLuceneEndToEnd(t *testing.T) {
	lucene := luceneTool(t)
	an := ElasticEnglish()
	var docs []Doc
	opts := synth.Options{Docs: 2000, WordsPerDoc: 50, TitleWords: 6, Vocab: 2000, Seed: 29}
	for i, d := range synth.Corpus(opts) {
		if i%4 == 0 {
			d.Title = ""
		}
		if i < len(englishSamples) {
			d.Text = englishSamples[i] + " " + d.Text
		}
		docs = append(docs, Doc{Ord: uint32(i), Title: d.Title, Text: d.Text})
	}
	ix := buildIndex(t, docs, an, 500)
	var corpus []string
	for _, d := range docs {
		corpus = append(corpus, fmt.Sprintf("%d\t%s\t%s", d.Ord, d.Title, d.Text))
	}
	corpusPath := filepath.Join(t.TempDir(), "corpus.tsv")
	writeLines(t, corpusPath, corpus)
	queries := append(synth.Queries(opts, 200, 4, 0, 2000, 29),
		"How many people live in Berlin?", "what does DNA stand for", "is vitamin C good against the common cold",
		"running connections", "John's argument", "COVID-19 vaccine", "the of and")
	for _, p := range []Params{BEIRParams(), {K1: 0.9, B: 0.4, Fields: Combined, LuceneNorms: true}} {
		maxRel, n := compareLucene(t, lucene, "english", ix, corpusPath, queries, queries, 20, p)
		t.Logf("raw text, %s k1=%v b=%v: %d scores agree with Lucene's EnglishAnalyzer + BM25, max relative difference %.2g", p.Fields, p.K1, p.B, n, maxRel)
	}
}
