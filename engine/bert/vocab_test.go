package bert

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/quarry-search/quarry/engine/gguf"
)

const (
	vocabTxt  = "../../testdata/vocab/bert-base-uncased-vocab.txt"
	vocabGGUF = "../../testdata/vocab/ggml-vocab-bert-bge.gguf"
)

// The llama.cpp form of the whole bert-base-uncased vocabulary, and its token
// types, must be exactly what llama.cpp's converter wrote for bge (the same
// vocabulary).
func TestVocabMatchesLlamaCpp(t *testing.T) {
	vocab, err := ReadVocabFile(vocabTxt)
	if err != nil {
		t.Fatal(err)
	}
	gf, err := gguf.Open(vocabGGUF)
	if err != nil {
		t.Fatal(err)
	}
	toks, _ := gf.Strings("tokenizer.ggml.tokens")
	types, _ := gf.Ints("tokenizer.ggml.token_type")
	if len(vocab) != len(toks) || len(types) != len(toks) {
		t.Fatalf("vocab.txt has %d tokens, the GGUF %d (%d types)", len(vocab), len(toks), len(types))
	}
	var cfg Config
	cfg.SpecialIDs(vocab)
	if cfg.CLSID != 101 || cfg.SEPID != 102 || cfg.PADID != 0 || cfg.UNKID != 100 || cfg.MaskID != 103 {
		t.Fatalf("special ids %+v", cfg)
	}
	for _, k := range []struct {
		key  string
		want int
	}{{"tokenizer.ggml.cls_token_id", cfg.CLSID}, {"tokenizer.ggml.seperator_token_id", cfg.SEPID},
		{"tokenizer.ggml.padding_token_id", cfg.PADID}, {"tokenizer.ggml.unknown_token_id", cfg.UNKID},
		{"tokenizer.ggml.mask_token_id", cfg.MaskID}} {
		if v, _ := gf.Int(k.key); int(v) != k.want {
			t.Errorf("%s = %d in llama.cpp's file, SpecialIDs found %d", k.key, v, k.want)
		}
	}
	special := cfg.specialSet()
	bad := 0
	for i, tok := range vocab {
		g := ToGGMLToken(tok)
		if g != toks[i] {
			bad++
			if bad < 10 {
				t.Errorf("token %d %q: ToGGMLToken gives %q, llama.cpp has %q", i, tok, g, toks[i])
			}
		}
		if back := FromGGMLToken(toks[i]); back != tok {
			bad++
			if bad < 10 {
				t.Errorf("token %d: FromGGMLToken(%q) = %q, want %q", i, toks[i], back, tok)
			}
		}
		want := int64(1)
		if special[i] {
			want = 3
		}
		if types[i] != want {
			bad++
			if bad < 10 {
				t.Errorf("token %d %q: type %d in llama.cpp's file, quarry writes %d", i, tok, types[i], want)
			}
		}
	}
	if !VocabIsUncased(vocab) {
		t.Error("bert-base-uncased vocabulary detected as cased")
	}
	if VocabIsUncased([]string{"[CLS]", "hello", "World"}) || !VocabIsUncased([]string{"[CLS]", "[UNK]", "hello"}) {
		t.Error("VocabIsUncased")
	}
}

func TestReadVocabFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "vocab.txt")
	if err := os.WriteFile(p, []byte("[PAD]\r\n##a\r\n\r\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := ReadVocabFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 4 || v[0] != "[PAD]" || v[1] != "##a" || v[2] != "" || v[3] != "b" {
		t.Errorf("ReadVocabFile = %q", v)
	}
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadVocabFile(p); err == nil {
		t.Error("empty vocab accepted")
	}
}
