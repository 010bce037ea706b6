package chunk

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/tokenize"
)

const tokDir = "../../testdata/tokenize"

// tokenizers returns the real MiniLM tokenizer and its normalizer variants
// (cased, lowercase keeping accents, no clean_text).
func tokenizers(t testing.TB) map[string]*tokenize.Tokenizer {
	t.Helper()
	out := map[string]*tokenize.Tokenizer{}
	for _, name := range []string{"all-MiniLM-L6-v2", "variant-cased", "variant-lower-keep-accents", "variant-noclean-strip"} {
		tk, err := tokenize.FromTokenizerJSON(filepath.Join(tokDir, name+".tokenizer.json"))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = tk
	}
	return out
}

func miniLM(t testing.TB) *tokenize.Tokenizer {
	t.Helper()
	tk, err := tokenize.FromTokenizerJSON(filepath.Join(tokDir, "all-MiniLM-L6-v2.tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// corpus is every text of the tokenizer's test cases (English, punctuation,
// scripts, marks, control characters, long words, special tokens, seeded
// random stress strings), plus longer texts glued from them and a few
// written for the boundaries.
func corpus(t testing.TB) []string {
	t.Helper()
	var cases struct {
		Texts []string `json:"texts"`
	}
	data, err := os.ReadFile(filepath.Join(tokDir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var texts []string
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			texts = append(texts, s)
		}
	}
	for _, s := range cases.Texts {
		add(s)
	}
	f, err := os.Open(filepath.Join(tokDir, "golden.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var rec struct {
			Text *string `json:"text"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Text != nil {
			add(*rec.Text)
		}
	}
	for _, s := range []string{
		"한국어 문장을 여러 조각으로 나눕니다 한국어",
		"İstanbul İİİ İzmir",
		"e\u0301e\u0301e\u0301 cafe\u0301 a\u0308\u0301\u0323b",
		"zero\u200bwidth\u200bjoined\u200bwords and\u00adsoft\u00adhyphens",
		"[CLS] text [SEP] more [MASK] [SEP][SEP]x[MASK]y",
		"中文字符和English混合的文本，还有标点。",
		"unaffable unbelievably antidisestablishmentarianism " + strings.Repeat("x", 150) + " end",
		strings.Repeat("ab", 60) + " " + strings.Repeat("qz", 70),
		"a\x00b\xffc\xfe d\ufffde",
		"  leading and trailing spaces  \n\t",
		"emoji 👩‍👩‍👧‍👦 and flags 🇩🇪🇫🇷 and skin 👍🏽",
	} {
		add(s)
	}
	// Longer texts: runs of consecutive cases, so that windows fill up.
	r := rand.New(rand.NewPCG(1, 2))
	base := len(texts)
	for range 60 {
		var sb strings.Builder
		for range 5 + r.IntN(40) {
			sb.WriteString(texts[r.IntN(base)])
			sb.WriteString([]string{" ", "", "\n", "-", "。"}[r.IntN(5)])
		}
		add(sb.String())
	}
	return texts
}

// uncuttable reports whether the tokens inside [start, end) have no valid
// cut: every split point has a token before it that ends after a token
// after it starts.
func uncuttable(toks []tokenize.Token, start, end int) bool {
	var in []tokenize.Token
	for _, tk := range toks {
		if tk.Start >= start && tk.End <= end {
			in = append(in, tk)
		}
	}
	for c := 1; c < len(in); c++ {
		maxEnd := 0
		for _, tk := range in[:c] {
			maxEnd = max(maxEnd, tk.End)
		}
		minStart := in[c].Start
		for _, tk := range in[c:] {
			minStart = min(minStart, tk.Start)
		}
		if maxEnd <= minStart {
			return false
		}
	}
	return true
}

// TestSplitProperties checks, for every tokenizer variant, every text of
// the corpus and many windows and overlaps: text and offsets agree; each
// passage tokenized alone has Tokens pieces and at most window of them
// (except a group that cannot be cut); the passages cover every token, in
// order; with windows of 100 or more, cuts fall between words.
func TestSplitProperties(t *testing.T) {
	texts := corpus(t)
	windows := []int{1, 2, 3, 4, 5, 7, 8, 13, 16, 32, 64, 100, 128, 254}
	if testing.Short() {
		windows = []int{1, 3, 8, 32, 254}
	}
	checked, passages := 0, 0
	for name, tk := range tokenizers(t) {
		prefix := tk.Options().ContinuingSubwordPrefix
		for ti, text := range texts {
			toks := tk.Tokenize(text)
			for _, w := range windows {
				for k, ov := range []int{0, 1, w / 4, w / 2, w - 1} {
					if ov < 0 || ov >= w || k > 0 && len(toks) <= w {
						continue // (a text that fits has one passage whatever the overlap)
					}
					ps := Split(tk, text, w, ov)
					checked++
					passages += len(ps)
					where := func() string {
						return fmt.Sprintf("%s text %d %q window %d overlap %d", name, ti, trunc(text), w, ov)
					}
					if len(toks) == 0 {
						if len(ps) != 0 {
							t.Fatalf("%s: %d passages of a text without tokens", where(), len(ps))
						}
						continue
					}
					if len(ps) == 0 {
						t.Fatalf("%s: no passages", where())
					}
					for i, p := range ps {
						if p.Start < 0 || p.End > len(text) || p.Start >= p.End || p.Text != text[p.Start:p.End] {
							t.Fatalf("%s: passage %d [%d,%d) text %q does not match its offsets", where(), i, p.Start, p.End, p.Text)
						}
						got := len(tk.Tokenize(p.Text))
						if got != p.Tokens {
							t.Fatalf("%s: passage %d %q: Tokens %d, retokenized %d", where(), i, p.Text, p.Tokens, got)
						}
						if got > w && !uncuttable(toks, p.Start, p.End) {
							t.Fatalf("%s: passage %d %q has %d pieces, window %d", where(), i, p.Text, got, w)
						}
						if i > 0 && (p.Start <= ps[i-1].Start || p.End <= ps[i-1].End) {
							t.Fatalf("%s: passage %d [%d,%d) does not move past passage %d [%d,%d)", where(), i, p.Start, p.End, i-1, ps[i-1].Start, ps[i-1].End)
						}
					}
					// Every token lies inside some passage: the first one
					// ending at or after it (starts and ends increase).
					for _, tok := range toks {
						j := sort.Search(len(ps), func(j int) bool { return ps[j].End >= tok.End })
						if j == len(ps) || ps[j].Start > tok.Start {
							t.Fatalf("%s: token %q [%d,%d) is in no passage: %+v", where(), tok.Piece, tok.Start, tok.End, ps)
						}
					}
					if w >= 100 {
						// The first token at or after each boundary starts a word.
						cont := func(at int) (string, bool) {
							for _, tok := range toks {
								if tok.Start >= at {
									return tok.Piece, strings.HasPrefix(tok.Piece, prefix) && len(tok.Piece) > len(prefix)
								}
							}
							return "", false
						}
						for i, p := range ps {
							if piece, ok := cont(p.Start); ok {
								t.Fatalf("%s: passage %d starts inside a word, on %q", where(), i, piece)
							}
							if piece, ok := cont(p.End); ok {
								t.Fatalf("%s: passage %d ends inside a word, before %q", where(), i, piece)
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d splits, %d passages", checked, passages)
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func TestSplitExamples(t *testing.T) {
	tk := miniLM(t)
	for _, tc := range []struct {
		name            string
		text            string
		window, overlap int
		want            []string
	}{
		{"empty", "", 8, 2, nil},
		{"white space", " \t\n\r\u00a0\u3000 ", 8, 2, nil},
		{"only deleted characters", "\u200b\x00\ufeff", 8, 2, nil},
		{"fits", "Hello, world!", 8, 2, []string{"Hello, world!"}},
		{"leading and trailing space dropped", "  Hello world  ", 8, 2, []string{"Hello world"}},
		// "unaffable" is una ##ffa ##ble: the cut backs off to the word start.
		{"no cut inside a word", "the the unaffable", 4, 0, []string{"the the", "unaffable"}},
		{"overlap backs off to a word start", "aa bb unaffable dd ee", 5, 1, []string{"aa bb unaffable", "unaffable dd ee"}},
		{"a word longer than the window is cut", "unaffable", 2, 0, []string{"unaffa", "ble"}},
		{"overlap", "a b c d e f g", 3, 1, []string{"a b c", "c d e", "e f g"}},
		{"zero overlap", "a b c d e f g", 3, 0, []string{"a b c", "d e f", "g"}},
		{"no trailing passage of overlap only", "a b c d", 3, 2, []string{"a b c", "b c d"}},
		{"hangul syllable not cut", "한", 2, 0, []string{"한"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := Split(tk, tc.text, tc.window, tc.overlap)
			var got []string
			for _, p := range ps {
				got = append(got, p.Text)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || len(got) != len(tc.want) {
				t.Errorf("Split(%q, %d, %d) = %q, want %q", tc.text, tc.window, tc.overlap, got, tc.want)
			}
		})
	}
}

func TestSplitLongDocument(t *testing.T) {
	tk := miniLM(t)
	text := prose(200 << 10)
	ps := Split(tk, text, 254, DefaultOverlap)
	total := len(tk.Tokenize(text))
	if len(ps) < total/254 {
		t.Fatalf("%d passages for %d tokens", len(ps), total)
	}
	sum := 0
	for i, p := range ps {
		if p.Tokens > 254 {
			t.Fatalf("passage %d: %d tokens", i, p.Tokens)
		}
		if i < len(ps)-1 && p.Tokens < 254-20 {
			t.Errorf("passage %d: only %d tokens of 254", i, p.Tokens)
		}
		sum += p.Tokens
	}
	// About overlap tokens are repeated per cut.
	extra := float64(sum-total) / float64(len(ps)-1)
	if extra < DefaultOverlap || extra > DefaultOverlap+8 {
		t.Errorf("mean overlap %.1f tokens, want about %d", extra, DefaultOverlap)
	}
}

// TestSegments splits a text tokenized in small segments: the passages keep
// every property and cover every token of the whole text.
func TestSegments(t *testing.T) {
	tk := miniLM(t)
	text := prose(40000) + strings.Repeat("x", 3000) + " tail"
	sp := newSplitter(tk, 32, 8)
	sp.segment = 700
	ps := sp.splitText(nil, text, 5)
	toks := tk.Tokenize(text)
	for i, p := range ps {
		if text[p.Start-5:p.End-5] != p.Text || p.Tokens > 32 || p.Tokens != len(tk.Tokenize(p.Text)) {
			t.Fatalf("passage %d: %+v", i, p)
		}
	}
	for _, tok := range toks {
		ok := false
		for _, p := range ps {
			ok = ok || p.Start-5 <= tok.Start && tok.End <= p.End-5
		}
		if !ok {
			t.Fatalf("token %+v in no passage", tok)
		}
	}
	if len(ps) < len(toks)/24 {
		t.Errorf("%d passages for %d tokens", len(ps), len(toks))
	}
}

func TestSplitAll(t *testing.T) {
	tk := miniLM(t)
	passages := []string{
		"## Model description\n",
		"   \n",
		strings.Repeat("The model turns French speech into text. ", 20) + "\n",
		"More information needed\n",
	}
	joined := strings.Join(passages, "")
	ps := SplitAll(tk, passages, 32, 4)
	if len(ps) < 4 {
		t.Fatalf("%d passages", len(ps))
	}
	if ps[0].Text != "## Model description" || ps[0].Start != 0 {
		t.Errorf("first passage %+v", ps[0])
	}
	last := ps[len(ps)-1]
	if last.Text != "More information needed" {
		t.Errorf("last passage %+v", last)
	}
	// Offsets refer to the concatenation, and no passage spans two inputs.
	bounds := []int{0}
	for _, p := range passages {
		bounds = append(bounds, bounds[len(bounds)-1]+len(p))
	}
	for i, p := range ps {
		if joined[p.Start:p.End] != p.Text || p.Tokens > 32 {
			t.Errorf("passage %d %+v", i, p)
		}
		for _, b := range bounds[1 : len(bounds)-1] {
			if p.Start < b && b < p.End {
				t.Errorf("passage %d [%d,%d) spans the boundary at %d", i, p.Start, p.End, b)
			}
		}
	}
	if got := SplitAll(tk, nil, 32, 4); got != nil {
		t.Errorf("SplitAll(nil) = %v", got)
	}
}

func TestParams(t *testing.T) {
	for _, tc := range []struct {
		w, o int
		ok   bool
	}{{254, 32, true}, {1, 0, true}, {0, 0, false}, {8, 8, false}, {8, -1, false}} {
		if err := CheckParams(tc.w, tc.o); (err == nil) != tc.ok {
			t.Errorf("CheckParams(%d, %d) = %v", tc.w, tc.o, err)
		}
	}
	// Out-of-range parameters are clamped, not a panic or a loop.
	tk := miniLM(t)
	for _, p := range [][2]int{{0, 0}, {-5, 3}, {3, 3}, {3, 100}, {3, -2}} {
		ps := Split(tk, "one two three four five", p[0], p[1])
		if len(ps) == 0 {
			t.Errorf("Split window %d overlap %d: no passages", p[0], p[1])
		}
	}
}

// prose returns about n bytes of English-like text.
func prose(n int) string {
	words := strings.Fields(`the model maps sentences and paragraphs to a dense vector space and can be used
	for tasks like clustering or semantic search it was trained on a large and diverse dataset of over one
	billion training pairs input text longer than two hundred fifty six word pieces is truncated by default
	unaffable antidisestablishmentarianism transformers tokenization Hokkaidō naïve café résumé 3.14159
	e-mail co-operation state-of-the-art (parenthesized) "quoted" — dashes, commas; semicolons: colons!`)
	r := rand.New(rand.NewPCG(3, 4))
	var sb strings.Builder
	for sb.Len() < n {
		sb.WriteString(words[r.IntN(len(words))])
		if r.IntN(12) == 0 {
			sb.WriteString(".\n")
		} else {
			sb.WriteByte(' ')
		}
	}
	return sb.String()
}

func BenchmarkSplit(b *testing.B) {
	tk := miniLM(b)
	text := prose(1 << 20)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		Split(tk, text, 254, DefaultOverlap)
	}
}

// BenchmarkTokenize is the floor Split is measured against: one pass of
// the tokenizer over the same text.
func BenchmarkTokenize(b *testing.B) {
	tk := miniLM(b)
	text := prose(1 << 20)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tk.Tokenize(text)
	}
}
