package tokenize

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/quarry-search/quarry/internal/fsx"
)

// Accents says whether accents are stripped (NFD, then marks deleted).
type Accents int8

// maxVocabBytes bounds a vocab.txt or tokenizer.json read whole (the
// largest HF tokenizers are tens of MB).
const maxVocabBytes = 512 << 20

const (
	// AccentsAuto strips accents iff the text is lowercased (HF's
	// strip_accents: null).
	AccentsAuto Accents = iota
	// AccentsStrip always strips accents.
	AccentsStrip
	// AccentsKeep never strips accents.
	AccentsKeep
)

// Options configure the normalizer and the WordPiece model. Start from
// DefaultOptions: the zero value turns every normalization step off. Empty
// strings and a zero MaxInputCharsPerWord take their defaults.
type Options struct {
	// CleanText deletes control characters, U+0000 and U+FFFD, and turns
	// whitespace into spaces.
	CleanText bool
	// HandleChineseChars puts spaces around CJK ideographs.
	HandleChineseChars bool
	// StripAccents applies NFD and deletes nonspacing marks.
	StripAccents Accents
	// Lowercase lowercases the text.
	Lowercase bool

	// MaxInputCharsPerWord: longer words (in characters, after
	// normalization) become [UNK]. Default 100.
	MaxInputCharsPerWord int
	// ContinuingSubwordPrefix marks pieces that continue a word. Default "##".
	ContinuingSubwordPrefix string

	// Names of the special tokens in the vocabulary; defaults "[UNK]",
	// "[CLS]", "[SEP]", "[PAD]", "[MASK]". UNK, CLS and SEP must exist.
	UnkToken, CLSToken, SEPToken, PadToken, MaskToken string

	// EncodeSpecialTokens tokenizes special tokens written in the input
	// ("[SEP]") as ordinary text instead of giving them their special ids
	// (HF's encode_special_tokens).
	EncodeSpecialTokens bool
}

// DefaultOptions returns the options of HF's BertNormalizer defaults, those of
// uncased BERT models: clean text, space CJK, lowercase, strip accents.
func DefaultOptions() Options {
	return Options{
		CleanText:          true,
		HandleChineseChars: true,
		StripAccents:       AccentsAuto,
		Lowercase:          true,
	}
}

func (o *Options) fill() {
	if o.MaxInputCharsPerWord <= 0 {
		o.MaxInputCharsPerWord = 100
	}
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&o.ContinuingSubwordPrefix, "##")
	def(&o.UnkToken, "[UNK]")
	def(&o.CLSToken, "[CLS]")
	def(&o.SEPToken, "[SEP]")
	def(&o.PadToken, "[PAD]")
	def(&o.MaskToken, "[MASK]")
}

func (o *Options) stripAccents() bool {
	switch o.StripAccents {
	case AccentsStrip:
		return true
	case AccentsKeep:
		return false
	}
	return o.Lowercase
}

// Token is one word piece of the input.
type Token struct {
	ID    int32
	Piece string // vocabulary form ("##ing", "[UNK]"); for special tokens found in the text, their content
	// Start and End are byte offsets of the input text that produced the
	// token: text[Start:End].
	Start, End int
}

// Encoding is a model input: ids with their token types and offsets.
type Encoding struct {
	IDs     []int32
	TypeIDs []int32
	// Offsets are byte offsets into the input string the token came from
	// (the second string for the second sequence of a pair); [0, 0] for the
	// special tokens the template adds.
	Offsets [][2]int
	// Truncated is set when tokens were cut to fit maxLen.
	Truncated bool
	// NumTokens is the length the encoding would have without truncation,
	// special tokens included.
	NumTokens int
}

// SpecialIDs are the ids of the special tokens; -1 where the vocabulary has
// none.
type SpecialIDs struct {
	Unk, CLS, SEP, Pad, Mask int32
}

// addedToken is a token cut out of the raw input before normalization.
type addedToken struct {
	id         int32
	content    string
	special    bool
	singleWord bool
	lstrip     bool
	rstrip     bool
}

// templatePart is one part of a post-processing template: special token ids,
// or the tokens of sequence A (seq 0) or B (seq 1).
type templatePart struct {
	seq    int // -1 for special tokens
	ids    []int32
	typeID int32
}

type template []templatePart

// specials counts the ids the template adds.
func (t template) specials() int {
	n := 0
	for _, p := range t {
		n += len(p.ids)
	}
	return n
}

// Tokenizer is a BERT WordPiece tokenizer. It is safe for concurrent use.
type Tokenizer struct {
	opts    Options
	clean   bool
	chinese bool
	strip   bool
	lower   bool

	pieces  []string         // id → piece
	words   map[string]int32 // piece → id
	conts   map[string]int32 // continuation piece without its prefix → id
	maxWord int              // longest key of words, bytes
	maxCont int              // longest key of conts, bytes

	ids SpecialIDs

	added      []addedToken
	addedFirst [256]bool // first bytes of added tokens

	single, pair template
	maxLength    int

	pool sync.Pool // *state
}

// FromVocab builds a tokenizer from a vocabulary, one piece per id, in HF
// form ("##" before continuation pieces); a later duplicate of a piece wins.
// The special tokens named in opts that the vocabulary has are recognized in
// the input, as by HF's BertTokenizerFast.
func FromVocab(pieces []string, opts Options) (*Tokenizer, error) {
	opts.fill()
	t := newTokenizer(slices.Clone(pieces), opts)
	var err error
	if t.ids.Unk, err = t.required(opts.UnkToken); err != nil {
		return nil, err
	}
	if t.ids.CLS, err = t.required(opts.CLSToken); err != nil {
		return nil, err
	}
	if t.ids.SEP, err = t.required(opts.SEPToken); err != nil {
		return nil, err
	}
	t.ids.Pad = t.optional(opts.PadToken)
	t.ids.Mask = t.optional(opts.MaskToken)
	for _, name := range []string{opts.PadToken, opts.UnkToken, opts.CLSToken, opts.SEPToken, opts.MaskToken} {
		if id, ok := t.words[name]; ok {
			t.addAdded(addedToken{id: id, content: name, special: true})
		}
	}
	t.single, t.pair = bertTemplates(t.ids.CLS, t.ids.SEP)
	return t, nil
}

// FromVocabFile reads a vocab.txt (one piece per line, id = line number) as HF
// does: lines end at "\n" or "\r\n" and lose trailing whitespace; a later
// duplicate of a piece wins.
func FromVocabFile(path string, opts Options) (*Tokenizer, error) {
	data, err := fsx.ReadRegular(path, "vocabulary file", maxVocabBytes)
	if err != nil {
		return nil, err
	}
	pieces, err := parseVocab(data)
	if err != nil {
		return nil, fmt.Errorf("tokenize: %s: %w", path, err)
	}
	t, err := FromVocab(pieces, opts)
	if err != nil {
		return nil, fmt.Errorf("tokenize: %s: %w", path, err)
	}
	return t, nil
}

func parseVocab(data []byte) ([]string, error) {
	var pieces []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for sc.Scan() { // ScanLines drops "\n" and one "\r" before it, as Rust's lines()
		line := sc.Bytes()
		if !utf8.Valid(line) {
			return nil, fmt.Errorf("line %d: invalid UTF-8", len(pieces)+1)
		}
		pieces = append(pieces, strings.TrimRightFunc(string(line), unicode.IsSpace))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(pieces) == 0 {
		return nil, errors.New("empty vocabulary")
	}
	return pieces, nil
}

func newTokenizer(pieces []string, opts Options) *Tokenizer {
	t := &Tokenizer{
		opts:    opts,
		clean:   opts.CleanText,
		chinese: opts.HandleChineseChars,
		strip:   opts.stripAccents(),
		lower:   opts.Lowercase,
		pieces:  pieces,
		words:   make(map[string]int32, len(pieces)),
		conts:   make(map[string]int32, len(pieces)/4),
		ids:     SpecialIDs{-1, -1, -1, -1, -1},
	}
	prefix := opts.ContinuingSubwordPrefix
	for i, p := range pieces {
		t.words[p] = int32(i)
		t.maxWord = max(t.maxWord, len(p))
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			t.conts[rest] = int32(i)
			t.maxCont = max(t.maxCont, len(rest))
		}
	}
	t.pool.New = func() any { return new(state) }
	return t
}

func (t *Tokenizer) required(name string) (int32, error) {
	id, ok := t.words[name]
	if !ok {
		return -1, fmt.Errorf("vocabulary has no %q", name)
	}
	return id, nil
}

func (t *Tokenizer) optional(name string) int32 {
	if id, ok := t.words[name]; ok {
		return id
	}
	return -1
}

func (t *Tokenizer) addAdded(a addedToken) {
	if a.content == "" {
		return
	}
	for _, b := range t.added {
		if b.content == a.content {
			return
		}
	}
	t.added = append(t.added, a)
	t.addedFirst[a.content[0]] = true
}

func bertTemplates(cls, sep int32) (single, pair template) {
	single = template{{seq: -1, ids: []int32{cls}}, {seq: 0}, {seq: -1, ids: []int32{sep}}}
	pair = template{
		{seq: -1, ids: []int32{cls}}, {seq: 0}, {seq: -1, ids: []int32{sep}},
		{seq: 1, typeID: 1}, {seq: -1, ids: []int32{sep}, typeID: 1},
	}
	return single, pair
}

// Options returns the tokenizer's options, defaults filled in. StripAccents
// is resolved to AccentsStrip or AccentsKeep.
func (t *Tokenizer) Options() Options {
	o := t.opts
	o.StripAccents = AccentsKeep
	if t.strip {
		o.StripAccents = AccentsStrip
	}
	return o
}

// VocabSize is the number of ids.
func (t *Tokenizer) VocabSize() int { return len(t.pieces) }

// Piece returns the vocabulary piece of id, or "" if there is none.
func (t *Tokenizer) Piece(id int32) string {
	if id < 0 || int(id) >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

// ID returns the id of a vocabulary piece ("##ing" for a continuation).
func (t *Tokenizer) ID(piece string) (int32, bool) {
	id, ok := t.words[piece]
	return id, ok
}

// SpecialIDs returns the ids of the special tokens.
func (t *Tokenizer) SpecialIDs() SpecialIDs { return t.ids }

// MaxLength is the truncation length the model files give, in tokens,
// special tokens included: tokenizer.json's truncation.max_length (which
// sentence-transformers overrides with its max_seq_length), or the GGUF's
// quarry.max_seq_length, else its context length; 0 if none.
func (t *Tokenizer) MaxLength() int { return t.maxLength }

// NumSpecialTokens is the number of tokens Encode (pair false) or EncodePair
// (pair true) adds around the text.
func (t *Tokenizer) NumSpecialTokens(pair bool) int {
	if pair {
		return t.pair.specials()
	}
	return t.single.specials()
}
