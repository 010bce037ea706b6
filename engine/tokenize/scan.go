package tokenize

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// span is a byte range of the original input.
type span struct{ start, end int }

// runElem is a non-starter waiting for canonical reordering.
type runElem struct {
	r        rune
	ccc      uint8
	inserted bool // not the first character of its decomposition
	sp       span
}

// state is the per-call scratch of the streaming pipeline: the input is read
// one character at a time, normalized, and cut into words, and each finished
// word goes through WordPiece. Nothing is allocated per character.
type state struct {
	t   *Tokenizer
	out []Token

	// The current word: normalized UTF-8, the byte offset where each
	// character starts (one more entry, the end, while in WordPiece), and the
	// input span of each character.
	word   []byte
	bounds []int32
	spans  []span
	n      int // characters, counting those past the maximum
	last   int // end of the last character's span

	// strip_accents: NFD reorders each run of non-starters by combining
	// class before marks are deleted. Like HF, which hands out the input
	// spans of the run in order to the reordered characters, the run is held
	// back until a starter ends it.
	run      []runElem
	runSpans []span
	runPrev  span // span of the last character consumed before the run
	consumed span // span of the last non-inserted character of NFD
	decomp   []rune

	tokens []Token // Encode's scratch

	onWord func(word string) // tests: receives the pre-tokenized words instead of WordPiece
}

func (t *Tokenizer) getState() *state {
	s := t.pool.Get().(*state)
	s.t = t
	return s
}

func (t *Tokenizer) putState(s *state) {
	s.t = nil
	s.out = nil
	if cap(s.word) > 1<<16 { // a huge word: do not keep its buffers
		s.word, s.bounds, s.spans = nil, nil, nil
	}
	if cap(s.tokens) > 1<<16 {
		s.tokens = nil
	}
	t.pool.Put(s)
}

// tokenize appends the tokens of text to s.out.
func (s *state) tokenize(text string) {
	t := s.t
	if len(t.added) == 0 {
		s.segment(text, 0, len(text))
		return
	}
	pos := 0 // end of the last added token
	for i := 0; i < len(text); {
		if !t.addedFirst[text[i]] {
			i++
			continue
		}
		a := t.matchAdded(text[i:])
		if a == nil {
			i++
			continue
		}
		start, stop := i, i+len(a.content)
		i = stop // HF's matcher goes on after the match, used or not
		if t.opts.EncodeSpecialTokens && a.special {
			continue
		}
		if a.singleWord && (endsWithWordChar(text[:start]) || startsWithWordChar(text[stop:])) {
			continue
		}
		if a.lstrip {
			start = max(len(strings.TrimRightFunc(text[:start], unicode.IsSpace)), pos)
		}
		if a.rstrip {
			stop = len(text) - len(strings.TrimLeftFunc(text[stop:], unicode.IsSpace))
		}
		if pos < start {
			s.segment(text, pos, start)
		}
		s.out = append(s.out, Token{ID: a.id, Piece: a.content, Start: start, End: stop})
		pos = stop
	}
	if pos < len(text) {
		s.segment(text, pos, len(text))
	}
}

// matchAdded returns the longest added token text starts with.
func (t *Tokenizer) matchAdded(text string) *addedToken {
	var best *addedToken
	for i := range t.added {
		a := &t.added[i]
		if len(a.content) <= len(text) && text[:len(a.content)] == a.content && (best == nil || len(a.content) > len(best.content)) {
			best = a
		}
	}
	return best
}

// segment runs the normalizer, pre-tokenizer and WordPiece over text[lo:hi].
func (s *state) segment(text string, lo, hi int) {
	t := s.t
	for i := lo; i < hi; {
		c, size := rune(text[i]), 1
		if c >= utf8.RuneSelf {
			c, size = utf8.DecodeRuneInString(text[i:hi])
		}
		sp := span{i, i + size}
		i += size
		p := props(c)
		if p == 0 || p == cLower && c < utf8.RuneSelf {
			// Fast path: a character that is only a letter (or digit,
			// symbol, ...), possibly ASCII uppercase.
			if len(s.run) > 0 {
				s.flushRun()
			}
			s.consumed = sp
			if t.lower && p == cLower {
				c += 'a' - 'A'
			}
			s.addRune(c, sp)
			continue
		}
		if t.clean {
			if p&cOther != 0 {
				continue
			}
			if p&cSpace != 0 {
				c, p = ' ', props(' ')
			}
		}
		if t.chinese && p&cChinese != 0 {
			sp2 := props(' ')
			s.normalized(' ', sp2, sp)
			s.normalized(c, p, sp)
			s.normalized(' ', sp2, sp)
			continue
		}
		s.normalized(c, p, sp)
	}
	if len(s.run) > 0 {
		s.flushRun()
	}
	s.endWord()
}

// normalized takes a character after clean_text and handle_chinese_chars,
// and applies strip_accents (NFD, marks deleted) and lowercasing.
func (s *state) normalized(c rune, p uint8, sp span) {
	if !s.t.strip {
		s.lowercased(c, p, sp)
		return
	}
	if p&cDecomp == 0 {
		s.nfd(c, p, sp, false)
		return
	}
	s.decomp = decompose(s.decomp[:0], c)
	for k, d := range s.decomp {
		s.nfd(d, props(d), sp, k > 0)
	}
}

// nfd takes one character of the NFD output.
func (s *state) nfd(c rune, p uint8, sp span, inserted bool) {
	if p&cNonStarter == 0 {
		if len(s.run) > 0 {
			s.flushRun()
		}
		if !inserted {
			s.consumed = sp
		}
		if p&cMark == 0 {
			s.lowercased(c, p, sp)
		}
		return
	}
	if len(s.run) == 0 {
		s.runPrev = s.consumed
	}
	s.run = append(s.run, runElem{r: c, ccc: hfCombiningClass[c], inserted: inserted, sp: sp})
	if !inserted {
		s.consumed = sp
	}
}

// flushRun reorders the pending non-starters canonically and passes on those
// that are not marks.
func (s *state) flushRun() {
	run := s.run
	sorted := true
	for i := 1; i < len(run); i++ {
		if run[i].ccc < run[i-1].ccc {
			sorted = false
			break
		}
	}
	if !sorted {
		// HF's transform gives the k-th consumed input span to the k-th
		// non-inserted character of the reordered run, and each inserted
		// character the span before it.
		s.runSpans = s.runSpans[:0]
		for _, e := range run {
			if !e.inserted {
				s.runSpans = append(s.runSpans, e.sp)
			}
		}
		for i := 1; i < len(run); i++ { // stable insertion sort
			for j := i; j > 0 && run[j].ccc < run[j-1].ccc; j-- {
				run[j], run[j-1] = run[j-1], run[j]
			}
		}
		prev, k := s.runPrev, 0
		for i := range run {
			if !run[i].inserted {
				prev = s.runSpans[k]
				k++
			}
			run[i].sp = prev
		}
	}
	for _, e := range run {
		if p := props(e.r); p&cMark == 0 {
			s.lowercased(e.r, p, e.sp)
		}
	}
	s.run = run[:0]
}

// lowercased applies lowercasing and passes the result to the pre-tokenizer.
func (s *state) lowercased(c rune, p uint8, sp span) {
	if !s.t.lower || p&cLower == 0 {
		s.pretokenize(c, p, sp)
		return
	}
	if c < utf8.RuneSelf {
		s.pretokenize(c+'a'-'A', 0, sp)
		return
	}
	for _, l := range hfLowercase[c] {
		s.pretokenize(l, props(l), sp)
	}
}

// pretokenize splits words at whitespace and around punctuation.
func (s *state) pretokenize(c rune, p uint8, sp span) {
	switch {
	case p&cSpace != 0:
		s.endWord()
	case p&cPunct != 0:
		s.endWord()
		s.addRune(c, sp)
		s.endWord()
	default:
		s.addRune(c, sp)
	}
}

// addRune appends a normalized character to the current word. Characters
// past the word limit are only counted: the word will be [UNK].
func (s *state) addRune(c rune, sp span) {
	s.n++
	s.last = sp.end
	if s.n > s.t.opts.MaxInputCharsPerWord {
		return
	}
	s.bounds = append(s.bounds, int32(len(s.word)))
	s.spans = append(s.spans, sp)
	if c < utf8.RuneSelf {
		s.word = append(s.word, byte(c))
	} else {
		s.word = utf8.AppendRune(s.word, c)
	}
}

// endWord runs WordPiece over the current word, if any, and starts a new one.
func (s *state) endWord() {
	if s.n == 0 {
		return
	}
	if s.onWord != nil {
		s.onWord(string(s.word))
	} else {
		s.wordPiece()
	}
	s.word, s.bounds, s.spans, s.n = s.word[:0], s.bounds[:0], s.spans[:0], 0
}

// wordPiece appends the pieces of the current word to s.out: greedy
// longest-match-first, continuation pieces after the first, or one [UNK] for
// the whole word when it is too long or some part of it matches nothing.
func (s *state) wordPiece() {
	t := s.t
	n := s.n
	if n > t.opts.MaxInputCharsPerWord {
		s.out = append(s.out, Token{ID: t.ids.Unk, Piece: t.pieces[t.ids.Unk], Start: s.spans[0].start, End: s.last})
		return
	}
	s.bounds = append(s.bounds, int32(len(s.word)))
	mark := len(s.out)
	vocab, maxLen := t.words, t.maxWord
	for i := 0; i < n; {
		start := int(s.bounds[i])
		j := n
		for j > i && int(s.bounds[j])-start > maxLen {
			j--
		}
		for ; j > i; j-- {
			if id, ok := vocab[string(s.word[start:s.bounds[j]])]; ok {
				s.out = append(s.out, Token{ID: id, Piece: t.pieces[id], Start: s.spans[i].start, End: s.spans[j-1].end})
				break
			}
		}
		if j == i {
			s.out = append(s.out[:mark], Token{ID: t.ids.Unk, Piece: t.pieces[t.ids.Unk], Start: s.spans[0].start, End: s.last})
			return
		}
		i = j
		vocab, maxLen = t.conts, t.maxCont
	}
}

// isWordChar is Rust regex's Unicode \w: Alphabetic, marks, decimal digits,
// connector punctuation and joiners (for added tokens' single_word).
func isWordChar(c rune) bool {
	return unicode.IsLetter(c) || unicode.IsMark(c) || unicode.Is(unicode.Nd, c) ||
		unicode.Is(unicode.Nl, c) || unicode.Is(unicode.Pc, c) ||
		unicode.Is(unicode.Other_Alphabetic, c) || unicode.Is(unicode.Join_Control, c)
}

func endsWithWordChar(s string) bool {
	c, size := utf8.DecodeLastRuneInString(s)
	return size > 0 && isWordChar(c)
}

func startsWithWordChar(s string) bool {
	c, size := utf8.DecodeRuneInString(s)
	return size > 0 && isWordChar(c)
}
