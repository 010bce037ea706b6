// Package encoder is the seam between the engine and the models it runs:
// the engine indexes and searches through the small Encoder interface, and
// the native GGUF model (engine/native) is one implementation of it. A pure
// Go fake (engine/encoder/fake) lets every engine test run without cgo.
//
// Tokenization stays on the engine's side of the seam: an Encoder hands out
// its Hugging Face-exact tokenizer and encodes already tokenized inputs, so
// chunking, truncation and token accounting are the same for every
// implementation.
package encoder

import (
	"fmt"

	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/sparse"
	"github.com/quarry-search/quarry/engine/tokenize"
)

// Kind says what a model computes.
type Kind int

// The kinds of model.
const (
	BiEncoder     Kind = 1 // dense embeddings
	CrossEncoder  Kind = 2 // (query, document) relevance logits
	SparseEncoder Kind = 3 // SPLADE sparse vectors
)

func (k Kind) String() string {
	switch k {
	case BiEncoder:
		return "bi-encoder"
	case CrossEncoder:
		return "cross-encoder"
	case SparseEncoder:
		return "sparse-encoder"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// ErrModelKind is wrapped by errors for a model of the wrong kind (a
// cross-encoder where a bi-encoder is needed, or the reverse). Its kind is
// errs.BadInput.
var ErrModelKind = errs.New(errs.BadInput, "wrong kind of model")

// Info describes a loaded model: what an index records about it, and what
// the engine needs to chunk and encode for it.
type Info struct {
	Kind Kind
	// Name is the model's name (its GGUF general.name); Path the file it was
	// loaded from ("" for an in-memory model).
	Name, Path string
	// Dim is the embedding dimension (bi-encoders); Vocab the vocabulary
	// size, the dimension of sparse vectors; KTokens how many of a sparse
	// vector's largest weights are kept (Vocab = all).
	Dim, Vocab, KTokens int
	// MaxTokens is the truncation length in word pieces, specials included.
	MaxTokens int
	// Pooling ("mean", "cls", "rank", "splade", ...) and Normalize (unit
	// vectors) describe how embeddings are made.
	Pooling   string
	Normalize bool
	// Prompts prepended to queries and to documents (sentence-transformers'
	// prompts), and the similarity function the model was trained for.
	QueryPrompt, DocumentPrompt, Similarity string
	// Labels is the number of outputs of a cross-encoder.
	Labels int
}

// Encoder is a model the engine can index and search with. Implementations
// are safe for concurrent use and Close is idempotent.
type Encoder interface {
	// Info describes the model; it does not change after loading.
	Info() Info
	// Tokenizer is the model's tokenizer (inputs are encoded with it, then
	// passed to EmbedEncodings / SparseEncodings).
	Tokenizer() *tokenize.Tokenizer
	// SHA256 identifies the weights (hex); an index refuses another model.
	SHA256() (string, error)
	// EmbedEncodings embeds tokenized inputs (a bi-encoder): one vector of
	// Info().Dim per input.
	EmbedEncodings(encs []tokenize.Encoding) ([][]float32, error)
	// SparseEncodings makes the SPLADE vector of each tokenized input (a
	// sparse encoder).
	SparseEncodings(encs []tokenize.Encoding) ([]sparse.Vec, error)
	Close() error
}

// Ranker scores tokenized (query, document) pairs (a cross-encoder): every
// output logit of each pair.
type Ranker interface {
	Info() Info
	Tokenizer() *tokenize.Tokenizer
	RankEncodings(encs []tokenize.Encoding) ([][]float32, error)
	Close() error
}

// WrongKind is the error for a model of kind got where want is needed.
func WrongKind(what string, info Info, want Kind) error {
	return fmt.Errorf("%s: %s is a %s, %s needs a %s: %w", what, nameOf(info), info.Kind, what, want, ErrModelKind)
}

func nameOf(info Info) string {
	if info.Path != "" {
		return info.Path
	}
	if info.Name != "" {
		return info.Name
	}
	return "the model"
}
