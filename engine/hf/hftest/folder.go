package hftest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/quarry-search/quarry/engine/bert"
	"github.com/quarry-search/quarry/engine/modelgen"
)

// LayoutDir is testdata/hf/all-MiniLM-L6-v2-layout under the module root.
func LayoutDir() (string, error) {
	root, err := modelgen.ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "testdata", "hf", "all-MiniLM-L6-v2-layout"), nil
}

// Folder describes a generated Hugging Face folder.
type Folder struct {
	// Kind is "mean" or "cls" (sentence-transformers bi-encoders, the
	// all-MiniLM-L6-v2 layout with its pooling changed), "plain" (a
	// transformers BertModel folder without sentence-transformers files),
	// "rank" (a BertForSequenceClassification cross-encoder folder),
	// "splade" (a sentence-transformers 5 SparseEncoder: MLMTransformer +
	// SpladePooling over a BertForMaskedLM), "splade6" (sentence-transformers
	// 6's layout of the same: Transformer with transformer_task fill-mask)
	// or "mlm" (a plain BertForMaskedLM folder).
	Kind string
	// SparseActivation is the SpladePooling activation_function of the
	// splade kinds ("" = relu).
	SparseActivation string
	// TiedCopies stores the tied MLM decoder parameters too
	// (cls.predictions.decoder.weight and .bias, as torch.save of a
	// state_dict does); UntieDecoder makes the stored decoder weight differ
	// from the word embeddings.
	TiedCopies, UntieDecoder bool
	Labels                   int // rank: number of outputs (0 means 1)
	// Format is "safetensors" (default), "sharded" (3 shards and an index)
	// or "pytorch" (pytorch_model.bin).
	Format string
	DType  string // F32 (default), F16 or BF16
	Seed   uint64
	// Torch shapes a pytorch_model.bin (its DType is the folder's).
	Torch TorchOptions
	// EditConfig, when set, edits config.json after the tiny shape is set.
	EditConfig func(map[string]any)
	// Hidden, Layers, Heads and Intermediate override the tiny shape
	// (0 keeps it); MiniLM's is 384, 6, 12, 1536.
	Hidden, Layers, Heads, Intermediate int
}

// Built is what a folder holds, as a correct reader returns it.
type Built struct {
	Dir        string
	Config     bert.Config      // the model description (Source not set)
	Checkpoint *bert.Checkpoint // the weights as read back (rounded to DType)
	Vocab      []string
	Stored     []Tensor // the tensors as written (names as stored)
}

// Tiny shape of the generated folders.
const (
	TinyHidden       = 32
	TinyLayers       = 2
	TinyHeads        = 2
	TinyIntermediate = 64
)

// Write builds the folder in dir (which must exist and is filled).
func (f Folder) Write(dir string) (*Built, error) {
	layout, err := LayoutDir()
	if err != nil {
		return nil, err
	}
	if f.DType == "" {
		f.DType = "F32"
	}
	if f.Format == "" {
		f.Format = "safetensors"
	}
	kind := f.Kind
	files := []string{"config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"}
	switch kind {
	case "mean", "cls":
		files = append(files, "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json", "1_Pooling/config.json")
	case "plain":
		kind = "mean"
	case "rank":
	case "splade", "splade6", "mlm":
		kind = "splade"
	default:
		return nil, fmt.Errorf("hftest: kind %q (want mean, cls, plain, rank, splade, splade6 or mlm)", f.Kind)
	}
	for _, name := range files {
		b, err := os.ReadFile(filepath.Join(layout, name))
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return nil, err
		}
	}

	// The model description the folder stands for.
	cfg := modelgen.Tiny()
	cfg.Hidden, cfg.Layers, cfg.Heads, cfg.Intermediate = TinyHidden, TinyLayers, TinyHeads, TinyIntermediate
	for _, o := range []struct {
		dst *int
		v   int
	}{{&cfg.Hidden, f.Hidden}, {&cfg.Layers, f.Layers}, {&cfg.Heads, f.Heads}, {&cfg.Intermediate, f.Intermediate}} {
		if o.v > 0 {
			*o.dst = o.v
		}
	}
	cfg.MaxPositions, cfg.MaxSeqLength = 512, 256 // all-MiniLM-L6-v2's
	cfg, err = modelgen.WithKind(cfg, kind, f.Labels)
	if err != nil {
		return nil, err
	}
	cfg.Name, cfg.Source = "", nil
	if f.Kind == "rank" || f.Kind == "plain" || kind == "splade" {
		cfg.MaxSeqLength = 512 // tokenizer_config.json model_max_length
	}
	if kind == "splade" && f.SparseActivation != "" {
		cfg.SparseActivation = f.SparseActivation
	}
	if f.Kind == "rank" {
		cfg.Similarity = ""
	}

	// config.json: the tiny shape, and the cross-encoder head.
	var conf map[string]any
	if err := editJSON(filepath.Join(dir, "config.json"), &conf, func() {
		conf["hidden_size"] = cfg.Hidden
		conf["num_hidden_layers"] = cfg.Layers
		conf["num_attention_heads"] = cfg.Heads
		conf["intermediate_size"] = cfg.Intermediate
		if kind == "splade" {
			conf["architectures"] = []string{"BertForMaskedLM"}
			conf["tie_word_embeddings"] = true
		}
		if f.Kind == "rank" {
			conf["architectures"] = []string{"BertForSequenceClassification"}
			id2label, label2id := map[string]string{}, map[string]int{}
			for i, l := range cfg.Labels {
				id2label[fmt.Sprint(i)] = l
				label2id[l] = i
			}
			conf["id2label"], conf["label2id"] = id2label, label2id
		}
		if f.EditConfig != nil {
			f.EditConfig(conf)
		}
	}); err != nil {
		return nil, err
	}
	if f.Kind == "mean" || f.Kind == "cls" {
		var pool map[string]any
		if err := editJSON(filepath.Join(dir, "1_Pooling", "config.json"), &pool, func() {
			pool["word_embedding_dimension"] = cfg.Hidden
			pool["pooling_mode_mean_tokens"] = f.Kind == "mean"
			pool["pooling_mode_cls_token"] = f.Kind == "cls"
		}); err != nil {
			return nil, err
		}
	}

	if err := f.writeSplade(dir, cfg); err != nil {
		return nil, err
	}

	// Weights under the names transformers stores: BertModel's plain names
	// (with the unused pooler and the position_ids buffer), or
	// BertForSequenceClassification's "bert." prefix.
	gen := cfg
	if f.Kind != "rank" && kind != "splade" {
		// Generate the pooler too: bi-encoder checkpoints carry it unused.
		gen.Pooling, gen.Labels, gen.Normalize = bert.PoolingRank, []string{"LABEL_0"}, false
	}
	ck := modelgen.Random(gen, f.Seed)
	var stored []Tensor
	for _, s := range bert.Layout(gen) {
		t, _ := ck.Get(s.Name)
		name := s.Name
		switch {
		case kind == "splade" && !strings.HasPrefix(name, "cls."):
			name = "bert." + name // BertForMaskedLM
		case f.Kind == "rank" && !strings.HasPrefix(name, "classifier."):
			name = "bert." + name
		case f.Kind != "rank" && strings.HasPrefix(name, "classifier."):
			continue
		}
		stored = append(stored, Tensor{Name: name, Shape: t.Shape, Data: t.Data})
	}
	if kind == "splade" && (f.TiedCopies || f.UntieDecoder) {
		we, _ := ck.Get("embeddings.word_embeddings.weight")
		dec := we.Data
		if f.UntieDecoder {
			dec = append([]float32(nil), dec...)
			dec[7] += 0.25
		}
		b, _ := ck.Get("cls.predictions.bias")
		stored = append(stored, Tensor{Name: "cls.predictions.decoder.weight", Shape: we.Shape, Data: dec},
			Tensor{Name: "cls.predictions.decoder.bias", Shape: b.Shape, Data: b.Data})
	}
	pos := make([]int64, cfg.MaxPositions)
	for i := range pos {
		pos[i] = int64(i)
	}
	posName := "embeddings.position_ids"
	if f.Kind == "rank" || kind == "splade" {
		posName = "bert." + posName
	}
	stored = append(stored, Tensor{Name: posName, Shape: []int{1, cfg.MaxPositions}, Ints: pos})

	switch f.Format {
	case "safetensors":
		err = WriteSafetensors(filepath.Join(dir, "model.safetensors"), stored, f.DType, map[string]string{"format": "pt"})
	case "sharded":
		err = WriteSharded(dir, stored, f.DType, 3)
	case "pytorch":
		o := f.Torch
		o.DType = f.DType
		err = WriteTorch(filepath.Join(dir, "pytorch_model.bin"), stored, o)
	default:
		err = fmt.Errorf("hftest: format %q (want safetensors, sharded or pytorch)", f.Format)
	}
	if err != nil {
		return nil, err
	}

	want := bert.NewCheckpoint()
	for _, s := range bert.Layout(cfg) {
		t, _ := ck.Get(s.Name)
		want.Set(s.Name, t.Shape, Round(f.DType, t.Data))
	}
	vocab, err := bert.ReadVocabFile(filepath.Join(dir, "vocab.txt"))
	if err != nil {
		return nil, err
	}
	return &Built{Dir: dir, Config: cfg, Checkpoint: want, Vocab: vocab, Stored: stored}, nil
}

// writeSplade writes the sentence-transformers files of the splade kinds as
// sentence-transformers 5.x (MLMTransformer) and 6.x (Transformer with
// transformer_task fill-mask) save a SparseEncoder.
func (f Folder) writeSplade(dir string, cfg bert.Config) error {
	if f.Kind != "splade" && f.Kind != "splade6" {
		return nil
	}
	act := f.SparseActivation
	if act == "" {
		act = bert.SparseReLU
	}
	type module struct {
		Idx  int    `json:"idx"`
		Name string `json:"name"`
		Path string `json:"path"`
		Type string `json:"type"`
	}
	mods := []module{
		{0, "0", "", "sentence_transformers.sparse_encoder.models.MLMTransformer"},
		{1, "1", "1_SpladePooling", "sentence_transformers.sparse_encoder.models.SpladePooling"},
	}
	stcfg := map[string]any{"max_seq_length": cfg.MaxSeqLength, "do_lower_case": false}
	pool := map[string]any{"pooling_strategy": "max", "activation_function": act, "word_embedding_dimension": cfg.VocabSize}
	version := "5.0.0"
	if f.Kind == "splade6" {
		mods[0].Type = "sentence_transformers.base.modules.transformer.Transformer"
		mods[1].Type = "sentence_transformers.sparse_encoder.modules.splade_pooling.SpladePooling"
		stcfg = map[string]any{"transformer_task": "fill-mask",
			"modality_config":    map[string]any{"text": map[string]any{"method": "forward", "method_output_name": "logits"}},
			"module_output_name": "token_embeddings"}
		pool = map[string]any{"pooling_strategy": "max", "activation_function": act, "embedding_dimension": nil}
		version = "6.2.0"
	}
	files := map[string]any{
		"modules.json":                      mods,
		"sentence_bert_config.json":         stcfg,
		"1_SpladePooling/config.json":       pool,
		"config_sentence_transformers.json": map[string]any{"__version__": map[string]string{"sentence_transformers": version}, "model_type": "SparseEncoder", "prompts": map[string]string{"query": "", "document": ""}, "default_prompt_name": nil, "similarity_fn_name": "dot"},
	}
	for name, v := range files {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// editJSON reads a JSON object, lets edit change it and writes it back.
func editJSON(path string, v *map[string]any, edit func()) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	edit()
	out, err := json.MarshalIndent(*v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(out, '\n'), 0o644)
}

// EditJSON edits the JSON object in path (for tests that break a file).
func EditJSON(path string, edit func(map[string]any)) error {
	var m map[string]any
	return editJSON(path, &m, func() { edit(m) })
}
