package tokenize

import "unicode"

// Character properties, one bit each, as HF's BertNormalizer and
// BertPreTokenizer see them (tables.go).
const (
	cOther      uint8 = 1 << iota // deleted by clean_text
	cSpace                        // whitespace
	cPunct                        // isolated by the pre-tokenizer
	cChinese                      // spaced by handle_chinese_chars
	cMark                         // deleted by strip_accents after NFD
	cNonStarter                   // non-zero canonical combining class
	cDecomp                       // has a canonical decomposition
	cLower                        // changed by lowercasing
)

// Hangul syllables decompose algorithmically (Unicode §3.12).
const (
	hangulBase  = 0xAC00
	hangulCount = 11172
	jamoLBase   = 0x1100
	jamoVBase   = 0x1161
	jamoTBase   = 0x11A7
	jamoVCount  = 21
	jamoTCount  = 28
)

// bmpProps caches the properties of the Basic Multilingual Plane, where nearly
// all text lives; the rest is looked up in the tables.
var bmpProps = buildBMPProps()

func buildBMPProps() *[0x10000]uint8 {
	p := new([0x10000]uint8)
	for _, t := range []struct {
		table *unicode.RangeTable
		bit   uint8
	}{
		{hfOther, cOther},
		{hfWhitespace, cSpace},
		{hfPunct, cPunct},
		{hfChinese, cChinese},
		{hfNonspacingMark, cMark},
	} {
		for _, r := range t.table.R16 {
			for c := int(r.Lo); c <= int(r.Hi); c += int(r.Stride) {
				p[c] |= t.bit
			}
		}
	}
	for c := range hfCombiningClass {
		if c < 0x10000 {
			p[c] |= cNonStarter
		}
	}
	for c := range hfDecomposition {
		if c < 0x10000 {
			p[c] |= cDecomp
		}
	}
	for c := hangulBase; c < hangulBase+hangulCount; c++ {
		p[c] |= cDecomp
	}
	for c := range hfLowercase {
		if c < 0x10000 {
			p[c] |= cLower
		}
	}
	return p
}

// props returns the property bits of c.
func props(c rune) uint8 {
	if uint32(c) < 0x10000 {
		return bmpProps[c]
	}
	var p uint8
	if unicode.Is(hfOther, c) {
		p |= cOther
	}
	if unicode.Is(hfPunct, c) {
		p |= cPunct
	}
	if unicode.Is(hfChinese, c) {
		p |= cChinese
	}
	if unicode.Is(hfNonspacingMark, c) {
		p |= cMark
	}
	if _, ok := hfCombiningClass[c]; ok {
		p |= cNonStarter
	}
	if _, ok := hfDecomposition[c]; ok {
		p |= cDecomp
	}
	if _, ok := hfLowercase[c]; ok {
		p |= cLower
	}
	// No White_Space character lies outside the BMP.
	return p
}

// decompose appends the canonical decomposition of c (which has cDecomp) to
// buf.
func decompose(buf []rune, c rune) []rune {
	if s := c - hangulBase; 0 <= s && s < hangulCount {
		buf = append(buf, jamoLBase+s/(jamoVCount*jamoTCount), jamoVBase+s%(jamoVCount*jamoTCount)/jamoTCount)
		if t := s % jamoTCount; t != 0 {
			buf = append(buf, jamoTBase+t)
		}
		return buf
	}
	for _, d := range hfDecomposition[c] {
		buf = append(buf, d)
	}
	return buf
}
