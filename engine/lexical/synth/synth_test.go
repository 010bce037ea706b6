package synth

import (
	"reflect"
	"strings"
	"testing"
)

func TestDeterministicAndZipfian(t *testing.T) {
	o := Options{Docs: 2000, WordsPerDoc: 50, TitleWords: 5, Vocab: 1000, Seed: 3}
	a, b := Corpus(o), Corpus(o)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same options, different corpora")
	}
	words := Words(o.Vocab, o.Seed)
	seen := map[string]bool{}
	for _, w := range words {
		if seen[w] || w == "" {
			t.Fatalf("word %q repeated or empty", w)
		}
		seen[w] = true
	}
	rank := map[string]int{}
	for i, w := range words {
		rank[w] = i
	}
	count := make([]int, o.Vocab)
	total := 0
	for _, d := range a {
		if d.Title == "" || len(strings.Fields(d.Title)) > o.TitleWords {
			t.Fatalf("title %q", d.Title)
		}
		n := len(strings.Fields(d.Text))
		if n < o.WordsPerDoc/2 || n > o.WordsPerDoc*3/2 {
			t.Fatalf("text of %d words", n)
		}
		for _, w := range strings.Fields(d.Text) {
			count[rank[w]]++
			total++
		}
	}
	// Rank 0 is far more frequent than rank 100, which beats rank 900.
	if !(count[0] > 20*count[100] && count[100] > count[900]) {
		t.Fatalf("not Zipfian: counts %d, %d, %d", count[0], count[100], count[900])
	}
	qs := Queries(o, 50, 3, 10, 20, 1)
	for _, q := range qs {
		for _, w := range strings.Fields(q) {
			if r := rank[w]; r < 10 || r >= 20 {
				t.Fatalf("query word %q has rank %d", w, r)
			}
		}
	}
	if !reflect.DeepEqual(qs, Queries(o, 50, 3, 10, 20, 1)) {
		t.Fatal("queries not deterministic")
	}
}
