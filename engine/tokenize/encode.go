package tokenize

// Tokenize returns the word pieces of text, without [CLS] and [SEP] (special
// tokens written in the text are included, see Options.EncodeSpecialTokens).
func (t *Tokenizer) Tokenize(text string) []Token {
	return t.AppendTokens(nil, text)
}

// AppendTokens appends the word pieces of text to dst and returns the
// extended slice, as Tokenize.
func (t *Tokenizer) AppendTokens(dst []Token, text string) []Token {
	s := t.getState()
	s.out = dst
	s.tokenize(text)
	dst = s.out
	t.putState(s)
	return dst
}

// Encode tokenizes text into [CLS] tokens [SEP], cut to at most maxLen ids,
// special tokens included (no limit if maxLen <= 0). If maxLen is smaller
// than the number of special tokens, the result has the special tokens only
// (HF does not truncate at all then, an unsigned underflow).
func (t *Tokenizer) Encode(text string, maxLen int) Encoding {
	s := t.getState()
	s.out = s.tokens[:0]
	s.tokenize(text)
	a := s.out
	n := len(a) + t.single.specials()
	if maxLen > 0 {
		a = a[:min(len(a), max(0, maxLen-t.single.specials()))]
	}
	enc := t.single.build(a, nil, n)
	s.tokens = s.out[:0]
	t.putState(s)
	return enc
}

// EncodePair tokenizes a pair of texts (a query and a passage for a
// cross-encoder) into [CLS] a [SEP] b [SEP], token types 0 up to the first
// [SEP] and 1 after it, cut to at most maxLen ids (no limit if maxLen <= 0)
// with HF's longest_first strategy (see truncatePair).
func (t *Tokenizer) EncodePair(a, b string, maxLen int) Encoding {
	s := t.getState()
	s.out = s.tokens[:0]
	s.tokenize(a)
	na := len(s.out)
	s.tokenize(b)
	ta, tb := s.out[:na:na], s.out[na:]
	n := len(ta) + len(tb) + t.pair.specials()
	if maxLen > 0 {
		la, lb := truncatePair(len(ta), len(tb), max(0, maxLen-t.pair.specials()))
		ta, tb = ta[:la], tb[:lb]
	}
	enc := t.pair.build(ta, tb, n)
	s.tokens = s.out[:0]
	t.putState(s)
	return enc
}

// truncatePair returns how many tokens of each sequence longest_first keeps
// within budget, exactly as HF tokenizers' truncate_encodings: if the shorter
// sequence fits in half the budget, it is kept whole and the longer one gets
// the rest; otherwise the shorter one gets budget/2 and the longer one
// budget/2 + budget%2, the second sequence counting as the longer on a tie.
// (Removing one token at a time from the longer sequence, as Python's slow
// tokenizers do, differs on odd budgets: 6+7 tokens in 11 give 5+6 here and
// 6+5 there.)
func truncatePair(la, lb, budget int) (int, int) {
	if la+lb <= budget {
		return la, lb
	}
	n1, n2 := la, lb
	swap := n1 > n2
	if swap {
		n1, n2 = n2, n1
	}
	if n1 > budget {
		n2 = n1
	} else {
		n2 = max(n1, budget-n1)
	}
	if n1+n2 > budget {
		n1 = budget / 2
		n2 = n1 + budget%2
	}
	if swap {
		n1, n2 = n2, n1
	}
	return min(la, n1), min(lb, n2)
}

// build lays out the template around the (truncated) tokens of a and b.
func (tp template) build(a, b []Token, numTokens int) Encoding {
	n := len(a) + len(b) + tp.specials()
	enc := Encoding{
		IDs:       make([]int32, n),
		TypeIDs:   make([]int32, n),
		Offsets:   make([][2]int, n),
		NumTokens: numTokens,
	}
	k := 0
	for _, p := range tp {
		if p.seq < 0 {
			for _, id := range p.ids {
				enc.IDs[k], enc.TypeIDs[k] = id, p.typeID
				k++
			}
			continue
		}
		toks := a
		if p.seq == 1 {
			toks = b
		}
		for _, tok := range toks {
			enc.IDs[k], enc.TypeIDs[k], enc.Offsets[k] = tok.ID, p.typeID, [2]int{tok.Start, tok.End}
			k++
		}
	}
	enc.Truncated = n < numTokens
	return enc
}
