package bert

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/gguf"
)

// config32 is valid for Q8_0 (every row length a multiple of 32).
func config32() Config {
	c := testConfig()
	c.Hidden, c.Intermediate, c.Heads = 32, 64, 4
	return c
}

func rankConfig(c Config, labels int) Config {
	c.Pooling, c.Normalize, c.Similarity = PoolingRank, false, ""
	c.Labels = nil
	for i := 0; i < labels; i++ {
		c.Labels = append(c.Labels, fmt.Sprintf("LABEL_%d", i))
	}
	return c
}

func testVocab(n int) []string {
	v := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused0]", "##ing", "hello", "ℝ", "##"}
	for i := len(v); i < n; i++ {
		v = append(v, fmt.Sprintf("w%d", i))
	}
	return v[:n]
}

func TestGGUFRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		cfg  Config
		typ  gguf.TensorType
	}{
		{"mean-f32", config32(), gguf.F32},
		{"mean-f16", config32(), gguf.F16},
		{"mean-q8_0", config32(), gguf.Q8_0},
		{"rank3-q8_0", rankConfig(config32(), 3), gguf.Q8_0},
		{"rank1-f16", rankConfig(config32(), 1), gguf.F16},
		{"h8-q8_0-fallback", testConfig(), gguf.Q8_0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.QueryPrompt, cfg.DocumentPrompt = "query: ", "passage: "
			cfg.Source = map[string]string{"repo": "org/model", "revision": "abc123"}
			ck := randomCheckpoint(cfg, 11)
			vocab := testVocab(cfg.VocabSize)
			path := filepath.Join(dir, tc.name+".gguf")
			if err := WriteGGUF(path, cfg, ck, vocab, WriteOptions{Type: tc.typ}); err != nil {
				t.Fatal(err)
			}
			cfg2, ck2, vocab2, err := ReadGGUF(path)
			if err != nil {
				t.Fatal(err)
			}
			want := cfg
			want.LayerNormEps = float64(float32(cfg.LayerNormEps))
			if !reflect.DeepEqual(cfg2, want) {
				t.Errorf("config changed:\n got %+v\nwant %+v", cfg2, want)
			}
			if !slices.Equal(vocab, vocab2) {
				t.Error("vocabulary changed")
			}
			gf, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range Layout(cfg) {
				ti, ok := gf.Tensor(s.GGUFName)
				if !ok {
					t.Fatalf("%s not in file", s.GGUFName)
				}
				wantType := gguf.F32
				if s.Matrix {
					wantType = tc.typ
					if wantType == gguf.Q8_0 && s.GGUFDims()[0]%32 != 0 {
						wantType = gguf.F16
					}
				}
				if ti.Type != wantType || !slices.Equal(ti.Dims, s.GGUFDims()) {
					t.Errorf("%s: %s %v, want %s %v", s.GGUFName, ti.Type, ti.Dims, wantType, s.GGUFDims())
				}
				orig, _ := ck.Get(s.Name)
				back, _ := ck2.Get(s.Name)
				if !slices.Equal(orig.Shape, back.Shape) {
					t.Fatalf("%s shape %v → %v", s.Name, orig.Shape, back.Shape)
				}
				var expect []float32
				switch wantType {
				case gguf.F32:
					expect = orig.Data
				case gguf.F16:
					expect = make([]float32, len(orig.Data))
					for i, v := range orig.Data {
						expect[i] = gguf.F16ToF32(gguf.F32ToF16(v))
						if d := math.Abs(float64(expect[i] - v)); d > math.Abs(float64(v))/2048 {
							t.Fatalf("f16 rounding of %g is %g", v, expect[i])
						}
					}
				case gguf.Q8_0:
					q, err := QuantizeQ8_0(orig.Data, len(orig.Data)/s.Shape[len(s.Shape)-1], s.Shape[len(s.Shape)-1])
					if err != nil {
						t.Fatal(err)
					}
					if expect, err = gguf.Dequantize(gguf.Q8_0, q, int64(len(orig.Data))); err != nil {
						t.Fatal(err)
					}
				}
				if !slices.Equal(back.Data, expect) {
					t.Errorf("%s (%s): data differs after the round trip", s.Name, wantType)
				}
			}
		})
	}
}

// The metadata of docs/gguf.md, with the value types llama.cpp reads.
func TestGGUFMetadata(t *testing.T) {
	cfg := rankConfig(config32(), 2)
	cfg.Name = "test-reranker"
	cfg.MaxSeqLength = 0 // written as max positions
	cfg.Source = map[string]string{"repo": "org/x"}
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := WriteGGUF(path, cfg, randomCheckpoint(cfg, 1), testVocab(cfg.VocabSize), WriteOptions{Type: gguf.Q8_0}); err != nil {
		t.Fatal(err)
	}
	gf, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{
		"general.architecture":                  "bert",
		"general.name":                          "test-reranker",
		"general.file_type":                     uint64(7),
		"bert.context_length":                   uint64(16),
		"bert.embedding_length":                 uint64(32),
		"bert.feed_forward_length":              uint64(64),
		"bert.block_count":                      uint64(2),
		"bert.attention.head_count":             uint64(4),
		"bert.attention.layer_norm_epsilon":     float64(float32(1e-12)),
		"bert.attention.causal":                 false,
		"bert.pooling_type":                     uint64(4),
		"bert.classifier.output_labels":         []string{"LABEL_0", "LABEL_1"},
		"tokenizer.ggml.model":                  "bert",
		"tokenizer.ggml.token_type_count":       uint64(2),
		"tokenizer.ggml.cls_token_id":           uint64(2),
		"tokenizer.ggml.seperator_token_id":     uint64(3),
		"tokenizer.ggml.padding_token_id":       uint64(0),
		"tokenizer.ggml.unknown_token_id":       uint64(1),
		"tokenizer.ggml.mask_token_id":          uint64(4),
		"quarry.tokenizer.lowercase":            true,
		"quarry.tokenizer.strip_accents":        true,
		"quarry.tokenizer.handle_chinese_chars": true,
		"quarry.max_seq_length":                 uint64(16),
		"quarry.normalize":                      false,
		"quarry.source.repo":                    "org/x",
	} {
		v, ok := gf.Get(key)
		if !ok {
			t.Errorf("%s missing", key)
			continue
		}
		if !reflect.DeepEqual(v.Any(), want) {
			t.Errorf("%s = %#v, want %#v", key, v.Any(), want)
		}
		wantType := map[string]gguf.ValueType{
			"string": gguf.TypeString, "uint64": gguf.TypeUint32, "float64": gguf.TypeFloat32,
			"bool": gguf.TypeBool, "[]string": gguf.TypeArray,
		}[fmt.Sprintf("%T", want)]
		if v.Type != wantType {
			t.Errorf("%s has type %s, want %s", key, v.Type, wantType)
		}
	}
	for _, key := range []string{"quarry.prompt.query", "quarry.prompt.document", "quarry.similarity"} {
		if _, ok := gf.Get(key); ok {
			t.Errorf("%s written although empty", key)
		}
	}
	toks, _ := gf.Strings("tokenizer.ggml.tokens")
	if toks[2] != "[CLS]" || toks[6] != "ing" || toks[7] != "▁hello" || toks[9] != "" {
		t.Errorf("tokens in llama.cpp form: %q", toks[:10])
	}
	tt, _ := gf.Get("tokenizer.ggml.token_type")
	if tt.ArrayType != gguf.TypeInt32 {
		t.Errorf("token_type is an array of %s, want i32", tt.ArrayType)
	}
	types, _ := gf.Ints("tokenizer.ggml.token_type")
	if !slices.Equal(types[:7], []int64{3, 3, 3, 3, 3, 1, 1}) {
		t.Errorf("token types %v: specials 3, [unused0] and words 1", types[:7])
	}
}

// A Quantize callback replaces the built-in quantizer for every Q8_0 matrix.
func TestWriteQuantizeCallback(t *testing.T) {
	cfg := config32()
	ck := randomCheckpoint(cfg, 2)
	var calls []string
	q := func(data []float32, rows, cols int) ([]byte, error) {
		calls = append(calls, fmt.Sprintf("%dx%d", rows, cols))
		return QuantizeQ8_0(data, rows, cols)
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.gguf"), filepath.Join(dir, "b.gguf")
	if err := WriteGGUF(a, cfg, ck, testVocab(cfg.VocabSize), WriteOptions{Type: gguf.Q8_0, Quantize: q}); err != nil {
		t.Fatal(err)
	}
	if err := WriteGGUF(b, cfg, ck, testVocab(cfg.VocabSize), WriteOptions{Type: gguf.Q8_0}); err != nil {
		t.Fatal(err)
	}
	// token_embd 64x32, position_embd 16x32, per layer q,k,v,o 32x32, up 64x32, down 32x64.
	want := []string{"64x32", "16x32"}
	for i := 0; i < cfg.Layers; i++ {
		want = append(want, "32x32", "32x32", "32x32", "32x32", "64x32", "32x64")
	}
	if !slices.Equal(calls, want) {
		t.Errorf("Quantize calls %v, want %v", calls, want)
	}
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if !slices.Equal(da, db) {
		t.Error("callback output differs from the built-in quantizer's file")
	}
	failing := func([]float32, int, int) ([]byte, error) { return nil, fmt.Errorf("boom") }
	err := WriteGGUF(filepath.Join(dir, "c.gguf"), cfg, ck, testVocab(cfg.VocabSize), WriteOptions{Type: gguf.Q8_0, Quantize: failing})
	if err == nil || !strings.Contains(err.Error(), "token_embd.weight") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("failing quantizer: %v", err)
	}
	short := func([]float32, int, int) ([]byte, error) { return make([]byte, 3), nil }
	if err := WriteGGUF(filepath.Join(dir, "d.gguf"), cfg, ck, testVocab(cfg.VocabSize), WriteOptions{Type: gguf.Q8_0, Quantize: short}); err == nil {
		t.Error("quantizer returning the wrong size accepted")
	}
}

func TestWriteErrors(t *testing.T) {
	cfg := testConfig()
	ck := randomCheckpoint(cfg, 1)
	dir := t.TempDir()
	if err := WriteGGUF(filepath.Join(dir, "a"), cfg, ck, testVocab(10), WriteOptions{}); err == nil || !strings.Contains(err.Error(), "vocabulary has 10 tokens, config says 64") {
		t.Errorf("short vocab: %v", err)
	}
	if err := WriteGGUF(filepath.Join(dir, "b"), cfg, ck, testVocab(64), WriteOptions{Type: gguf.Q4_0}); err == nil || !strings.Contains(err.Error(), "Q4_0 is not supported") {
		t.Errorf("q4_0: %v", err)
	}
	delete(ck.Tensors, "encoder.layer.0.output.dense.bias")
	if err := WriteGGUF(filepath.Join(dir, "c"), cfg, ck, testVocab(64), WriteOptions{}); err == nil || !strings.Contains(err.Error(), "encoder.layer.0.output.dense.bias is missing") {
		t.Errorf("missing tensor: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "c")); err == nil {
		t.Error("file written despite the error")
	}
}

// A file as llama.cpp's converter writes it: no quarry.* keys. ReadGGUF
// fills in the defaults of docs/gguf.md.
func TestReadLlamaCppStyle(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		vocab  func([]string) []string
		drop   []string
		expect func(*Config)
	}{
		{"uncased mean", testConfig(), nil, nil, func(c *Config) {
			c.MaxSeqLength = c.MaxPositions
			c.Similarity = ""
		}},
		{"cased cls", func() Config { c := testConfig(); c.Pooling = PoolingCLS; return c }(),
			func(v []string) []string { v[20] = "Hello"; return v }, nil, func(c *Config) {
				c.Lowercase, c.StripAccents = false, false
				c.MaxSeqLength = c.MaxPositions
				c.Similarity = ""
			}},
		{"rank no labels key", rankConfig(testConfig(), 2), nil, []string{"bert.classifier.output_labels"}, func(c *Config) {
			c.MaxSeqLength = c.MaxPositions
		}},
		{"no special id keys, no pooling", testConfig(), nil,
			[]string{"tokenizer.ggml.cls_token_id", "tokenizer.ggml.seperator_token_id", "tokenizer.ggml.padding_token_id",
				"tokenizer.ggml.unknown_token_id", "tokenizer.ggml.mask_token_id", "bert.pooling_type"},
			func(c *Config) {
				c.MaxSeqLength = c.MaxPositions
				c.Similarity = ""
				c.Pooling, c.Normalize = PoolingNone, false
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			vocab := testVocab(cfg.VocabSize)
			if tc.vocab != nil {
				vocab = tc.vocab(vocab)
			}
			ck := randomCheckpoint(cfg, 5)
			full, err := BuildGGUF(cfg, ck, vocab, WriteOptions{Type: gguf.F16})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			src := filepath.Join(dir, "full.gguf")
			if err := full.WriteFile(src); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "llama.gguf")
			copyWithout(t, src, path, func(k string) bool {
				return strings.HasPrefix(k, "quarry.") || slices.Contains(tc.drop, k)
			})
			got, ck2, _, err := ReadGGUF(path)
			if err != nil {
				t.Fatal(err)
			}
			want := cfg
			want.LayerNormEps = float64(float32(cfg.LayerNormEps))
			want.Source = nil
			tc.expect(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("config:\n got %+v\nwant %+v", got, want)
			}
			if len(ck2.Tensors) != len(Layout(want)) {
				t.Errorf("%d tensors read", len(ck2.Tensors))
			}
		})
	}
}

// copyWithout copies a GGUF file, leaving out the metadata keys drop selects.
func copyWithout(t *testing.T, src, dst string, drop func(string) bool) {
	t.Helper()
	gf, err := gguf.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := gguf.NewWriter()
	for _, kv := range gf.KV {
		if !drop(kv.Key) {
			w.SetValue(kv.Key, kv.Value)
		}
	}
	for _, ti := range gf.Tensors {
		b, _, err := gf.ReadTensor(f, ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddTensor(ti.Name, ti.Type, ti.Dims, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteFile(dst); err != nil {
		t.Fatal(err)
	}
}

func TestReadGGUFErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	full, err := BuildGGUF(cfg, randomCheckpoint(cfg, 1), testVocab(64), WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "full.gguf")
	if err := full.WriteFile(src); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		drop string
		want string
	}{
		{"general.architecture", `general.architecture is "", want "bert"`},
		{"bert.block_count", "missing metadata: bert.block_count"},
		{"tokenizer.ggml.tokens", "missing metadata: tokenizer.ggml.tokens"},
	} {
		p := filepath.Join(dir, tc.drop)
		copyWithout(t, src, p, func(k string) bool { return k == tc.drop })
		if _, _, _, err := ReadGGUF(p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("without %s: %v", tc.drop, err)
		}
	}
	// A missing tensor is named.
	gf, _ := gguf.Open(src)
	f, _ := os.Open(src)
	defer f.Close()
	w := gguf.NewWriter()
	for _, kv := range gf.KV {
		w.SetValue(kv.Key, kv.Value)
	}
	for _, ti := range gf.Tensors {
		if ti.Name == "blk.1.ffn_down.bias" {
			continue
		}
		b, _, _ := gf.ReadTensor(f, ti.Name)
		if err := w.AddTensor(ti.Name, ti.Type, ti.Dims, b); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "missing.gguf")
	if err := w.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := ReadGGUF(p); err == nil || !strings.Contains(err.Error(), "blk.1.ffn_down.bias (encoder.layer.1.output.dense.bias) is missing") {
		t.Errorf("missing tensor: %v", err)
	}
	if _, _, _, err := ReadGGUF(filepath.Join(dir, "nope.gguf")); err == nil {
		t.Error("missing file accepted")
	}
}

// llama.cpp treats token_types.weight as optional; ReadGGUF then uses zero
// rows (type ids add nothing).
func TestReadWithoutTokenTypes(t *testing.T) {
	cfg := testConfig()
	ck := randomCheckpoint(cfg, 8)
	full, err := BuildGGUF(cfg, ck, testVocab(cfg.VocabSize), WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "full.gguf")
	if err := full.WriteFile(src); err != nil {
		t.Fatal(err)
	}
	gf, _ := gguf.Open(src)
	f, _ := os.Open(src)
	defer f.Close()
	w := gguf.NewWriter()
	for _, kv := range gf.KV {
		if kv.Key != "tokenizer.ggml.token_type_count" {
			w.SetValue(kv.Key, kv.Value)
		}
	}
	for _, ti := range gf.Tensors {
		if ti.Name == "token_types.weight" {
			continue
		}
		b, _, _ := gf.ReadTensor(f, ti.Name)
		if err := w.AddTensor(ti.Name, ti.Type, ti.Dims, b); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "notypes.gguf")
	if err := w.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	gf2, err := gguf.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if c, _, err := ConfigFromGGUF(gf2); err != nil || c.TypeVocabSize != 2 {
		t.Fatalf("ConfigFromGGUF: type vocab %d, %v", c.TypeVocabSize, err)
	}
	cfg2, ck2, _, err := ReadGGUF(p)
	if err != nil {
		t.Fatal(err)
	}
	tt, _ := ck2.Get("embeddings.token_type_embeddings.weight")
	if cfg2.TypeVocabSize != 2 || !slices.Equal(tt.Shape, []int{2, cfg.Hidden}) || slices.ContainsFunc(tt.Data, func(v float32) bool { return v != 0 }) {
		t.Errorf("token types without the tensor: %d rows, %v", cfg2.TypeVocabSize, tt.Shape)
	}
}
