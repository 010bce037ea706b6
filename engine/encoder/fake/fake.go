// Package fake is a pure-Go encoder.Encoder for tests: deterministic
// bag-of-word-pieces embeddings (each token id maps to a fixed pseudo-random
// direction; a text's vector is the normalized sum over its tokens), SPLADE-
// like sparse vectors (log1p of token counts) and a token-overlap reranker.
// Texts that share word pieces get similar vectors, so rankings mean
// something, and every result can be recomputed independently by a test
// (Embed, Sparse, Score) — no native core needed.
package fake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync/atomic"

	"github.com/quarry-search/quarry/engine/encoder"
	"github.com/quarry-search/quarry/engine/sparse"
	"github.com/quarry-search/quarry/engine/tokenize"
)

// Options configure New.
type Options struct {
	Kind      encoder.Kind // default encoder.BiEncoder
	Dim       int          // default 32
	MaxTokens int          // word pieces incl. [CLS]/[SEP]; default 64
	Seed      uint64
	// QueryPrompt and DocumentPrompt are recorded in Info (and used by the
	// engine as it uses a real model's).
	QueryPrompt, DocumentPrompt string
	Name                        string // default "fake"
}

// Encoder is the fake model.
type Encoder struct {
	tok    *tokenize.Tokenizer
	info   encoder.Info
	seed   uint64
	closed atomic.Bool
	calls  atomic.Int64
}

var (
	_ encoder.Encoder = (*Encoder)(nil)
	_ encoder.Ranker  = (*Encoder)(nil)
)

// ErrClosed is returned by calls after Close.
var ErrClosed = errors.New("fake encoder: closed")

// New makes a fake encoder over a WordPiece vocabulary (vocab.txt order,
// e.g. modelgen.LoadVocab("")).
func New(vocab []string, o Options) (*Encoder, error) {
	tok, err := tokenize.FromVocab(vocab, tokenize.Options{CleanText: true, HandleChineseChars: true, StripAccents: tokenize.AccentsStrip, Lowercase: true})
	if err != nil {
		return nil, fmt.Errorf("fake encoder: %w", err)
	}
	if o.Kind == 0 {
		o.Kind = encoder.BiEncoder
	}
	if o.Dim <= 0 {
		o.Dim = 32
	}
	if o.MaxTokens <= 0 {
		o.MaxTokens = 64
	}
	if o.Name == "" {
		o.Name = "fake"
	}
	pooling := map[encoder.Kind]string{encoder.BiEncoder: "mean", encoder.CrossEncoder: "rank", encoder.SparseEncoder: "splade"}[o.Kind]
	e := &Encoder{tok: tok, seed: o.Seed, info: encoder.Info{
		Kind: o.Kind, Name: o.Name, Dim: o.Dim, Vocab: len(vocab), KTokens: len(vocab), MaxTokens: o.MaxTokens,
		Pooling: pooling, Normalize: true, QueryPrompt: o.QueryPrompt, DocumentPrompt: o.DocumentPrompt, Labels: 1,
	}}
	if o.Kind == encoder.SparseEncoder {
		e.info.Dim = 0
	}
	return e, nil
}

// Info implements encoder.Encoder.
func (e *Encoder) Info() encoder.Info { return e.info }

// Tokenizer implements encoder.Encoder.
func (e *Encoder) Tokenizer() *tokenize.Tokenizer { return e.tok }

// SHA256 implements encoder.Encoder: a hash of the options, so two fakes
// with the same options are the same model.
func (e *Encoder) SHA256() (string, error) {
	h := sha256.Sum256(fmt.Appendf(nil, "fake/%d/%d/%d/%d/%s/%s/%s", e.info.Kind, e.info.Dim, e.info.MaxTokens, e.seed, e.info.QueryPrompt, e.info.DocumentPrompt, e.info.Name))
	return hex.EncodeToString(h[:]), nil
}

// Calls is how many encode calls were made (tests check batching).
func (e *Encoder) Calls() int64 { return e.calls.Load() }

// Close implements encoder.Encoder; idempotent.
func (e *Encoder) Close() error { e.closed.Store(true); return nil }

func (e *Encoder) check(kind encoder.Kind, what string) error {
	if e.closed.Load() {
		return ErrClosed
	}
	if e.info.Kind != kind {
		return encoder.WrongKind(what, e.info, kind)
	}
	e.calls.Add(1)
	return nil
}

// direction is token id's fixed pseudo-random direction (not normalized).
func (e *Encoder) direction(id int32, dst []float64) {
	x := uint64(id)*0x9E3779B97F4A7C15 ^ e.seed
	for i := range dst {
		x += 0x9E3779B97F4A7C15
		z := x
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		z ^= z >> 31
		dst[i] = float64(int64(z>>11)-(1<<52)) / (1 << 52)
	}
}

// Vector is the embedding of one tokenized input, computed in float64.
func (e *Encoder) Vector(enc tokenize.Encoding) []float64 {
	v := make([]float64, e.info.Dim)
	d := make([]float64, e.info.Dim)
	for _, id := range enc.IDs {
		e.direction(id, d)
		for i := range v {
			v[i] += d[i]
		}
	}
	var n float64
	for _, x := range v {
		n += x * x
	}
	if n > 0 {
		n = 1 / math.Sqrt(n)
		for i := range v {
			v[i] *= n
		}
	}
	return v
}

// EmbedEncodings implements encoder.Encoder.
func (e *Encoder) EmbedEncodings(encs []tokenize.Encoding) ([][]float32, error) {
	if err := e.check(encoder.BiEncoder, "embed"); err != nil {
		return nil, err
	}
	out := make([][]float32, len(encs))
	for i, enc := range encs {
		v := e.Vector(enc)
		out[i] = make([]float32, len(v))
		for j, x := range v {
			out[i][j] = float32(x)
		}
	}
	return out, nil
}

// Embed tokenizes texts as the engine does (truncated to MaxTokens) and
// embeds them.
func (e *Encoder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	encs := make([]tokenize.Encoding, len(texts))
	for i, t := range texts {
		encs[i] = e.tok.Encode(t, e.info.MaxTokens)
	}
	return e.EmbedEncodings(encs)
}

// SparseVector is the sparse vector of one tokenized input: log(1 + count)
// of each token id other than [CLS]/[SEP].
func (e *Encoder) SparseVector(enc tokenize.Encoding) sparse.Vec {
	counts := map[int32]int{}
	for i, id := range enc.IDs {
		if i == 0 || i == len(enc.IDs)-1 { // [CLS], [SEP]
			continue
		}
		counts[id]++
	}
	ids := make([]int32, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool { return ids[a] < ids[b] })
	ws := make([]float32, len(ids))
	for i, id := range ids {
		ws[i] = float32(math.Log1p(float64(counts[id])))
	}
	return sparse.FromPairs(ids, ws)
}

// SparseEncodings implements encoder.Encoder.
func (e *Encoder) SparseEncodings(encs []tokenize.Encoding) ([]sparse.Vec, error) {
	if err := e.check(encoder.SparseEncoder, "sparse"); err != nil {
		return nil, err
	}
	out := make([]sparse.Vec, len(encs))
	for i, enc := range encs {
		out[i] = e.SparseVector(enc)
	}
	return out, nil
}

// RankEncodings implements encoder.Ranker: the logit of a (query, document)
// pair is the number of document tokens that also occur in the query
// (segment 1 tokens found in segment 0), minus a tenth of the document's
// length — so shorter, more overlapping passages rank higher.
func (e *Encoder) RankEncodings(encs []tokenize.Encoding) ([][]float32, error) {
	if err := e.check(encoder.CrossEncoder, "rerank"); err != nil {
		return nil, err
	}
	out := make([][]float32, len(encs))
	for i, enc := range encs {
		out[i] = []float32{pairScore(enc)}
	}
	return out, nil
}

func pairScore(enc tokenize.Encoding) float32 {
	q := map[int32]bool{}
	var score, doc float32
	for j, id := range enc.IDs {
		if enc.TypeIDs[j] == 0 {
			q[id] = true
			continue
		}
		doc++
		if q[id] {
			score++
		}
	}
	return score - doc/10
}

// Rerank implements the engine's Reranker (a cross-encoder fake).
func (e *Encoder) Rerank(_ context.Context, query string, docs []string) ([]float32, error) {
	encs := make([]tokenize.Encoding, len(docs))
	for i, d := range docs {
		encs[i] = e.tok.EncodePair(query, d, e.info.MaxTokens)
	}
	all, err := e.RankEncodings(encs)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(all))
	for i, l := range all {
		out[i] = l[0]
	}
	return out, nil
}
