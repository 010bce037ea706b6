package eval

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRanksAndCorrelations(t *testing.T) {
	r := Ranks([]float64{10, 20, 20, 30, 20, 5})
	want := []float64{2, 4, 4, 6, 4, 1}
	for i := range r {
		if r[i] != want[i] {
			t.Fatalf("Ranks = %v, want %v", r, want)
		}
	}
	// scipy.stats.spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) = 0.8207826816681233 (its documentation's example)
	if s := Spearman([]float64{1, 2, 3, 4, 5}, []float64{5, 6, 7, 8, 7}); math.Abs(s-0.8207826816681233) > 1e-12 {
		t.Fatalf("spearman %v", s)
	}
	// Pearson by hand: x = 1,2,3; y = 1,2,4: sxy = 3, sxx = 2, syy = 14/3
	if p := Pearson([]float64{1, 2, 3}, []float64{1, 2, 4}); math.Abs(p-3/math.Sqrt(2*14.0/3)) > 1e-12 {
		t.Fatalf("pearson %v", p)
	}
	if p := Pearson([]float64{1, 1}, []float64{1, 2}); !math.IsNaN(p) {
		t.Fatalf("constant input: %v", p)
	}
	if s := Spearman([]float64{3, 2, 1}, []float64{1, 2, 3}); math.Abs(s+1) > 1e-12 {
		t.Fatalf("reversed: %v", s)
	}
}

func TestReadSTS(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.tsv")
	os.WriteFile(p, []byte("score\tsentence1\tsentence2\r\n5.0\tA man plays.\tA man is playing.\n\n0.25\tx\ty\n"), 0o644)
	pairs, err := ReadSTS(p)
	if err != nil || len(pairs) != 2 || pairs[0].Score != 5 || pairs[0].B != "A man is playing." || pairs[1].Line != 4 {
		t.Fatalf("%+v %v", pairs, err)
	}
	for body, want := range map[string]string{
		"1\ta\tb\nx\ta\tb\n":     `b.tsv:2: score "x"`,
		"1\ta\tb\n2\ta\n":        "b.tsv:2: want 3 tab-separated fields",
		"1\ta\tb\n2\ta\t \n":     "b.tsv:2: empty sentence",
		"1\ta\tb\n":              "at least 2",
		"1\ta\tb\nNaN\ta\tb\n":   `b.tsv:2: score "NaN"`,
		"1\ta\tb\n2\t\xff\tb\n":  "b.tsv:2: invalid UTF-8",
		"1\ta\tb\n2\ta\tb\tc\n":  "got 4",
		"head\ta\tb\n1\ta\tb\n3": "b.tsv:3",
	} {
		b := filepath.Join(dir, "b.tsv")
		os.WriteFile(b, []byte(body), 0o644)
		if _, err := ReadSTS(b); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: want %q, got %v", body, want, err)
		}
	}
}

// fakeEmbedder maps each sentence to a fixed vector.
type fakeEmbedder map[string][]float32

func (f fakeEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, s := range texts {
		out[i] = f[s]
	}
	return out, nil
}
func (f fakeEmbedder) Dim() int     { return 2 }
func (f fakeEmbedder) Close() error { return nil }

func TestEvalSTS(t *testing.T) {
	emb := fakeEmbedder{"a": {1, 0}, "b": {1, 0}, "c": {0, 1}, "d": {1, 1}}
	pairs := []Pair{{Score: 5, A: "a", B: "b"}, {Score: 0, A: "a", B: "c"}, {Score: 3, A: "a", B: "d"}}
	rep, err := EvalSTS(context.Background(), emb, pairs)
	if err != nil {
		t.Fatal(err)
	}
	// cosines 1, 0, 1/√2: same order as the gold scores
	if rep.Sentences != 4 || math.Abs(rep.Spearman-1) > 1e-12 || rep.Pearson < 0.99 {
		t.Fatalf("%+v", rep)
	}
}
