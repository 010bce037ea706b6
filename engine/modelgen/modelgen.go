// Package modelgen makes deterministic random BERT models for tests and
// benchmarks: presets of known shapes (Tiny, Small, MiniLML6), random weights
// from a seed, and GGUF files of them.
//
// The weights depend only on the configuration and the seed, on every
// platform and Go version: they come from math/rand/v2's PCG (a fixed
// algorithm) through exact float64 arithmetic only (no transcendental
// functions), so the committed golden outputs of testdata/golden stay valid.
package modelgen

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/quarry-search/quarry/engine/bert"
	"github.com/quarry-search/quarry/engine/gguf"
)

// VocabSize is the size of the bert-base-uncased vocabulary every preset uses.
const VocabSize = 30522

// base is an uncased BERT with the bert-base-uncased vocabulary's specials
// and mean pooling.
func base(name string) bert.Config {
	return bert.Config{
		Name:               name,
		VocabSize:          VocabSize,
		TypeVocabSize:      2,
		LayerNormEps:       1e-12,
		Pooling:            bert.PoolingMean,
		Normalize:          true,
		Lowercase:          true,
		StripAccents:       true,
		HandleChineseChars: true,
		PADID:              0,
		UNKID:              100,
		CLSID:              101,
		SEPID:              102,
		MaskID:             103,
		Similarity:         "cosine",
		Source:             map[string]string{"generator": "quarry modelgen"},
	}
}

// Tiny is a 2-layer, hidden-32 model with 2 heads, FFN 64 and 128 positions
// (mean pooling) — small enough for any test.
func Tiny() bert.Config {
	c := base("quarry-tiny")
	c.Hidden, c.Layers, c.Heads, c.Intermediate, c.MaxPositions = 32, 2, 2, 64, 128
	c.MaxSeqLength = 128
	return c
}

// Small is a 2-layer, hidden-128 model with 4 heads, FFN 512 and 512
// positions (mean pooling).
func Small() bert.Config {
	c := base("quarry-small")
	c.Hidden, c.Layers, c.Heads, c.Intermediate, c.MaxPositions = 128, 2, 4, 512, 512
	c.MaxSeqLength = 512
	return c
}

// MiniLML6 has the shape of sentence-transformers/all-MiniLM-L6-v2: 6 layers,
// hidden 384, 12 heads, FFN 1536, 512 positions, max_seq_length 256,
// eps 1e-12, mean pooling, normalized.
func MiniLML6() bert.Config {
	c := base("quarry-minilm-l6")
	c.Hidden, c.Layers, c.Heads, c.Intermediate, c.MaxPositions = 384, 6, 12, 1536, 512
	c.MaxSeqLength = 256
	return c
}

// Preset returns the configuration of a preset by name: "tiny", "small" or
// "minilm".
func Preset(name string) (bert.Config, error) {
	switch strings.ToLower(name) {
	case "tiny":
		return Tiny(), nil
	case "small":
		return Small(), nil
	case "minilm", "minilm-l6", "minilml6":
		return MiniLML6(), nil
	}
	return bert.Config{}, fmt.Errorf("unknown preset %q (want tiny, small or minilm)", name)
}

// WithKind turns a configuration into a bi-encoder with mean or CLS pooling
// ("mean", "cls"), a cross-encoder ("rank") with the given number of labels
// (named LABEL_0…, as Hugging Face does; 0 means 1), or a SPLADE sparse
// encoder ("splade": BertForMaskedLM's head, relu activation, dot product).
func WithKind(c bert.Config, kind string, labels int) (bert.Config, error) {
	c.Labels = nil
	c.SparseActivation = ""
	switch kind {
	case "splade":
		c.Pooling, c.Normalize, c.Similarity, c.SparseActivation = bert.PoolingSplade, false, "dot", bert.SparseReLU
	case "mean":
		c.Pooling, c.Normalize = bert.PoolingMean, true
	case "cls":
		c.Pooling, c.Normalize = bert.PoolingCLS, true
	case "rank":
		c.Pooling, c.Normalize, c.Similarity = bert.PoolingRank, false, ""
		if labels <= 0 {
			labels = 1
		}
		for i := 0; i < labels; i++ {
			c.Labels = append(c.Labels, fmt.Sprintf("LABEL_%d", i))
		}
	default:
		return c, fmt.Errorf("unknown kind %q (want mean, cls, rank or splade)", kind)
	}
	if kind != "rank" && labels > 0 {
		return c, fmt.Errorf("labels are for kind rank, not %s", kind)
	}
	return c, nil
}

// gen draws deterministic pseudo-normal numbers: the sum of four uniforms,
// centred and scaled to unit variance (Irwin–Hall). Only exact IEEE
// operations on PCG output are used, so every platform agrees bit for bit.
type gen struct{ r *rand.Rand }

func (g gen) uniform() float64 { return float64(g.r.Uint64()>>11) * 0x1p-53 }

// normal returns an approximately N(0, 1) value in (-2√3, 2√3).
func (g gen) normal() float64 {
	s := g.uniform() + g.uniform() + g.uniform() + g.uniform()
	return (s - 2) * math.Sqrt(3) // √3 is a constant: exact on every platform
}

func (g gen) fill(n int, mean, std float64) []float32 {
	d := make([]float32, n)
	for i := range d {
		// The explicit conversion forbids fusing into an FMA (Go may
		// fuse x*y+z on arm64 or GOAMD64=v3), which would round differently.
		d[i] = float32(mean + float64(std*g.normal()))
	}
	return d
}

// Random returns a checkpoint of cfg with deterministic random weights drawn
// from PCG(seed). The scales keep the outputs far from degenerate: attention
// is neither uniform nor one-hot, the token type rows differ as much as words
// do (so token types change scores), LayerNorm weights are 1±0.1, biases are
// small but nonzero, and cross-encoder logits are of order 1.
// Every tensor has its own stream (seeded by seed and the tensor's name), so
// adding tensors or layers leaves the others unchanged.
func Random(cfg bert.Config, seed uint64) *bert.Checkpoint {
	ck := bert.NewCheckpoint()
	for _, s := range bert.Layout(cfg) {
		g := gen{rand.New(rand.NewPCG(seed, nameHash(s.Name)))}
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		var data []float32
		name := s.Name
		switch {
		case strings.HasSuffix(name, "word_embeddings.weight"):
			data = g.fill(n, 0, 0.5)
		case strings.HasSuffix(name, "position_embeddings.weight"):
			data = g.fill(n, 0, 0.1)
		case strings.HasSuffix(name, "token_type_embeddings.weight"):
			data = g.fill(n, 0, 0.2)
		case strings.HasSuffix(name, "LayerNorm.weight"):
			data = g.fill(n, 1, 0.1)
		case strings.HasSuffix(name, "LayerNorm.bias"):
			data = g.fill(n, 0, 0.05)
		case name == "classifier.weight":
			// The pooled input is tanh(·), about ±0.6: std 2/√H gives
			// logits of order 1.
			data = g.fill(n, 0, 2/math.Sqrt(float64(s.Shape[1])))
		case name == "classifier.bias":
			data = g.fill(n, 0, 0.2)
		case name == "cls.predictions.bias":
			// SPLADE decoder bias. A logit word[v]·t + bias[v] has std
			// about 0.5·√H (word embeddings of std 0.5, t a LayerNorm
			// output of unit scale): a bias of −3.5 of that keeps each
			// token's logit positive for about 2 in 10,000 entries, so
			// the max-pooled vectors are sparse as trained SPLADE models'
			// are (tens of active entries for a query, hundreds for a
			// passage) instead of nearly all positive.
			sd := 0.5 * math.Sqrt(float64(cfg.Hidden))
			data = g.fill(n, -3.5*sd, 0.2*sd)
		case strings.HasSuffix(name, ".weight"):
			// Linear [out, in]: inputs are LayerNorm outputs of unit
			// scale, so std gain/√in keeps pre-activations of order 1.
			// Q and K get a larger gain so attention is peaked enough to
			// depend on content.
			gain := 0.8
			if strings.Contains(name, ".query.") || strings.Contains(name, ".key.") {
				gain = 1.4
			}
			data = g.fill(n, 0, gain/math.Sqrt(float64(s.Shape[1])))
		case strings.HasSuffix(name, ".bias"):
			data = g.fill(n, 0, 0.05)
		default:
			panic("modelgen: no rule for tensor " + name)
		}
		ck.Set(name, s.Shape, data)
	}
	return ck
}

// nameHash is FNV-1a of the tensor name: the second PCG seed word.
func nameHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// Spec names one generated model file.
type Spec struct {
	Preset string // tiny, small, minilm
	Kind   string // mean, cls, rank, splade
	Labels int    // rank only: number of logits (0 means 1)
	Type   string // f32, f16, q8_0
	Seed   uint64
}

// Name is the file's base name without extension, e.g. tiny-mean-f32,
// tiny-rank3-f16 (rank with 3 labels).
func (s Spec) Name() string {
	kind := s.Kind
	if s.Kind == "rank" && s.Labels > 1 {
		kind = fmt.Sprintf("rank%d", s.Labels)
	}
	return fmt.Sprintf("%s-%s-%s", strings.ToLower(s.Preset), kind, strings.ToLower(s.Type))
}

// Config is the spec's model configuration.
func (s Spec) Config() (bert.Config, error) {
	c, err := Preset(s.Preset)
	if err != nil {
		return c, err
	}
	c, err = WithKind(c, s.Kind, s.Labels)
	if err != nil {
		return c, err
	}
	c.Name = "quarry-" + s.Name()
	c.Source = map[string]string{"generator": "quarry modelgen", "seed": fmt.Sprint(s.Seed)}
	return c, nil
}

// TensorType parses the spec's storage type.
func (s Spec) TensorType() (gguf.TensorType, error) {
	switch strings.ToLower(s.Type) {
	case "f32":
		return gguf.F32, nil
	case "f16":
		return gguf.F16, nil
	case "q8_0":
		return gguf.Q8_0, nil
	}
	return 0, fmt.Errorf("unknown type %q (want f32, f16 or q8_0)", s.Type)
}

// Standard is the default set testdata/gen writes. Models that differ only
// in type share a seed, so their weights are the same before rounding.
func Standard() []Spec {
	return []Spec{
		{Preset: "tiny", Kind: "mean", Type: "f32", Seed: 1},
		{Preset: "tiny", Kind: "mean", Type: "f16", Seed: 1},
		{Preset: "tiny", Kind: "mean", Type: "q8_0", Seed: 1},
		{Preset: "tiny", Kind: "cls", Type: "f32", Seed: 2},
		{Preset: "tiny", Kind: "rank", Type: "f32", Seed: 3},
		{Preset: "tiny", Kind: "rank", Type: "f16", Seed: 3},
		{Preset: "tiny", Kind: "rank", Labels: 3, Type: "f32", Seed: 4},
		{Preset: "small", Kind: "mean", Type: "f32", Seed: 5},
		{Preset: "small", Kind: "rank", Type: "f16", Seed: 6},
		{Preset: "minilm", Kind: "mean", Type: "f16", Seed: 7},
	}
}

// Generate builds the spec's model and writes it to path.
func Generate(path string, s Spec, vocab []string) error {
	cfg, err := s.Config()
	if err != nil {
		return err
	}
	t, err := s.TensorType()
	if err != nil {
		return err
	}
	return bert.WriteGGUF(path, cfg, Random(cfg, s.Seed), vocab, bert.WriteOptions{Type: t})
}

// ModuleRoot walks up from the working directory to the directory holding
// go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found in any parent of the working directory")
		}
		dir = parent
	}
}

// DefaultVocabPath is testdata/vocab/bert-base-uncased-vocab.txt under the
// module root.
func DefaultVocabPath() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "testdata", "vocab", "bert-base-uncased-vocab.txt"), nil
}

// LoadVocab reads a vocab.txt (path "" means DefaultVocabPath) and checks it
// has VocabSize tokens.
func LoadVocab(path string) ([]string, error) {
	if path == "" {
		var err error
		if path, err = DefaultVocabPath(); err != nil {
			return nil, err
		}
	}
	v, err := bert.ReadVocabFile(path)
	if err != nil {
		return nil, err
	}
	if len(v) != VocabSize {
		return nil, fmt.Errorf("%s has %d tokens, the presets need %d", path, len(v), VocabSize)
	}
	return v, nil
}
