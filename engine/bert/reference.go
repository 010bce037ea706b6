package bert

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
)

// Reference is an independent float64 BERT forward pass with Hugging Face
// (transformers BertModel / BertForSequenceClassification) semantics. It
// shares no code with ggml or llama.cpp and is the yardstick the native core
// is measured against.
//
//	embeddings = LayerNorm(word[id] + position[0..n-1] + token_type[type])
//	per layer (post-LN):
//	  a = LayerNorm(x + Wo·softmax(QKᵀ/√d)V + bo)
//	  x = LayerNorm(a + Wdown·GELU(Wup·a + bup) + bdown)
//	GELU = 0.5·x·(1 + erf(x/√2)) (exact), or the tanh approximation with
//	WithGELUTanh.
//
// Weights are converted to float64 once (the word embeddings stay float32 and
// are widened per looked-up row, which is exact). A Reference is safe for
// concurrent use.
type Reference struct {
	cfg      Config
	tanhGELU bool
	workers  int

	word           []float32 // [V, H]
	pos, typ       []float64 // [P, H], [T, H]
	embLNw, embLNb []float64
	layers         []refLayer

	pooler, classifier *linear // cross-encoders

	// SPLADE: the MLM head's transform and decoder bias (the decoder weight
	// is word, tied).
	mlmDense       *linear
	mlmLNw, mlmLNb []float64
	mlmBias        []float64
	log1pTwice     bool
}

type refLayer struct {
	q, k, v, o *linear
	ln1w, ln1b []float64
	up, down   *linear
	ln2w, ln2b []float64
}

// linear is y = W·x + b with W stored [out, in] row-major (PyTorch order), so
// each output is a dot product with one contiguous row.
type linear struct {
	in, out int
	w, b    []float64
}

// RefOption configures a Reference.
type RefOption func(*Reference)

// WithGELUTanh selects the tanh approximation of GELU,
// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), which ggml's gelu computes,
// instead of the exact erf form Hugging Face BERT uses. For measuring the
// difference; never the reference itself.
func WithGELUTanh(on bool) RefOption { return func(r *Reference) { r.tanhGELU = on } }

// WithWorkers sets how many sequences the batch calls run in parallel;
// n <= 0 means runtime.GOMAXPROCS(0).
func WithWorkers(n int) RefOption { return func(r *Reference) { r.workers = n } }

// NewReference validates the checkpoint against cfg and prepares the float64
// weights.
func NewReference(cfg Config, ck *Checkpoint, opts ...RefOption) (*Reference, error) {
	if err := ck.Validate(cfg); err != nil {
		return nil, err
	}
	ts, err := ck.normalized()
	if err != nil {
		return nil, err
	}
	r := &Reference{cfg: cfg}
	r.cfg.Labels = append([]string(nil), cfg.Labels...)
	for _, o := range opts {
		o(r)
	}
	if r.workers <= 0 {
		r.workers = runtime.GOMAXPROCS(0)
	}
	f64 := func(name string) []float64 {
		d := ts[name].Data
		out := make([]float64, len(d))
		for i, x := range d {
			out[i] = float64(x)
		}
		return out
	}
	lin := func(prefix string) *linear {
		t := ts[prefix+".weight"]
		return &linear{out: t.Shape[0], in: t.Shape[1], w: f64(prefix + ".weight"), b: f64(prefix + ".bias")}
	}
	r.word = ts["embeddings.word_embeddings.weight"].Data
	r.pos = f64("embeddings.position_embeddings.weight")
	r.typ = f64("embeddings.token_type_embeddings.weight")
	r.embLNw = f64("embeddings.LayerNorm.weight")
	r.embLNb = f64("embeddings.LayerNorm.bias")
	for i := 0; i < cfg.Layers; i++ {
		p := fmt.Sprintf("encoder.layer.%d.", i)
		r.layers = append(r.layers, refLayer{
			q:    lin(p + "attention.self.query"),
			k:    lin(p + "attention.self.key"),
			v:    lin(p + "attention.self.value"),
			o:    lin(p + "attention.output.dense"),
			ln1w: f64(p + "attention.output.LayerNorm.weight"),
			ln1b: f64(p + "attention.output.LayerNorm.bias"),
			up:   lin(p + "intermediate.dense"),
			down: lin(p + "output.dense"),
			ln2w: f64(p + "output.LayerNorm.weight"),
			ln2b: f64(p + "output.LayerNorm.bias"),
		})
	}
	if cfg.CrossEncoder() {
		r.pooler = lin("pooler.dense")
		r.classifier = lin("classifier")
	}
	if cfg.Sparse() {
		r.mlmDense = lin("cls.predictions.transform.dense")
		r.mlmLNw = f64("cls.predictions.transform.LayerNorm.weight")
		r.mlmLNb = f64("cls.predictions.transform.LayerNorm.bias")
		r.mlmBias = f64("cls.predictions.bias")
		r.log1pTwice = cfg.SparseActivation == SparseLog1pReLU
	}
	return r, nil
}

// Config returns the model's configuration.
func (r *Reference) Config() Config { return r.cfg }

// Seq is one input sequence: token ids (already including [CLS]/[SEP]) and
// token type ids (nil means all 0).
type Seq struct {
	IDs   []int32
	Types []int32
}

func (r *Reference) check(ids, types []int32) error {
	n := len(ids)
	if n == 0 {
		return errors.New("empty sequence")
	}
	if n > r.cfg.MaxPositions {
		return fmt.Errorf("sequence of %d tokens exceeds the %d positions of the model", n, r.cfg.MaxPositions)
	}
	if types != nil && len(types) != n {
		return fmt.Errorf("%d token type ids for %d tokens", len(types), n)
	}
	for i, id := range ids {
		if id < 0 || int(id) >= r.cfg.VocabSize {
			return fmt.Errorf("token %d: id %d is outside the vocabulary 0..%d", i, id, r.cfg.VocabSize-1)
		}
	}
	for i, t := range types {
		if t < 0 || int(t) >= r.cfg.TypeVocabSize {
			return fmt.Errorf("token %d: type id %d is outside 0..%d", i, t, r.cfg.TypeVocabSize-1)
		}
	}
	return nil
}

// Hidden returns the last hidden states, one row of Hidden values per token.
func (r *Reference) Hidden(ids, types []int32) ([][]float64, error) {
	h, err := r.forward(context.Background(), ids, types)
	if err != nil {
		return nil, err
	}
	H := r.cfg.Hidden
	rows := make([][]float64, len(ids))
	for i := range rows {
		rows[i] = h[i*H : (i+1)*H : (i+1)*H]
	}
	return rows, nil
}

// Embed returns the pooled sentence embedding of one sequence: the mean over
// all its tokens (PoolingMean), the first token (PoolingCLS) or the last
// (PoolingLast), L2-normalized when the config says so. There is no padding:
// every given token counts.
func (r *Reference) Embed(ids, types []int32) ([]float64, error) {
	return r.embed(context.Background(), ids, types)
}

// Rerank returns a cross-encoder's logits for one sequence (usually
// [CLS] query [SEP] document [SEP] with types 0…0 1…1):
// classifier(tanh(pooler(h[0]))). There is one logit per label; no sigmoid
// or softmax is applied.
func (r *Reference) Rerank(ids, types []int32) ([]float64, error) {
	return r.rerank(context.Background(), ids, types)
}

func (r *Reference) embed(ctx context.Context, ids, types []int32) ([]float64, error) {
	H := r.cfg.Hidden
	switch r.cfg.Pooling {
	case PoolingMean, PoolingCLS, PoolingLast:
	default:
		return nil, fmt.Errorf("Embed needs mean, cls or last pooling; the model has %s", r.cfg.Pooling)
	}
	h, err := r.forward(ctx, ids, types)
	if err != nil {
		return nil, err
	}
	n := len(ids)
	out := make([]float64, H)
	switch r.cfg.Pooling {
	case PoolingMean:
		for t := 0; t < n; t++ {
			for j, v := range h[t*H : (t+1)*H] {
				out[j] += v
			}
		}
		for j := range out {
			out[j] /= float64(n)
		}
	case PoolingCLS:
		copy(out, h[:H])
	case PoolingLast:
		copy(out, h[(n-1)*H:])
	}
	if r.cfg.Normalize {
		normalize(out)
	}
	return out, nil
}

// normalize divides by the L2 norm, clamped below at 1e-12 as torch's
// F.normalize does.
func normalize(v []float64) {
	var s float64
	for _, x := range v {
		s += x * x
	}
	norm := math.Max(math.Sqrt(s), 1e-12)
	for i := range v {
		v[i] /= norm
	}
}

func (r *Reference) rerank(ctx context.Context, ids, types []int32) ([]float64, error) {
	if !r.cfg.CrossEncoder() {
		return nil, fmt.Errorf("Rerank needs a cross-encoder (pooling rank); the model has %s", r.cfg.Pooling)
	}
	h, err := r.forward(ctx, ids, types)
	if err != nil {
		return nil, err
	}
	H := r.cfg.Hidden
	pooled := make([]float64, H)
	r.pooler.apply(h[:H], 1, pooled)
	for i, v := range pooled {
		pooled[i] = math.Tanh(v)
	}
	logits := make([]float64, r.classifier.out)
	r.classifier.apply(pooled, 1, logits)
	return logits, nil
}

// Sparse returns the SPLADE vector of one sequence (PoolingSplade), one
// weight per vocabulary entry, as sentence-transformers' MLMTransformer +
// SpladePooling(max) compute it:
//
//	t = LayerNorm(GELU(dense(h)))                  per token (BertForMaskedLM's transform)
//	logit[v] = word[v] · t + bias[v]                 decoder tied to the word embeddings
//	w[v] = max over all tokens of log(1 + relu(logit[v]))
//
// with log(1 + ·) applied once more for SparseLog1pReLU. Every given token
// counts ([CLS] and [SEP] included).
func (r *Reference) Sparse(ids, types []int32) ([]float64, error) {
	return r.sparse(context.Background(), ids, types)
}

// SparseBatch returns the SPLADE vectors of every sequence, Workers at a
// time, in input order.
func (r *Reference) SparseBatch(ctx context.Context, seqs []Seq) ([][]float64, error) {
	return r.batch(ctx, seqs, r.sparse)
}

func (r *Reference) sparse(ctx context.Context, ids, types []int32) ([]float64, error) {
	if !r.cfg.Sparse() {
		return nil, fmt.Errorf("Sparse needs a SPLADE model (pooling splade); the model has %s", r.cfg.Pooling)
	}
	h, err := r.forward(ctx, ids, types)
	if err != nil {
		return nil, err
	}
	n, H, V := len(ids), r.cfg.Hidden, r.cfg.VocabSize
	t := make([]float64, n*H)
	r.mlmDense.apply(h, n, t)
	for i, u := range t {
		if r.tanhGELU {
			t[i] = geluTanh(u)
		} else {
			t[i] = geluErf(u)
		}
	}
	for i := 0; i < n; i++ {
		layerNorm(t[i*H:(i+1)*H], r.mlmLNw, r.mlmLNb, r.cfg.LayerNormEps)
	}
	out := make([]float64, V)
	row := make([]float64, H)
	for v := 0; v < V; v++ {
		if v%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		for j, x := range r.word[v*H : (v+1)*H] {
			row[j] = float64(x)
		}
		m := math.Inf(-1)
		for i := 0; i < n; i++ {
			m = math.Max(m, dot(row, t[i*H:(i+1)*H])+r.mlmBias[v])
		}
		w := math.Log1p(math.Max(m, 0))
		if r.log1pTwice {
			w = math.Log1p(w)
		}
		out[v] = w
	}
	return out, nil
}

// EmbedBatch embeds every sequence, Workers at a time, in input order. It
// stops at the first error or when ctx is done.
func (r *Reference) EmbedBatch(ctx context.Context, seqs []Seq) ([][]float64, error) {
	return r.batch(ctx, seqs, r.embed)
}

// RerankBatch returns the logits of every sequence, Workers at a time, in
// input order. It stops at the first error or when ctx is done.
func (r *Reference) RerankBatch(ctx context.Context, seqs []Seq) ([][]float64, error) {
	return r.batch(ctx, seqs, r.rerank)
}

func (r *Reference) batch(ctx context.Context, seqs []Seq, fn func(context.Context, []int32, []int32) ([]float64, error)) ([][]float64, error) {
	out := make([][]float64, len(seqs))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		next     int
		wg       sync.WaitGroup
	)
	take := func() int {
		mu.Lock()
		defer mu.Unlock()
		if firstErr != nil || next >= len(seqs) {
			return -1
		}
		next++
		return next - 1
	}
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
			cancel()
		}
	}
	workers := min(r.workers, len(seqs))
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := take(); i >= 0; i = take() {
				if err := ctx.Err(); err != nil {
					fail(err)
					return
				}
				v, err := fn(ctx, seqs[i].IDs, seqs[i].Types)
				if err != nil {
					if ctx.Err() == nil || !errors.Is(err, ctx.Err()) {
						err = fmt.Errorf("sequence %d: %w", i, err)
					}
					fail(err)
					return
				}
				out[i] = v
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// forward runs the encoder and returns the last hidden states, n×H row-major.
func (r *Reference) forward(ctx context.Context, ids, types []int32) ([]float64, error) {
	if err := r.check(ids, types); err != nil {
		return nil, err
	}
	n, H, F := len(ids), r.cfg.Hidden, r.cfg.Intermediate
	eps := r.cfg.LayerNormEps
	x := make([]float64, n*H)
	for t, id := range ids {
		row := x[t*H : (t+1)*H]
		word := r.word[int(id)*H : (int(id)+1)*H]
		pos := r.pos[t*H : (t+1)*H]
		tt := 0
		if types != nil {
			tt = int(types[t])
		}
		typ := r.typ[tt*H : (tt+1)*H]
		for j := range row {
			// Hugging Face adds (word + type) + position.
			row[j] = (float64(word[j]) + typ[j]) + pos[j]
		}
		layerNorm(row, r.embLNw, r.embLNb, eps)
	}

	var (
		q    = make([]float64, n*H)
		k    = make([]float64, n*H)
		v    = make([]float64, n*H)
		cx   = make([]float64, n*H)
		tmp  = make([]float64, n*H)
		ff   = make([]float64, n*F)
		prob = make([]float64, n)
	)
	heads, d := r.cfg.Heads, r.cfg.HeadDim()
	scale := 1 / math.Sqrt(float64(d))
	for _, L := range r.layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		L.q.apply(x, n, q)
		L.k.apply(x, n, k)
		L.v.apply(x, n, v)
		for h := 0; h < heads; h++ {
			off := h * d
			for i := 0; i < n; i++ {
				qi := q[i*H+off : i*H+off+d]
				m := math.Inf(-1)
				for j := 0; j < n; j++ {
					s := dot(qi, k[j*H+off:j*H+off+d]) * scale
					prob[j] = s
					m = math.Max(m, s)
				}
				var sum float64
				for j := range prob[:n] {
					e := math.Exp(prob[j] - m)
					prob[j] = e
					sum += e
				}
				ci := cx[i*H+off : i*H+off+d]
				clear(ci)
				for j := 0; j < n; j++ {
					p := prob[j] / sum
					vj := v[j*H+off : j*H+off+d]
					for c := range ci {
						ci[c] += p * vj[c]
					}
				}
			}
		}
		L.o.apply(cx, n, tmp)
		for i := range x {
			x[i] += tmp[i]
		}
		for t := 0; t < n; t++ {
			layerNorm(x[t*H:(t+1)*H], L.ln1w, L.ln1b, eps)
		}
		L.up.apply(x, n, ff)
		if r.tanhGELU {
			for i, u := range ff {
				ff[i] = geluTanh(u)
			}
		} else {
			for i, u := range ff {
				ff[i] = geluErf(u)
			}
		}
		L.down.apply(ff, n, tmp)
		for i := range x {
			x[i] += tmp[i]
		}
		for t := 0; t < n; t++ {
			layerNorm(x[t*H:(t+1)*H], L.ln2w, L.ln2b, eps)
		}
	}
	return x, nil
}

func geluErf(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }

func geluTanh(x float64) float64 {
	const c = 0.7978845608028654 // √(2/π)
	return 0.5 * x * (1 + math.Tanh(c*(x+0.044715*x*x*x)))
}

// layerNorm normalizes x in place: (x-mean)/√(var+eps)·w + b with the biased
// variance, as torch.nn.LayerNorm.
func layerNorm(x, w, b []float64, eps float64) {
	var mean float64
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	var vs float64
	for _, v := range x {
		vs += (v - mean) * (v - mean)
	}
	inv := 1 / math.Sqrt(vs/float64(len(x))+eps)
	w, b = w[:len(x)], b[:len(x)]
	for i, v := range x {
		x[i] = (v-mean)*inv*w[i] + b[i]
	}
}

// dot is a 4-accumulator dot product of equal-length slices.
func dot(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// apply computes y[t] = W·x[t] + b for n tokens; x is n×in, y is n×out,
// both row-major. Each weight row is loaded once per four tokens (four
// independent accumulators); leftover tokens use plain dot products.
func (l *linear) apply(x []float64, n int, y []float64) {
	in, out := l.in, l.out
	x, y = x[:n*in], y[:n*out]
	for j := 0; j < out; j++ {
		w := l.w[j*in : (j+1)*in]
		b := l.b[j]
		t := 0
		for ; t+4 <= n; t += 4 {
			x0 := x[t*in : (t+1)*in]
			x1 := x[(t+1)*in : (t+2)*in]
			x2 := x[(t+2)*in : (t+3)*in]
			x3 := x[(t+3)*in : (t+4)*in]
			x0, x1, x2, x3 = x0[:len(w)], x1[:len(w)], x2[:len(w)], x3[:len(w)]
			var s0, s1, s2, s3 float64
			for i, wi := range w {
				s0 += wi * x0[i]
				s1 += wi * x1[i]
				s2 += wi * x2[i]
				s3 += wi * x3[i]
			}
			y[t*out+j] = s0 + b
			y[(t+1)*out+j] = s1 + b
			y[(t+2)*out+j] = s2 + b
			y[(t+3)*out+j] = s3 + b
		}
		for ; t < n; t++ {
			y[t*out+j] = dot(w, x[t*in:(t+1)*in]) + b
		}
	}
}
