package bert

import (
	"fmt"
	"slices"

	"github.com/quarry-search/quarry/engine/gguf"
)

// WriteOptions control WriteGGUF.
type WriteOptions struct {
	// Type is the storage type of the 2-D matrices: gguf.F32 (the zero
	// value), gguf.F16 or gguf.Q8_0. 1-D tensors and token_types.weight are
	// always F32.
	Type gguf.TensorType

	// Quantize, when Type is Q8_0, converts rows×cols float32 values
	// (row-major, cols = ggml row length) to Q8_0 blocks; the native core
	// passes ggml's own quantizer here. Nil means QuantizeQ8_0, the pure-Go
	// bit-exact copy of ggml's reference quantizer.
	Quantize func(data []float32, rows, cols int) ([]byte, error)
}

// fileType is general.file_type for a model type (llama_ftype numbering).
func fileType(t gguf.TensorType) (uint32, error) {
	switch t {
	case gguf.F32:
		return 0, nil
	case gguf.F16:
		return 1, nil
	case gguf.Q8_0:
		return 7, nil
	}
	return 0, fmt.Errorf("model type %s is not supported (F32, F16 or Q8_0)", t)
}

// WriteGGUF writes a BERT model to path in the layout of docs/gguf.md, which
// llama.cpp's BERT loader also reads. vocab is the Hugging Face vocabulary
// (vocab.txt order, "##" continuations); it is stored in llama.cpp's form.
// The checkpoint is validated first. The file is written atomically.
func WriteGGUF(path string, cfg Config, ck *Checkpoint, vocab []string, opts WriteOptions) error {
	w, err := BuildGGUF(cfg, ck, vocab, opts)
	if err != nil {
		return err
	}
	if err := w.WriteFile(path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// BuildGGUF is WriteGGUF without the file: it returns the filled writer.
func BuildGGUF(cfg Config, ck *Checkpoint, vocab []string, opts WriteOptions) (*gguf.Writer, error) {
	ft, err := fileType(opts.Type)
	if err != nil {
		return nil, err
	}
	if err := ck.Validate(cfg); err != nil {
		return nil, err
	}
	if len(vocab) != cfg.VocabSize {
		return nil, fmt.Errorf("vocabulary has %d tokens, config says %d", len(vocab), cfg.VocabSize)
	}
	ts, err := ck.normalized()
	if err != nil {
		return nil, err
	}

	w := gguf.NewWriter()
	name := cfg.Name
	if name == "" {
		name = "bert"
	}
	w.SetString("general.architecture", "bert")
	w.SetString("general.name", name)
	w.SetUint32("bert.context_length", uint32(cfg.MaxPositions))
	w.SetUint32("bert.embedding_length", uint32(cfg.Hidden))
	w.SetUint32("bert.feed_forward_length", uint32(cfg.Intermediate))
	w.SetUint32("bert.block_count", uint32(cfg.Layers))
	w.SetUint32("bert.attention.head_count", uint32(cfg.Heads))
	w.SetFloat32("bert.attention.layer_norm_epsilon", float32(cfg.LayerNormEps))
	w.SetUint32("general.file_type", ft)
	w.SetBool("bert.attention.causal", false)
	if cfg.Sparse() {
		// llama.cpp has no SPLADE pooling: to it the file is a BERT with
		// per-token outputs; quarry reads quarry.pooling.
		w.SetUint32("bert.pooling_type", uint32(PoolingNone))
		w.SetString("quarry.pooling", "splade")
		act := cfg.SparseActivation
		if act == "" {
			act = SparseReLU
		}
		w.SetString("quarry.sparse.activation", act)
	} else {
		w.SetUint32("bert.pooling_type", uint32(cfg.Pooling))
	}
	if cfg.CrossEncoder() {
		w.SetStrings("bert.classifier.output_labels", cfg.Labels)
	}

	toks := make([]string, len(vocab))
	types := make([]int32, len(vocab))
	special := cfg.specialSet()
	for i, t := range vocab {
		toks[i] = ToGGMLToken(t)
		types[i] = 1 // LLAMA_TOKEN_TYPE_NORMAL
		if special[i] {
			types[i] = 3 // LLAMA_TOKEN_TYPE_CONTROL
		}
	}
	w.SetUint32("tokenizer.ggml.token_type_count", uint32(cfg.TypeVocabSize))
	w.SetString("tokenizer.ggml.model", "bert")
	w.SetStrings("tokenizer.ggml.tokens", toks)
	w.SetInt32s("tokenizer.ggml.token_type", types)
	for _, s := range []struct {
		key string
		id  int
	}{
		{"tokenizer.ggml.unknown_token_id", cfg.UNKID},
		{"tokenizer.ggml.seperator_token_id", cfg.SEPID},
		{"tokenizer.ggml.padding_token_id", cfg.PADID},
		{"tokenizer.ggml.cls_token_id", cfg.CLSID},
		{"tokenizer.ggml.mask_token_id", cfg.MaskID},
	} {
		if s.id >= 0 {
			w.SetUint32(s.key, uint32(s.id))
		}
	}

	w.SetBool("quarry.tokenizer.lowercase", cfg.Lowercase)
	w.SetBool("quarry.tokenizer.strip_accents", cfg.StripAccents)
	w.SetBool("quarry.tokenizer.handle_chinese_chars", cfg.HandleChineseChars)
	w.SetUint32("quarry.max_seq_length", uint32(cfg.SeqLength()))
	w.SetBool("quarry.normalize", cfg.Normalize)
	if cfg.QueryPrompt != "" {
		w.SetString("quarry.prompt.query", cfg.QueryPrompt)
	}
	if cfg.DocumentPrompt != "" {
		w.SetString("quarry.prompt.document", cfg.DocumentPrompt)
	}
	if cfg.Similarity != "" {
		w.SetString("quarry.similarity", cfg.Similarity)
	}
	keys := make([]string, 0, len(cfg.Source))
	for k := range cfg.Source {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		w.SetString("quarry.source."+k, cfg.Source[k])
	}

	for _, s := range Layout(cfg) {
		t := ts[s.Name]
		if s.Meta {
			w.SetFloat32s(s.GGUFName, t.Data)
			continue
		}
		dims := s.GGUFDims()
		typ := gguf.F32
		if s.Matrix {
			typ = opts.Type
			// Q8_0 needs rows that are whole blocks; others fall back to
			// F16 as llama.cpp's quantizer does.
			if typ == gguf.Q8_0 && dims[0]%q8Block != 0 {
				typ = gguf.F16
			}
		}
		switch typ {
		case gguf.F32:
			err = w.AddFloat32(s.GGUFName, dims, t.Data)
		case gguf.F16:
			err = w.AddFloat16(s.GGUFName, dims, t.Data)
		case gguf.Q8_0:
			rows, cols := len(t.Data)/int(dims[0]), int(dims[0])
			q := opts.Quantize
			if q == nil {
				q = QuantizeQ8_0
			}
			var b []byte
			if b, err = q(t.Data, rows, cols); err == nil {
				err = w.AddTensor(s.GGUFName, gguf.Q8_0, dims, b)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("tensor %s (%s): %w", s.GGUFName, s.Name, err)
		}
	}
	return w, nil
}
