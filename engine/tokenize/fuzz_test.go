package tokenize

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzEncode(f *testing.F) {
	uncased := miniLM(f)
	variant, err := FromTokenizerJSON(filepath.Join(testdataDir, "variant-noclean-strip.tokenizer.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"", "Hello, world!", "Hokkaidō 한국어 ΟΔΟΣ İ ﬁ", "a\x00b\xff\xfe\u200b", "[SEP][MASK]x[CLS", "x\u1df9\u1df6\u0301y",
		"a\U0001e94a\U0001e944b\u0301\u0316", "😶\u200d🌫️ 👨‍👩‍👧‍👦", strings.Repeat("é", 120), "中文\U0002b820",
	} {
		f.Add(s, "pair text", 0)
		f.Add(s, s, 7)
	}
	f.Fuzz(func(t *testing.T, text, pair string, maxLen int) {
		maxLen %= 300
		for _, tk := range []*Tokenizer{uncased, variant} {
			enc := tk.Encode(text, maxLen)
			checkEncoding(t, tk, enc, maxLen, 2)
			checkSeqOffsets(t, text, enc, 0)
			toks := tk.Tokenize(text)
			if enc.NumTokens != len(toks)+2 {
				t.Fatalf("NumTokens %d for %d tokens", enc.NumTokens, len(toks))
			}
			for i, id := range enc.IDs[1 : len(enc.IDs)-1] {
				if id != toks[i].ID {
					t.Fatalf("Encode and Tokenize differ at %d", i)
				}
			}
			for _, tok := range toks {
				if tk.Piece(tok.ID) != tok.Piece || !utf8.ValidString(tok.Piece) {
					t.Fatalf("token %+v", tok)
				}
			}

			enc = tk.EncodePair(text, pair, maxLen)
			checkEncoding(t, tk, enc, maxLen, 3)
			checkSeqOffsets(t, text, enc, 0)
			checkSeqOffsets(t, pair, enc, 1)
		}
	})
}

func checkEncoding(t *testing.T, tk *Tokenizer, enc Encoding, maxLen, specials int) {
	t.Helper()
	n := len(enc.IDs)
	if len(enc.TypeIDs) != n || len(enc.Offsets) != n {
		t.Fatalf("lengths %d %d %d", n, len(enc.TypeIDs), len(enc.Offsets))
	}
	if n < specials || enc.IDs[0] != tk.ids.CLS || enc.IDs[n-1] != tk.ids.SEP {
		t.Fatalf("ids %v", enc.IDs)
	}
	for _, id := range enc.IDs {
		if id < 0 || int(id) >= tk.VocabSize() {
			t.Fatalf("id %d out of the vocabulary", id)
		}
	}
	if maxLen >= specials && n > maxLen {
		t.Fatalf("%d ids for maxLen %d", n, maxLen)
	}
	if enc.NumTokens < n || enc.Truncated != (enc.NumTokens > n) {
		t.Fatalf("NumTokens %d, Truncated %v, %d ids", enc.NumTokens, enc.Truncated, n)
	}
}

// checkSeqOffsets checks the offsets of the tokens of type typeID against
// the text they came from: in bounds, non-empty, and non-decreasing. Only
// the template's special tokens have [0, 0].
func checkSeqOffsets(t *testing.T, text string, enc Encoding, typeID int32) {
	t.Helper()
	last := [2]int{}
	for i, off := range enc.Offsets {
		if enc.TypeIDs[i] != typeID || off == [2]int{} {
			continue // another sequence, or a special token of the template
		}
		if off[0] < 0 || off[1] > len(text) || off[0] >= off[1] {
			t.Fatalf("offset %d %v out of bounds (len %d)", i, off, len(text))
		}
		if off[0] < last[0] || off[1] < last[1] {
			t.Fatalf("offset %d %v before %v", i, off, last)
		}
		last = off
	}
}

var benchTexts = map[string]string{
	"sentence": "The quick brown fox jumps over the lazy dog, and then it runs away into the forest.",
	"paragraph": strings.Repeat("Semantic search engines embed passages with a transformer and retrieve them by vector similarity; "+
		"tokenization has to match the reference implementation exactly, including offsets, or the vectors drift. ", 8),
	"document": strings.Repeat("It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness, "+
		"it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, it was the season of Darkness. ", 400),
	"multilingual": strings.Repeat("Müller fährt nach Hokkaidō. 東京都渋谷区で会いましょう。 한국어 텍스트입니다. Привет, мир! 😀 ", 100),
}

func BenchmarkEncode(b *testing.B) {
	tk := miniLM(b)
	for _, name := range []string{"sentence", "paragraph", "document", "multilingual"} {
		text := benchTexts[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				tk.Encode(text, 0)
			}
		})
	}
}

func BenchmarkTokenizeParallel(b *testing.B) {
	tk := miniLM(b)
	text := benchTexts["document"]
	b.SetBytes(int64(len(text)))
	b.RunParallel(func(pb *testing.PB) {
		var dst []Token
		for pb.Next() {
			dst = tk.AppendTokens(dst[:0], text)
		}
	})
}
