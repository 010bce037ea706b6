// Package chunk cuts documents into passages that fit a model's input,
// counting in the model's own word pieces.
//
// A passage is a run of at most window word pieces (the [CLS]/[SEP] the
// model adds not counted: callers pass max_seq_length − 2), and consecutive
// passages share about overlap pieces. Its text is the exact substring
// text[Start:End] from its first piece's first byte to its last piece's last
// byte, so offsets and text always agree and a hit can be shown in its
// document.
//
// # Where passages are cut
//
// Cuts fall between word pieces, preferably between words: a passage ends
// before the first piece of a word and starts on one (never on a "##"
// continuation), backing off to the start of the word, which makes the
// overlap a little longer rather than shorter (but never so long that the
// next passage could not reach past the following word). A word is cut
// inside only when it is longer than the whole window, which cannot happen
// for windows of 100 pieces or more with BERT's limit of 100 characters a
// word (a longer word is a single [UNK]). Pieces that come
// from the same input characters (the jamo pieces of one Hangul syllable,
// the two pieces of a lowercased "İ") are never separated, since no
// substring could hold one without the other.
//
// # The window is a guarantee
//
// Every passage's text, tokenized again on its own, has at most window
// pieces, and Passage.Tokens is that count. The tokenizer's normalizer
// looks at more than one character in a few places (a passage starting
// inside a word re-reads it as a word start; canonical reordering of
// combining marks; special tokens that only count as whole words), so a
// substring's pieces can differ from the pieces of the whole text at the
// same place. Split therefore tokenizes each passage again and, in the rare
// case where it is longer than the window, ends it at an earlier cut. The
// only passages that can exceed the window are single groups of pieces that
// cannot be cut at all (a Hangul syllable is 3 pieces), with windows smaller
// than such a group.
//
// # Memory
//
// A text is tokenized in segments of about 1 MiB cut after white space, so
// that a huge document does not hold tens of bytes per token of all of it at
// once; passages do not cross these cuts.
package chunk

import (
	"fmt"
	"strings"

	"github.com/quarry-search/quarry/engine/tokenize"
)

// DefaultOverlap is the usual overlap between passages, in word pieces.
const DefaultOverlap = 32

// Passage is a piece of a text that fits the window.
type Passage struct {
	Text       string // text[Start:End]
	Start, End int    // byte offsets in the text
	Tokens     int    // word pieces of Text tokenized on its own
}

// CheckParams validates a window and overlap as Split takes them: window at
// least 1, overlap at least 0 and below the window.
func CheckParams(window, overlap int) error {
	if window < 1 {
		return fmt.Errorf("chunk: window %d: must be at least 1 word piece", window)
	}
	if overlap < 0 || overlap >= window {
		return fmt.Errorf("chunk: overlap %d: must be at least 0 and less than the window (%d)", overlap, window)
	}
	return nil
}

// Split cuts text into passages of at most window word pieces that overlap
// by about overlap pieces. Text with no word pieces (empty, white space,
// only deleted control characters) has no passages. A window below 1 counts
// as 1, and an overlap outside [0, window) is clamped into it; see
// CheckParams.
func Split(tok *tokenize.Tokenizer, text string, window, overlap int) []Passage {
	sp := newSplitter(tok, window, overlap)
	return sp.splitText(nil, text, 0)
}

// SplitAll cuts pre-split passages (a hub model's) further where they are
// longer than the window; a passage never spans two of them. Offsets refer
// to their concatenation, strings.Join(passages, "").
func SplitAll(tok *tokenize.Tokenizer, passages []string, window, overlap int) []Passage {
	sp := newSplitter(tok, window, overlap)
	var out []Passage
	base := 0
	for _, p := range passages {
		out = sp.splitText(out, p, base)
		base += len(p)
	}
	return out
}

// Cut flags of the position before token c.
const (
	cutValid uint8 = 1 << iota // no token before c overlaps a token from c on
	cutWord                    // and token c starts a word
)

type splitter struct {
	tok             *tokenize.Tokenizer
	window, overlap int
	prefix          string
	toks            []tokenize.Token
	check           []tokenize.Token
	cuts            []uint8
	mins            []int // suffix minima of token starts
	segment         int   // longest text tokenized at once, bytes
}

func newSplitter(tok *tokenize.Tokenizer, window, overlap int) *splitter {
	window = max(window, 1)
	overlap = min(max(overlap, 0), window-1)
	return &splitter{tok: tok, window: window, overlap: overlap, prefix: tok.Options().ContinuingSubwordPrefix, segment: maxSegment}
}

// maxSegment bounds the text tokenized at once: a token takes about 50
// bytes, so a 64 MiB document tokenized whole would hold gigabytes.
const maxSegment = 1 << 20

// splitText splits text in segments of about sp.segment bytes, cut after
// ASCII white space, which ends any word and any run the normalizer
// reorders; passages do not cross a cut (one passage in thousands is
// shorter than it could be).
func (sp *splitter) splitText(dst []Passage, text string, base int) []Passage {
	for lo := 0; lo < len(text); {
		hi := len(text)
		if hi-lo > sp.segment {
			hi = cutAfterSpace(text, lo, lo+sp.segment)
		}
		dst = sp.split(dst, text[lo:hi], base+lo)
		lo = hi
	}
	return dst
}

// cutAfterSpace returns the last position p in (lo, at] after an ASCII
// white space byte, else the first one after at, else len(text).
func cutAfterSpace(text string, lo, at int) int {
	space := func(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }
	for p := at; p > lo; p-- {
		if space(text[p-1]) {
			return p
		}
	}
	for p := at + 1; p < len(text); p++ {
		if space(text[p-1]) {
			return p
		}
	}
	return len(text)
}

// split appends the passages of text, offsets shifted by base.
func (sp *splitter) split(dst []Passage, text string, base int) []Passage {
	sp.toks = sp.tok.AppendTokens(sp.toks[:0], text)
	toks := sp.toks
	n := len(toks)
	if n == 0 {
		return dst
	}
	sp.markCuts(toks)
	s, prevEnd := 0, 0
	for {
		e := sp.chooseEnd(prevEnd, min(s+sp.window, n), n)
		start, end := span(toks[s:e])
		count := sp.count(text[start:end])
		for count > sp.window {
			c := sp.before(s, e)
			if c < 0 {
				break // an uncuttable group longer than the window
			}
			if c <= prevEnd && s < prevEnd {
				// The passage would end within the previous one: give up
				// the overlap instead.
				s = prevEnd
				c = sp.chooseEnd(prevEnd, min(s+sp.window, n), n)
			}
			e = c
			start, end = span(toks[s:e])
			count = sp.count(text[start:end])
		}
		dst = append(dst, Passage{Text: text[start:end], Start: base + start, End: base + end, Tokens: count})
		if e == n {
			return dst
		}
		s, prevEnd = sp.chooseStart(s, e), e
	}
}

// markCuts computes the cut flags of positions 0..n: valid where every
// token before ends by where every token after starts (spans are monotone
// except within groups of pieces from the same characters).
func (sp *splitter) markCuts(toks []tokenize.Token) {
	n := len(toks)
	if cap(sp.cuts) < n+1 {
		sp.cuts = make([]uint8, n+1)
		sp.mins = make([]int, n+1)
	}
	cuts, mins := sp.cuts[:n+1], sp.mins[:n+1]
	mins[n] = int(^uint(0) >> 1)
	for c := n - 1; c >= 0; c-- {
		mins[c] = min(mins[c+1], toks[c].Start)
	}
	cuts[0], cuts[n] = cutValid|cutWord, cutValid|cutWord
	maxEnd := 0
	for c := 1; c < n; c++ {
		maxEnd = max(maxEnd, toks[c-1].End)
		cuts[c] = 0
		if maxEnd <= mins[c] {
			cuts[c] = cutValid
			if !sp.continues(toks[c]) {
				cuts[c] |= cutWord
			}
		}
	}
}

// continues reports whether a token continues the word before it.
func (sp *splitter) continues(t tokenize.Token) bool {
	return len(t.Piece) > len(sp.prefix) && strings.HasPrefix(t.Piece, sp.prefix)
}

// chooseEnd picks the end of a passage: the last word cut in (lo, hi], else
// the last valid cut there, else the first valid cut after both.
func (sp *splitter) chooseEnd(lo, hi, n int) int {
	if hi >= n {
		return n
	}
	if c := sp.last(lo, hi, cutWord); c >= 0 {
		return c
	}
	if c := sp.last(lo, hi, cutValid); c >= 0 {
		return c
	}
	for c := max(lo, hi) + 1; ; c++ {
		if sp.cuts[c]&cutValid != 0 {
			return c
		}
	}
}

// before returns the cut before e to shrink a passage [lo, e) to: the last
// word cut in (lo, e), else the last valid cut there, else -1.
func (sp *splitter) before(lo, e int) int {
	if c := sp.last(lo, e-1, cutWord); c >= 0 {
		return c
	}
	return sp.last(lo, e-1, cutValid)
}

// chooseStart picks the start of the passage after [s, e): overlap pieces
// before e, backed off to a word start; failing that, the first word start
// after that point; failing that (a word longer than the window), e, with
// no overlap: a start inside a word would read it differently. The overlap
// shrinks where it would leave the next passage too little room to reach
// past the word that follows e.
func (sp *splitter) chooseStart(s, e int) int {
	target := e - sp.overlap
	if target <= s {
		target = s + 1
	}
	c := sp.last(s, target, cutWord)
	if c < 0 {
		c = sp.first(target+1, e, cutWord)
	}
	if c < 0 {
		return e
	}
	w := sp.first(e+1, len(sp.cuts)-1, cutWord) // the next word's end
	if w-c > sp.window {
		if c = sp.first(max(c, w-sp.window), e, cutWord); c < 0 {
			return e
		}
	}
	return c
}

// first returns the first position c in [lo, hi] with the flag, or -1.
func (sp *splitter) first(lo, hi int, flag uint8) int {
	for c := lo; c <= hi; c++ {
		if sp.cuts[c]&flag != 0 {
			return c
		}
	}
	return -1
}

// last returns the last position c in (lo, hi] with the flag, or -1.
func (sp *splitter) last(lo, hi int, flag uint8) int {
	for c := hi; c > lo; c-- {
		if sp.cuts[c]&flag != 0 {
			return c
		}
	}
	return -1
}

// count tokenizes a passage again and returns its number of pieces.
func (sp *splitter) count(text string) int {
	sp.check = sp.tok.AppendTokens(sp.check[:0], text)
	return len(sp.check)
}

// span returns the byte range the tokens cover.
func span(toks []tokenize.Token) (start, end int) {
	start, end = toks[0].Start, toks[0].End
	for _, t := range toks[1:] {
		start = min(start, t.Start)
		end = max(end, t.End)
	}
	return start, end
}
