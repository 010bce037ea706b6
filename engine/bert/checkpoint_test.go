package bert

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// randomCheckpoint fills every tensor of Layout(cfg) with values in
// [-0.5, 0.5) (LayerNorm weights around 1).
func randomCheckpoint(cfg Config, seed uint64) *Checkpoint {
	r := rand.New(rand.NewPCG(seed, 7))
	ck := NewCheckpoint()
	for _, s := range Layout(cfg) {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(r.Float64() - 0.5)
			if strings.HasSuffix(s.Name, "LayerNorm.weight") {
				d[i] += 1
			}
		}
		ck.Set(s.Name, s.Shape, d)
	}
	return ck
}

func TestNormalizeName(t *testing.T) {
	for in, want := range map[string]string{
		"bert.embeddings.word_embeddings.weight":              "embeddings.word_embeddings.weight",
		"embeddings.word_embeddings.weight":                   "embeddings.word_embeddings.weight",
		"bert.pooler.dense.weight":                            "pooler.dense.weight",
		"classifier.bias":                                     "classifier.bias",
		"bert.encoder.layer.3.output.LayerNorm.gamma":         "encoder.layer.3.output.LayerNorm.weight",
		"encoder.layer.0.attention.output.LayerNorm.beta":     "encoder.layer.0.attention.output.LayerNorm.bias",
		"model.encoder.layer.0.attention.self.query.weight":   "encoder.layer.0.attention.self.query.weight",
		"bert.encoder.layer.11.attention.self.value.bias":     "encoder.layer.11.attention.self.value.bias",
		"bert.embeddings.LayerNorm.weight":                    "embeddings.LayerNorm.weight",
		"bert.":                                               "bert.",
		"embeddings.position_ids":                             "embeddings.position_ids",
		"encoder.layer.0.attention.self.query.weight.gamma.x": "encoder.layer.0.attention.self.query.weight.gamma.x",
	} {
		if got := NormalizeName(in); got != want {
			t.Errorf("NormalizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLayout(t *testing.T) {
	c := testConfig()
	specs := Layout(c)
	if len(specs) != 5+16*c.Layers {
		t.Fatalf("bi-encoder layout has %d tensors, want %d", len(specs), 5+16*c.Layers)
	}
	c.Pooling, c.Normalize, c.Labels = PoolingRank, false, []string{"a", "b", "c"}
	specs = Layout(c)
	if len(specs) != 9+16*c.Layers {
		t.Fatalf("cross-encoder layout has %d tensors", len(specs))
	}
	byName := map[string]TensorSpec{}
	for _, s := range specs {
		byName[s.GGUFName] = s
	}
	for name, dims := range map[string][]int64{
		"token_embd.weight":     {8, 64},
		"token_types.weight":    {8, 2},
		"position_embd.weight":  {8, 16},
		"blk.1.ffn_up.weight":   {8, 16},
		"blk.1.ffn_down.weight": {16, 8},
		"blk.0.attn_q.bias":     {8},
		"cls.weight":            {8, 8},
		"cls.output.weight":     {8, 3},
		"cls.output.bias":       {3},
	} {
		s, ok := byName[name]
		if !ok {
			t.Errorf("%s missing from layout", name)
			continue
		}
		if got := s.GGUFDims(); !equalDims(got, dims) {
			t.Errorf("%s dims %v, want %v", name, got, dims)
		}
	}
	if byName["token_types.weight"].Matrix || !byName["token_embd.weight"].Matrix || byName["blk.0.attn_q.bias"].Matrix {
		t.Error("Matrix flags wrong: token_types must stay F32, matrices follow the model type, 1-D stays F32")
	}
}

func equalDims(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCheckpointValidate(t *testing.T) {
	cfg := testConfig()
	if err := randomCheckpoint(cfg, 1).Validate(cfg); err != nil {
		t.Fatalf("valid checkpoint: %v", err)
	}

	// The bert. prefix of BertForSequenceClassification, filled directly
	// into the map, and extra tensors are accepted.
	rank := cfg
	rank.Pooling, rank.Normalize, rank.Labels = PoolingRank, false, []string{"LABEL_0"}
	ck := randomCheckpoint(rank, 2)
	prefixed := &Checkpoint{Tensors: map[string]*Tensor{}}
	for k, v := range ck.Tensors {
		if !strings.HasPrefix(k, "classifier.") {
			k = "bert." + k
		}
		prefixed.Tensors[k] = v
	}
	prefixed.Tensors["bert.embeddings.position_ids"] = &Tensor{Shape: []int{1, 16}, Data: make([]float32, 16)}
	if err := prefixed.Validate(rank); err != nil {
		t.Fatalf("bert.-prefixed checkpoint: %v", err)
	}
	if _, ok := prefixed.Get("encoder.layer.1.output.dense.weight"); !ok {
		t.Error("Get does not find a bert.-prefixed tensor by its normalized name")
	}

	cases := []struct {
		name string
		edit func(*Checkpoint)
		want []string
	}{
		{"missing", func(c *Checkpoint) { delete(c.Tensors, "encoder.layer.1.attention.self.key.bias") },
			[]string{"tensor encoder.layer.1.attention.self.key.bias is missing (want shape [8])"}},
		{"shape", func(c *Checkpoint) {
			c.Set("encoder.layer.0.intermediate.dense.weight", []int{8, 16}, make([]float32, 128))
		}, []string{"tensor encoder.layer.0.intermediate.dense.weight has shape [8 16], want [16 8]"}},
		{"data length", func(c *Checkpoint) {
			c.Tensors["embeddings.LayerNorm.bias"].Data = make([]float32, 7)
		}, []string{"tensor embeddings.LayerNorm.bias has 7 values for shape [8]"}},
		{"nan", func(c *Checkpoint) {
			c.Tensors["embeddings.token_type_embeddings.weight"].Data[5] = float32(math.NaN())
		}, []string{"tensor embeddings.token_type_embeddings.weight has the non-finite value NaN at index 5"}},
		{"duplicate", func(c *Checkpoint) {
			c.Tensors["bert.embeddings.LayerNorm.bias"] = c.Tensors["embeddings.LayerNorm.bias"]
		}, []string{`both "bert.embeddings.LayerNorm.bias" and "embeddings.LayerNorm.bias"`}},
		{"several", func(c *Checkpoint) {
			delete(c.Tensors, "embeddings.word_embeddings.weight")
			delete(c.Tensors, "encoder.layer.0.output.LayerNorm.weight")
		}, []string{"embeddings.word_embeddings.weight is missing (want shape [64 8])", "encoder.layer.0.output.LayerNorm.weight is missing"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ck := randomCheckpoint(cfg, 3)
			tc.edit(ck)
			err := ck.Validate(cfg)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}

	// A cross-encoder needs its head; the error names the tensor.
	err := randomCheckpoint(cfg, 4).Validate(rank)
	if err == nil || !strings.Contains(err.Error(), "tensor classifier.weight is missing (want shape [1 8])") ||
		!strings.Contains(err.Error(), "tensor pooler.dense.weight is missing (want shape [8 8])") {
		t.Errorf("bi-encoder weights validated as cross-encoder: %v", err)
	}
	// An invalid config is reported before the tensors.
	bad := cfg
	bad.Heads = 3
	if err := randomCheckpoint(cfg, 5).Validate(bad); err == nil || !strings.Contains(err.Error(), "does not divide") {
		t.Errorf("invalid config: %v", err)
	}
}
