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
	// transformers BertModel folder without sentence-transformers files) or
	// "rank" (a BertForSequenceClassification cross-encoder folder).
	Kind   string
	Labels int // rank: number of outputs (0 means 1)
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
	default:
		return nil, fmt.Errorf("hftest: kind %q (want mean, cls, plain or rank)", f.Kind)
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
	if f.Kind == "rank" || f.Kind == "plain" {
		cfg.MaxSeqLength = 512 // tokenizer_config.json model_max_length
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

	// Weights under the names transformers stores: BertModel's plain names
	// (with the unused pooler and the position_ids buffer), or
	// BertForSequenceClassification's "bert." prefix.
	gen := cfg
	if f.Kind != "rank" {
		// Generate the pooler too: bi-encoder checkpoints carry it unused.
		gen.Pooling, gen.Labels, gen.Normalize = bert.PoolingRank, []string{"LABEL_0"}, false
	}
	ck := modelgen.Random(gen, f.Seed)
	var stored []Tensor
	for _, s := range bert.Layout(gen) {
		t, _ := ck.Get(s.Name)
		name := s.Name
		switch {
		case f.Kind == "rank" && !strings.HasPrefix(name, "classifier."):
			name = "bert." + name
		case f.Kind != "rank" && strings.HasPrefix(name, "classifier."):
			continue
		}
		stored = append(stored, Tensor{Name: name, Shape: t.Shape, Data: t.Data})
	}
	pos := make([]int64, cfg.MaxPositions)
	for i := range pos {
		pos[i] = int64(i)
	}
	posName := "embeddings.position_ids"
	if f.Kind == "rank" {
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
