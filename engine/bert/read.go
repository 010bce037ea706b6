package bert

import (
	"fmt"
	"slices"
	"strings"

	"github.com/quarry-search/quarry/engine/gguf"
	"github.com/quarry-search/quarry/internal/fsx"
)

// ReadGGUF reads a BERT GGUF file (written by WriteGGUF or by llama.cpp's
// converter) back into a Config, a Checkpoint under Hugging Face names with
// every tensor dequantized to float32 (F32, F16, BF16, Q8_0), and the
// Hugging Face form of the vocabulary. Keys missing from files without
// quarry.* metadata get the defaults of docs/gguf.md. The result is
// validated.
func ReadGGUF(path string) (Config, *Checkpoint, []string, error) {
	gf, err := gguf.Open(path)
	if err != nil {
		return Config{}, nil, nil, err
	}
	cfg, vocab, err := configFromGGUF(gf)
	if err != nil {
		return Config{}, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	f, err := fsx.OpenRegular(path, "GGUF file")
	if err != nil {
		return Config{}, nil, nil, err
	}
	defer f.Close()
	if _, ok := gf.Tensor("blk.0.attn_qkv.weight"); ok {
		return Config{}, nil, nil, fmt.Errorf("%s: fused attn_qkv tensors are not supported", path)
	}
	ck := NewCheckpoint()
	for _, s := range Layout(cfg) {
		if s.Meta {
			data, err := metaFloats(gf, s)
			if err != nil {
				return Config{}, nil, nil, fmt.Errorf("%s: %w", path, err)
			}
			ck.Set(s.Name, s.Shape, data)
			continue
		}
		ti, ok := gf.Tensor(s.GGUFName)
		if !ok {
			if s.GGUFName == "token_types.weight" { // optional, see configFromGGUF
				ck.Set(s.Name, s.Shape, make([]float32, cfg.TypeVocabSize*cfg.Hidden))
				continue
			}
			return Config{}, nil, nil, fmt.Errorf("%s: tensor %s (%s) is missing (want dims %v)", path, s.GGUFName, s.Name, s.GGUFDims())
		}
		if !slices.Equal(ti.Dims, s.GGUFDims()) {
			return Config{}, nil, nil, fmt.Errorf("%s: tensor %s has dims %v, want %v", path, s.GGUFName, ti.Dims, s.GGUFDims())
		}
		data, _, err := gf.ReadFloat32(f, s.GGUFName)
		if err != nil {
			return Config{}, nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		ck.Set(s.Name, s.Shape, data)
	}
	if err := ck.Validate(cfg); err != nil {
		return Config{}, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, ck, vocab, nil
}

// metaFloats reads a weight stored as a float32 metadata array (TensorSpec.Meta).
func metaFloats(gf *gguf.File, s TensorSpec) ([]float32, error) {
	v, ok := gf.Get(s.GGUFName)
	if !ok {
		return nil, fmt.Errorf("metadata key %s (%s) is missing", s.GGUFName, s.Name)
	}
	a, ok := v.Any().([]float64)
	if !ok || v.ArrayType != gguf.TypeFloat32 {
		return nil, fmt.Errorf("metadata key %s (%s) is not an array of float32", s.GGUFName, s.Name)
	}
	want := 1
	for _, d := range s.Shape {
		want *= d
	}
	if len(a) != want {
		return nil, fmt.Errorf("metadata key %s (%s) holds %d values, want %d (shape %v)", s.GGUFName, s.Name, len(a), want, s.Shape)
	}
	out := make([]float32, len(a))
	for i, x := range a {
		out[i] = float32(x)
	}
	return out, nil
}

func configFromGGUF(gf *gguf.File) (Config, []string, error) {
	if a, _ := gf.String("general.architecture"); a != "bert" {
		return Config{}, nil, fmt.Errorf("general.architecture is %q, want \"bert\"", a)
	}
	var cfg Config
	cfg.Name, _ = gf.String("general.name")
	var errs []string
	req := func(key string) int {
		v, ok := gf.Int(key)
		if !ok {
			errs = append(errs, key)
		}
		return int(v)
	}
	cfg.MaxPositions = req("bert.context_length")
	cfg.Hidden = req("bert.embedding_length")
	cfg.Intermediate = req("bert.feed_forward_length")
	cfg.Layers = req("bert.block_count")
	cfg.Heads = req("bert.attention.head_count")
	eps, ok := gf.Float("bert.attention.layer_norm_epsilon")
	if !ok {
		errs = append(errs, "bert.attention.layer_norm_epsilon")
	}
	cfg.LayerNormEps = eps
	toks, ok := gf.Strings("tokenizer.ggml.tokens")
	if !ok {
		errs = append(errs, "tokenizer.ggml.tokens")
	}
	if len(errs) > 0 {
		return Config{}, nil, fmt.Errorf("missing metadata: %s", strings.Join(errs, ", "))
	}
	if causal, _ := gf.Bool("bert.attention.causal"); causal {
		return Config{}, nil, fmt.Errorf("bert.attention.causal is true; BERT attention is bidirectional")
	}
	if m, ok := gf.String("tokenizer.ggml.model"); ok && m != "bert" {
		return Config{}, nil, fmt.Errorf("tokenizer.ggml.model is %q, want \"bert\" (WordPiece)", m)
	}
	vocab := make([]string, len(toks))
	for i, t := range toks {
		vocab[i] = FromGGMLToken(t)
	}
	cfg.VocabSize = len(vocab)
	if n, ok := gf.Int("tokenizer.ggml.token_type_count"); ok {
		cfg.TypeVocabSize = int(n)
	} else if ti, ok := gf.Tensor("token_types.weight"); ok && len(ti.Dims) == 2 {
		cfg.TypeVocabSize = int(ti.Dims[1])
	}
	if cfg.TypeVocabSize == 0 {
		// Type embeddings are optional in llama.cpp; without them every
		// type id adds nothing, which ReadGGUF reproduces with zero rows.
		cfg.TypeVocabSize = 2
	}
	if p, ok := gf.Int("bert.pooling_type"); ok {
		cfg.Pooling = Pooling(p)
	}
	if qp, ok := gf.String("quarry.pooling"); ok {
		if qp != "splade" {
			return Config{}, nil, fmt.Errorf("quarry.pooling %q is not supported (splade)", qp)
		}
		if cfg.Pooling != PoolingNone {
			return Config{}, nil, fmt.Errorf("quarry.pooling is splade but bert.pooling_type is %d, want 0 (none)", int(cfg.Pooling))
		}
		cfg.Pooling = PoolingSplade
		cfg.SparseActivation = SparseReLU
		if a, ok := gf.String("quarry.sparse.activation"); ok {
			cfg.SparseActivation = a
		}
	}
	if cfg.Pooling == PoolingRank {
		if labels, ok := gf.Strings("bert.classifier.output_labels"); ok {
			cfg.Labels = labels
		} else if ti, ok := gf.Tensor("cls.output.weight"); ok && len(ti.Dims) == 2 {
			for i := 0; i < int(ti.Dims[1]); i++ {
				cfg.Labels = append(cfg.Labels, fmt.Sprintf("LABEL_%d", i))
			}
		} else {
			cfg.Labels = []string{"LABEL_0"} // llama.cpp's n_cls_out default
		}
	}

	// Special ids: the keys, else the tokens' names.
	cfg.SpecialIDs(vocab)
	for _, s := range []struct {
		key string
		p   *int
	}{
		{"tokenizer.ggml.cls_token_id", &cfg.CLSID},
		{"tokenizer.ggml.seperator_token_id", &cfg.SEPID},
		{"tokenizer.ggml.padding_token_id", &cfg.PADID},
		{"tokenizer.ggml.unknown_token_id", &cfg.UNKID},
		{"tokenizer.ggml.mask_token_id", &cfg.MaskID},
	} {
		if v, ok := gf.Int(s.key); ok {
			*s.p = int(v)
		}
	}

	// quarry.* keys, with the defaults of docs/gguf.md.
	if b, ok := gf.Bool("quarry.tokenizer.lowercase"); ok {
		cfg.Lowercase = b
	} else {
		cfg.Lowercase = VocabIsUncased(vocab)
	}
	cfg.StripAccents = cfg.Lowercase
	if b, ok := gf.Bool("quarry.tokenizer.strip_accents"); ok {
		cfg.StripAccents = b
	}
	cfg.HandleChineseChars = true
	if b, ok := gf.Bool("quarry.tokenizer.handle_chinese_chars"); ok {
		cfg.HandleChineseChars = b
	}
	cfg.MaxSeqLength = cfg.MaxPositions
	if n, ok := gf.Int("quarry.max_seq_length"); ok {
		cfg.MaxSeqLength = int(n)
	}
	switch cfg.Pooling {
	case PoolingMean, PoolingCLS, PoolingLast:
		cfg.Normalize = true
	}
	if b, ok := gf.Bool("quarry.normalize"); ok {
		cfg.Normalize = b
	}
	cfg.QueryPrompt, _ = gf.String("quarry.prompt.query")
	cfg.DocumentPrompt, _ = gf.String("quarry.prompt.document")
	cfg.Similarity, _ = gf.String("quarry.similarity")
	for _, kv := range gf.KV {
		if k, ok := strings.CutPrefix(kv.Key, "quarry.source."); ok {
			if s, ok := kv.Value.Any().(string); ok {
				if cfg.Source == nil {
					cfg.Source = map[string]string{}
				}
				cfg.Source[k] = s
			}
		}
	}
	return cfg, vocab, cfg.Validate()
}
