package tokenize

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/quarry-search/quarry/internal/fsx"
)

// The parts of a Hugging Face tokenizer.json that a WordPiece tokenizer uses.
type hfTokenizerJSON struct {
	Truncation *struct {
		MaxLength int `json:"max_length"`
	} `json:"truncation"`
	Padding *struct {
		PadID *int32 `json:"pad_id"`
	} `json:"padding"`
	AddedTokens []struct {
		ID         int32  `json:"id"`
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		Lstrip     bool   `json:"lstrip"`
		Rstrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
		Special    bool   `json:"special"`
	} `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Model         json.RawMessage `json:"model"`
}

type hfTyped struct {
	Type string `json:"type"`
}

type hfWordPiece struct {
	UnkToken                *string          `json:"unk_token"`
	ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
	MaxInputCharsPerWord    *int             `json:"max_input_chars_per_word"`
	Vocab                   map[string]int32 `json:"vocab"`
}

type hfBertNormalizer struct {
	CleanText          *bool `json:"clean_text"`
	HandleChineseChars *bool `json:"handle_chinese_chars"`
	StripAccents       *bool `json:"strip_accents"`
	Lowercase          *bool `json:"lowercase"`
}

type hfSequence struct {
	Pretokenizers []json.RawMessage `json:"pretokenizers"`
	Normalizers   []json.RawMessage `json:"normalizers"`
}

type hfTemplate struct {
	Single        []hfTemplatePiece `json:"single"`
	Pair          []hfTemplatePiece `json:"pair"`
	SpecialTokens map[string]struct {
		IDs []int32 `json:"ids"`
	} `json:"special_tokens"`
	// BertProcessing
	Sep *[2]json.RawMessage `json:"sep"`
	CLS *[2]json.RawMessage `json:"cls"`
}

type hfTemplatePiece struct {
	SpecialToken *struct {
		ID     string `json:"id"`
		TypeID int32  `json:"type_id"`
	} `json:"SpecialToken"`
	Sequence *struct {
		ID     string `json:"id"`
		TypeID int32  `json:"type_id"`
	} `json:"Sequence"`
}

// FromTokenizerJSON builds a tokenizer from a Hugging Face tokenizer.json with a
// WordPiece model, a BertNormalizer (or none), a BertPreTokenizer and a
// TemplateProcessing or BertProcessing post-processor (or none). Other models
// (BPE, Unigram) and components are errors naming the file and the type. The
// truncation length, if any, becomes MaxLength (Encode always truncates
// longest_first, from the right); padding is the caller's business. Added
// tokens must have normalized: false, as BERT's special tokens do.
func FromTokenizerJSON(path string) (*Tokenizer, error) {
	data, err := fsx.ReadRegular(path, "tokenizer.json", maxVocabBytes)
	if err != nil {
		return nil, err
	}
	t, err := parseTokenizerJSON(data)
	if err != nil {
		return nil, fmt.Errorf("tokenize: %s: %w", path, err)
	}
	return t, nil
}

func parseTokenizerJSON(data []byte) (*Tokenizer, error) {
	var file hfTokenizerJSON
	if err := json.Unmarshal(data, &file); err != nil {
		return nil, err
	}

	if isNull(file.Model) {
		return nil, errors.New("no model")
	}
	if typ := modelType(file.Model); typ != "WordPiece" {
		return nil, fmt.Errorf("model type %s is not supported (only WordPiece)", typ)
	}
	var model hfWordPiece
	if err := json.Unmarshal(file.Model, &model); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if len(model.Vocab) == 0 {
		return nil, errors.New("WordPiece model has an empty vocabulary")
	}

	opts := Options{}
	if err := normalizerOptions(file.Normalizer, &opts); err != nil {
		return nil, err
	}
	if err := checkPreTokenizer(file.PreTokenizer); err != nil {
		return nil, err
	}
	if model.UnkToken != nil {
		opts.UnkToken = *model.UnkToken
	}
	if model.ContinuingSubwordPrefix != nil {
		opts.ContinuingSubwordPrefix = *model.ContinuingSubwordPrefix
	}
	if model.MaxInputCharsPerWord != nil {
		opts.MaxInputCharsPerWord = *model.MaxInputCharsPerWord
	}
	opts.fill()

	size := 0
	for _, id := range model.Vocab {
		if id < 0 {
			return nil, fmt.Errorf("negative id %d in the vocabulary", id)
		}
		size = max(size, int(id)+1)
	}
	for _, a := range file.AddedTokens {
		if a.ID < 0 {
			return nil, fmt.Errorf("added token %q has a negative id", a.Content)
		}
		size = max(size, int(a.ID)+1)
	}
	if size > 1<<24 {
		return nil, fmt.Errorf("vocabulary ids up to %d: too many", size-1)
	}
	pieces := make([]string, size)
	for p, id := range model.Vocab {
		pieces[id] = p
	}
	for _, a := range file.AddedTokens {
		if pieces[a.ID] == "" {
			pieces[a.ID] = a.Content
		}
	}

	t := newTokenizer(pieces, opts)
	t.ids.Unk = t.optional(opts.UnkToken)
	if t.ids.Unk < 0 {
		return nil, fmt.Errorf("unk_token %q is not in the vocabulary", opts.UnkToken)
	}
	for _, a := range file.AddedTokens {
		if a.Normalized {
			return nil, fmt.Errorf("added token %q is matched after normalization, which is not supported", a.Content)
		}
		t.addAdded(addedToken{
			id: a.ID, content: a.Content, special: a.Special,
			singleWord: a.SingleWord, lstrip: a.Lstrip, rstrip: a.Rstrip,
		})
	}
	if err := t.postProcessor(file.PostProcessor); err != nil {
		return nil, err
	}
	t.ids.Pad = t.optional(opts.PadToken)
	if file.Padding != nil && file.Padding.PadID != nil && int(*file.Padding.PadID) < len(pieces) {
		t.ids.Pad = *file.Padding.PadID
	}
	t.ids.Mask = t.optional(opts.MaskToken)
	if file.Truncation != nil {
		t.maxLength = file.Truncation.MaxLength
	}
	return t, nil
}

func isNull(m json.RawMessage) bool {
	m = bytes.TrimSpace(m)
	return len(m) == 0 || bytes.Equal(m, []byte("null"))
}

// modelType names the model of a tokenizer.json, whose "type" old files omit.
func modelType(raw json.RawMessage) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return "unknown"
	}
	var typ string
	if json.Unmarshal(fields["type"], &typ) == nil && typ != "" {
		return typ
	}
	switch {
	case fields["merges"] != nil:
		return "BPE"
	case bytes.HasPrefix(bytes.TrimSpace(fields["vocab"]), []byte("[")):
		return "Unigram"
	case fields["max_input_chars_per_word"] != nil:
		return "WordPiece"
	}
	return "WordLevel"
}

// normalizerOptions reads a BertNormalizer (alone or as the only member of a
// Sequence) into opts; no normalizer turns everything off.
func normalizerOptions(raw json.RawMessage, opts *Options) error {
	if isNull(raw) {
		return nil
	}
	var typ hfTyped
	if err := json.Unmarshal(raw, &typ); err != nil {
		return fmt.Errorf("normalizer: %w", err)
	}
	if typ.Type == "Sequence" {
		var seq hfSequence
		if err := json.Unmarshal(raw, &seq); err != nil {
			return fmt.Errorf("normalizer: %w", err)
		}
		switch len(seq.Normalizers) {
		case 0:
			return nil
		case 1:
			return normalizerOptions(seq.Normalizers[0], opts)
		}
		return errors.New("normalizer Sequence of several normalizers is not supported (only BertNormalizer)")
	}
	if typ.Type != "BertNormalizer" {
		return fmt.Errorf("normalizer %s is not supported (only BertNormalizer)", typ.Type)
	}
	var n hfBertNormalizer
	if err := json.Unmarshal(raw, &n); err != nil {
		return fmt.Errorf("normalizer: %w", err)
	}
	// HF's BertNormalizer defaults for missing fields.
	def := DefaultOptions()
	opts.CleanText, opts.HandleChineseChars, opts.Lowercase = def.CleanText, def.HandleChineseChars, def.Lowercase
	if n.CleanText != nil {
		opts.CleanText = *n.CleanText
	}
	if n.HandleChineseChars != nil {
		opts.HandleChineseChars = *n.HandleChineseChars
	}
	if n.Lowercase != nil {
		opts.Lowercase = *n.Lowercase
	}
	opts.StripAccents = AccentsAuto
	if n.StripAccents != nil {
		opts.StripAccents = AccentsKeep
		if *n.StripAccents {
			opts.StripAccents = AccentsStrip
		}
	}
	return nil
}

// checkPreTokenizer accepts a BertPreTokenizer, alone or as the only member
// of a Sequence.
func checkPreTokenizer(raw json.RawMessage) error {
	if isNull(raw) {
		return errors.New("no pre_tokenizer: only BertPreTokenizer is supported")
	}
	var typ hfTyped
	if err := json.Unmarshal(raw, &typ); err != nil {
		return fmt.Errorf("pre_tokenizer: %w", err)
	}
	if typ.Type == "Sequence" {
		var seq hfSequence
		if err := json.Unmarshal(raw, &seq); err != nil {
			return fmt.Errorf("pre_tokenizer: %w", err)
		}
		if len(seq.Pretokenizers) == 1 {
			return checkPreTokenizer(seq.Pretokenizers[0])
		}
		return errors.New("pre_tokenizer Sequence is not supported (only BertPreTokenizer)")
	}
	if typ.Type != "BertPreTokenizer" {
		return fmt.Errorf("pre_tokenizer %s is not supported (only BertPreTokenizer)", typ.Type)
	}
	return nil
}

// postProcessor sets the templates (and [CLS]/[SEP] ids) from a
// TemplateProcessing or BertProcessing post-processor; none adds nothing.
func (t *Tokenizer) postProcessor(raw json.RawMessage) error {
	if isNull(raw) {
		t.single = template{{seq: 0}}
		t.pair = template{{seq: 0}, {seq: 1, typeID: 1}}
		t.ids.CLS, t.ids.SEP = t.optional(t.opts.CLSToken), t.optional(t.opts.SEPToken)
		return nil
	}
	var typ hfTyped
	if err := json.Unmarshal(raw, &typ); err != nil {
		return fmt.Errorf("post_processor: %w", err)
	}
	var pp hfTemplate
	if err := json.Unmarshal(raw, &pp); err != nil {
		return fmt.Errorf("post_processor: %w", err)
	}
	switch typ.Type {
	case "BertProcessing":
		if pp.CLS == nil || pp.Sep == nil {
			return errors.New("post_processor BertProcessing lacks cls or sep")
		}
		var cls, sep int32
		if json.Unmarshal(pp.CLS[1], &cls) != nil || json.Unmarshal(pp.Sep[1], &sep) != nil {
			return errors.New("post_processor BertProcessing: bad cls or sep")
		}
		t.single, t.pair = bertTemplates(cls, sep)
		t.ids.CLS, t.ids.SEP = cls, sep
	case "TemplateProcessing":
		var err error
		if t.single, err = pp.template(pp.Single, false); err != nil {
			return err
		}
		if t.pair, err = pp.template(pp.Pair, true); err != nil {
			return err
		}
		t.ids.CLS, t.ids.SEP = t.optional(t.opts.CLSToken), t.optional(t.opts.SEPToken)
		if n := len(t.single); n > 0 {
			if p := t.single[0]; p.seq < 0 && len(p.ids) == 1 {
				t.ids.CLS = p.ids[0]
			}
			if p := t.single[n-1]; p.seq < 0 && len(p.ids) == 1 {
				t.ids.SEP = p.ids[0]
			}
		}
	default:
		return fmt.Errorf("post_processor %s is not supported (only TemplateProcessing, BertProcessing)", typ.Type)
	}
	for _, tp := range []template{t.single, t.pair} {
		for _, p := range tp {
			for _, id := range p.ids {
				if id < 0 || int(id) >= len(t.pieces) {
					return fmt.Errorf("post_processor: special token id %d is out of the vocabulary", id)
				}
			}
		}
	}
	return nil
}

func (pp *hfTemplate) template(pieces []hfTemplatePiece, pair bool) (template, error) {
	var tp template
	seen := [2]bool{}
	for _, p := range pieces {
		switch {
		case p.SpecialToken != nil:
			st, ok := pp.SpecialTokens[p.SpecialToken.ID]
			if !ok {
				return nil, fmt.Errorf("post_processor: special token %q is not defined", p.SpecialToken.ID)
			}
			tp = append(tp, templatePart{seq: -1, ids: st.IDs, typeID: p.SpecialToken.TypeID})
		case p.Sequence != nil:
			seq := 0
			switch p.Sequence.ID {
			case "A":
			case "B":
				seq = 1
			default:
				return nil, fmt.Errorf("post_processor: unknown sequence %q", p.Sequence.ID)
			}
			if seen[seq] || (seq == 1 && !pair) {
				return nil, fmt.Errorf("post_processor: sequence %s misplaced", p.Sequence.ID)
			}
			seen[seq] = true
			tp = append(tp, templatePart{seq: seq, typeID: p.Sequence.TypeID})
		default:
			return nil, errors.New("post_processor: empty template piece")
		}
	}
	if !seen[0] || (pair && !seen[1]) {
		return nil, errors.New("post_processor: template lacks a sequence")
	}
	return tp, nil
}
