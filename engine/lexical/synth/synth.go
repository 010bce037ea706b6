// Package synth generates deterministic synthetic corpora for lexical tests
// and benchmarks: pronounceable pseudo-words drawn from a Zipfian
// distribution, so term frequencies look like natural text's.
package synth

import (
	"math/rand"
	"strings"
)

// Options shape a corpus.
type Options struct {
	Docs        int     // number of documents
	WordsPerDoc int     // mean text length in words (uniform in [mean/2, 3·mean/2])
	TitleWords  int     // title length in words; 0 for no titles
	Vocab       int     // vocabulary size
	Zipf        float64 // Zipf exponent s, > 1 (1.1 if 0)
	Seed        int64
}

// Doc is one generated document.
type Doc struct {
	Title, Text string
}

var (
	onsets = []string{"b", "br", "c", "ch", "d", "dr", "f", "g", "gr", "h", "j", "k", "l", "m", "n", "p", "pl", "qu", "r", "s", "sh", "st", "t", "th", "tr", "v", "w", "z"}
	vowels = []string{"a", "e", "i", "o", "u", "ai", "ea", "io", "ou"}
	codas  = []string{"", "", "n", "r", "s", "t", "l", "m", "nd", "rk"}
)

// Words returns vocab distinct pseudo-words; the same seed gives the same
// words in the same order (rank 0 is the most frequent in Corpus).
func Words(vocab int, seed int64) []string {
	r := rand.New(rand.NewSource(seed))
	seen := make(map[string]bool, vocab)
	words := make([]string, 0, vocab)
	for len(words) < vocab {
		var b strings.Builder
		syl := 1 + r.Intn(3) + len(words)/20000
		for range syl {
			b.WriteString(onsets[r.Intn(len(onsets))])
			b.WriteString(vowels[r.Intn(len(vowels))])
			b.WriteString(codas[r.Intn(len(codas))])
		}
		w := b.String()
		if !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	return words
}

// Corpus generates o.Docs documents.
func Corpus(o Options) []Doc {
	s := o.Zipf
	if s == 0 {
		s = 1.1
	}
	words := Words(o.Vocab, o.Seed)
	r := rand.New(rand.NewSource(o.Seed + 1))
	z := rand.NewZipf(r, s, 1, uint64(o.Vocab-1))
	sentence := func(n int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[z.Uint64()])
		}
		return b.String()
	}
	docs := make([]Doc, o.Docs)
	for i := range docs {
		n := o.WordsPerDoc/2 + r.Intn(o.WordsPerDoc+1)
		if o.TitleWords > 0 {
			docs[i].Title = sentence(1 + r.Intn(o.TitleWords))
		}
		docs[i].Text = sentence(n)
	}
	return docs
}

// Queries returns n queries of 1 to maxTerms words for the corpus that o
// generates, drawn uniformly from its vocabulary ranks [lo, hi) (0 is the
// most frequent; real queries mostly use mid-frequency words). seed picks
// the queries.
func Queries(o Options, n, maxTerms, lo, hi int, seed int64) []string {
	words := Words(o.Vocab, o.Seed)
	r := rand.New(rand.NewSource(seed))
	hi = min(hi, o.Vocab)
	qs := make([]string, n)
	for i := range qs {
		t := 1 + r.Intn(maxTerms)
		parts := make([]string, t)
		for j := range parts {
			parts[j] = words[lo+r.Intn(hi-lo)]
		}
		qs[i] = strings.Join(parts, " ")
	}
	return qs
}
