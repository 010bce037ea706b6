package convert

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/bert"
	"github.com/quarry-search/quarry/engine/gguf"
	"github.com/quarry-search/quarry/engine/hf"
	"github.com/quarry-search/quarry/engine/tokenize"
)

// Bounds of the self-verification.
//
// Bi-encoders: the cosine between the native embedding and the reference
// embedding of every text. F32 and F16 weights keep it above 0.9999 on
// every model we measured; 0.999 leaves room for long inputs. Q8_0 rounds
// each weight to 1/254 of its block's largest magnitude, which costs about
// 1e-3 of cosine on MiniLM; 0.99 still catches any real mistake (a swapped
// or zeroed tensor drops the cosine far below 0.9).
//
// Cross-encoders: |native − reference| / max(1, |reference|) for every
// logit: relative for large logits, absolute below 1. F32 must agree to
// 1e-3 (measured: ~1e-6). F16 rounds every weight by up to 2^-11 relative;
// on random-weight cross-encoders of MiniLM's shape the worst logit moved by
// 2.2e-3, so the bound is 1e-2. Q8_0 rounds every weight by up to 1/254 of
// its block's largest magnitude; the worst logit moved by 0.084 on the same
// models (0.028–0.06 on tiny ones), so the bound is 0.2. A corrupted
// conversion (swapped or zeroed tensors) moves logits by about their own
// spread, O(1), and still fails.
const (
	minCosine     = 0.999
	minCosineQ8   = 0.99
	maxLogitF32   = 1e-3
	maxLogitF16   = 1e-2
	maxLogitQ8    = 0.2
	nativeChunk   = 16 // inputs per native call: the cancellation grain
	maxQuoteRunes = 80
)

// side runs one side of the comparison.
type side struct {
	tok    *tokenize.Tokenizer
	cfg    bert.Config
	embed  func(ctx context.Context, encs []tokenize.Encoding) ([][]float64, error)
	sparse func(ctx context.Context, encs []tokenize.Encoding) ([][]float64, error) // dense vocabulary-sized vectors
	rerank func(ctx context.Context, ps [][2]string, encs []tokenize.Encoding) ([][]float64, error)
	close  func()
}

// nativeSide loads the GGUF into the native core.
func nativeSide(path string, threads int) (*side, error) {
	mdl, err := engine.LoadModel(path, engine.ModelOptions{Threads: threads})
	if err != nil {
		return nil, err
	}
	s := &side{tok: mdl.Tokenizer(), cfg: mdl.Config(), close: func() { mdl.Close() }}
	s.embed = func(ctx context.Context, encs []tokenize.Encoding) ([][]float64, error) {
		var out [][]float64
		for lo := 0; lo < len(encs); lo += nativeChunk {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			v, err := mdl.EmbedEncodings(encs[lo:min(lo+nativeChunk, len(encs))])
			if err != nil {
				return nil, err
			}
			for _, x := range v {
				out = append(out, widen(x))
			}
		}
		return out, nil
	}
	s.sparse = func(ctx context.Context, encs []tokenize.Encoding) ([][]float64, error) {
		var out [][]float64
		for lo := 0; lo < len(encs); lo += nativeChunk {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			v, err := mdl.SparseEncodings(encs[lo:min(lo+nativeChunk, len(encs))])
			if err != nil {
				return nil, err
			}
			for _, x := range v {
				d := make([]float64, mdl.Vocab())
				for i, id := range x.IDs {
					d[id] = float64(x.Weights[i])
				}
				out = append(out, d)
			}
		}
		return out, nil
	}
	s.rerank = func(ctx context.Context, ps [][2]string, _ []tokenize.Encoding) ([][]float64, error) {
		// engine.Model tokenizes pairs itself; the ids were compared with
		// the source's before. Consecutive pairs of one query go together.
		var out [][]float64
		for lo := 0; lo < len(ps); {
			hi := lo
			var docs []string
			for hi < len(ps) && ps[hi][0] == ps[lo][0] && hi-lo < nativeChunk {
				docs = append(docs, ps[hi][1])
				hi++
			}
			v, _, err := mdl.RerankWithStats(ctx, ps[lo][0], docs)
			if err != nil {
				return nil, err
			}
			for _, x := range v {
				out = append(out, widen(x))
			}
			lo = hi
		}
		return out, nil
	}
	return s, nil
}

// referenceSide reads the GGUF back in Go and runs bert.Reference on its
// (dequantized) weights: the check of a build without the native core.
func referenceSide(path string, threads int) (*side, error) {
	gf, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	tok, err := tokenize.FromGGUF(gf)
	if err != nil {
		return nil, err
	}
	cfg, ck, _, err := bert.ReadGGUF(path)
	if err != nil {
		return nil, err
	}
	ref, err := bert.NewReference(cfg, ck, bert.WithWorkers(threads))
	if err != nil {
		return nil, err
	}
	return &side{tok: tok, cfg: cfg, close: func() {},
		embed: func(ctx context.Context, encs []tokenize.Encoding) ([][]float64, error) {
			return ref.EmbedBatch(ctx, seqs(encs))
		},
		rerank: func(ctx context.Context, _ [][2]string, encs []tokenize.Encoding) ([][]float64, error) {
			return ref.RerankBatch(ctx, seqs(encs))
		},
		sparse: func(ctx context.Context, encs []tokenize.Encoding) ([][]float64, error) {
			return ref.SparseBatch(ctx, seqs(encs))
		},
	}, nil
}

func seqs(encs []tokenize.Encoding) []bert.Seq {
	out := make([]bert.Seq, len(encs))
	for i, e := range encs {
		out[i] = bert.Seq{IDs: e.IDs, Types: e.TypeIDs}
	}
	return out
}

func widen(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func verify(ctx context.Context, m *hf.Model, path string, typ gguf.TensorType, opts Options, rep *Report, logf func(string, ...any)) error {
	cfg := m.Config
	s, err := nativeSide(path, opts.Threads)
	rep.VerifyMode = "native"
	if errors.Is(err, engine.ErrNoNative) {
		rep.VerifyMode = "reference"
		msg := "this quarry has no native core (CGO_ENABLED=0): the check compares the float64 reference forward pass on the GGUF's weights, not the native engine, with the source"
		rep.Notes = append(rep.Notes, msg)
		logf("WARNING: %s", msg)
		s, err = referenceSide(path, opts.Threads)
	}
	if err != nil {
		return fmt.Errorf("verify: load %s: %w", path, err)
	}
	defer s.close()
	if err := sameConfig(cfg, s.cfg); err != nil {
		return fmt.Errorf("verify: the GGUF's metadata differs from the source: %v: %w", err, ErrVerification)
	}
	ref, err := bert.NewReference(cfg, m.Checkpoint, bert.WithWorkers(opts.Threads))
	if err != nil {
		return fmt.Errorf("verify: reference on %s: %w", m.Dir, err)
	}
	maxLen := cfg.SeqLength()
	rep.MinCosineBound = minCosine
	if typ == gguf.Q8_0 {
		rep.MinCosineBound = minCosineQ8
	}
	rep.LogitBound = map[gguf.TensorType]float64{gguf.F32: maxLogitF32, gguf.F16: maxLogitF16, gguf.Q8_0: maxLogitQ8}[typ]

	// Inputs, tokenized by the source's tokenizer and by the GGUF's.
	var encs []tokenize.Encoding
	var labels []string
	if cfg.CrossEncoder() {
		for _, p := range pairs(maxLen) {
			e := m.Tokenizer.EncodePair(p[0], p[1], maxLen)
			if g := s.tok.EncodePair(p[0], p[1], maxLen); !sameIDs(e, g) {
				return fmt.Errorf("verify: tokenizer: the GGUF's tokenizer encodes the pair (%s, %s) as %v (types %v), the source's as %v (types %v): %w",
					quote(p[0]), quote(p[1]), g.IDs, g.TypeIDs, e.IDs, e.TypeIDs, ErrVerification)
			}
			encs = append(encs, e)
			labels = append(labels, quote(p[0])+" / "+quote(p[1]))
		}
	} else {
		for _, t := range texts(maxLen) {
			e := m.Tokenizer.Encode(t, maxLen)
			if g := s.tok.Encode(t, maxLen); !sameIDs(e, g) {
				return fmt.Errorf("verify: tokenizer: the GGUF's tokenizer encodes %s as %v, the source's as %v: %w", quote(t), g.IDs, e.IDs, ErrVerification)
			}
			encs = append(encs, e)
			labels = append(labels, quote(t))
		}
	}
	rep.Texts, rep.TokenizerOK = len(encs), len(encs)
	for _, e := range encs {
		rep.Tokens += len(e.IDs)
	}
	logf("verifying: tokenizer ids identical on %d inputs; running %s and the float64 reference on the source weights (%d tokens)",
		len(encs), map[string]string{"native": "the native core", "reference": "the reference on the GGUF's weights"}[rep.VerifyMode], rep.Tokens)

	if cfg.CrossEncoder() {
		want, err := ref.RerankBatch(ctx, seqs(encs))
		if err != nil {
			return fmt.Errorf("verify: reference: %w", err)
		}
		got, err := s.rerank(ctx, pairs(maxLen), encs)
		if err != nil {
			return fmt.Errorf("verify: %s: %w", rep.VerifyMode, err)
		}
		worst := -1
		for i := range want {
			if len(got[i]) != len(want[i]) {
				return fmt.Errorf("verify: %d logits from the GGUF, %d from the source: %w", len(got[i]), len(want[i]), ErrVerification)
			}
			for j := range want[i] {
				d := math.Abs(got[i][j] - want[i][j])
				rel := d / math.Max(1, math.Abs(want[i][j]))
				if math.IsNaN(d) {
					rel, d = math.Inf(1), math.Inf(1)
				}
				rep.MaxLogitDiff = math.Max(rep.MaxLogitDiff, d)
				if worst < 0 || rel > rep.MaxLogitRel {
					rep.MaxLogitRel, worst = rel, i
				}
			}
		}
		ps := pairs(maxLen)
		rep.WorstPair = ps[worst]
		logf("verify: max logit difference %.3g (relative %.3g, bound %.3g), worst pair %s", rep.MaxLogitDiff, rep.MaxLogitRel, rep.LogitBound, labels[worst])
		if !(rep.MaxLogitRel <= rep.LogitBound) {
			i := worst
			return fmt.Errorf("verify: rerank logits differ by %.4g relative (bound %.3g) on the pair %s: GGUF %v, source %v: %w",
				rep.MaxLogitRel, rep.LogitBound, labels[i], round(got[i]), round(want[i]), ErrVerification)
		}
		rep.Verified = true
		return nil
	}

	if cfg.Sparse() {
		return verifySparse(ctx, s, ref, encs, labels, texts(maxLen), rep, logf)
	}
	want, err := ref.EmbedBatch(ctx, seqs(encs))
	if err != nil {
		return fmt.Errorf("verify: reference: %w", err)
	}
	got, err := s.embed(ctx, encs)
	if err != nil {
		return fmt.Errorf("verify: %s: %w", rep.VerifyMode, err)
	}
	ts := texts(maxLen)
	rep.MinCosine = 2
	sum, worst := 0.0, 0
	for i := range want {
		c := cosine(got[i], want[i])
		if math.IsNaN(c) {
			c = -1
		}
		sum += c
		if c < rep.MinCosine {
			rep.MinCosine, worst = c, i
		}
	}
	rep.MeanCosine = sum / float64(len(want))
	rep.WorstText = ts[worst]
	logf("verify: cosine min %.6f mean %.6f (bound %.3g), worst text %s", rep.MinCosine, rep.MeanCosine, rep.MinCosineBound, labels[worst])
	if !(rep.MinCosine >= rep.MinCosineBound) {
		return fmt.Errorf("verify: embeddings differ from the source on the text %s: cosine %.6f (bound %.3g; mean over %d texts %.6f): %w",
			labels[worst], rep.MinCosine, rep.MinCosineBound, len(want), rep.MeanCosine, ErrVerification)
	}
	rep.Verified = true
	return nil
}

// verifySparse compares SPLADE vectors weight by weight: |native −
// reference| / max(1, reference) ≤ LogitBound for every vocabulary entry of
// every text (weights are log1p of logits, of order 1, so the cross-encoder
// logit bounds apply). That also bounds the active sets: a dimension active
// on one side only has a weight within the bound there.
func verifySparse(ctx context.Context, s *side, ref *bert.Reference, encs []tokenize.Encoding, labels, ts []string, rep *Report, logf func(string, ...any)) error {
	want, err := ref.SparseBatch(ctx, seqs(encs))
	if err != nil {
		return fmt.Errorf("verify: reference: %w", err)
	}
	got, err := s.sparse(ctx, encs)
	if err != nil {
		return fmt.Errorf("verify: %s: %w", rep.VerifyMode, err)
	}
	worst := 0
	var active, refActive int
	for i := range want {
		if len(got[i]) != len(want[i]) {
			return fmt.Errorf("verify: %d weights from the GGUF, %d from the source: %w", len(got[i]), len(want[i]), ErrVerification)
		}
		for v := range want[i] {
			g, w := got[i][v], want[i][v]
			rel := math.Abs(g-w) / math.Max(1, w)
			if math.IsNaN(rel) {
				rel = math.Inf(1)
			}
			if rel > rep.MaxWeightRel {
				rep.MaxWeightRel, worst = rel, i
			}
			if g > 0 {
				active++
			}
			if w > 0 {
				refActive++
			}
			if (g > 0) != (w > 0) && math.Max(g, w) > rep.LogitBound {
				rep.ActiveMismatches++
			}
		}
	}
	rep.ActiveDims = float64(active) / float64(len(want))
	rep.RefActiveDims = float64(refActive) / float64(len(want))
	rep.WorstText = ts[worst]
	logf("verify: max weight difference %.3g relative (bound %.3g), active dims mean %.1f (reference %.1f), worst text %s",
		rep.MaxWeightRel, rep.LogitBound, rep.ActiveDims, rep.RefActiveDims, labels[worst])
	if !(rep.MaxWeightRel <= rep.LogitBound) || rep.ActiveMismatches > 0 {
		return fmt.Errorf("verify: sparse weights differ from the source on the text %s by %.4g relative (bound %.3g); %d dimensions active on one side only: %w",
			labels[worst], rep.MaxWeightRel, rep.LogitBound, rep.ActiveMismatches, ErrVerification)
	}
	rep.Verified = true
	return nil
}

// sameConfig compares what the GGUF says about running the model with the
// source's description.
func sameConfig(src, g bert.Config) error {
	var diffs []string
	add := func(what string, a, b any) { diffs = append(diffs, fmt.Sprintf("%s %v, source %v", what, b, a)) }
	if src.Pooling != g.Pooling {
		add("pooling", src.Pooling, g.Pooling)
	}
	if !src.CrossEncoder() && src.Normalize != g.Normalize {
		add("normalize", src.Normalize, g.Normalize)
	}
	if src.SeqLength() != g.SeqLength() {
		add("max_seq_length", src.SeqLength(), g.SeqLength())
	}
	if src.Lowercase != g.Lowercase || src.StripAccents != g.StripAccents || src.HandleChineseChars != g.HandleChineseChars {
		add("tokenizer (lowercase, strip accents, CJK)",
			[]bool{src.Lowercase, src.StripAccents, src.HandleChineseChars}, []bool{g.Lowercase, g.StripAccents, g.HandleChineseChars})
	}
	if !slices.Equal(src.Labels, g.Labels) {
		add("labels", src.Labels, g.Labels)
	}
	if src.Sparse() && src.SparseActivation != g.SparseActivation {
		add("sparse activation", src.SparseActivation, g.SparseActivation)
	}
	if len(diffs) > 0 {
		return errors.New(strings.Join(diffs, "; "))
	}
	return nil
}

func sameIDs(a, b tokenize.Encoding) bool {
	return slices.Equal(a.IDs, b.IDs) && slices.Equal(a.TypeIDs, b.TypeIDs)
}

func cosine(a, b []float64) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += a[i] * b[i]
		aa += a[i] * a[i]
		bb += b[i] * b[i]
	}
	if aa == 0 || bb == 0 {
		if aa == bb {
			return 1
		}
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}

func round(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = math.Round(x*1e5) / 1e5
	}
	return out
}

// quote shows a text in a message, shortened.
func quote(s string) string {
	r := []rune(s)
	if len(r) > maxQuoteRunes {
		return fmt.Sprintf("%q… (%d characters)", string(r[:maxQuoteRunes]), len(r))
	}
	return fmt.Sprintf("%q", s)
}
