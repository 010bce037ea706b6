package tokenize

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/gguf"
)

const vocabDir = "../../testdata/vocab"

func bgeGGUF(t testing.TB) *Tokenizer {
	t.Helper()
	f, err := gguf.Open(filepath.Join(vocabDir, "ggml-vocab-bert-bge.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	tk, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func bertVocabTxt(t testing.TB) *Tokenizer {
	t.Helper()
	tk, err := FromVocabFile(filepath.Join(vocabDir, "bert-base-uncased-vocab.txt"), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// readLlamaVectors reads llama.cpp's tokenizer test vectors: each input of
// .inp is followed by "\n__ggml_vocab_test__\n"; each line of .out holds the
// ids of one input (without [CLS]/[SEP]), each preceded by a space.
func readLlamaVectors(t *testing.T) (inputs []string, want [][]int32) {
	t.Helper()
	inp, err := os.ReadFile(filepath.Join(vocabDir, "ggml-vocab-bert-bge.gguf.inp"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(filepath.Join(vocabDir, "ggml-vocab-bert-bge.gguf.out"))
	if err != nil {
		t.Fatal(err)
	}
	const sep = "\n__ggml_vocab_test__\n"
	text, ok := strings.CutSuffix(string(inp), sep)
	if !ok {
		t.Fatal(".inp does not end with the separator")
	}
	inputs = strings.Split(text, sep)
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(inputs) {
		t.Fatalf("%d inputs, %d outputs", len(inputs), len(lines))
	}
	for _, line := range lines {
		var ids []int32
		for _, f := range strings.Fields(line) {
			id, err := strconv.Atoi(f)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, int32(id))
		}
		want = append(want, ids)
	}
	return inputs, want
}

func TestLlamaVectors(t *testing.T) {
	inputs, want := readLlamaVectors(t)
	for _, tc := range []struct {
		name string
		tk   *Tokenizer
	}{
		{"gguf", bgeGGUF(t)},
		{"vocab.txt", bertVocabTxt(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, in := range inputs {
				var got []int32
				for _, tok := range tc.tk.Tokenize(in) {
					got = append(got, tok.ID)
				}
				if !equalIDs(got, want[i]) {
					t.Errorf("input %d %q:\n got %v\nwant %v", i, in, got, want[i])
				}
			}
			t.Logf("%d vectors", len(inputs))
		})
	}
}

func equalIDs(a, b []int32) bool {
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

func TestFromGGUF(t *testing.T) {
	g, v := bgeGGUF(t), bertVocabTxt(t)
	if g.VocabSize() != 30522 || v.VocabSize() != 30522 {
		t.Fatalf("vocab sizes %d, %d", g.VocabSize(), v.VocabSize())
	}
	for id := int32(0); id < int32(g.VocabSize()); id++ {
		if g.Piece(id) != v.Piece(id) {
			t.Fatalf("id %d: GGUF piece %q, vocab.txt %q", id, g.Piece(id), v.Piece(id))
		}
	}
	if got, want := g.SpecialIDs(), (SpecialIDs{Unk: 100, CLS: 101, SEP: 102, Pad: 0, Mask: 103}); got != want {
		t.Errorf("special ids %+v, want %+v", got, want)
	}
	if got := v.SpecialIDs(); got != g.SpecialIDs() {
		t.Errorf("vocab.txt special ids %+v", got)
	}
	o := g.Options()
	if !o.Lowercase || o.StripAccents != AccentsStrip || !o.HandleChineseChars || !o.CleanText {
		t.Errorf("GGUF options %+v", o)
	}
	if g.MaxLength() != 512 {
		t.Errorf("MaxLength %d, want bert.context_length 512", g.MaxLength())
	}
	if len(g.added) != 5 {
		t.Errorf("%d special tokens recognized in text, want 5", len(g.added))
	}
}

func TestGGUFOptionKeys(t *testing.T) {
	toks := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "\u2581Hello", "\u2581hello", "lo", "\u2581h", "el"}
	w := gguf.NewWriter()
	w.SetString("general.architecture", "bert")
	w.SetString("tokenizer.ggml.model", "bert")
	w.SetStrings("tokenizer.ggml.tokens", toks)
	w.SetInt32s("tokenizer.ggml.token_type", []int32{3, 3, 3, 3, 3, 1, 1, 1, 1, 1})
	w.SetUint32("tokenizer.ggml.unknown_token_id", 1)
	w.SetUint32("quarry.max_seq_length", 256)
	path := filepath.Join(t.TempDir(), "v.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	o := tk.Options()
	if o.Lowercase || o.StripAccents != AccentsKeep {
		t.Errorf("cased vocabulary: options %+v", o)
	}
	if tk.MaxLength() != 256 {
		t.Errorf("MaxLength %d", tk.MaxLength())
	}
	if got := pieces(tk.Tokenize("Hello hello")); got != "Hello hello" {
		t.Errorf("pieces %q", got)
	}
	if id, _ := tk.ID("##lo"); id != 7 {
		t.Errorf("##lo = %d", id)
	}

	w.SetBool("quarry.tokenizer.lowercase", true)
	w.SetBool("quarry.tokenizer.strip_accents", false)
	w.SetBool("quarry.tokenizer.handle_chinese_chars", false)
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if f, err = gguf.Open(path); err != nil {
		t.Fatal(err)
	}
	if tk, err = FromGGUF(f); err != nil {
		t.Fatal(err)
	}
	o = tk.Options()
	if !o.Lowercase || o.StripAccents != AccentsKeep || o.HandleChineseChars {
		t.Errorf("options from keys %+v", o)
	}
	if got := pieces(tk.Tokenize("HELLO Hel")); got != "hello h ##el" {
		t.Errorf("pieces %q", got)
	}
}

func pieces(toks []Token) string {
	var b strings.Builder
	for i, t := range toks {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t.Piece)
	}
	return b.String()
}
