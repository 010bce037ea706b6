package serve

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/quarry-search/quarry/engine/encoder"
	"github.com/quarry-search/quarry/engine/tokenize"
)

// input is one input of an embedding request: a text, or token ids used
// as given (TEI's and OpenAI's integer inputs).
type input struct {
	text  string
	ids   []int64
	isIDs bool
}

// inputs is TEI's `inputs` and OpenAI's `input`: a string, a list of
// strings, a list of token ids, or a list of those (strings and id lists
// mixed).
type inputs struct {
	list  []input
	batch bool // given as a list
	set   bool // present in the body
}

// openAIInputs is OpenAI's `input`: inputs under OpenAI's field name.
type openAIInputs struct{ inputs }

func (in *openAIInputs) UnmarshalJSON(b []byte) error { return in.parse(b, "input") }

// maxIDs bounds the token ids of one input given as ids (before truncation).
const maxIDs = 1 << 16

func (in *inputs) UnmarshalJSON(b []byte) error { return in.parse(b, "inputs") }

// parse reads the body's field named field (the name its errors give).
func (in *inputs) parse(b []byte, field string) error {
	b = bytes.TrimSpace(b)
	in.set = true
	switch {
	case len(b) == 0:
		return invalid("%s: empty", field)
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return invalid("%s: %v", field, err)
		}
		in.list = []input{{text: s}}
		return nil
	case b[0] == 'n': // null
		in.set = false
		return nil
	case b[0] != '[':
		return invalid("%s: want a string, a list of strings, a list of token ids or a list of lists of token ids", field)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return invalid("%s: %v", field, err)
	}
	in.batch = true
	if len(raw) == 0 {
		return nil
	}
	// A list of numbers is one input of token ids.
	if first := bytes.TrimSpace(raw[0]); len(first) > 0 && (first[0] == '-' || first[0] >= '0' && first[0] <= '9') {
		ids, err := parseIDs(raw, field)
		if err != nil {
			return err
		}
		in.batch = false
		in.list = []input{{ids: ids, isIDs: true}}
		return nil
	}
	in.list = make([]input, len(raw))
	for i, r := range raw {
		r = bytes.TrimSpace(r)
		switch {
		case len(r) > 0 && r[0] == '"':
			if err := json.Unmarshal(r, &in.list[i].text); err != nil {
				return invalid("%s[%d]: %v", field, i, err)
			}
		case len(r) > 0 && r[0] == '[':
			var nums []json.RawMessage
			if err := json.Unmarshal(r, &nums); err != nil {
				return invalid("%s[%d]: %v", field, i, err)
			}
			ids, err := parseIDs(nums, field+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return err
			}
			in.list[i] = input{ids: ids, isIDs: true}
		default:
			return invalid("%s[%d]: want a string or a list of token ids", field, i)
		}
	}
	return nil
}

// parseIDs reads a list of token ids (range-checked against the vocabulary
// later, when the model is known).
func parseIDs(raw []json.RawMessage, field string) ([]int64, error) {
	if len(raw) > maxIDs {
		return nil, invalid("%s: %d token ids: at most %d", field, len(raw), maxIDs)
	}
	ids := make([]int64, len(raw))
	for j, r := range raw {
		var f float64
		if err := json.Unmarshal(r, &f); err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<40 {
			return nil, invalid("%s[%d]: want a token id (an integer), got %s", field, j, clip(string(r), 40))
		}
		ids[j] = int64(f)
	}
	return ids, nil
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// truncation is how a request truncates its inputs.
type truncation struct {
	on   bool // truncate instead of 422
	left bool // keep the end of the input (TEI's truncation_direction "left")
}

// direction parses TEI's truncation_direction ("right" by default; TEI
// accepts Right/right and Left/left).
func parseDirection(v string) (bool, error) {
	switch v {
	case "", "right", "Right":
		return false, nil
	case "left", "Left":
		return true, nil
	}
	return false, invalid("truncation_direction: %q is not right or left", v)
}

// truncationOf resolves a request's truncate and truncation_direction.
func (s *Server) truncationOf(truncate *bool, direction string) (truncation, error) {
	left, err := parseDirection(direction)
	if err != nil {
		return truncation{}, err
	}
	t := truncation{on: s.auto, left: left}
	if truncate != nil {
		t.on = *truncate
	}
	return t, nil
}

// promptOf is the text prepended for TEI's prompt_name: the model's query
// or document prompt (sentence-transformers' prompts, from the GGUF).
func promptOf(info encoder.Info, name *string) (string, error) {
	if name == nil {
		return "", nil
	}
	switch *name {
	case "query":
		return info.QueryPrompt, nil
	case "document", "passage", "corpus":
		return info.DocumentPrompt, nil
	}
	return "", invalid("prompt_name: %q is not a prompt of the model (query or document)", *name)
}

// checkBatch applies the batch limits to a request of n inputs.
func (s *Server) checkBatch(field string, n int) error {
	switch {
	case n == 0:
		return empty("%s cannot be empty", "`"+field+"`")
	case n > s.cfg.MaxClientBatchSize:
		return newError(http.StatusRequestEntityTooLarge, typeValidation, "batch size %d > maximum allowed batch size %d (--max-client-batch-size)", n, s.cfg.MaxClientBatchSize)
	}
	return nil
}

// encode tokenizes a request's inputs for model m: prompt prepended, cut
// to the model's window when t.on (else 422 for a longer input); token ids
// are range-checked and used as given.
func (s *Server) encode(c *call, m *model, field string, list []input, prompt string, t truncation) ([]tokenize.Encoding, error) {
	start := time.Now()
	tok, maxLen := m.b.Tokenizer(), m.info.MaxTokens
	vocab := int64(tok.VocabSize())
	encs := make([]tokenize.Encoding, len(list))
	c.lengths = make([]int, len(list))
	for i, in := range list {
		var e tokenize.Encoding
		if in.isIDs {
			if len(in.ids) == 0 {
				return nil, empty("%s[%d]: no token ids", field, i)
			}
			ids := in.ids
			if len(ids) > maxLen {
				if !t.on {
					return nil, tooLong(field, i, len(ids), maxLen)
				}
				c.truncated++
				if t.left {
					ids = ids[len(ids)-maxLen:]
				} else {
					ids = ids[:maxLen]
				}
			}
			e = tokenize.Encoding{IDs: make([]int32, len(ids)), TypeIDs: make([]int32, len(ids)), NumTokens: len(in.ids), Truncated: len(ids) < len(in.ids)}
			for j, id := range ids {
				if id < 0 || id >= vocab {
					return nil, invalid("%s[%d][%d]: token id %d is outside the vocabulary (0..%d)", field, i, j, id, vocab-1)
				}
				e.IDs[j] = int32(id)
			}
			c.chars += len(in.ids)
		} else {
			text := in.text
			if prompt != "" {
				text = prompt + text
			}
			c.chars += utf8.RuneCountInString(text)
			if t.left {
				e = tok.Encode(text, 0)
				if len(e.IDs) > maxLen {
					if !t.on {
						return nil, tooLong(field, i, len(e.IDs), maxLen)
					}
					var err error
					if e, err = cutLeft(tok, e, maxLen); err != nil {
						return nil, err
					}
				}
			} else {
				e = tok.Encode(text, maxLen)
				if e.Truncated && !t.on {
					return nil, tooLong(field, i, e.NumTokens, maxLen)
				}
			}
			if e.Truncated {
				c.truncated++
			}
		}
		encs[i] = e
		c.lengths[i] = len(e.IDs)
		c.tokens += len(e.IDs)
	}
	c.timing.Tokenize = time.Since(start)
	return encs, nil
}

// tooLong is TEI's error for an input over the window without truncation
// (OpenAI's body has no truncate field: only the server's flag applies).
func tooLong(field string, i, n, maxLen int) error {
	hint := `pass "truncate": true, or start the server with --auto-truncate`
	if field != "inputs" {
		hint = "start the server with --auto-truncate"
	}
	return invalid("%s[%d]: `%s` must have less than %d tokens. Given: %d (%s)", field, i, field, maxLen+1, n, hint)
}

// cutLeft keeps the last tokens of an encoding with its template's special
// tokens around them ([CLS] … [SEP]).
func cutLeft(tok *tokenize.Tokenizer, e tokenize.Encoding, maxLen int) (tokenize.Encoding, error) {
	if tok.NumSpecialTokens(false) != 2 || maxLen < 2 {
		return e, invalid("truncation_direction: left needs a [CLS] … [SEP] tokenizer")
	}
	n := len(e.IDs)
	keep := maxLen - 2
	out := tokenize.Encoding{NumTokens: e.NumTokens, Truncated: true,
		IDs: make([]int32, 0, maxLen), TypeIDs: make([]int32, 0, maxLen), Offsets: make([][2]int, 0, maxLen)}
	add := func(j int) {
		out.IDs = append(out.IDs, e.IDs[j])
		out.TypeIDs = append(out.TypeIDs, e.TypeIDs[j])
		out.Offsets = append(out.Offsets, e.Offsets[j])
	}
	add(0)
	for j := n - 1 - keep; j < n-1; j++ {
		add(j)
	}
	add(n - 1)
	return out, nil
}
