// Package native is the engine's encoder backed by quarry's native core: a
// BERT bi-encoder, cross-encoder or SPLADE model loaded from a GGUF file and
// run by the ggml graph in native/ (through bindings, which only this package
// of the engine imports). Model implements encoder.Encoder and
// encoder.Ranker.
package native

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/quarry-search/quarry/bindings"
	"github.com/quarry-search/quarry/engine/bert"
	"github.com/quarry-search/quarry/engine/encoder"
	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/gguf"
	"github.com/quarry-search/quarry/engine/sparse"
	"github.com/quarry-search/quarry/engine/tokenize"
	"github.com/quarry-search/quarry/internal/fsx"
)

// ErrNoNative is returned when this build has no native core (CGO_ENABLED=0).
var ErrNoNative = bindings.ErrNoNative

// Options configure Load. The zero value is the default.
type Options struct {
	Threads        int    // compute threads; 0 = all cores
	Workers        int    // concurrent native contexts; 0 = 1
	MaxBatchTokens int    // padded tokens per native graph evaluation; 0 = default
	Pooling        string // "", "mean", "cls", "last", "rank", "splade": override the model's pooling
	Impl           string // "" or "graph" (own ggml graph), "llama" (llama.cpp's encoder)
	GELU           string // "" or "erf" (exact, as Hugging Face), "tanh" (llama.cpp's)
	// Normalize overrides the model's normalization (quarry.normalize) when set.
	Normalize *bool
	// MaxTokens overrides the truncation length (word pieces incl. specials);
	// 0 = the model's max_seq_length. Never above the model's positions.
	MaxTokens int
	// ChunkSize is the number of texts per native call (memory bound and
	// cancellation granularity); 0 = 256.
	ChunkSize int
	// KTokens keeps, for SPLADE models, the KTokens largest weights of each
	// sparse vector (sentence-transformers' max_active_dims); 0 keeps every
	// active dimension.
	KTokens int
}

// Model is a BERT bi-encoder or cross-encoder loaded from a GGUF file, with
// its Hugging Face-exact tokenizer. It implements Embedder (bi-encoders) and
// Reranker (cross-encoders) and is safe for concurrent use.
type Model struct {
	path      string
	cfg       bert.Config
	info      bindings.Info
	nat       *bindings.Model
	tok       *tokenize.Tokenizer
	maxLen    int
	normalize bool
	chunk     int
	label     int
	kTokens   int
	wtype     string // type of the layer weights: "f32", "f16", "q8_0"

	shaOnce sync.Once
	sha     string
	shaErr  error
}

var (
	_ encoder.Encoder = (*Model)(nil)
	_ encoder.Ranker  = (*Model)(nil)
)

// Load validates the GGUF at path in Go, builds its tokenizer and loads it
// into the native core. Errors about the file or its contents are of kind
// errs.BadInput; a build without the native core gives errs.Unavailable.
func Load(path string, opts Options) (*Model, error) {
	gf, err := gguf.Open(path)
	if err != nil {
		return nil, errs.Mark(errs.BadInput, fmt.Errorf("load model: %w", err))
	}
	cfg, _, err := bert.ConfigFromGGUF(gf)
	if err != nil {
		return nil, errs.Mark(errs.BadInput, fmt.Errorf("load model %s: %w", path, err))
	}
	tok, err := tokenize.FromGGUF(gf)
	if err != nil {
		return nil, errs.Mark(errs.BadInput, fmt.Errorf("load model %s: tokenizer: %w", path, err))
	}
	p := bindings.DefaultParams()
	p.Threads, p.Workers, p.MaxBatchTokens = opts.Threads, opts.Workers, opts.MaxBatchTokens
	if opts.Pooling != "" {
		pl, err := bert.ParsePooling(opts.Pooling)
		if err != nil {
			return nil, errs.Mark(errs.BadInput, err)
		}
		p.Pooling = bindings.Pooling(pl)
		cfg.Pooling = pl
	}
	switch opts.Impl {
	case "", "graph":
	case "llama":
		p.Impl = bindings.ImplLlama
	default:
		return nil, errs.New(errs.BadInput, "unknown implementation %q (graph or llama)", opts.Impl)
	}
	switch opts.GELU {
	case "", "erf":
	case "tanh":
		p.GELU = bindings.GELUTanh
	default:
		return nil, errs.New(errs.BadInput, "unknown GELU %q (erf or tanh)", opts.GELU)
	}
	nat, err := bindings.Load(path, p)
	if err != nil {
		return nil, classify(err)
	}
	m := &Model{path: path, cfg: cfg, info: nat.Info(), nat: nat, tok: tok, normalize: cfg.Normalize, chunk: opts.ChunkSize}
	if ti, ok := gf.Tensor("blk.0.attn_q.weight"); ok {
		m.wtype = strings.ToLower(ti.Type.String())
	}
	if m.chunk <= 0 {
		m.chunk = 256
	}
	if opts.KTokens < 0 {
		nat.Close()
		return nil, errs.New(errs.BadInput, "load model %s: k tokens %d is negative", path, opts.KTokens)
	}
	m.kTokens = opts.KTokens
	if m.kTokens == 0 || m.kTokens > m.info.Vocab {
		m.kTokens = m.info.Vocab
	}
	if opts.Normalize != nil {
		m.normalize = *opts.Normalize
	}
	if l, ok := gf.Int("quarry.rerank_label"); ok && m.CrossEncoder() {
		if err := m.SetLabel(int(l)); err != nil {
			nat.Close()
			return nil, errs.Mark(errs.BadInput, fmt.Errorf("load model %s: quarry.rerank_label: %w", path, err))
		}
	}
	m.maxLen = cfg.SeqLength()
	if opts.MaxTokens > 0 {
		m.maxLen = opts.MaxTokens
	}
	if m.maxLen > m.info.MaxTokens {
		m.maxLen = m.info.MaxTokens
	}
	return m, nil
}

// classify gives a native error its kind: bad arguments and unusable
// models are the caller's input; a build without the core is Unavailable.
func classify(err error) error {
	var be *bindings.Error
	switch {
	case errors.Is(err, bindings.ErrNoNative):
		return errs.Mark(errs.Unavailable, err)
	case errors.As(err, &be) && (be.Code == bindings.CodeArg || be.Code == bindings.CodeModel):
		return errs.Mark(errs.BadInput, err)
	}
	return err
}

// Close frees the native model; it is idempotent.
func (m *Model) Close() error { return m.nat.Close() }

// Info implements encoder.Encoder.
func (m *Model) Info() encoder.Info {
	kind := encoder.BiEncoder
	switch m.info.Kind {
	case bindings.CrossEncoder:
		kind = encoder.CrossEncoder
	case bindings.SparseEncoder:
		kind = encoder.SparseEncoder
	}
	return encoder.Info{
		Kind: kind, Name: m.cfg.Name, Path: m.path, Dim: m.info.Dim, Vocab: m.info.Vocab, KTokens: m.kTokens,
		MaxTokens: m.maxLen, Pooling: m.info.Pooling.String(), Normalize: m.normalize,
		QueryPrompt: m.cfg.QueryPrompt, DocumentPrompt: m.cfg.DocumentPrompt, Similarity: m.cfg.Similarity,
		Labels: m.info.NumLabels,
	}
}

// SHA256 implements encoder.Encoder: the hash of the GGUF file, computed once.
func (m *Model) SHA256() (string, error) {
	m.shaOnce.Do(func() { m.sha, m.shaErr = FileSHA256(m.path) })
	return m.sha, m.shaErr
}

// FileSHA256 hashes a file (hex).
func FileSHA256(path string) (string, error) { return fsx.SHA256(path) }

// WeightType is the tensor type of the layer weights ("f32", "f16",
// "q8_0"; "" if unknown).
func (m *Model) WeightType() string { return m.wtype }

// Path is the GGUF file of the model.
func (m *Model) Path() string { return m.path }

// Config is the model's description read from the GGUF.
func (m *Model) Config() bert.Config { return m.cfg }

// NativeInfo is what the native core reports about the loaded model.
func (m *Model) NativeInfo() bindings.Info { return m.info }

// Tokenizer is the model's tokenizer.
func (m *Model) Tokenizer() *tokenize.Tokenizer { return m.tok }

// Dim is the embedding dimension.
func (m *Model) Dim() int { return m.info.Dim }

// MaxTokens is the truncation length in word pieces, specials included.
func (m *Model) MaxTokens() int { return m.maxLen }

// Normalized reports whether Embed returns unit vectors.
func (m *Model) Normalized() bool { return m.normalize }

// CrossEncoder reports whether the model reranks rather than embeds.
func (m *Model) CrossEncoder() bool { return m.info.Kind == bindings.CrossEncoder }

// SparseEncoder reports whether the model makes SPLADE sparse vectors
// (Sparse) rather than embeddings.
func (m *Model) SparseEncoder() bool { return m.info.Kind == bindings.SparseEncoder }

// Vocab is the size of the vocabulary: the dimension of sparse vectors.
func (m *Model) Vocab() int { return m.info.Vocab }

// KTokens is the number of largest weights a sparse vector keeps (the
// vocabulary size when every active dimension is kept).
func (m *Model) KTokens() int { return m.kTokens }

// Label is the output of a multi-label cross-encoder that Rerank returns
// (quarry.rerank_label of the GGUF, or SetLabel's).
func (m *Model) Label() int { return m.label }

// SetLabel selects which output of a multi-label cross-encoder Rerank returns.
func (m *Model) SetLabel(i int) error {
	if i < 0 || i >= max(1, m.info.NumLabels) {
		return fmt.Errorf("label %d out of range: the model has %d outputs", i, m.info.NumLabels)
	}
	m.label = i
	return nil
}

// Stats describe one Embed or Rerank call.
type Stats struct {
	Inputs    int // texts or pairs
	Tokens    int // word pieces encoded, specials included, after truncation
	Truncated int // inputs cut to MaxTokens
}

// Embed embeds texts (truncated to MaxTokens).
func (m *Model) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	v, _, err := m.EmbedWithStats(ctx, texts)
	return v, err
}

// EmbedWithStats embeds texts and reports token counts and truncations.
func (m *Model) EmbedWithStats(ctx context.Context, texts []string) ([][]float32, Stats, error) {
	if m.CrossEncoder() {
		return nil, Stats{}, fmt.Errorf("embed: %s is a cross-encoder: use rerank: %w", m.path, encoder.ErrModelKind)
	}
	if m.SparseEncoder() {
		return nil, Stats{}, fmt.Errorf("embed: %s is a sparse encoder (SPLADE): use Sparse: %w", m.path, encoder.ErrModelKind)
	}
	return encodeChunks(ctx, m, texts, "embed", m.EmbedEncodings)
}

// encodeChunks tokenizes texts and runs enc on chunks of m.chunk of them,
// counting tokens and truncations; what names the operation in errors.
func encodeChunks[T any](ctx context.Context, m *Model, texts []string, what string, enc func([]tokenize.Encoding) ([]T, error)) ([]T, Stats, error) {
	st := Stats{Inputs: len(texts)}
	out := make([]T, 0, len(texts))
	encs := make([]tokenize.Encoding, 0, m.chunk)
	for lo := 0; lo < len(texts); lo += m.chunk {
		if err := ctx.Err(); err != nil {
			return nil, st, err
		}
		hi := min(lo+m.chunk, len(texts))
		encs = encs[:0]
		for _, t := range texts[lo:hi] {
			e := m.tok.Encode(t, m.maxLen)
			if e.Truncated {
				st.Truncated++
			}
			st.Tokens += len(e.IDs)
			encs = append(encs, e)
		}
		vecs, err := enc(encs)
		if err != nil {
			return nil, st, fmt.Errorf("%s texts %d..%d: %w", what, lo, hi-1, err)
		}
		out = append(out, vecs...)
	}
	return out, st, nil
}

// EmbedEncodings embeds already tokenized inputs (one native call).
func (m *Model) EmbedEncodings(encs []tokenize.Encoding) ([][]float32, error) {
	ids, types, start := pack(encs)
	flat, _, err := m.nat.Embed(ids, types, start, m.normalize)
	if err != nil {
		return nil, classify(err)
	}
	return split(flat, len(encs), m.info.Dim), nil
}

// Sparse returns the SPLADE vector of each text (a sparse-encoder model):
// weight[v] = max over the text's tokens of log(1 + relu(MLM logit[v])), the
// KTokens largest kept, ids ascending.
func (m *Model) Sparse(ctx context.Context, texts []string) ([]sparse.Vec, error) {
	v, _, err := m.SparseWithStats(ctx, texts)
	return v, err
}

// SparseWithStats is Sparse with token counts and truncations.
func (m *Model) SparseWithStats(ctx context.Context, texts []string) ([]sparse.Vec, Stats, error) {
	if !m.SparseEncoder() {
		return nil, Stats{}, fmt.Errorf("sparse: %s is a %s (pooling %s), not a sparse encoder: sparse vectors need a SPLADE model: %w", m.path, m.info.Kind, m.info.Pooling, encoder.ErrModelKind)
	}
	return encodeChunks(ctx, m, texts, "sparse", m.SparseEncodings)
}

// SparseEncodings computes the sparse vectors of already tokenized inputs.
// The native core returns KTokens (id, weight) slots per input; calls are
// split so that those buffers stay below 16 MB.
func (m *Model) SparseEncodings(encs []tokenize.Encoding) ([]sparse.Vec, error) {
	k := m.kTokens
	per := max(1, (1<<21)/k)
	out := make([]sparse.Vec, 0, len(encs))
	for lo := 0; lo < len(encs); lo += per {
		part := encs[lo:min(lo+per, len(encs))]
		ids, types, start := pack(part)
		oid, ow, cnt, _, err := m.nat.Sparse(ids, types, start, k)
		if err != nil {
			return nil, classify(err)
		}
		for i := range part {
			n := int(cnt[i])
			out = append(out, sparse.FromPairs(oid[i*k:i*k+n], ow[i*k:i*k+n]))
		}
	}
	return out, nil
}

// Rerank is the raw logit of the selected label (SetLabel)
// for each (query, doc) pair.
func (m *Model) Rerank(ctx context.Context, query string, docs []string) ([]float32, error) {
	all, _, err := m.RerankWithStats(ctx, query, docs)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(all))
	for i, l := range all {
		out[i] = l[m.label]
	}
	return out, nil
}

// RerankWithStats returns every output logit of each pair and the stats.
func (m *Model) RerankWithStats(ctx context.Context, query string, docs []string) ([][]float32, Stats, error) {
	if !m.CrossEncoder() {
		return nil, Stats{}, fmt.Errorf("rerank: %s is a %s (pooling %s): rerank needs a cross-encoder: %w", m.path, m.info.Kind, m.info.Pooling, encoder.ErrModelKind)
	}
	st := Stats{Inputs: len(docs)}
	out := make([][]float32, 0, len(docs))
	encs := make([]tokenize.Encoding, 0, m.chunk)
	for lo := 0; lo < len(docs); lo += m.chunk {
		if err := ctx.Err(); err != nil {
			return nil, st, err
		}
		hi := min(lo+m.chunk, len(docs))
		encs = encs[:0]
		for _, d := range docs[lo:hi] {
			e := m.tok.EncodePair(query, d, m.maxLen)
			if e.Truncated {
				st.Truncated++
			}
			st.Tokens += len(e.IDs)
			encs = append(encs, e)
		}
		all, err := m.RankEncodings(encs)
		if err != nil {
			return nil, st, fmt.Errorf("rerank documents %d..%d: %w", lo, hi-1, err)
		}
		out = append(out, all...)
	}
	return out, st, nil
}

// RankEncodings implements encoder.Ranker: every output logit of each
// tokenized pair (one native call).
func (m *Model) RankEncodings(encs []tokenize.Encoding) ([][]float32, error) {
	if !m.CrossEncoder() {
		return nil, fmt.Errorf("rerank: %s is a %s: %w", m.path, m.info.Kind, encoder.ErrModelKind)
	}
	ids, types, start := pack(encs)
	flat, _, err := m.nat.Rerank(ids, types, start)
	if err != nil {
		return nil, classify(err)
	}
	return split(flat, len(encs), m.info.NumLabels), nil
}

func pack(encs []tokenize.Encoding) (ids, types, start []int32) {
	n := 0
	for _, e := range encs {
		n += len(e.IDs)
	}
	ids = make([]int32, 0, n)
	types = make([]int32, 0, n)
	start = make([]int32, 1, len(encs)+1)
	for _, e := range encs {
		ids = append(ids, e.IDs...)
		types = append(types, e.TypeIDs...)
		start = append(start, int32(len(ids)))
	}
	return ids, types, start
}

func split(flat []float32, n, dim int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = flat[i*dim : (i+1)*dim : (i+1)*dim]
	}
	return out
}
