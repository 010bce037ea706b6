package tokenize

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

func miniLM(t testing.TB) *Tokenizer {
	t.Helper()
	tk, err := FromTokenizerJSON(filepath.Join(testdataDir, "all-MiniLM-L6-v2.tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// words returns the normalized, pre-tokenized words of text.
func words(tk *Tokenizer, text string) []string {
	var ws []string
	s := tk.getState()
	s.onWord = func(w string) { ws = append(ws, w) }
	s.tokenize(text)
	s.onWord = nil
	tk.putState(s)
	return ws
}

// withOptions is a tokenizer over a small vocabulary with the given options.
func withOptions(t *testing.T, mod func(*Options)) *Tokenizer {
	t.Helper()
	o := DefaultOptions()
	mod(&o)
	tk, err := FromVocab([]string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "##b"}, o)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestNormalization(t *testing.T) {
	def := func(*Options) {}
	cased := func(o *Options) { o.Lowercase = false }
	keepAccents := func(o *Options) { o.StripAccents = AccentsKeep }
	noClean := func(o *Options) { o.CleanText = false }
	noChinese := func(o *Options) { o.HandleChineseChars = false }
	for _, tc := range []struct {
		name string
		mod  func(*Options)
		in   string
		want []string
	}{
		// clean_text: deletion comes before whitespace mapping
		{"tab newline cr", def, "a\tb\nc\rd", []string{"a", "b", "c", "d"}},
		{"nbsp ideographic space", def, "a\u00a0b\u3000c\u2028d", []string{"a", "b", "c", "d"}},
		{"vt ff deleted, not spaces", def, "a\vb\fc", []string{"abc"}},
		{"NEL is Cc: deleted", def, "a\u0085b", []string{"ab"}},
		{"NUL FFFD deleted", def, "a\x00b\ufffdc", []string{"abc"}},
		{"zero width space is Cf", def, "zero\u200bwidth", []string{"zerowidth"}},
		{"ZWJ deleted", def, "a\u200db", []string{"ab"}},
		{"soft hyphen", def, "soft\u00adhyphen", []string{"softhyphen"}},
		{"BOM", def, "\ufeffbom", []string{"bom"}},
		{"private use", def, "a\ue000b\U000f0000c", []string{"abc"}},
		{"Cf newer than HF's tables is kept", def, "a\u0890b", []string{"a\u0890b"}},
		{"mongolian vowel separator", def, "a\u180eb", []string{"ab"}},
		{"no clean: controls stay", noClean, "a\x00b\u200bc\vd", []string{"a\x00b\u200bc", "d"}},
		{"no clean: FFFD stays", noClean, "a\ufffdb", []string{"a\ufffdb"}},
		// handle_chinese_chars
		{"CJK isolated", def, "中文ab字", []string{"中", "文", "ab", "字"}},
		{"compat ideograph", def, "a豈b", []string{"a", "豈", "b"}},
		{"ext B", def, "𠀋x", []string{"𠀋", "x"}},
		{"HF gap 2B820-2B91F", def, "a\U0002b820b", []string{"a\U0002b820b"}},
		{"kana not CJK; NFD takes the dakuten off", def, "ひらがなカタカナ", []string{"ひらかなカタカナ"}},
		{"hangul not CJK", keepAccents, "한국어", []string{"한국어"}},
		{"chinese off", noChinese, "中文", []string{"中文"}},
		// strip_accents
		{"accents", def, "Hokkaidō Müller schön", []string{"hokkaido", "muller", "schon"}},
		{"decomposed input", def, "e\u0301", []string{"e"}},
		{"hangul decomposes to jamo", def, "한", []string{"\u1112\u1161\u11ab"}},
		{"spacing marks kept, virama deleted", def, "हिन्दी", []string{"हिनदी"}},
		{"marks newer than HF's tables kept", def, "x\u1df6y", []string{"x\u1df6y"}},
		{"cased keeps accents", cased, "Müller", []string{"Müller"}},
		{"strip without lowercase", func(o *Options) { o.Lowercase = false; o.StripAccents = AccentsStrip }, "Müller", []string{"Muller"}},
		{"ligature untouched by NFD", def, "ﬁ", []string{"ﬁ"}},
		{"angstrom sign", def, "\u212b", []string{"a"}},
		{"greek tonos", def, "ΐ", []string{"ι"}},
		// lowercase
		{"final sigma not special", def, "ΟΔΟΣ", []string{"οδοσ"}},
		{"dotted I stripped", def, "İstanbul", []string{"istanbul"}},
		{"dotted I keep accents", keepAccents, "İ", []string{"i\u0307"}},
		{"dotless i", def, "ı", []string{"ı"}},
		{"capital sharp s", def, "ẞ", []string{"ß"}},
		{"kelvin sign", def, "\u212a", []string{"k"}},
		{"titlecase digraph", def, "ǅ", []string{"ǆ"}},
		{"fullwidth", def, "ＡＢＣ", []string{"ａｂｃ"}},
		{"cased", cased, "Hello WORLD", []string{"Hello", "WORLD"}},
		// pre-tokenization
		{"ascii punctuation", def, "a$b+c<d=e>f^g`h|i~j", []string{"a", "$", "b", "+", "c", "<", "d", "=", "e", ">", "f", "^", "g", "`", "h", "|", "i", "~", "j"}},
		{"unicode punctuation", def, "a¿b—c…d«e»f", []string{"a", "¿", "b", "—", "c", "…", "d", "«", "e", "»", "f"}},
		{"symbols are not punctuation", def, "a€b©c°d", []string{"a€b©c°d"}},
		{"punctuation newer than HF's tables", def, "a\u2e43b", []string{"a\u2e43b"}},
		{"underscore is Pc", def, "snake_case", []string{"snake", "_", "case"}},
		{"apostrophe", def, "don't", []string{"don", "'", "t"}},
		{"emoji not split", def, "🚀x 😀😁", []string{"🚀x", "😀😁"}},
		{"NFD to punctuation", def, "a\u1fefb", []string{"a", "`", "b"}},
		{"empty", def, "", nil},
		{"only spaces", def, " \t\n ", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tk := withOptions(t, tc.mod)
			if got := words(tk, tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("words(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestWordPiece(t *testing.T) {
	tk := miniLM(t)
	ab100 := strings.Repeat("ab", 50)
	for _, tc := range []struct {
		in, want string
	}{
		{"unaffable", "una ##ffa ##ble"},
		{"Hello, world!", "hello , world !"},
		{ab100, "aba" + strings.Repeat(" ##ba", 48) + " ##b"}, // exactly 100 characters
		{ab100 + "a", "[UNK]"},                                // 101
		{"x" + strings.Repeat("é", 99), "x" + strings.Repeat(" ##ee", 49) + " ##e"},
		{"x" + strings.Repeat("é", 100), "[UNK]"},  // counted after normalization
		{"e" + strings.Repeat("\u0301", 150), "e"}, // marks deleted before counting
		{"hello\u0378", "[UNK]"},                   // an unmatched part: the whole word
		{"[CLS]x[SEP]", "[CLS] x [SEP]"},           // special tokens in the text
		{"[cls]", "[ cl ##s ]"},                    // case-sensitive
		{"[[MASK]]", "[ [MASK] ]"},
	} {
		if got := pieces(tk.Tokenize(tc.in)); got != tc.want {
			t.Errorf("Tokenize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEncodeSpecialTokensOption(t *testing.T) {
	o := DefaultOptions()
	o.EncodeSpecialTokens = true
	tk, err := FromVocabFile(filepath.Join(vocabDir, "bert-base-uncased-vocab.txt"), o)
	if err != nil {
		t.Fatal(err)
	}
	if got := pieces(tk.Tokenize("a [SEP] b")); got != "a [ sep ] b" {
		t.Errorf("got %q", got)
	}
}

func TestOffsets(t *testing.T) {
	tk := miniLM(t)
	text := "Hokkaidō: 한국어 ΟΔΟΣ e\u0301x [SEP] ﬁ\u200b 中文 İx unaffable"
	type tok struct {
		piece string
		span  string
	}
	var got []tok
	for _, tt := range tk.Tokenize(text) {
		got = append(got, tok{tt.Piece, text[tt.Start:tt.End]})
	}
	want := []tok{
		{"hokkaido", "Hokkaidō"}, {":", ":"},
		{"ᄒ", "한"}, {"##ᅡ", "한"}, {"##ᆫ", "한"}, {"##ᄀ", "국"}, {"##ᅮ", "국"}, {"##ᆨ", "국"}, {"##ᄋ", "어"}, {"##ᅥ", "어"},
		{"ο", "Ο"}, {"##δ", "Δ"}, {"##ο", "Ο"}, {"##σ", "Σ"},
		{"ex", "e\u0301x"}, // the deleted mark lies inside the token
		{"[SEP]", "[SEP]"},
		{"ﬁ", "ﬁ"}, // the deleted ZWSP after it is not part of it
		{"中", "中"}, {"文", "文"},
		{"ix", "İx"},
		{"una", "una"}, {"##ffa", "ffa"}, {"##ble", "ble"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// TestOffsetsRoundTrip: the input span of each group of tokens with the same
// offsets normalizes to the concatenation of their pieces.
func TestOffsetsRoundTrip(t *testing.T) {
	tk := miniLM(t)
	cases := readGolden(t)
	n := 0
	for _, c := range cases {
		if c.Tokenizer != "all-MiniLM-L6-v2.tokenizer.json" || c.Pair != nil {
			continue
		}
		toks := tk.Tokenize(c.Text)
		for i := 0; i < len(toks); {
			j := i + 1
			for j < len(toks) && toks[j].Start == toks[i].Start && toks[j].End == toks[i].End {
				j++
			}
			var joined strings.Builder
			unk := false
			for _, tt := range toks[i:j] {
				unk = unk || tt.ID == tk.ids.Unk || slices.ContainsFunc(tk.added, func(a addedToken) bool { return a.id == tt.ID })
				joined.WriteString(strings.TrimPrefix(tt.Piece, "##"))
			}
			span := c.Text[toks[i].Start:toks[i].End]
			if !unk && strings.Join(words(tk, span), "") != joined.String() {
				t.Errorf("%q: span %q normalizes to %q, pieces give %q", c.Text, span, words(tk, span), joined.String())
			}
			n++
			i = j
		}
	}
	t.Logf("%d spans", n)
}

func TestEncode(t *testing.T) {
	tk := miniLM(t)
	enc := tk.Encode("Hello, world!", 0)
	if want := []int32{101, 7592, 1010, 2088, 999, 102}; !slices.Equal(enc.IDs, want) {
		t.Fatalf("ids %v, want %v", enc.IDs, want)
	}
	if !slices.Equal(enc.TypeIDs, make([]int32, 6)) || enc.Offsets[0] != [2]int{} || enc.Offsets[5] != [2]int{} || enc.Offsets[1] != [2]int{0, 5} {
		t.Errorf("types %v offsets %v", enc.TypeIDs, enc.Offsets)
	}
	if enc.Truncated || enc.NumTokens != 6 {
		t.Errorf("Truncated %v NumTokens %d", enc.Truncated, enc.NumTokens)
	}
	for _, tc := range []struct {
		maxLen int
		ids    []int32
	}{
		{6, []int32{101, 7592, 1010, 2088, 999, 102}},
		{5, []int32{101, 7592, 1010, 2088, 102}},
		{3, []int32{101, 7592, 102}},
		{2, []int32{101, 102}},
		{1, []int32{101, 102}}, // HF would not truncate at all
	} {
		enc := tk.Encode("Hello, world!", tc.maxLen)
		if !slices.Equal(enc.IDs, tc.ids) || enc.NumTokens != 6 || enc.Truncated != (len(tc.ids) < 6) {
			t.Errorf("maxLen %d: %v (NumTokens %d, Truncated %v), want %v", tc.maxLen, enc.IDs, enc.NumTokens, enc.Truncated, tc.ids)
		}
	}
	if enc := tk.Encode("", 0); !slices.Equal(enc.IDs, []int32{101, 102}) {
		t.Errorf("empty: %v", enc.IDs)
	}
}

func TestEncodePair(t *testing.T) {
	tk := miniLM(t)
	enc := tk.EncodePair("Hello world", "foo bar!", 0)
	if want := []int32{101, 7592, 2088, 102, 29379, 3347, 999, 102}; !slices.Equal(enc.IDs, want) {
		t.Fatalf("ids %v, want %v", enc.IDs, want)
	}
	if want := []int32{0, 0, 0, 0, 1, 1, 1, 1}; !slices.Equal(enc.TypeIDs, want) {
		t.Errorf("types %v", enc.TypeIDs)
	}
	if enc.Offsets[4] != [2]int{0, 3} || enc.Offsets[6] != [2]int{7, 8} {
		t.Errorf("offsets of the second text %v", enc.Offsets)
	}
	if enc := tk.EncodePair("a b c", "d e f", 2); len(enc.IDs) != 3 || !enc.Truncated || enc.NumTokens != 9 {
		t.Errorf("maxLen below the specials: %v %+v", enc.IDs, enc)
	}
}

func TestTruncatePair(t *testing.T) {
	for _, tc := range []struct{ la, lb, budget, wa, wb int }{
		{3, 4, 10, 3, 4},   // fits
		{2, 10, 8, 2, 6},   // shorter fits in half: longer gets the rest
		{10, 2, 8, 6, 2},   //   either side
		{6, 7, 11, 5, 6},   // both cut: longer gets the odd one
		{7, 6, 11, 6, 5},   //   either side
		{6, 6, 11, 5, 6},   // tie: the second
		{6, 6, 10, 5, 5},   //
		{20, 30, 5, 2, 3},  // both longer than the budget
		{30, 20, 5, 3, 2},  //
		{4, 4, 0, 0, 0},    // no room
		{0, 9, 4, 0, 4},    // empty first
		{5, 5, 9, 4, 5},    //
		{4, 100, 8, 4, 4},  // exactly half
		{5, 100, 8, 4, 4},  // just over half
		{100, 5, 9, 5, 4},  //
		{100, 4, 9, 5, 4},  //
		{1, 1, 1, 0, 1},    //
		{2, 1, 1, 1, 0},    //
		{1, 2, 1, 0, 1},    //
		{9, 0, 4, 4, 0},    // empty second
		{3, 3, 5, 2, 3},    //
		{10, 10, 15, 7, 8}, //
	} {
		if a, b := truncatePair(tc.la, tc.lb, tc.budget); a != tc.wa || b != tc.wb {
			t.Errorf("truncatePair(%d, %d, %d) = %d, %d, want %d, %d", tc.la, tc.lb, tc.budget, a, b, tc.wa, tc.wb)
		}
	}
}

func TestInvalidUTF8(t *testing.T) {
	tk := miniLM(t)
	for _, in := range []string{"a\xffb", "\xff", "caf\xc3", "\xe2\x82", "x\xed\xa0\x80y", "ok \xf4\x90\x80\x80 ok"} {
		replaced := strings.ToValidUTF8(in, "\ufffd")
		// ToValidUTF8 replaces a run of bad bytes with one U+FFFD; the range
		// loop gives one per byte; both are deleted.
		got, want := tk.Encode(in, 0), tk.Encode(replaced, 0)
		if !slices.Equal(got.IDs, want.IDs) {
			t.Errorf("%q: ids %v, want %v", in, got.IDs, want.IDs)
		}
		checkOffsets(t, in, got)
	}
	// without clean_text the U+FFFD stays, covering its byte
	o := DefaultOptions()
	o.CleanText = false
	tk2, err := FromVocab([]string{"[UNK]", "[CLS]", "[SEP]", "a", "\ufffd", "##\ufffd"}, o)
	if err != nil {
		t.Fatal(err)
	}
	toks := tk2.Tokenize("a\xff\xfe")
	if pieces(toks) != "a ##\ufffd ##\ufffd" || toks[1].Start != 1 || toks[1].End != 2 || toks[2].Start != 2 || toks[2].End != 3 {
		t.Errorf("tokens %+v", toks)
	}
}

func checkOffsets(t *testing.T, text string, enc Encoding) {
	t.Helper()
	last := [2]int{}
	for i, off := range enc.Offsets {
		if off[0] < 0 || off[1] > len(text) || off[0] > off[1] {
			t.Fatalf("%q: offset %d %v out of bounds", text, i, off)
		}
		if off == [2]int{} {
			continue
		}
		if off[0] < last[0] || off[1] < last[1] {
			t.Fatalf("%q: offset %d %v before %v", text, i, off, last)
		}
		last = off
	}
}

func TestLongInput(t *testing.T) {
	tk := miniLM(t)
	big := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 1<<15) // 1.4 MB
	toks := tk.Tokenize(big)
	if len(toks) != 10<<15 {
		t.Errorf("%d tokens", len(toks))
	}
	enc := tk.Encode(big, 256)
	if len(enc.IDs) != 256 || enc.NumTokens != 10<<15+2 || !enc.Truncated {
		t.Errorf("Encode: %d ids, NumTokens %d", len(enc.IDs), enc.NumTokens)
	}
	word := strings.Repeat("x", 1<<20) // one 1 MB word
	if toks := tk.Tokenize(word); len(toks) != 1 || toks[0].ID != tk.ids.Unk || toks[0].End != len(word) {
		t.Errorf("1 MB word: %+v", toks)
	}
	nul := strings.Repeat("\x00", 1<<20)
	if toks := tk.Tokenize(nul); len(toks) != 0 {
		t.Errorf("NULs: %d tokens", len(toks))
	}
}

func TestConcurrent(t *testing.T) {
	tk := miniLM(t)
	cases := readGolden(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < len(cases); i += 3 {
				c := cases[i]
				if c.Tokenizer != "all-MiniLM-L6-v2.tokenizer.json" || c.Pair != nil {
					continue
				}
				if enc := tk.Encode(c.Text, c.MaxLength); !slices.Equal(enc.IDs, c.IDs) {
					t.Errorf("%q: %v", c.Text, enc.IDs)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestVocabFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vocab.txt")
	// CRLF, trailing whitespace trimmed, a later duplicate wins, no final newline
	data := "[PAD]\r\n[UNK] \r\n[CLS]\n[SEP]\t\nhello\n##lo\nhello\nworld"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	tk, err := FromVocabFile(path, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if tk.VocabSize() != 8 || tk.Piece(1) != "[UNK]" || tk.Piece(3) != "[SEP]" || tk.Piece(7) != "world" {
		t.Errorf("pieces %q", tk.pieces)
	}
	if id, _ := tk.ID("hello"); id != 6 {
		t.Errorf("hello = %d, want the later duplicate 6", id)
	}
	if got := tk.SpecialIDs(); got != (SpecialIDs{Unk: 1, CLS: 2, SEP: 3, Pad: 0, Mask: -1}) {
		t.Errorf("special ids %+v", got)
	}
	if err := os.WriteFile(path, []byte("a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := FromVocabFile(path, DefaultOptions()); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "[UNK]") {
		t.Errorf("vocabulary without specials: %v", err)
	}
	if _, err := FromVocabFile(filepath.Join(dir, "missing.txt"), DefaultOptions()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestTokenizerJSONErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, json, want string
	}{
		{"bpe", `{"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}`, "model type BPE is not supported"},
		{"unigram", `{"model":{"type":"Unigram","vocab":[["a",0.0]]}}`, "model type Unigram is not supported"},
		{"untyped bpe", `{"model":{"vocab":{"a":0},"merges":[]}}`, "model type BPE"},
		{"untyped unigram", `{"model":{"vocab":[["a",0.0]]}}`, "model type Unigram"},
		{"no model", `{}`, "no model"},
		{"normalizer", `{"normalizer":{"type":"NFKC"},"pre_tokenizer":{"type":"BertPreTokenizer"},"model":{"type":"WordPiece","vocab":{"[UNK]":0}}}`, "normalizer NFKC is not supported"},
		{"pre_tokenizer", `{"pre_tokenizer":{"type":"Whitespace"},"model":{"type":"WordPiece","vocab":{"[UNK]":0}}}`, "pre_tokenizer Whitespace is not supported"},
		{"post_processor", `{"pre_tokenizer":{"type":"BertPreTokenizer"},"post_processor":{"type":"RobertaProcessing"},"model":{"type":"WordPiece","vocab":{"[UNK]":0}}}`, "post_processor RobertaProcessing is not supported"},
		{"unk", `{"pre_tokenizer":{"type":"BertPreTokenizer"},"model":{"type":"WordPiece","unk_token":"<unk>","vocab":{"[UNK]":0}}}`, `unk_token "<unk>"`},
		{"not json", `{`, "unexpected end of JSON"},
	} {
		path := filepath.Join(dir, tc.name+".json")
		if err := os.WriteFile(path, []byte(tc.json), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := FromTokenizerJSON(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming %s and %q", tc.name, err, path, tc.want)
		}
	}
}

func TestTokenizerJSONVariants(t *testing.T) {
	dir := t.TempDir()
	vocab := `"vocab":{"[UNK]":0,"[CLS]":1,"[SEP]":2,"a":3,"b":4,"##b":5,"<s>":6}`
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// BertProcessing, no normalizer (so no lowercasing), a Sequence pre-tokenizer
	tk, err := FromTokenizerJSON(write("bp.json", `{"normalizer":null,
		"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"BertPreTokenizer"}]},
		"post_processor":{"type":"BertProcessing","sep":["[SEP]",2],"cls":["[CLS]",1]},
		"truncation":{"max_length":7},
		"model":{"type":"WordPiece","unk_token":"[UNK]",`+vocab+`}}`))
	if err != nil {
		t.Fatal(err)
	}
	if enc := tk.EncodePair("ab", "A", 0); !slices.Equal(enc.IDs, []int32{1, 3, 5, 2, 0, 2}) || !slices.Equal(enc.TypeIDs, []int32{0, 0, 0, 0, 1, 1}) {
		t.Errorf("BertProcessing pair: %v %v", enc.IDs, enc.TypeIDs)
	}
	if tk.MaxLength() != 7 || tk.Options().Lowercase {
		t.Errorf("MaxLength %d, options %+v", tk.MaxLength(), tk.Options())
	}
	// no post-processor: no specials, second sequence type 1
	tk, err = FromTokenizerJSON(write("none.json", `{"pre_tokenizer":{"type":"BertPreTokenizer"},
		"normalizer":{"type":"BertNormalizer","lowercase":true},
		"model":{"type":"WordPiece",`+vocab+`}}`))
	if err != nil {
		t.Fatal(err)
	}
	if enc := tk.EncodePair("A", "b", 0); !slices.Equal(enc.IDs, []int32{3, 4}) || !slices.Equal(enc.TypeIDs, []int32{0, 1}) {
		t.Errorf("no post-processor: %v %v", enc.IDs, enc.TypeIDs)
	}
	// a template with different specials, and an added token with lstrip/rstrip
	tk, err = FromTokenizerJSON(write("tp.json", `{"pre_tokenizer":{"type":"BertPreTokenizer"},
		"added_tokens":[{"id":6,"content":"<s>","special":true,"lstrip":true,"rstrip":true,"normalized":false,"single_word":false}],
		"post_processor":{"type":"TemplateProcessing",
			"single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"[SEP]","type_id":0}},{"SpecialToken":{"id":"[SEP]","type_id":0}}],
			"pair":[{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"[SEP]","type_id":0}},{"Sequence":{"id":"B","type_id":1}}],
			"special_tokens":{"<s>":{"id":"<s>","ids":[6],"tokens":["<s>"]},"[SEP]":{"id":"[SEP]","ids":[2],"tokens":["[SEP]"]}}},
		"model":{"type":"WordPiece",`+vocab+`}}`))
	if err != nil {
		t.Fatal(err)
	}
	if enc := tk.Encode("a", 3); !slices.Equal(enc.IDs, []int32{6, 2, 2}) || enc.NumTokens != 4 {
		t.Errorf("template single: %v", enc.IDs)
	}
	if enc := tk.EncodePair("a", "b", 0); !slices.Equal(enc.IDs, []int32{3, 2, 4}) || !slices.Equal(enc.TypeIDs, []int32{0, 0, 1}) {
		t.Errorf("template pair: %v %v", enc.IDs, enc.TypeIDs)
	}
	toks := tk.Tokenize("a  <s>  b")
	if pieces(toks) != "a <s> b" || toks[1].Start != 1 || toks[1].End != 8 {
		t.Errorf("lstrip/rstrip: %+v", toks)
	}
	// HF: [(0, 1), (1, 4), (4, 10), (10, 13), (13, 14)] in characters
	toks = tk.Tokenize("a<s><s> \u3000 <s>b")
	var offs [][2]int
	for _, tok := range toks {
		offs = append(offs, [2]int{tok.Start, tok.End})
	}
	if want := [][2]int{{0, 1}, {1, 4}, {4, 12}, {12, 15}, {15, 16}}; !slices.Equal(offs, want) {
		t.Errorf("lstrip/rstrip next to each other: %v, want %v", offs, want)
	}
	if ids := tk.SpecialIDs(); ids.CLS != 6 || ids.SEP != 2 || ids.Unk != 0 {
		t.Errorf("special ids %+v", ids)
	}
}

func TestSingleWordAddedToken(t *testing.T) {
	tk := miniLM(t)
	tk.added[0].singleWord = true // [PAD]
	// HF: x [ pad ] [PAD] [ pad ] y
	if got := pieces(tk.Tokenize("x[PAD] [PAD] [PAD]y")); got != "x [ pad ] [PAD] [ pad ] y" {
		t.Errorf("got %q", got)
	}
}

func TestAppendTokens(t *testing.T) {
	tk := miniLM(t)
	dst := tk.AppendTokens(nil, "hello")
	dst = tk.AppendTokens(dst, "world")
	if pieces(dst) != "hello world" || dst[1].Start != 0 {
		t.Errorf("%+v", dst)
	}
	if !utf8.ValidString(dst[0].Piece) {
		t.Error("invalid piece")
	}
}
