package serve

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/encoder"
	"github.com/quarry-search/quarry/engine/sparse"
	"github.com/quarry-search/quarry/engine/tokenize"
)

// modelFor is the model a request names (model field), or the default
// one; a model of the wrong kind is TEI's 424.
func (s *Server) modelFor(name string, want encoder.Kind, what string) (*model, error) {
	var m *model
	if name == "" {
		m = s.defaultModel()
		if want == encoder.CrossEncoder {
			m = s.defaultRanker()
		}
		if m == nil {
			if want == encoder.CrossEncoder {
				return nil, backend("model is not a re-ranker model: the server holds no cross-encoder (start it with --rerank-model)")
			}
			return nil, backend("the server holds no model (start it with --model NAME=M.gguf)")
		}
	} else {
		var ok bool
		if m, ok = s.byName[name]; !ok {
			names := make([]string, len(s.models))
			for i, m := range s.models {
				names[i] = m.name
			}
			return nil, newError(http.StatusNotFound, typeNotFound, "model: no model named %q (models: %s)", name, strings.Join(names, ", "))
		}
	}
	if m.info.Kind != want {
		switch want {
		case encoder.CrossEncoder:
			return nil, backend("model is not a re-ranker model: %s is a %s (%s needs a cross-encoder)", m.name, m.info.Kind, what)
		case encoder.SparseEncoder:
			return nil, backend("model is not a SPLADE model: %s is a %s (%s needs a sparse encoder)", m.name, m.info.Kind, what)
		}
		return nil, backend("model is not an embedding model: %s is a %s (%s needs a bi-encoder)", m.name, m.info.Kind, what)
	}
	return m, nil
}

// embedRequest is TEI's /embed body (plus "model", which picks one of the
// server's models).
type embedRequest struct {
	Inputs              inputs  `json:"inputs"`
	Truncate            *bool   `json:"truncate"`
	TruncationDirection string  `json:"truncation_direction"`
	PromptName          *string `json:"prompt_name"`
	Normalize           *bool   `json:"normalize"`
	Dimensions          *int    `json:"dimensions"`
	Model               string  `json:"model"`
}

func (s *Server) handleEmbed(w http.ResponseWriter, r *http.Request, c *call) error {
	var req embedRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	vecs, _, err := s.embed(r, c, "inputs", req.Model, req.Inputs, req.Truncate, req.TruncationDirection, req.PromptName, req.Normalize, req.Dimensions)
	if err != nil {
		return err
	}
	buf := getBuf()
	defer putBuf(buf)
	b := append(buf.Bytes(), '[')
	for i, v := range vecs {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = appendFloats(b, v); err != nil {
			return err
		}
	}
	b = append(b, "]\n"...)
	c.setComputeHeaders(w)
	return writeBody(w, http.StatusOK, b)
}

// embed runs an embedding request: model, batch limits, tokenization,
// the batched encoder, then normalization and Matryoshka dimensions.
func (s *Server) embed(r *http.Request, c *call, field, name string, in inputs, truncate *bool, direction string, promptName *string, normalize *bool, dims *int) ([][]float32, *model, error) {
	if !in.set {
		return nil, nil, invalid("%s: missing field `%s`", field, field)
	}
	m, err := s.modelFor(name, encoder.BiEncoder, r.URL.Path)
	if err != nil {
		return nil, nil, err
	}
	if err := s.checkBatch(field, len(in.list)); err != nil {
		return nil, nil, err
	}
	t, err := s.truncationOf(truncate, direction)
	if err != nil {
		return nil, nil, err
	}
	prompt, err := promptOf(m.info, promptName)
	if err != nil {
		return nil, nil, err
	}
	norm := normalize == nil || *normalize
	if !norm && m.info.Normalize {
		return nil, nil, invalid("normalize: false is not available for %s: the model normalizes its embeddings (quarry.normalize; convert it without normalization for raw ones)", m.name)
	}
	if dims != nil && (*dims < 1 || *dims > m.info.Dim) {
		return nil, nil, invalid("dimensions: %d: must be 1..%d (the model's dimension)", *dims, m.info.Dim)
	}
	arrived := m.b.Arrive()
	encs, err := s.encode(c, m, field, in.list, prompt, t)
	if err != nil {
		arrived()
		return nil, nil, err
	}
	vecs, tm, err := m.b.embed(r.Context(), encs, arrived)
	if err != nil {
		return nil, nil, err
	}
	c.timing.Queue, c.timing.Inference, c.encoded = tm.Queue, tm.Inference, true
	for i, v := range vecs {
		if dims != nil && *dims < len(v) {
			v = v[:*dims]
			if norm {
				normalizeVec(v)
			}
		} else if norm && !m.info.Normalize {
			normalizeVec(v)
		}
		vecs[i] = v
	}
	return vecs, m, nil
}

// normalizeVec scales v to unit length in place (the norm in float64).
func normalizeVec(v []float32) {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n == 0 {
		return
	}
	inv := 1 / math.Sqrt(n)
	for i, x := range v {
		v[i] = float32(float64(x) * inv)
	}
}

// appendFloats writes v as a JSON array, each float32 in its shortest form
// that parses back to the same bits (as `quarry embed` writes them).
func appendFloats(b []byte, v []float32) ([]byte, error) {
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return b, backend("the model produced a non-finite value")
		}
		b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
	}
	return append(b, ']'), nil
}

// embedSparseRequest is TEI's /embed_sparse body.
type embedSparseRequest struct {
	Inputs              inputs  `json:"inputs"`
	Truncate            *bool   `json:"truncate"`
	TruncationDirection string  `json:"truncation_direction"`
	PromptName          *string `json:"prompt_name"`
	Model               string  `json:"model"`
}

func (s *Server) handleEmbedSparse(w http.ResponseWriter, r *http.Request, c *call) error {
	var req embedSparseRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if !req.Inputs.set {
		return invalid("inputs: missing field `inputs`")
	}
	m, err := s.modelFor(req.Model, encoder.SparseEncoder, "/embed_sparse")
	if err != nil {
		return err
	}
	if err := s.checkBatch("inputs", len(req.Inputs.list)); err != nil {
		return err
	}
	t, err := s.truncationOf(req.Truncate, req.TruncationDirection)
	if err != nil {
		return err
	}
	prompt, err := promptOf(m.info, req.PromptName)
	if err != nil {
		return err
	}
	arrived := m.b.Arrive()
	encs, err := s.encode(c, m, "inputs", req.Inputs.list, prompt, t)
	if err != nil {
		arrived()
		return err
	}
	vecs, tm, err := m.b.sparse(r.Context(), encs, arrived)
	if err != nil {
		return err
	}
	c.timing.Queue, c.timing.Inference, c.encoded = tm.Queue, tm.Inference, true
	buf := getBuf()
	defer putBuf(buf)
	b := appendSparse(append(buf.Bytes(), '['), vecs)
	b = append(b, "]\n"...)
	c.setComputeHeaders(w)
	return writeBody(w, http.StatusOK, b)
}

// appendSparse writes TEI's sparse vectors: [[{"index": id, "value": w}, …], …]
// by ascending index.
func appendSparse(b []byte, vecs []sparse.Vec) []byte {
	for i, v := range vecs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for j, id := range v.IDs {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"index":`...)
			b = strconv.AppendInt(b, int64(id), 10)
			b = append(b, `,"value":`...)
			b = strconv.AppendFloat(b, float64(v.Weights[j]), 'g', -1, 32)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return b
}

// rerankTEIRequest is TEI's /rerank body.
type rerankTEIRequest struct {
	Query               *string  `json:"query"`
	Texts               []string `json:"texts"`
	Truncate            *bool    `json:"truncate"`
	TruncationDirection string   `json:"truncation_direction"`
	RawScores           bool     `json:"raw_scores"`
	ReturnText          bool     `json:"return_text"`
	Model               string   `json:"model"`
}

// rank is TEI's rerank result.
type rank struct {
	Index int     `json:"index"`
	Text  *string `json:"text,omitempty"`
	Score float64 `json:"score"`
}

func (s *Server) handleRerankTEI(w http.ResponseWriter, r *http.Request, c *call) error {
	var req rerankTEIRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	return s.rerankTEI(w, r, c, &req)
}

func (s *Server) rerankTEI(w http.ResponseWriter, r *http.Request, c *call, req *rerankTEIRequest) error {
	if req.Query == nil {
		return invalid("query: missing field `query`")
	}
	if req.Texts == nil {
		return invalid("texts: missing field `texts`")
	}
	m, err := s.modelFor(req.Model, encoder.CrossEncoder, r.URL.Path)
	if err != nil {
		return err
	}
	if len(req.Texts) == 0 {
		return empty("`texts` cannot be empty")
	}
	if err := s.checkBatch("texts", len(req.Texts)); err != nil {
		return err
	}
	t, err := s.truncationOf(req.Truncate, req.TruncationDirection)
	if err != nil {
		return err
	}
	scores, err := s.rankDocs(r, c, m, *req.Query, req.Texts, t, 0)
	if err != nil {
		return err
	}
	out := make([]rank, len(scores))
	for i, sc := range engine.RankByScore(scores) {
		out[i] = rank{Index: sc.Index, Score: engine.Sigmoid(sc.Score)}
		if req.RawScores {
			out[i].Score = float64(sc.Score)
		}
		if req.ReturnText {
			out[i].Text = &req.Texts[sc.Index]
		}
	}
	c.setComputeHeaders(w)
	return writeJSON(w, http.StatusOK, out)
}

// rankDocs scores (query, doc) pairs with cross-encoder m: the logit of the
// model's label per document. maxDocTokens > 0 cuts each document to that
// many tokens first (Cohere's max_tokens_per_doc).
func (s *Server) rankDocs(r *http.Request, c *call, m *model, query string, docs []string, t truncation, maxDocTokens int) ([]float32, error) {
	if t.left {
		return nil, invalid("truncation_direction: left is not available for (query, document) pairs (they are truncated longest first, as Hugging Face does)")
	}
	arrived := m.b.Arrive()
	tok, maxLen := m.b.Tokenizer(), m.info.MaxTokens
	encs := make([]tokenize.Encoding, len(docs))
	c.lengths = make([]int, len(docs))
	qchars := len([]rune(query))
	for i, d := range docs {
		if maxDocTokens > 0 {
			if toks := tok.Tokenize(d); len(toks) > maxDocTokens {
				d = d[:toks[maxDocTokens].Start]
			}
		}
		e := tok.EncodePair(query, d, maxLen)
		if e.Truncated {
			if !t.on {
				arrived()
				return nil, invalid("texts[%d]: the query and the text have %d tokens: more than the model's %d (pass \"truncate\": true, or start the server with --auto-truncate)", i, e.NumTokens, maxLen)
			}
			c.truncated++
		}
		encs[i] = e
		c.lengths[i] = len(e.IDs)
		c.tokens += len(e.IDs)
		c.chars += qchars + len([]rune(d))
	}
	logits, tm, err := m.b.rank(r.Context(), encs, arrived)
	if err != nil {
		return nil, err
	}
	c.timing.Queue, c.timing.Inference, c.encoded = tm.Queue, tm.Inference, true
	label := m.b.Label()
	out := make([]float32, len(logits))
	for i, l := range logits {
		if label >= len(l) || math.IsNaN(float64(l[label])) {
			return nil, backend("score is NaN")
		}
		out[i] = l[label]
	}
	return out, nil
}

// tokenizeRequest is TEI's /tokenize body.
type tokenizeRequest struct {
	Inputs           json.RawMessage `json:"inputs"`
	AddSpecialTokens *bool           `json:"add_special_tokens"`
	PromptName       *string         `json:"prompt_name"`
	Model            string          `json:"model"`
}

// simpleToken is TEI's token: for special tokens the token's text and no
// offsets, else the text's bytes [start, stop).
type simpleToken struct {
	ID      int32  `json:"id"`
	Text    string `json:"text"`
	Special bool   `json:"special"`
	Start   *int   `json:"start"`
	Stop    *int   `json:"stop"`
}

// stringOrList decodes a string or a list of strings.
func stringOrList(raw json.RawMessage, field string) ([]string, error) {
	v := strings.TrimSpace(string(raw))
	if v == "" || v == "null" {
		return nil, invalid("%s: missing field `%s`", field, field)
	}
	if v[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, invalid("%s: %v", field, err)
		}
		return []string{s}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, invalid("%s: want a string or a list of strings", field)
	}
	if list == nil {
		list = []string{}
	}
	return list, nil
}

func (s *Server) handleTokenize(w http.ResponseWriter, r *http.Request, c *call) error {
	var req tokenizeRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	texts, err := stringOrList(req.Inputs, "inputs")
	if err != nil {
		return err
	}
	m, err := s.anyModel(req.Model)
	if err != nil {
		return err
	}
	if err := s.checkBatch("inputs", len(texts)); err != nil {
		return err
	}
	prompt, err := promptOf(m.info, req.PromptName)
	if err != nil {
		return err
	}
	special := req.AddSpecialTokens == nil || *req.AddSpecialTokens
	tok := m.b.Tokenizer()
	ids := tok.SpecialIDs()
	out := make([][]simpleToken, len(texts))
	for i, text := range texts {
		text = prompt + text
		var toks []simpleToken
		if special {
			e := tok.Encode(text, 0)
			toks = make([]simpleToken, len(e.IDs))
			for j, id := range e.IDs {
				off := e.Offsets[j]
				if off == [2]int{} && (id == ids.CLS || id == ids.SEP) {
					toks[j] = simpleToken{ID: id, Text: tok.Piece(id), Special: true}
					continue
				}
				toks[j] = plainToken(text, id, off[0], off[1])
			}
		} else {
			pieces := tok.Tokenize(text)
			toks = make([]simpleToken, len(pieces))
			for j, p := range pieces {
				toks[j] = plainToken(text, p.ID, p.Start, p.End)
			}
		}
		c.tokens += len(toks)
		out[i] = toks
	}
	return writeJSON(w, http.StatusOK, out)
}

func plainToken(text string, id int32, start, stop int) simpleToken {
	a, b := start, stop
	return simpleToken{ID: id, Text: strings.ToValidUTF8(text[start:stop], "\uFFFD"), Start: &a, Stop: &b}
}

// anyModel is the model a request names, or the default, of any kind.
func (s *Server) anyModel(name string) (*model, error) {
	if name == "" {
		if m := s.defaultModel(); m != nil {
			return m, nil
		}
		return nil, backend("the server holds no model (start it with --model NAME=M.gguf)")
	}
	if m, ok := s.byName[name]; ok {
		return m, nil
	}
	return s.modelFor(name, encoder.BiEncoder, "")
}

// decodeRequest is TEI's /decode body.
type decodeRequest struct {
	IDs               json.RawMessage `json:"ids"`
	SkipSpecialTokens *bool           `json:"skip_special_tokens"`
	Model             string          `json:"model"`
}

func (s *Server) handleDecode(w http.ResponseWriter, r *http.Request, c *call) error {
	var req decodeRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	var in inputs
	if err := in.UnmarshalJSON(req.IDs); err != nil || !in.set {
		return invalid("ids: want a list of token ids or a list of lists of token ids")
	}
	m, err := s.anyModel(req.Model)
	if err != nil {
		return err
	}
	if err := s.checkBatch("ids", len(in.list)); err != nil {
		return err
	}
	skip := req.SkipSpecialTokens == nil || *req.SkipSpecialTokens
	tok := m.b.Tokenizer()
	vocab := int64(tok.VocabSize())
	out := make([]string, len(in.list))
	for i, x := range in.list {
		if !x.isIDs {
			return invalid("ids[%d]: want a list of token ids", i)
		}
		for j, id := range x.ids {
			if id < 0 || id >= vocab {
				return invalid("ids[%d][%d]: token id %d is outside the vocabulary (0..%d)", i, j, id, vocab-1)
			}
		}
		out[i] = decodeIDs(tok, x.ids, skip)
		c.tokens += len(x.ids)
	}
	return writeJSON(w, http.StatusOK, out)
}

// decodeIDs joins word pieces as Hugging Face's WordPiece decoder does:
// "##" pieces glued to the previous one, others after a space, each piece
// cleaned up (" ." → "." …); special tokens skipped when skip.
func decodeIDs(tok *tokenize.Tokenizer, ids []int64, skip bool) string {
	sp := tok.SpecialIDs()
	var b strings.Builder
	first := true
	for _, id := range ids {
		id32 := int32(id)
		if skip && (id32 == sp.CLS || id32 == sp.SEP || id32 == sp.Pad || id32 == sp.Mask || id32 == sp.Unk) {
			continue
		}
		p := tok.Piece(id32)
		if !first {
			if rest, ok := strings.CutPrefix(p, "##"); ok {
				p = rest
			} else {
				p = " " + p
			}
		}
		first = false
		b.WriteString(cleanup(p))
	}
	return b.String()
}

var cleanupReplacer = []struct{ from, to string }{
	{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
	{" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
}

// cleanup is Hugging Face's clean_up_tokenization, replacement by
// replacement in its order.
func cleanup(s string) string {
	for _, r := range cleanupReplacer {
		s = strings.ReplaceAll(s, r.from, r.to)
	}
	return s
}

// teiInfo is TEI's /info, with quarry's models and indexes added.
type teiInfo struct {
	ModelID               string         `json:"model_id"`
	ModelSHA              *string        `json:"model_sha"`
	ModelDType            string         `json:"model_dtype"`
	ModelType             map[string]any `json:"model_type"`
	MaxConcurrentRequests int            `json:"max_concurrent_requests"`
	MaxInputLength        int            `json:"max_input_length"`
	MaxBatchTokens        int            `json:"max_batch_tokens"`
	MaxBatchRequests      *int           `json:"max_batch_requests"`
	MaxClientBatchSize    int            `json:"max_client_batch_size"`
	AutoTruncate          bool           `json:"auto_truncate"`
	TokenizationWorkers   int            `json:"tokenization_workers"`
	Version               string         `json:"version"`
	SHA                   *string        `json:"sha"`
	DockerLabel           *string        `json:"docker_label"`
	Models                []modelInfo    `json:"models"`
	Indexes               []string       `json:"indexes"`
	PayloadLimit          int64          `json:"payload_limit"`
	Writable              bool           `json:"writable"`
}

// modelInfo describes one model in /info.
type modelInfo struct {
	Name           string `json:"name"`
	Kind           string `json:"kind"`
	Dim            int    `json:"dim,omitempty"`
	Vocab          int    `json:"vocab"`
	MaxInputLength int    `json:"max_input_length"`
	Pooling        string `json:"pooling"`
	Normalize      bool   `json:"normalize"`
	SHA256         string `json:"sha256,omitempty"`
	DType          string `json:"dtype,omitempty"`
	QueryPrompt    string `json:"query_prompt,omitempty"`
	DocumentPrompt string `json:"document_prompt,omitempty"`
}

func (s *Server) handleInfo(w http.ResponseWriter, _ *http.Request, _ *call) error {
	info := teiInfo{MaxConcurrentRequests: s.cfg.MaxConcurrentRequests, MaxBatchTokens: s.cfg.MaxBatchTokens,
		MaxClientBatchSize: s.cfg.MaxClientBatchSize, AutoTruncate: s.auto, TokenizationWorkers: 1, Version: s.cfg.Version,
		Models: []modelInfo{}, Indexes: append([]string{}, s.names...), PayloadLimit: s.cfg.PayloadLimit, Writable: s.cfg.Writable}
	for _, m := range s.models {
		info.Models = append(info.Models, modelInfo{Name: m.name, Kind: m.kind(), Dim: m.info.Dim, Vocab: m.b.Tokenizer().VocabSize(),
			MaxInputLength: m.info.MaxTokens, Pooling: m.info.Pooling, Normalize: m.info.Normalize, SHA256: m.sha, DType: m.dtype,
			QueryPrompt: m.info.QueryPrompt, DocumentPrompt: m.info.DocumentPrompt})
	}
	if m := s.defaultModel(); m != nil {
		info.ModelID, info.ModelDType, info.MaxInputLength = m.name, orStr(m.dtype, "float32"), m.info.MaxTokens
		if m.sha != "" {
			sha := m.sha
			info.ModelSHA = &sha
		}
		switch m.info.Kind {
		case encoder.CrossEncoder:
			n := max(1, m.info.Labels)
			id2label, label2id := map[string]string{}, map[string]int{}
			for i := range n {
				l := "LABEL_" + strconv.Itoa(i)
				id2label[strconv.Itoa(i)], label2id[l] = l, i
			}
			info.ModelType = map[string]any{"reranker": map[string]any{"id2label": id2label, "label2id": label2id}}
		default:
			info.ModelType = map[string]any{"embedding": map[string]any{"pooling": m.info.Pooling}}
		}
	}
	return writeJSON(w, http.StatusOK, info)
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request, _ *call) error {
	if s.closing.Load() {
		return &httpError{status: http.StatusServiceUnavailable, typ: typeUnhealthy, msg: "unhealthy"}
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request, _ *call) error {
	s.metrics.handler().ServeHTTP(w, r)
	return nil
}

// handleRoot is POST /: /rerank, /embed_sparse or /embed by the default
// model's kind (as TEI routes it; Hugging Face's InferenceClient posts here).
func (s *Server) handleRoot(w http.ResponseWriter, r *http.Request, c *call) error {
	m := s.defaultModel()
	if m == nil {
		return backend("the server holds no model")
	}
	switch m.info.Kind {
	case encoder.CrossEncoder:
		return s.handleRerankTEI(w, r, c)
	case encoder.SparseEncoder:
		return s.handleEmbedSparse(w, r, c)
	}
	return s.handleEmbed(w, r, c)
}
