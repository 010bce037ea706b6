package bert

import (
	"bufio"
	"fmt"
	"github.com/quarry-search/quarry/internal/fsx"
	"strings"
	"unicode"
)

// wordStart is the prefix llama.cpp gives word-start WordPiece tokens (U+2581).
const wordStart = "\u2581"

// bracketed reports whether tok is a bracketed special such as [CLS] or
// [unused0], which llama.cpp's converter leaves unchanged.
func bracketed(tok string) bool {
	return len(tok) >= 2 && strings.HasPrefix(tok, "[") && strings.HasSuffix(tok, "]")
}

// ToGGMLToken converts a Hugging Face WordPiece token to llama.cpp's form, as
// convert_hf_to_gguf.py does: bracketed specials unchanged, "##x" → "x",
// any other token → "▁" + token.
func ToGGMLToken(tok string) string {
	if bracketed(tok) {
		return tok
	}
	if rest, ok := strings.CutPrefix(tok, "##"); ok {
		return rest
	}
	return wordStart + tok
}

// FromGGMLToken is the inverse of ToGGMLToken: "▁x" → "x", bracketed
// specials unchanged, any other token is a continuation → "##" + token.
func FromGGMLToken(tok string) string {
	if rest, ok := strings.CutPrefix(tok, wordStart); ok {
		return rest
	}
	if bracketed(tok) {
		return tok
	}
	return "##" + tok
}

// ReadVocabFile reads a Hugging Face vocab.txt: one token per line, the line
// number is the id. A trailing "\r" is removed; empty lines are kept as empty
// tokens only when followed by more tokens (a final newline adds none).
func ReadVocabFile(path string) ([]string, error) {
	f, err := fsx.OpenRegular(path, "vocab.txt file")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var vocab []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		vocab = append(vocab, strings.TrimSuffix(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(vocab) == 0 {
		return nil, fmt.Errorf("%s: empty vocabulary", path)
	}
	return vocab, nil
}

// SpecialIDs finds [CLS], [SEP], [PAD], [UNK] and [MASK] in a Hugging Face
// vocabulary and sets the corresponding Config ids (NoToken when absent).
func (c *Config) SpecialIDs(vocab []string) {
	c.CLSID, c.SEPID, c.PADID, c.UNKID, c.MaskID = NoToken, NoToken, NoToken, NoToken, NoToken
	for i, t := range vocab {
		var p *int
		switch t {
		case "[CLS]":
			p = &c.CLSID
		case "[SEP]":
			p = &c.SEPID
		case "[PAD]":
			p = &c.PADID
		case "[UNK]":
			p = &c.UNKID
		case "[MASK]":
			p = &c.MaskID
		}
		if p != nil && *p == NoToken {
			*p = i
		}
	}
}

// VocabIsUncased reports whether no token other than bracketed specials has
// a letter that lowercasing changes: the default for lowercasing when a GGUF
// file does not say. (Uppercase letters without a lowercase form, such as
// "ℝ" in bert-base-uncased, do not count.)
func VocabIsUncased(vocab []string) bool {
	for _, t := range vocab {
		if bracketed(t) {
			continue
		}
		for _, r := range t {
			if unicode.ToLower(r) != r {
				return false
			}
		}
	}
	return true
}

// specialSet is the ids that get token type 3 (control) in GGUF: the special
// tokens of the Config, as llama.cpp's converter marks the added special
// tokens of tokenizer.json. [unusedN] stay normal (1).
func (c *Config) specialSet() map[int]bool {
	s := map[int]bool{}
	for _, id := range []int{c.CLSID, c.SEPID, c.PADID, c.UNKID, c.MaskID} {
		if id >= 0 {
			s[id] = true
		}
	}
	return s
}
