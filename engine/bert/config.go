// Package bert describes BERT encoders (bi-encoders and cross-encoders) the
// way quarry stores them: a Config of hyperparameters and tokenizer settings,
// a Checkpoint of weights under their Hugging Face parameter names, GGUF
// writing and reading in the layout of docs/gguf.md, and Reference, an
// independent float64 forward pass with Hugging Face semantics that is the
// yardstick for the native (ggml) core.
//
// The package is pure Go: it builds and runs with CGO_ENABLED=0.
package bert

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Pooling is how token states become one output, numbered as llama.cpp's
// enum llama_pooling_type (the value of the GGUF key bert.pooling_type).
type Pooling int

// Pooling types. The numbers are llama.cpp's and are written to GGUF files.
const (
	PoolingNone Pooling = 0 // no pooling: per-token states
	PoolingMean Pooling = 1 // mean over the tokens of the sequence
	PoolingCLS  Pooling = 2 // the first token ([CLS])
	PoolingLast Pooling = 3 // the last token
	PoolingRank Pooling = 4 // cross-encoder: classifier(tanh(pooler(h[CLS])))

	// PoolingSplade is quarry's own, outside llama.cpp's numbering: SPLADE
	// sparse vectors, the maximum over the tokens of log(1 + relu(MLM
	// logits)). It is never written as bert.pooling_type: a SPLADE GGUF has
	// bert.pooling_type 0 (none) and quarry.pooling "splade" (docs/gguf.md).
	PoolingSplade Pooling = 16
)

func (p Pooling) String() string {
	switch p {
	case PoolingNone:
		return "none"
	case PoolingMean:
		return "mean"
	case PoolingCLS:
		return "cls"
	case PoolingLast:
		return "last"
	case PoolingRank:
		return "rank"
	case PoolingSplade:
		return "splade"
	}
	return fmt.Sprintf("pooling(%d)", int(p))
}

// Valid reports whether p is one of the known pooling types.
func (p Pooling) Valid() bool { return p >= PoolingNone && p <= PoolingRank || p == PoolingSplade }

// ParsePooling maps "none", "mean", "cls", "last", "rank" or "splade" (any
// case) to its Pooling.
func ParsePooling(s string) (Pooling, error) {
	for _, p := range []Pooling{PoolingNone, PoolingMean, PoolingCLS, PoolingLast, PoolingRank, PoolingSplade} {
		if strings.EqualFold(s, p.String()) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("unknown pooling %q (want none, mean, cls, last, rank or splade)", s)
}

// SPLADE activations (sentence-transformers' SpladePooling
// activation_function), applied to the MLM logits before max pooling.
const (
	SparseReLU      = "relu"       // log(1 + relu(x)), every SPLADE model
	SparseLog1pReLU = "log1p_relu" // log(1 + log(1 + relu(x))), OpenSearch's models
)

// NoToken marks an absent special token id in Config.
const NoToken = -1

// Config is everything about a BERT model except its weights and vocabulary:
// architecture hyperparameters, output head, tokenizer settings and
// sentence-transformers options. Zero values are not meaningful defaults; use
// the constructors of the caller (for example modelgen's presets) or fill
// every field, then call Validate.
type Config struct {
	Name string // general.name

	VocabSize     int     // rows of the word embeddings
	Hidden        int     // hidden size H
	Layers        int     // encoder layers
	Heads         int     // attention heads; must divide Hidden
	Intermediate  int     // feed-forward size F
	MaxPositions  int     // max_position_embeddings (bert.context_length)
	TypeVocabSize int     // rows of the token type embeddings (2 for BERT)
	LayerNormEps  float64 // LayerNorm epsilon (stored as f32 in GGUF)

	Pooling Pooling  // how the output is formed
	Labels  []string // cross-encoders (PoolingRank): one name per output logit

	// SparseActivation is a SPLADE model's activation (PoolingSplade):
	// SparseReLU ("" means the same) or SparseLog1pReLU. The MLM head's
	// weights are in the Checkpoint (see Layout).
	SparseActivation string

	Normalize    bool // L2-normalize embeddings (bi-encoders only)
	MaxSeqLength int  // truncation length in word pieces incl. specials; 0 means MaxPositions

	// Tokenizer settings (Hugging Face BertTokenizer semantics).
	Lowercase          bool
	StripAccents       bool
	HandleChineseChars bool

	// Special token ids; NoToken (-1) when the vocabulary has none. CLS, SEP
	// and UNK are required.
	CLSID, SEPID, PADID, UNKID, MaskID int

	QueryPrompt    string // prepended to queries
	DocumentPrompt string // prepended to documents
	Similarity     string // "cosine", "dot" or "" (unspecified)

	// Source is free-form provenance, written as quarry.source.<key>.
	Source map[string]string
}

// HeadDim is Hidden / Heads.
func (c *Config) HeadDim() int {
	if c.Heads == 0 {
		return 0
	}
	return c.Hidden / c.Heads
}

// CrossEncoder reports whether the model scores pairs (PoolingRank).
func (c *Config) CrossEncoder() bool { return c.Pooling == PoolingRank }

// Sparse reports whether the model makes SPLADE sparse vectors
// (PoolingSplade): vocabulary-sized, from the MLM head.
func (c *Config) Sparse() bool { return c.Pooling == PoolingSplade }

// NumLabels is the number of classifier outputs (0 for bi-encoders).
func (c *Config) NumLabels() int {
	if !c.CrossEncoder() {
		return 0
	}
	return len(c.Labels)
}

// SeqLength is the effective truncation length: MaxSeqLength, or
// MaxPositions when MaxSeqLength is 0.
func (c *Config) SeqLength() int {
	if c.MaxSeqLength > 0 {
		return c.MaxSeqLength
	}
	return c.MaxPositions
}

// Validate checks the configuration and returns every problem found, each
// naming the field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	pos := func(name string, v int) {
		if v <= 0 {
			bad("%s is %d, must be positive", name, v)
		}
	}
	pos("vocab size", c.VocabSize)
	pos("hidden size", c.Hidden)
	pos("layer count", c.Layers)
	pos("head count", c.Heads)
	pos("intermediate size", c.Intermediate)
	pos("max positions", c.MaxPositions)
	pos("type vocab size", c.TypeVocabSize)
	if c.Hidden > 0 && c.Heads > 0 && c.Hidden%c.Heads != 0 {
		bad("head count %d does not divide hidden size %d", c.Heads, c.Hidden)
	}
	if !(c.LayerNormEps > 0) || math.IsInf(c.LayerNormEps, 0) {
		bad("layer norm epsilon is %v, must be positive and finite", c.LayerNormEps)
	} else if float32(c.LayerNormEps) == 0 {
		bad("layer norm epsilon %v underflows float32 (GGUF stores it as f32)", c.LayerNormEps)
	}
	if !c.Pooling.Valid() {
		bad("pooling type %d is not one of 0 none, 1 mean, 2 cls, 3 last, 4 rank, 16 splade", int(c.Pooling))
	}
	switch {
	case c.Pooling == PoolingSplade:
		if c.Normalize {
			bad("normalize is set on a SPLADE model (pooling splade); sparse vectors are not normalized")
		}
		if c.SparseActivation != "" && c.SparseActivation != SparseReLU && c.SparseActivation != SparseLog1pReLU {
			bad("sparse activation %q is not %s or %s", c.SparseActivation, SparseReLU, SparseLog1pReLU)
		}
	case c.SparseActivation != "":
		bad("sparse activation %q given but pooling is %s; it is for SPLADE models (pooling splade)", c.SparseActivation, c.Pooling)
	}
	if c.Pooling == PoolingRank {
		if len(c.Labels) == 0 {
			bad("cross-encoder (pooling rank) needs at least one label")
		}
		if c.Normalize {
			bad("normalize is set on a cross-encoder (pooling rank); it applies to embeddings only")
		}
	} else if len(c.Labels) > 0 {
		bad("%d labels given but pooling is %s; labels are for cross-encoders (pooling rank)", len(c.Labels), c.Pooling)
	}
	if c.MaxSeqLength < 0 || c.MaxSeqLength > c.MaxPositions {
		bad("max_seq_length %d is outside 0..%d (max positions)", c.MaxSeqLength, c.MaxPositions)
	} else if c.MaxSeqLength > 0 && c.MaxSeqLength < 3 {
		bad("max_seq_length %d leaves no room for [CLS] text [SEP]", c.MaxSeqLength)
	}
	ids := []struct {
		name     string
		id       int
		required bool
	}{
		{"[CLS] id", c.CLSID, true},
		{"[SEP] id", c.SEPID, true},
		{"[UNK] id", c.UNKID, true},
		{"[PAD] id", c.PADID, false},
		{"[MASK] id", c.MaskID, false},
	}
	for _, s := range ids {
		switch {
		case s.id == NoToken && s.required:
			bad("%s is missing", s.name)
		case s.id == NoToken:
		case s.id < 0 || (c.VocabSize > 0 && s.id >= c.VocabSize):
			bad("%s %d is outside the vocabulary 0..%d", s.name, s.id, c.VocabSize-1)
		}
	}
	if c.CLSID >= 0 && c.CLSID == c.SEPID {
		bad("[CLS] and [SEP] have the same id %d", c.CLSID)
	}
	switch c.Similarity {
	case "", "cosine", "dot":
	default:
		bad("similarity %q is not cosine or dot", c.Similarity)
	}
	for k := range c.Source {
		if k == "" || strings.ContainsAny(k, " \t\n") {
			bad("source key %q must be non-empty without spaces", k)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("bert config: %w", errors.Join(errs...))
}
