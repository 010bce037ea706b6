package bert_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quarry-search/quarry/engine/bert"
	"github.com/quarry-search/quarry/engine/modelgen"
)

func tinyRef(t testing.TB, kind string, labels int, seed uint64, opts ...bert.RefOption) *bert.Reference {
	t.Helper()
	cfg, err := modelgen.WithKind(modelgen.Tiny(), kind, labels)
	if err != nil {
		t.Fatal(err)
	}
	r, err := bert.NewReference(cfg, modelgen.Random(cfg, seed), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// randomSeqs makes n sequences [CLS] w… [SEP] (pairs [CLS] a [SEP] b [SEP]
// with types 0/1 when pairs is set) of 3..maxLen tokens.
func randomSeqs(seed uint64, n, maxLen int, pairs bool) []bert.Seq {
	r := rand.New(rand.NewPCG(seed, 1))
	seqs := make([]bert.Seq, n)
	for i := range seqs {
		l := 3 + r.IntN(maxLen-2)
		ids := make([]int32, l)
		types := make([]int32, l)
		ids[0], ids[l-1] = 101, 102
		for j := 1; j < l-1; j++ {
			ids[j] = int32(1996 + r.IntN(28000))
		}
		if pairs && l >= 5 {
			mid := 1 + r.IntN(l-3)
			ids[mid] = 102
			for j := mid + 1; j < l; j++ {
				types[j] = 1
			}
		}
		seqs[i] = bert.Seq{IDs: ids, Types: types}
	}
	return seqs
}

func maxAbsDiff(a, b []float64) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

func TestPoolingDiffers(t *testing.T) {
	cfgMean := modelgen.Tiny()
	ck := modelgen.Random(cfgMean, 9)
	cfgCLS := cfgMean
	cfgCLS.Pooling = bert.PoolingCLS
	cfgLast := cfgMean
	cfgLast.Pooling = bert.PoolingLast
	mean, err := bert.NewReference(cfgMean, ck)
	if err != nil {
		t.Fatal(err)
	}
	cls, _ := bert.NewReference(cfgCLS, ck)
	last, _ := bert.NewReference(cfgLast, ck)
	ids := []int32{101, 7592, 2088, 2003, 1037, 3231, 102}
	em, _ := mean.Embed(ids, nil)
	ec, _ := cls.Embed(ids, nil)
	el, _ := last.Embed(ids, nil)
	h, err := mean.Hidden(ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != len(ids) || len(h[0]) != cfgMean.Hidden {
		t.Fatalf("Hidden is %dx%d", len(h), len(h[0]))
	}
	if d := maxAbsDiff(em, ec); d < 0.05 {
		t.Errorf("mean and cls embeddings differ by only %g", d)
	}
	// By definition: cls = normalize(h[0]), last = normalize(h[n-1]),
	// mean = normalize(Σh/n).
	check := func(name string, got []float64, raw []float64) {
		var s float64
		for _, v := range raw {
			s += v * v
		}
		for j := range raw {
			if math.Abs(got[j]-raw[j]/math.Sqrt(s)) > 1e-14 {
				t.Fatalf("%s pooling [%d]: %g, want %g", name, j, got[j], raw[j]/math.Sqrt(s))
			}
		}
	}
	check("cls", ec, h[0])
	check("last", el, h[len(h)-1])
	sum := make([]float64, cfgMean.Hidden)
	for _, row := range h {
		for j, v := range row {
			sum[j] += v / float64(len(h))
		}
	}
	check("mean", em, sum)

	// Normalize off: the raw mean.
	cfgRaw := cfgMean
	cfgRaw.Normalize = false
	raw, _ := bert.NewReference(cfgRaw, ck)
	er, _ := raw.Embed(ids, nil)
	if d := maxAbsDiff(er, sum); d > 1e-14 {
		t.Errorf("unnormalized mean differs from Σh/n by %g", d)
	}
}

func TestTokenTypesAndPositionsMatter(t *testing.T) {
	for _, labels := range []int{1, 3} {
		r := tinyRef(t, "rank", labels, 3)
		ids := []int32{101, 2054, 2003, 1037, 4937, 102, 1037, 4937, 2003, 2019, 4111, 102}
		t0 := make([]int32, len(ids))
		t1 := []int32{0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1}
		a, err := r.Rerank(ids, t0)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := r.Rerank(ids, t1)
		c, _ := r.Rerank(ids, nil) // nil types = all 0
		if len(a) != labels {
			t.Fatalf("%d logits, want %d", len(a), labels)
		}
		if d := maxAbsDiff(a, b); d < 1e-3 {
			t.Errorf("%d labels: token types change the logits by only %g", labels, d)
		}
		if maxAbsDiff(a, c) != 0 {
			t.Errorf("nil types differ from all-zero types")
		}
		t.Logf("%d labels: logits %.4f (types 0) vs %.4f (types 0/1)", labels, a, b)
	}
	// Positions: the same tokens in another order embed differently under
	// mean pooling (which is order-invariant without positions).
	r := tinyRef(t, "mean", 0, 1)
	a, _ := r.Embed([]int32{101, 7592, 2088, 102}, nil)
	b, _ := r.Embed([]int32{101, 2088, 7592, 102}, nil)
	if d := maxAbsDiff(a, b); d < 1e-3 {
		t.Errorf("word order changes the embedding by only %g", d)
	}
}

// Every length from 1 to 13 (the linear layers take four tokens at a time
// plus a remainder) gives one finite row of LayerNorm scale per token.
func TestHiddenShapes(t *testing.T) {
	r := tinyRef(t, "mean", 0, 1)
	cfg := r.Config()
	for n := 1; n <= 13; n++ {
		ids := make([]int32, n)
		for i := range ids {
			ids[i] = int32(2000 + 97*i)
		}
		h, err := r.Hidden(ids, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range h {
			if len(row) != cfg.Hidden {
				t.Fatalf("row of %d", len(row))
			}
			for _, v := range row {
				if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 20 {
					t.Fatalf("n=%d: hidden value %g", n, v)
				}
			}
		}
	}
}

func TestGELUErfVsTanh(t *testing.T) {
	measure := func(t *testing.T, cfg bert.Config, seqs []bert.Seq) {
		ck := modelgen.Random(cfg, 7)
		erf, err := bert.NewReference(cfg, ck)
		if err != nil {
			t.Fatal(err)
		}
		th, _ := bert.NewReference(cfg, ck, bert.WithGELUTanh(true))
		ctx := context.Background()
		var a, b [][]float64
		if cfg.CrossEncoder() {
			a, err = erf.RerankBatch(ctx, seqs)
			if err == nil {
				b, err = th.RerankBatch(ctx, seqs)
			}
		} else {
			a, err = erf.EmbedBatch(ctx, seqs)
			if err == nil {
				b, err = th.EmbedBatch(ctx, seqs)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		worst, cosWorst := 0.0, 1.0
		for i := range a {
			worst = math.Max(worst, maxAbsDiff(a[i], b[i]))
			if !cfg.CrossEncoder() {
				var c float64
				for j := range a[i] {
					c += a[i][j] * b[i][j]
				}
				cosWorst = math.Min(cosWorst, c)
			}
		}
		// The approximation is within ~5e-4 of erf GELU at any x; through the
		// model it moves outputs by ~1e-5…1e-4: nonzero, yet small.
		if worst == 0 || worst > 1e-3 {
			t.Errorf("erf vs tanh GELU: max diff %g, want in (0, 1e-3]", worst)
		}
		t.Logf("%s %s, %d sequences: max |erf - tanh| = %.3g, min cosine %.12f", cfg.Name, cfg.Pooling, len(seqs), worst, cosWorst)
	}
	t.Run("tiny-mean", func(t *testing.T) { measure(t, modelgen.Tiny(), randomSeqs(1, 32, 64, false)) })
	t.Run("tiny-rank", func(t *testing.T) {
		cfg, _ := modelgen.WithKind(modelgen.Tiny(), "rank", 1)
		measure(t, cfg, randomSeqs(2, 32, 64, true))
	})
	t.Run("minilm-mean", func(t *testing.T) {
		if testing.Short() || raceEnabled {
			t.Skip("MiniLM-shaped model in -short mode or under the race detector")
		}
		measure(t, modelgen.MiniLML6(), randomSeqs(3, 8, 128, false))
	})
}

func TestBatch(t *testing.T) {
	seqs := randomSeqs(5, 23, 40, false)
	one := tinyRef(t, "mean", 0, 1, bert.WithWorkers(1))
	many := tinyRef(t, "mean", 0, 1, bert.WithWorkers(4))
	a, err := one.EmbedBatch(context.Background(), seqs)
	if err != nil {
		t.Fatal(err)
	}
	b, err := many.EmbedBatch(context.Background(), seqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range seqs {
		e, err := one.Embed(s.IDs, s.Types)
		if err != nil {
			t.Fatal(err)
		}
		if maxAbsDiff(a[i], e) != 0 || maxAbsDiff(b[i], e) != 0 {
			t.Fatalf("sequence %d: batch result differs from Embed (the result must not depend on workers or order)", i)
		}
	}
	rr := tinyRef(t, "rank", 3, 3, bert.WithWorkers(3))
	pairs := randomSeqs(6, 9, 30, true)
	logits, err := rr.RerankBatch(context.Background(), pairs)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range pairs {
		l, _ := rr.Rerank(s.IDs, s.Types)
		if maxAbsDiff(l, logits[i]) != 0 {
			t.Fatalf("pair %d: RerankBatch differs from Rerank", i)
		}
	}
	if out, err := many.EmbedBatch(context.Background(), nil); err != nil || len(out) != 0 {
		t.Errorf("empty batch: %v, %v", out, err)
	}

	// Concurrent use of one Reference.
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := many.EmbedBatch(context.Background(), seqs[:8])
			if err != nil || maxAbsDiff(out[3], a[3]) != 0 {
				t.Errorf("concurrent batch: %v", err)
			}
		}()
	}
	wg.Wait()

	// The first bad sequence fails the batch and is named.
	bad := append([]bert.Seq(nil), seqs...)
	bad[7] = bert.Seq{IDs: []int32{101, 40000, 102}}
	if _, err := many.EmbedBatch(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "sequence 7: token 1: id 40000 is outside the vocabulary 0..30521") {
		t.Errorf("bad batch: %v", err)
	}
}

func TestBatchCancel(t *testing.T) {
	r := tinyRef(t, "mean", 0, 1, bert.WithWorkers(2))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.EmbedBatch(ctx, randomSeqs(1, 10, 20, false)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	// Cancelled while running: returns promptly with the context's error.
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := r.EmbedBatch(ctx, randomSeqs(2, 100000, 128, false))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancellation took %v", d)
	}
	rr := tinyRef(t, "rank", 1, 3)
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := rr.RerankBatch(ctx, randomSeqs(1, 3, 20, true)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled rerank: %v", err)
	}
}

func TestReferenceErrors(t *testing.T) {
	r := tinyRef(t, "mean", 0, 1)
	long := make([]int32, 129)
	for i := range long {
		long[i] = 2000
	}
	for _, tc := range []struct {
		ids, types []int32
		want       string
	}{
		{nil, nil, "empty sequence"},
		{long, nil, "sequence of 129 tokens exceeds the 128 positions"},
		{[]int32{101, -1, 102}, nil, "token 1: id -1 is outside the vocabulary 0..30521"},
		{[]int32{101, 30522, 102}, nil, "token 1: id 30522 is outside"},
		{[]int32{101, 102}, []int32{0}, "1 token type ids for 2 tokens"},
		{[]int32{101, 102}, []int32{0, 2}, "token 1: type id 2 is outside 0..1"},
	} {
		if _, err := r.Embed(tc.ids, tc.types); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Embed(%d ids, %v): %v, want %q", len(tc.ids), tc.types, err, tc.want)
		}
	}
	if _, err := r.Embed(long[:128], nil); err != nil {
		t.Errorf("128 tokens: %v", err)
	}
	if _, err := r.Rerank([]int32{101, 102}, nil); err == nil || !strings.Contains(err.Error(), "Rerank needs a cross-encoder") {
		t.Errorf("Rerank on a bi-encoder: %v", err)
	}
	rr := tinyRef(t, "rank", 1, 3)
	if _, err := rr.Embed([]int32{101, 102}, nil); err == nil || !strings.Contains(err.Error(), "Embed needs mean, cls or last pooling") {
		t.Errorf("Embed on a cross-encoder: %v", err)
	}
	cfg := modelgen.Tiny()
	ck := modelgen.Random(cfg, 1)
	cfg.Pooling, cfg.Normalize = bert.PoolingNone, false
	none, err := bert.NewReference(cfg, ck)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := none.Embed([]int32{101, 102}, nil); err == nil {
		t.Error("Embed with pooling none")
	}
	if _, err := none.Hidden([]int32{101, 102}, nil); err != nil {
		t.Errorf("Hidden with pooling none: %v", err)
	}
	delete(ck.Tensors, "encoder.layer.1.output.dense.weight")
	if _, err := bert.NewReference(cfg, ck); err == nil || !strings.Contains(err.Error(), "encoder.layer.1.output.dense.weight is missing") {
		t.Errorf("NewReference with a missing tensor: %v", err)
	}
}

// BenchmarkReferenceMiniLML6 measures the reference on the all-MiniLM-L6-v2
// shape: batches of 32 sequences of 8…64 tokens (mean ~36), like the
// `quarry convert` self-check. Reports tokens/s.
func BenchmarkReferenceMiniLML6(b *testing.B) {
	cfg := modelgen.MiniLML6()
	ck := modelgen.Random(cfg, 1)
	seqs := randomSeqs(4, 32, 64, false)
	for i := range seqs {
		for len(seqs[i].IDs) < 8 {
			seqs[i] = randomSeqs(uint64(100+i), 1, 64, false)[0]
		}
	}
	tokens := 0
	for _, s := range seqs {
		tokens += len(s.IDs)
	}
	for _, w := range []int{1, 2} {
		b.Run(map[int]string{1: "workers=1", 2: "workers=2"}[w], func(b *testing.B) {
			r, err := bert.NewReference(cfg, ck, bert.WithWorkers(w))
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := r.EmbedBatch(context.Background(), seqs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(tokens*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
