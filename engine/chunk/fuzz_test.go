package chunk

import (
	"sort"
	"testing"
)

// FuzzSplit checks Split's guarantees on arbitrary text, windows and
// overlaps: offsets and text agree, Tokens is the passage's own count and at
// most the window (but for an uncuttable group), passages move forward and
// cover every token.
func FuzzSplit(f *testing.F) {
	tk := miniLM(f)
	for _, s := range []string{"Hello, world! unaffable", "한국어 İstanbul", "a\u200bb [SEP] c\u0301", "\xff\xfe", ""} {
		f.Add(s, uint8(3), uint8(1))
	}
	f.Fuzz(func(t *testing.T, text string, w, ov uint8) {
		window, overlap := int(w%64)+1, int(ov%64)
		ps := Split(tk, text, window, overlap)
		toks := tk.Tokenize(text)
		if (len(toks) == 0) != (len(ps) == 0) {
			t.Fatalf("%d tokens, %d passages", len(toks), len(ps))
		}
		for i, p := range ps {
			if p.Start < 0 || p.End > len(text) || p.Start >= p.End || p.Text != text[p.Start:p.End] {
				t.Fatalf("passage %d %+v", i, p)
			}
			got := len(tk.Tokenize(p.Text))
			if got != p.Tokens || got > window && !uncuttable(toks, p.Start, p.End) {
				t.Fatalf("passage %d %q: Tokens %d, retokenized %d, window %d", i, p.Text, p.Tokens, got, window)
			}
			if i > 0 && (p.Start <= ps[i-1].Start || p.End <= ps[i-1].End) {
				t.Fatalf("passage %d does not move forward", i)
			}
		}
		for _, tok := range toks {
			j := sort.Search(len(ps), func(j int) bool { return ps[j].End >= tok.End })
			if j == len(ps) || ps[j].Start > tok.Start {
				t.Fatalf("token %+v in no passage", tok)
			}
		}
	})
}
