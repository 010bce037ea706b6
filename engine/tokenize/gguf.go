package tokenize

import (
	"fmt"
	"strings"

	"github.com/quarry-search/quarry/engine/gguf"
)

// ggufWordStart marks word-start pieces in llama.cpp's form of a WordPiece
// vocabulary.
const ggufWordStart = "\u2581"

// tokenTypeControl is llama.cpp's token type of special tokens.
const tokenTypeControl = 3

// FromGGUF builds a tokenizer from the vocabulary of a GGUF file (docs/gguf.md).
// llama.cpp stores word-start pieces with a leading "▁", continuation pieces
// without "##", and bracketed pieces ("[CLS]", "[unused0]") unchanged; they
// get their HF form back here. Options come from the quarry.tokenizer.* keys;
// without them, the text is lowercased iff no piece other than the specials
// has a letter that lowercasing changes, accents follow lowercasing, and CJK
// is spaced.
// Control tokens (token type 3) are recognized in the input as special
// tokens.
func FromGGUF(f *gguf.File) (*Tokenizer, error) {
	if m, ok := f.String("tokenizer.ggml.model"); ok && m != "bert" {
		return nil, fmt.Errorf("tokenize: GGUF tokenizer model %q is not WordPiece (bert)", m)
	}
	toks, ok := f.Strings("tokenizer.ggml.tokens")
	if !ok || len(toks) == 0 {
		return nil, fmt.Errorf("tokenize: GGUF has no tokenizer.ggml.tokens")
	}
	types, hasTypes := f.Ints("tokenizer.ggml.token_type")
	if hasTypes && len(types) != len(toks) {
		return nil, fmt.Errorf("tokenize: GGUF has %d token types for %d tokens", len(types), len(toks))
	}
	isControl := func(i int) bool { return hasTypes && types[i] == tokenTypeControl }

	opts := DefaultOptions()
	opts.fill()
	pieces := make([]string, len(toks))
	upper := false
	for i, tok := range toks {
		switch {
		case strings.HasPrefix(tok, ggufWordStart):
			pieces[i] = tok[len(ggufWordStart):]
		case bracketed(tok):
			pieces[i] = tok
		default:
			pieces[i] = opts.ContinuingSubwordPrefix + tok
		}
		if !upper && !isControl(i) && !bracketed(tok) && strings.IndexFunc(tok, changesWhenLowercased) >= 0 {
			upper = true
		}
	}
	opts.Lowercase = !upper
	if b, ok := f.Bool("quarry.tokenizer.lowercase"); ok {
		opts.Lowercase = b
	}
	if b, ok := f.Bool("quarry.tokenizer.strip_accents"); ok {
		opts.StripAccents = AccentsKeep
		if b {
			opts.StripAccents = AccentsStrip
		}
	}
	if b, ok := f.Bool("quarry.tokenizer.handle_chinese_chars"); ok {
		opts.HandleChineseChars = b
	}

	t := newTokenizer(pieces, opts)
	for _, sp := range []struct {
		key  string
		name string
		id   *int32
	}{
		{"tokenizer.ggml.unknown_token_id", opts.UnkToken, &t.ids.Unk},
		{"tokenizer.ggml.cls_token_id", opts.CLSToken, &t.ids.CLS},
		{"tokenizer.ggml.seperator_token_id", opts.SEPToken, &t.ids.SEP},
		{"tokenizer.ggml.padding_token_id", opts.PadToken, &t.ids.Pad},
		{"tokenizer.ggml.mask_token_id", opts.MaskToken, &t.ids.Mask},
	} {
		if v, ok := f.Int(sp.key); ok {
			if v < 0 || v >= int64(len(pieces)) {
				return nil, fmt.Errorf("tokenize: GGUF %s = %d is out of the vocabulary", sp.key, v)
			}
			*sp.id = int32(v)
		} else {
			*sp.id = t.optional(sp.name)
		}
	}
	if t.ids.Unk < 0 || t.ids.CLS < 0 || t.ids.SEP < 0 {
		return nil, fmt.Errorf("tokenize: GGUF vocabulary lacks [UNK], [CLS] or [SEP]")
	}
	if hasTypes {
		for i, ty := range types {
			if ty == tokenTypeControl {
				t.addAdded(addedToken{id: int32(i), content: pieces[i], special: true})
			}
		}
	} else {
		for _, id := range []int32{t.ids.Pad, t.ids.Unk, t.ids.CLS, t.ids.SEP, t.ids.Mask} {
			if id >= 0 {
				t.addAdded(addedToken{id: id, content: pieces[id], special: true})
			}
		}
	}
	t.single, t.pair = bertTemplates(t.ids.CLS, t.ids.SEP)
	if n, ok := f.Int("quarry.max_seq_length"); ok && n > 0 {
		t.maxLength = int(n)
	} else if arch, ok := f.String("general.architecture"); ok {
		if n, ok := f.Int(arch + ".context_length"); ok && n > 0 {
			t.maxLength = int(n)
		}
	}
	return t, nil
}

// changesWhenLowercased reports an uppercase or titlecase letter with a
// lowercase form ("ℝ" has none: uncased vocabularies contain it).
func changesWhenLowercased(c rune) bool { return props(c)&cLower != 0 }

// bracketed reports a piece like "[CLS]" or "[unused0]", which llama.cpp's
// converter stores unchanged.
func bracketed(tok string) bool {
	return len(tok) >= 2 && tok[0] == '[' && tok[len(tok)-1] == ']'
}
