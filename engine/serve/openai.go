package serve

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"strconv"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/encoder"
)

// openAIRequest is OpenAI's /v1/embeddings body.
type openAIRequest struct {
	Input          openAIInputs `json:"input"`
	Model          string       `json:"model"`
	User           string       `json:"user"`
	EncodingFormat string       `json:"encoding_format"`
	Dimensions     *int         `json:"dimensions"`
}

func (s *Server) handleOpenAIEmbeddings(w http.ResponseWriter, r *http.Request, c *call) error {
	var req openAIRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	b64 := false
	switch req.EncodingFormat {
	case "", "float":
	case "base64":
		b64 = true
	default:
		return invalid("encoding_format: %q is not float or base64", req.EncodingFormat)
	}
	vecs, m, err := s.embed(r, c, "input", req.Model, req.Input.inputs, nil, "", nil, nil, req.Dimensions)
	if err != nil {
		return err
	}
	buf := getBuf()
	defer putBuf(buf)
	b := append(buf.Bytes(), `{"object":"list","data":[`...)
	var raw []byte
	for i, v := range vecs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","embedding":`...)
		if b64 {
			raw = raw[:0]
			for _, x := range v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					return backend("the model produced a non-finite value")
				}
				raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(x))
			}
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, raw)
			b = append(b, '"')
		} else if b, err = appendFloats(b, v); err != nil {
			return err
		}
		b = append(b, `,"index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, '}')
	}
	name, _ := json.Marshal(m.name)
	b = append(b, `],"model":`...)
	b = append(b, name...)
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(c.tokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(c.tokens), 10)
	b = append(b, "}}\n"...)
	c.setComputeHeaders(w)
	return writeBody(w, http.StatusOK, b)
}

// rerankRequest is the body of /v1/rerank (Jina's, also Cohere v1's) and
// /v2/rerank (Cohere v2's). A body with "texts" is TEI's and is answered
// in TEI's shape, as llama.cpp's server does.
type rerankRequest struct {
	Model           string            `json:"model"`
	Query           *string           `json:"query"`
	Documents       []json.RawMessage `json:"documents"`
	TopN            *int              `json:"top_n"`
	ReturnDocuments bool              `json:"return_documents"`
	MaxTokensPerDoc *int              `json:"max_tokens_per_doc"`
	// TEI's fields.
	Texts               []string `json:"texts"`
	Truncate            *bool    `json:"truncate"`
	TruncationDirection string   `json:"truncation_direction"`
	RawScores           bool     `json:"raw_scores"`
	ReturnText          bool     `json:"return_text"`
}

// rerankResult is one result of Jina's and Cohere's rerank.
type rerankResult struct {
	Index          int           `json:"index"`
	RelevanceScore float64       `json:"relevance_score"`
	Document       *rerankDocRef `json:"document,omitempty"`
}

type rerankDocRef struct {
	Text string `json:"text"`
}

// jinaResponse is /v1/rerank's answer.
type jinaResponse struct {
	Model   string         `json:"model"`
	Results []rerankResult `json:"results"`
	Usage   usage          `json:"usage"`
}

type usage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

// cohereResponse is /v2/rerank's answer.
type cohereResponse struct {
	ID      string         `json:"id"`
	Results []rerankResult `json:"results"`
	Meta    cohereMeta     `json:"meta"`
}

type cohereMeta struct {
	APIVersion struct {
		Version string `json:"version"`
	} `json:"api_version"`
	BilledUnits struct {
		SearchUnits int `json:"search_units"`
	} `json:"billed_units"`
}

// maxDocTokensLimit bounds max_tokens_per_doc.
const maxDocTokensLimit = 1 << 16

func (s *Server) handleRerankV1(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.rerankAPI(w, r, c, false)
}

func (s *Server) handleRerankV2(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.rerankAPI(w, r, c, true)
}

func (s *Server) rerankAPI(w http.ResponseWriter, r *http.Request, c *call, cohere bool) error {
	var req rerankRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Texts != nil && req.Documents == nil {
		return s.rerankTEI(w, r, c, &rerankTEIRequest{Query: req.Query, Texts: req.Texts, Truncate: req.Truncate,
			TruncationDirection: req.TruncationDirection, RawScores: req.RawScores, ReturnText: req.ReturnText, Model: req.Model})
	}
	if req.Query == nil {
		return invalid("query: missing field `query`")
	}
	if req.Documents == nil {
		return invalid("documents: missing field `documents`")
	}
	m, err := s.modelFor(req.Model, encoder.CrossEncoder, r.URL.Path)
	if err != nil {
		return err
	}
	if len(req.Documents) == 0 {
		return empty("`documents` cannot be empty")
	}
	if err := s.checkBatch("documents", len(req.Documents)); err != nil {
		return err
	}
	docs := make([]string, len(req.Documents))
	for i, d := range req.Documents {
		if docs[i], err = documentText(d); err != nil {
			return invalid("documents[%d]: %v", i, err)
		}
	}
	top := len(docs)
	if req.TopN != nil {
		if *req.TopN < 1 {
			return invalid("top_n: must be ≥ 1")
		}
		top = min(top, *req.TopN)
	}
	maxDoc := 0
	if req.MaxTokensPerDoc != nil {
		if *req.MaxTokensPerDoc < 1 || *req.MaxTokensPerDoc > maxDocTokensLimit {
			return invalid("max_tokens_per_doc: must be 1..%d", maxDocTokensLimit)
		}
		maxDoc = *req.MaxTokensPerDoc
	}
	t, err := s.truncationOf(req.Truncate, req.TruncationDirection)
	if err != nil {
		return err
	}
	scores, err := s.rankDocs(r, c, m, *req.Query, docs, t, maxDoc)
	if err != nil {
		return err
	}
	results := make([]rerankResult, 0, top)
	for _, sc := range engine.RankByScore(scores)[:top] {
		res := rerankResult{Index: sc.Index, RelevanceScore: engine.Sigmoid(sc.Score)}
		if req.ReturnDocuments {
			res.Document = &rerankDocRef{Text: docs[sc.Index]}
		}
		results = append(results, res)
	}
	c.setComputeHeaders(w)
	if cohere {
		out := cohereResponse{ID: requestID(), Results: results}
		out.Meta.APIVersion.Version = "2"
		out.Meta.BilledUnits.SearchUnits = 1
		return writeJSON(w, http.StatusOK, out)
	}
	return writeJSON(w, http.StatusOK, jinaResponse{Model: m.name, Results: results, Usage: usage{PromptTokens: c.tokens, TotalTokens: c.tokens}})
}

// documentText is a rerank document: a string, or an object with "text"
// (Cohere v1's and Jina's object form).
func documentText(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Text == nil {
		return "", errNotDocument
	}
	return *obj.Text, nil
}

var errNotDocument = invalid("want a string or an object with a \"text\" string")

// requestID is a random id for Cohere's answers.
func requestID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
