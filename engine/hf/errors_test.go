package hf_test

import (
	"archive/zip"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/hf"
	"github.com/quarry-search/quarry/engine/hf/hftest"
)

func writeFile(t *testing.T, path string, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func editJSON(t *testing.T, path string, edit func(map[string]any)) {
	t.Helper()
	if err := hftest.EditJSON(path, edit); err != nil {
		t.Fatal(err)
	}
}

// Every error names the file and the field or tensor, and has its kind.
func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name   string
		folder hftest.Folder
		break_ func(t *testing.T, dir string)
		kind   error
		want   []string // substrings of the message
	}{
		{"missing folder", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) { os.RemoveAll(dir) },
			os.ErrNotExist, []string{"model folder"}},
		{"missing config.json", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "config.json")) },
			os.ErrNotExist, []string{"config.json is missing"}},
		{"roberta", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "config.json"), func(m map[string]any) {
				m["architectures"], m["model_type"] = []string{"RobertaModel"}, "roberta"
			})
		}, hf.ErrUnsupported, []string{"config.json", "roberta", "RobertaModel", "BERT models only"}},
		{"nomic bert", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "config.json"), func(m map[string]any) {
				m["architectures"], m["model_type"] = []string{"NomicBertModel"}, "nomic_bert"
			})
		}, hf.ErrUnsupported, []string{"NomicBertModel", "nomic_bert"}},
		{"jina bert head", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "config.json"), func(m map[string]any) { m["architectures"] = []string{"JinaBertForMaskedLM"} })
		}, hf.ErrUnsupported, []string{"architecture JinaBertForMaskedLM is not supported"}},
		{"tanh gelu", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "config.json"), func(m map[string]any) { m["hidden_act"] = "gelu_new" })
		}, hf.ErrUnsupported, []string{"config.json", `hidden_act "gelu_new"`}},
		{"relative positions", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "config.json"), func(m map[string]any) { m["position_embedding_type"] = "relative_key" })
		}, hf.ErrUnsupported, []string{"position_embedding_type", "relative_key"}},
		{"max pooling", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "1_Pooling", "config.json"), func(m map[string]any) {
				m["pooling_mode_mean_tokens"], m["pooling_mode_max_tokens"] = false, true
			})
		}, hf.ErrUnsupported, []string{"1_Pooling/config.json", `"max"`}},
		{"weighted mean pooling", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "1_Pooling", "config.json"), func(m map[string]any) { m["pooling_mode"] = "weightedmean" })
		}, hf.ErrUnsupported, []string{"1_Pooling/config.json", "weightedmean"}},
		{"last token pooling", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "1_Pooling", "config.json"), func(m map[string]any) { m["pooling_mode"] = "lasttoken" })
		}, hf.ErrUnsupported, []string{"lasttoken"}},
		{"concatenated pooling", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "1_Pooling", "config.json"), func(m map[string]any) { m["pooling_mode_cls_token"] = true })
		}, hf.ErrUnsupported, []string{"cls + mean"}},
		{"dense module", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "modules.json"), `[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
				{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
				{"idx":2,"name":"2","path":"2_Dense","type":"sentence_transformers.models.Dense"}]`)
		}, hf.ErrUnsupported, []string{"modules.json", "Dense"}},
		{"modules path escapes", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "modules.json"), `[{"idx":0,"name":"0","path":"../x","type":"sentence_transformers.models.Transformer"}]`)
		}, hf.ErrInvalid, []string{"modules.json", "outside"}},
		{"no weights", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "model.safetensors")) },
			os.ErrNotExist, []string{"no weights", "model.safetensors"}},
		{"tf weights only", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			os.Rename(filepath.Join(dir, "model.safetensors"), filepath.Join(dir, "tf_model.h5"))
		}, os.ErrNotExist, []string{"tf_model.h5"}},
		{"missing shard", hftest.Folder{Kind: "mean", Format: "sharded"}, func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "model-00002-of-00003.safetensors"))
		}, os.ErrNotExist, []string{"model-00002-of-00003.safetensors"}},
		{"index names the wrong shard", hftest.Folder{Kind: "mean", Format: "sharded"}, func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "model.safetensors.index.json"), func(m map[string]any) {
				m["weight_map"].(map[string]any)["embeddings.word_embeddings.weight"] = "model-00003-of-00003.safetensors"
			})
		}, hf.ErrInvalid, []string{"model.safetensors.index.json", "embeddings.word_embeddings.weight", "model-00003-of-00003.safetensors"}},
		{"shape mismatch", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "config.json"), func(m map[string]any) { m["intermediate_size"] = 128 })
		}, hf.ErrInvalid, []string{"encoder.layer.0.intermediate.dense.weight in model.safetensors has shape [64 32], want [128 32]", "intermediate_size 128"}},
		{"fewer layers in config", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "config.json"), func(m map[string]any) { m["num_hidden_layers"] = 1 })
		}, hf.ErrInvalid, []string{"encoder.layer.1.", "layer 1", "num_hidden_layers 1"}},
		{"labels disagree with classifier", hftest.Folder{Kind: "rank", Labels: 1}, func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "config.json"), func(m map[string]any) {
				m["id2label"] = map[string]string{"0": "no", "1": "yes"}
				delete(m, "label2id")
			})
		}, hf.ErrInvalid, []string{"classifier.weight in model.safetensors has shape [1 32], want [2 32]", "2 labels from config.json"}},
		{"vocab size", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "config.json"), func(m map[string]any) { m["vocab_size"] = 30000 })
		}, hf.ErrInvalid, []string{"tokenizer.json has 30522 tokens", "config.json says vocab_size 30000"}},
		{"vocab size (vocab.txt)", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "tokenizer.json"))
			editJSON(t, filepath.Join(dir, "config.json"), func(m map[string]any) { m["vocab_size"] = 40000 })
		}, hf.ErrInvalid, []string{"vocab.txt has 30522 tokens", "vocab_size 40000"}},
		{"no tokenizer", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "tokenizer.json"))
			os.Remove(filepath.Join(dir, "vocab.txt"))
		}, os.ErrNotExist, []string{"no tokenizer", "tokenizer.json", "vocab.txt"}},
		{"other tokenizer class", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "tokenizer_config.json"), func(m map[string]any) { m["tokenizer_class"] = "XLMRobertaTokenizer" })
		}, hf.ErrUnsupported, []string{"tokenizer_config.json", "XLMRobertaTokenizer"}},
		{"bpe tokenizer.json", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "tokenizer.json"), func(m map[string]any) {
				m["model"] = map[string]any{"type": "BPE", "vocab": map[string]int{"a": 0}, "merges": []string{}}
			})
		}, hf.ErrUnsupported, []string{"tokenizer.json", "BPE"}},
		{"bad JSON syntax", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "config.json"), "{\n  \"hidden_size\": 32,\n  \"model_type\": \"bert\",,\n}")
		}, hf.ErrInvalid, []string{"config.json", "invalid JSON at line 3"}},
		{"bad JSON field", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "config.json"), func(m map[string]any) { m["hidden_size"] = "large" })
		}, hf.ErrInvalid, []string{"config.json", `field "hidden_size"`, "integer"}},
		{"bad pooling JSON", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "1_Pooling", "config.json"), `{"pooling_mode_mean_tokens": "yes"}`)
		}, hf.ErrInvalid, []string{"1_Pooling/config.json", `field "pooling_mode_mean_tokens"`}},
		{"pooling dimension", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "1_Pooling", "config.json"), func(m map[string]any) { m["word_embedding_dimension"] = 384 })
		}, hf.ErrInvalid, []string{"1_Pooling/config.json", "word_embedding_dimension 384", "hidden_size 32"}},
		{"truncated safetensors", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			p := filepath.Join(dir, "model.safetensors")
			st, _ := os.Stat(p)
			os.Truncate(p, st.Size()-100)
		}, hf.ErrInvalid, []string{"model.safetensors", "data_offsets"}},
		{"not safetensors", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "model.safetensors"), "hello")
		}, hf.ErrInvalid, []string{"model.safetensors", "not a safetensors file"}},
		{"not a zip", hftest.Folder{Kind: "mean", Format: "pytorch"}, func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "pytorch_model.bin"), "garbage")
		}, hf.ErrInvalid, []string{"pytorch_model.bin", "not a torch.save zip"}},
		{"legacy torch format", hftest.Folder{Kind: "mean", Format: "pytorch"}, func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "pytorch_model.bin"), "\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.")
		}, hf.ErrUnsupported, []string{"pytorch_model.bin", "legacy"}},
		{"malicious pickle", hftest.Folder{Kind: "mean", Format: "pytorch"}, func(t *testing.T, dir string) {
			writeZip(t, filepath.Join(dir, "pytorch_model.bin"), map[string]string{
				"archive/data.pkl": "\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.",
			})
		}, hf.ErrUnsupported, []string{"pytorch_model.bin", "archive/data.pkl", "global os.system is not allowed"}},
		{"unknown opcode", hftest.Folder{Kind: "mean", Format: "pytorch"}, func(t *testing.T, dir string) {
			writeZip(t, filepath.Join(dir, "pytorch_model.bin"), map[string]string{"archive/data.pkl": "\x80\x02}q\x00\x81."})
		}, hf.ErrUnsupported, []string{"opcode 0x81"}},
		{"missing storage", hftest.Folder{Kind: "mean", Format: "pytorch"}, func(t *testing.T, dir string) {
			p := filepath.Join(dir, "pytorch_model.bin")
			dropZipEntry(t, p, "archive/data/0")
		}, hf.ErrInvalid, []string{"pytorch_model.bin", "archive/data/0", "missing"}},
		{"position count", hftest.Folder{Kind: "mean"}, func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "config.json"), func(m map[string]any) { m["max_position_embeddings"] = 1 })
		}, hf.ErrInvalid, []string{"position_embeddings.weight"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := build(t, c.folder)
			c.break_(t, b.Dir)
			_, err := hf.Load(b.Dir)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, c.kind) {
				t.Errorf("error %q is not %v", err, c.kind)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func writeZip(t *testing.T, path string, files map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, data := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(data))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// dropZipEntry rewrites a zip without one entry.
func dropZipEntry(t *testing.T, path, drop string) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range zr.File {
		if f.Name == drop {
			continue
		}
		rc, _ := f.Open()
		var b strings.Builder
		buf := make([]byte, 1<<16)
		for {
			n, err := rc.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		rc.Close()
		files[f.Name] = b.String()
	}
	zr.Close()
	writeZip(t, path, files)
}

// The messages read well: one example printed in full.
func TestLoadErrorMessage(t *testing.T) {
	b := build(t, hftest.Folder{Kind: "mean"})
	editJSON(t, filepath.Join(b.Dir, "config.json"), func(m map[string]any) {
		m["architectures"], m["model_type"] = []string{"XLMRobertaModel"}, "xlm-roberta"
	})
	_, err := hf.Load(b.Dir)
	want := b.Dir + `: config.json: model_type "xlm-roberta" (architecture XLMRobertaModel) is not supported: quarry converts BERT models only (model_type bert: BertModel, BertForSequenceClassification)`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	data, _ := json.Marshal(map[string]string{"error": err.Error()})
	t.Logf("%s", data)
}
