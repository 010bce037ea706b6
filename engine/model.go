package engine

import (
	"context"
	"errors"
	"math"
	"os"
	"sort"

	"github.com/quarry-search/quarry/engine/encoder"
	"github.com/quarry-search/quarry/engine/native"
	"github.com/quarry-search/quarry/engine/search"
	"github.com/quarry-search/quarry/engine/sparse"
)

// Model is a BERT bi-encoder, cross-encoder or SPLADE model loaded from a
// GGUF file and run by the native core (engine/native). It implements
// Encoder, Embedder and Reranker.
type Model = native.Model

// ModelOptions configure LoadModel; the zero value is the default.
type ModelOptions = native.Options

// Stats describe one Embed or Rerank call of a Model.
type Stats = native.Stats

// SparseVec is a SPLADE sparse vector: token ids strictly increasing, each
// with its weight (> 0).
type SparseVec = sparse.Vec

// Encoder is what an index encodes passages and queries with: the native
// Model, or any other implementation (engine/encoder/fake in tests).
type Encoder = encoder.Encoder

// EncoderInfo describes an Encoder.
type EncoderInfo = encoder.Info

// LoadModel validates the GGUF at path in Go, builds its tokenizer and loads
// it into the native core.
func LoadModel(path string, opts ModelOptions) (*Model, error) { return native.Load(path, opts) }

// Embedder turns texts into vectors. Implementations are safe for concurrent
// use.
type Embedder interface {
	// Embed returns one vector per text, in order.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	// Dim is the length of the vectors.
	Dim() int
	Close() error
}

// Reranker scores (query, document) pairs with a cross-encoder. Scores are
// raw logits (higher is more relevant); see Sigmoid.
type Reranker interface {
	Rerank(ctx context.Context, query string, docs []string) ([]float32, error)
	Close() error
}

var (
	_ Embedder = (*Model)(nil)
	_ Reranker = (*Model)(nil)
	_ Encoder  = (*Model)(nil)
)

// ErrNoNative is returned when this build has no native core (CGO_ENABLED=0).
var ErrNoNative = native.ErrNoNative

// ErrModelKind is wrapped by errors for a model of the wrong kind (a
// cross-encoder where a bi-encoder is needed, or the reverse).
var ErrModelKind = encoder.ErrModelKind

// Sigmoid maps a cross-encoder logit to (0, 1), computed in float64 so that
// large logits stay distinguishable.
func Sigmoid(logit float32) float64 { return 1 / (1 + math.Exp(-float64(logit))) }

// Ranked is one reranked document.
type Ranked struct {
	Index int     // position in the input
	Score float32 // raw logit
}

// RankByScore orders scores descending; ties keep input order.
func RankByScore(scores []float32) []Ranked {
	r := make([]Ranked, len(scores))
	for i, s := range scores {
		r[i] = Ranked{Index: i, Score: s}
	}
	sort.SliceStable(r, func(a, b int) bool { return r[a].Score > r[b].Score })
	return r
}

// IsNotExist reports whether err is a missing-file error.
func IsNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }

// NativeAvailable reports whether this build links the native core (models
// can be loaded).
func NativeAvailable() bool { return search.Native() }
