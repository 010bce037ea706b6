package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/internal/fsx"
)

// Pair is one sentence pair of an STS file with its gold score.
type Pair struct {
	Score float64
	A, B  string
	Line  int
}

// ReadSTS reads tab-separated lines "score<TAB>sentence1<TAB>sentence2".
// A first line whose score is not a number is a header and skipped, blank
// lines are skipped; any other line without exactly three fields, with a
// score that is not a finite number or with an empty sentence is an error
// naming file:line. (The STS benchmark's own sts-test.csv has seven or nine
// columns: `cut -f 5-7` gives this format.)
func ReadSTS(path string) ([]Pair, error) {
	f, err := fsx.OpenRegular(path, "STS file")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Pair
	err = lines(f, path, func(n int, line string) error {
		if strings.TrimSpace(line) == "" {
			return nil
		}
		fs := strings.Split(line, "\t")
		if len(fs) != 3 {
			return fmt.Errorf("%s:%d: want 3 tab-separated fields (score, sentence1, sentence2), got %d", path, n, len(fs))
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(fs[0]), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			if n == 1 && len(out) == 0 {
				return nil // header
			}
			return fmt.Errorf("%s:%d: score %q is not a finite number", path, n, fs[0])
		}
		if strings.TrimSpace(fs[1]) == "" || strings.TrimSpace(fs[2]) == "" {
			return fmt.Errorf("%s:%d: empty sentence", path, n)
		}
		out = append(out, Pair{Score: v, A: fs[1], B: fs[2], Line: n})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) < 2 {
		return nil, fmt.Errorf("%s: %d sentence pairs; correlations need at least 2", path, len(out))
	}
	return out, nil
}

// Pearson is the Pearson correlation of x and y (NaN when either is
// constant).
func Pearson(x, y []float64) float64 {
	n := float64(len(x))
	if len(x) != len(y) || len(x) < 2 {
		return math.NaN()
	}
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx /= n
	my /= n
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return math.NaN()
	}
	return sxy / math.Sqrt(sxx*syy)
}

// Ranks returns 1-based ranks of x, tied values sharing the average of
// their ranks (scipy.stats.rankdata's "average" method).
func Ranks(x []float64) []float64 {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return x[idx[a]] < x[idx[b]] })
	r := make([]float64, len(x))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && x[idx[j+1]] == x[idx[i]] {
			j++
		}
		avg := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			r[idx[k]] = avg
		}
		i = j + 1
	}
	return r
}

// Spearman is the Spearman rank correlation of x and y: the Pearson
// correlation of their average ranks, as scipy.stats.spearmanr computes it.
func Spearman(x, y []float64) float64 {
	if len(x) != len(y) {
		return math.NaN()
	}
	return Pearson(Ranks(x), Ranks(y))
}

// STSReport is the outcome of EvalSTS.
type STSReport struct {
	File      string  `json:"file"`
	Model     string  `json:"model"`
	Pairs     int     `json:"pairs"`
	Sentences int     `json:"sentences"` // distinct sentences embedded
	Spearman  float64 `json:"spearman"`
	Pearson   float64 `json:"pearson"`
	Seconds   float64 `json:"embed_seconds"`
}

// Cosine is the cosine similarity of a and b in float64 (0 when either is
// zero).
func Cosine(a, b []float32) float64 {
	var d, na, nb float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return d / math.Sqrt(na*nb)
}

// EvalSTS embeds every distinct sentence of pairs (in batches of 256) and
// correlates the cosine similarity of each pair with its gold score, as
// sentence-transformers' EmbeddingSimilarityEvaluator does for cosine.
func EvalSTS(ctx context.Context, emb engine.Embedder, pairs []Pair) (*STSReport, error) {
	if len(pairs) < 2 {
		return nil, errors.New("sts: correlations need at least 2 pairs")
	}
	index := map[string]int{}
	var texts []string
	for _, p := range pairs {
		for _, s := range []string{p.A, p.B} {
			if _, ok := index[s]; !ok {
				index[s] = len(texts)
				texts = append(texts, s)
			}
		}
	}
	t0 := time.Now()
	vecs := make([][]float32, 0, len(texts))
	for lo := 0; lo < len(texts); lo += 256 {
		v, err := emb.Embed(ctx, texts[lo:min(lo+256, len(texts))])
		if err != nil {
			return nil, fmt.Errorf("sts: embed: %w", err)
		}
		vecs = append(vecs, v...)
	}
	secs := time.Since(t0).Seconds()
	gold := make([]float64, len(pairs))
	sim := make([]float64, len(pairs))
	for i, p := range pairs {
		gold[i] = p.Score
		sim[i] = Cosine(vecs[index[p.A]], vecs[index[p.B]])
	}
	return &STSReport{Pairs: len(pairs), Sentences: len(texts), Spearman: Spearman(sim, gold), Pearson: Pearson(sim, gold), Seconds: secs}, nil
}
