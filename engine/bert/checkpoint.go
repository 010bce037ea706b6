package bert

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Tensor is one weight in PyTorch order: Shape[0] is the slowest dimension
// (a Linear weight is [out, in]) and Data is row-major.
type Tensor struct {
	Shape []int
	Data  []float32
}

// Elements is the product of the shape.
func (t *Tensor) Elements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Checkpoint holds a model's weights under Hugging Face parameter names
// (BertModel's, without the "bert." prefix of BertForSequenceClassification;
// see NormalizeName).
type Checkpoint struct {
	Tensors map[string]*Tensor
}

// NewCheckpoint returns an empty checkpoint.
func NewCheckpoint() *Checkpoint { return &Checkpoint{Tensors: map[string]*Tensor{}} }

// Set stores a tensor under the normalized form of name. Data is not copied.
func (c *Checkpoint) Set(name string, shape []int, data []float32) {
	if c.Tensors == nil {
		c.Tensors = map[string]*Tensor{}
	}
	c.Tensors[NormalizeName(name)] = &Tensor{Shape: slices.Clone(shape), Data: data}
}

// Get returns the tensor named name (in any form NormalizeName accepts).
func (c *Checkpoint) Get(name string) (*Tensor, bool) {
	if t, ok := c.Tensors[name]; ok {
		return t, true
	}
	n := NormalizeName(name)
	if t, ok := c.Tensors[n]; ok {
		return t, true
	}
	// Stored under an unnormalized name (the map was filled directly).
	for k, t := range c.Tensors {
		if NormalizeName(k) == n {
			return t, true
		}
	}
	return nil, false
}

// Names returns the stored names, sorted.
func (c *Checkpoint) Names() []string {
	names := make([]string, 0, len(c.Tensors))
	for k := range c.Tensors {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// normalized returns the tensors keyed by normalized name, or an error when
// two stored names normalize to the same one.
func (c *Checkpoint) normalized() (map[string]*Tensor, error) {
	out := make(map[string]*Tensor, len(c.Tensors))
	from := make(map[string]string, len(c.Tensors))
	for _, k := range c.Names() {
		n := NormalizeName(k)
		if prev, dup := from[n]; dup {
			return nil, fmt.Errorf("checkpoint has both %q and %q, which name the same parameter %q", prev, k, n)
		}
		from[n] = k
		out[n] = c.Tensors[k]
	}
	return out, nil
}

// NormalizeName maps the parameter names of Hugging Face BERT variants to
// BertModel's: it drops the "bert." prefix of BertForSequenceClassification
// (and the "model." prefix some exports add) and renames the
// TensorFlow-era LayerNorm.gamma/beta to weight/bias.
// "classifier.*" and "pooler.*" keep their names.
func NormalizeName(name string) string {
	for _, p := range []string{"model.", "bert."} {
		if rest, ok := strings.CutPrefix(name, p); ok && rest != "" {
			name = rest
		}
	}
	if s, ok := strings.CutSuffix(name, "LayerNorm.gamma"); ok {
		name = s + "LayerNorm.weight"
	} else if s, ok := strings.CutSuffix(name, "LayerNorm.beta"); ok {
		name = s + "LayerNorm.bias"
	}
	return name
}

// TensorSpec is one tensor of the model: its Hugging Face name and PyTorch
// shape, its GGUF name, and whether it is a 2-D matrix stored in the model's
// type (F32/F16/Q8_0) rather than always F32.
type TensorSpec struct {
	Name     string // Hugging Face name, e.g. encoder.layer.0.attention.self.query.weight
	GGUFName string // e.g. blk.0.attn_q.weight
	Shape    []int  // PyTorch order: [out, in] for Linear weights, [rows, H] for embeddings
	Matrix   bool   // stored in the model type (false: always F32)
	// Meta: stored as a float32 array under the metadata key GGUFName
	// (row-major in PyTorch order), not as a tensor. The SPLADE head is kept
	// this way because llama.cpp refuses a file with tensors its
	// architecture does not create ("wrong number of tensors"), while it
	// ignores metadata keys it does not know.
	Meta bool
}

// GGUFDims is the tensor's ggml dimension order (the reverse of Shape).
func (s TensorSpec) GGUFDims() []int64 {
	d := make([]int64, len(s.Shape))
	for i, x := range s.Shape {
		d[len(s.Shape)-1-i] = int64(x)
	}
	return d
}

// Layout lists every tensor a model with this configuration has, in the order
// quarry writes them to GGUF. Cross-encoders (PoolingRank) add the pooler and
// classifier.
func Layout(cfg Config) []TensorSpec {
	H, F := cfg.Hidden, cfg.Intermediate
	var specs []TensorSpec
	add := func(name, gname string, matrix bool, shape ...int) {
		specs = append(specs, TensorSpec{Name: name, GGUFName: gname, Shape: shape, Matrix: matrix})
	}
	add("embeddings.word_embeddings.weight", "token_embd.weight", true, cfg.VocabSize, H)
	// token_types.weight is always F32: llama.cpp cannot get_rows it from F16.
	add("embeddings.token_type_embeddings.weight", "token_types.weight", false, cfg.TypeVocabSize, H)
	add("embeddings.position_embeddings.weight", "position_embd.weight", true, cfg.MaxPositions, H)
	add("embeddings.LayerNorm.weight", "token_embd_norm.weight", false, H)
	add("embeddings.LayerNorm.bias", "token_embd_norm.bias", false, H)
	for i := 0; i < cfg.Layers; i++ {
		hf := fmt.Sprintf("encoder.layer.%d.", i)
		gg := fmt.Sprintf("blk.%d.", i)
		for _, p := range [][2]string{{"query", "attn_q"}, {"key", "attn_k"}, {"value", "attn_v"}} {
			add(hf+"attention.self."+p[0]+".weight", gg+p[1]+".weight", true, H, H)
			add(hf+"attention.self."+p[0]+".bias", gg+p[1]+".bias", false, H)
		}
		add(hf+"attention.output.dense.weight", gg+"attn_output.weight", true, H, H)
		add(hf+"attention.output.dense.bias", gg+"attn_output.bias", false, H)
		add(hf+"attention.output.LayerNorm.weight", gg+"attn_output_norm.weight", false, H)
		add(hf+"attention.output.LayerNorm.bias", gg+"attn_output_norm.bias", false, H)
		add(hf+"intermediate.dense.weight", gg+"ffn_up.weight", true, F, H)
		add(hf+"intermediate.dense.bias", gg+"ffn_up.bias", false, F)
		add(hf+"output.dense.weight", gg+"ffn_down.weight", true, H, F)
		add(hf+"output.dense.bias", gg+"ffn_down.bias", false, H)
		add(hf+"output.LayerNorm.weight", gg+"layer_output_norm.weight", false, H)
		add(hf+"output.LayerNorm.bias", gg+"layer_output_norm.bias", false, H)
	}
	if cfg.CrossEncoder() {
		add("pooler.dense.weight", "cls.weight", true, H, H)
		add("pooler.dense.bias", "cls.bias", false, H)
		add("classifier.weight", "cls.output.weight", true, len(cfg.Labels), H)
		add("classifier.bias", "cls.output.bias", false, len(cfg.Labels))
	}
	if cfg.Sparse() {
		// BertForMaskedLM's head; its decoder weight is tied to the word
		// embeddings (cls.predictions.decoder.weight = word_embeddings) and
		// its decoder bias is cls.predictions.bias.
		meta := func(name, key string, shape ...int) {
			specs = append(specs, TensorSpec{Name: name, GGUFName: key, Shape: shape, Meta: true})
		}
		meta("cls.predictions.transform.dense.weight", "quarry.mlm.dense.weight", H, H)
		meta("cls.predictions.transform.dense.bias", "quarry.mlm.dense.bias", H)
		meta("cls.predictions.transform.LayerNorm.weight", "quarry.mlm.norm.weight", H)
		meta("cls.predictions.transform.LayerNorm.bias", "quarry.mlm.norm.bias", H)
		meta("cls.predictions.bias", "quarry.mlm.bias", cfg.VocabSize)
	}
	return specs
}

// Validate checks that the checkpoint has every tensor Layout(cfg) lists with
// the right shape, that each tensor's data matches its shape, and that all
// values are finite. Extra tensors (a bi-encoder's unused pooler,
// position_ids buffers) are ignored. The error names every offending tensor
// with the expected and actual shape.
func (c *Checkpoint) Validate(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	ts, err := c.normalized()
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range Layout(cfg) {
		t, ok := ts[s.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("tensor %s is missing (want shape %v)", s.Name, s.Shape))
			continue
		}
		if !slices.Equal(t.Shape, s.Shape) {
			errs = append(errs, fmt.Errorf("tensor %s has shape %v, want %v", s.Name, t.Shape, s.Shape))
			continue
		}
		if len(t.Data) != t.Elements() {
			errs = append(errs, fmt.Errorf("tensor %s has %d values for shape %v (%d elements)", s.Name, len(t.Data), t.Shape, t.Elements()))
			continue
		}
		for i, v := range t.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				errs = append(errs, fmt.Errorf("tensor %s has the non-finite value %v at index %d", s.Name, v, i))
				break
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("bert checkpoint: %w", errors.Join(errs...))
}
