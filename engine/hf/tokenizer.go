package hf

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/quarry-search/quarry/engine/tokenize"
)

// tokenizerConfig is the part of tokenizer_config.json quarry reads.
type tokenizerConfig struct {
	DoLowerCase          *bool           `json:"do_lower_case"`
	StripAccents         *bool           `json:"strip_accents"`
	TokenizeChineseChars *bool           `json:"tokenize_chinese_chars"`
	ModelMaxLength       *float64        `json:"model_max_length"`
	TokenizerClass       string          `json:"tokenizer_class"`
	UnkToken             json.RawMessage `json:"unk_token"`
	SepToken             json.RawMessage `json:"sep_token"`
	PadToken             json.RawMessage `json:"pad_token"`
	ClsToken             json.RawMessage `json:"cls_token"`
	MaskToken            json.RawMessage `json:"mask_token"`
}

// tokenName reads a special token given as a string or as an AddedToken
// object {"content": ...}; "" if absent or null.
func tokenName(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Content == nil {
		return "", errors.New("neither a string nor an object with \"content\"")
	}
	return *obj.Content, nil
}

func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}

// Tokenizer classes that are BERT's WordPiece with BERT's normalizer.
var bertTokenizerClasses = []string{"BertTokenizer", "BertTokenizerFast", "DistilBertTokenizer", "DistilBertTokenizerFast"}

func (l *loader) readTokenizer() error {
	tcName := l.hfName("tokenizer_config.json")
	var tc tokenizerConfig
	foundTC, err := l.readJSON(tcName, &tc)
	if err != nil {
		return err
	}
	if tc.TokenizerClass != "" && !slices.Contains(bertTokenizerClasses, tc.TokenizerClass) {
		return unsupported("%s: tokenizer_class %s is not supported: quarry runs BERT's WordPiece tokenizer (BertTokenizer)", tcName, tc.TokenizerClass)
	}
	if tc.ModelMaxLength != nil && *tc.ModelMaxLength > 0 && *tc.ModelMaxLength < 1e9 {
		l.maxLenTok = int(*tc.ModelMaxLength)
	}

	// Special token names: tokenizer_config.json, else
	// special_tokens_map.json, else BERT's.
	var stm map[string]json.RawMessage
	stmName := l.hfName("special_tokens_map.json")
	if _, err := l.readJSON(stmName, &stm); err != nil {
		return err
	}
	opts := tokenize.DefaultOptions()
	for _, sp := range []struct {
		key string
		raw json.RawMessage
		dst *string
	}{
		{"unk_token", tc.UnkToken, &opts.UnkToken},
		{"cls_token", tc.ClsToken, &opts.CLSToken},
		{"sep_token", tc.SepToken, &opts.SEPToken},
		{"pad_token", tc.PadToken, &opts.PadToken},
		{"mask_token", tc.MaskToken, &opts.MaskToken},
	} {
		name, err := tokenName(sp.raw)
		if err != nil {
			return invalid("%s: field %q: %v", tcName, sp.key, err)
		}
		if name == "" && stm != nil {
			if name, err = tokenName(stm[sp.key]); err != nil {
				return invalid("%s: field %q: %v", stmName, sp.key, err)
			}
		}
		*sp.dst = name // "" takes the default
	}

	// transformers' BertTokenizer settings and defaults.
	opts.Lowercase = true
	if tc.DoLowerCase != nil {
		opts.Lowercase = *tc.DoLowerCase
	}
	opts.StripAccents = tokenize.AccentsAuto
	if tc.StripAccents != nil {
		opts.StripAccents = tokenize.AccentsKeep
		if *tc.StripAccents {
			opts.StripAccents = tokenize.AccentsStrip
		}
	}
	opts.HandleChineseChars = true
	if tc.TokenizeChineseChars != nil {
		opts.HandleChineseChars = *tc.TokenizeChineseChars
	}
	if !foundTC {
		l.note("no %s: transformers' BertTokenizer defaults (lowercase, strip accents, space CJK)", tcName)
	}

	jsonName, vocabName := l.hfName("tokenizer.json"), l.hfName("vocab.txt")
	var pieces []string
	var fromJSON *tokenize.Tokenizer
	switch {
	case exists(l.path(jsonName)):
		l.m.Files = append(l.m.Files, jsonName)
		jt, err := tokenize.FromTokenizerJSON(l.path(jsonName))
		if err != nil {
			return unsupported("%s: %v", jsonName, trimPathPrefix(err, l.path(jsonName)))
		}
		if pieces, err = tokenizerPieces(jt, jsonName); err != nil {
			return err
		}
		fromJSON = jt
		if exists(l.path(vocabName)) {
			vt, err := tokenize.FromVocabFile(l.path(vocabName), tokenize.DefaultOptions())
			if err == nil {
				if vp, _ := tokenizerPieces(vt, vocabName); !slices.Equal(vp, pieces) {
					l.note("%s and %s hold different vocabularies: %s is used, as transformers does", vocabName, jsonName, jsonName)
				}
			}
		}
	case exists(l.path(vocabName)):
		l.m.Files = append(l.m.Files, vocabName)
		vt, err := tokenize.FromVocabFile(l.path(vocabName), opts)
		if err != nil {
			return invalid("%s: %v", vocabName, trimPathPrefix(err, l.path(vocabName)))
		}
		if pieces, err = tokenizerPieces(vt, vocabName); err != nil {
			return err
		}
	default:
		return fmt.Errorf("no tokenizer: need %s or %s: %w", jsonName, vocabName, os.ErrNotExist)
	}

	if l.stLower && !opts.Lowercase {
		// sentence-transformers puts a Lowercase normalizer in front of
		// BERT's: the same as lowercasing in it, with accents as before.
		if opts.StripAccents == tokenize.AccentsAuto {
			opts.StripAccents = tokenize.AccentsKeep
		}
		opts.Lowercase = true
		l.note("sentence_bert_config.json sets do_lower_case: the input is lowercased (sentence-transformers adds a Lowercase normalizer)")
	}

	tok, err := tokenize.FromVocab(pieces, opts)
	if err != nil {
		return invalid("%s: %v", tcName, err)
	}
	if fromJSON != nil {
		if err := l.compareJSONTokenizer(fromJSON, tok, jsonName); err != nil {
			return err
		}
	}
	l.m.Tokenizer = tok
	l.m.Vocab = pieces
	return nil
}

// tokenizerPieces lists a tokenizer's vocabulary by id.
func tokenizerPieces(t *tokenize.Tokenizer, name string) ([]string, error) {
	pieces := make([]string, t.VocabSize())
	for i := range pieces {
		pieces[i] = t.Piece(int32(i))
		if pieces[i] == "" {
			return nil, invalid("%s: the vocabulary has no token with id %d", name, i)
		}
	}
	return pieces, nil
}

// compareJSONTokenizer checks that what tokenizer.json says and transformers
// replaces (the normalizer) or keeps (the post-processor) is representable.
func (l *loader) compareJSONTokenizer(jt, tok *tokenize.Tokenizer, name string) error {
	jo, o := jt.Options(), tok.Options()
	if jo.ContinuingSubwordPrefix != o.ContinuingSubwordPrefix || jo.MaxInputCharsPerWord != o.MaxInputCharsPerWord {
		return unsupported("%s: WordPiece with continuing_subword_prefix %q and max_input_chars_per_word %d is not supported (BERT's are \"##\" and 100)",
			name, jo.ContinuingSubwordPrefix, jo.MaxInputCharsPerWord)
	}
	if !jo.CleanText {
		l.note("%s: the normalizer has clean_text false; transformers' BertTokenizer (v5) and quarry clean the text", name)
	}
	if jo.Lowercase != o.Lowercase || jo.StripAccents != o.StripAccents || jo.HandleChineseChars != o.HandleChineseChars {
		l.note("%s: its normalizer (lowercase %v, strip accents %v, CJK %v) is overridden by tokenizer_config.json, as transformers' BertTokenizer does: lowercase %v, strip accents %v, CJK %v",
			name, jo.Lowercase, jo.StripAccents == tokenize.AccentsStrip, jo.HandleChineseChars,
			o.Lowercase, o.StripAccents == tokenize.AccentsStrip, o.HandleChineseChars)
	}
	js, ts := jt.SpecialIDs(), tok.SpecialIDs()
	a, b := jt.EncodePair("a", "b", 0), tok.EncodePair("a", "b", 0)
	if js.CLS != ts.CLS || js.SEP != ts.SEP || !slices.Equal(a.IDs, b.IDs) || !slices.Equal(a.TypeIDs, b.TypeIDs) ||
		jt.NumSpecialTokens(false) != tok.NumSpecialTokens(false) {
		return unsupported("%s: the post_processor is not BERT's [CLS] A [SEP] B [SEP] (a pair encodes as %v with types %v; BERT's gives %v with %v)",
			name, a.IDs, a.TypeIDs, b.IDs, b.TypeIDs)
	}
	return nil
}

// trimPathPrefix shortens an error that repeats an absolute path.
func trimPathPrefix(err error, path string) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "tokenize: ")
	return strings.TrimPrefix(s, path+": ")
}
