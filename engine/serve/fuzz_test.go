package serve_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/serve"
)

// fuzzRoute fuzzes one JSON route's body: whatever the body, the handler
// does not panic, never answers 5xx, and answers valid JSON — of the
// route's shape (check) on 200, an error body of the route's family
// otherwise.
func fuzzRoute(f *testing.F, method, path string, openAI bool, seeds []string, check func(t *testing.T, body []byte)) {
	fuzzRouteWith(f, nil, method, path, openAI, seeds, check)
}

// fuzzRouteWith is fuzzRoute on a server configured by mod.
func fuzzRouteWith(f *testing.F, mod func(*serve.Config), method, path string, openAI bool, seeds []string, check func(t *testing.T, body []byte)) {
	fx := newFixture(f, mod)
	h := fx.srv.Handler()
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		target := path
		var rd *strings.Reader
		if method == "GET" {
			target = path + "?" + body
			rd = strings.NewReader("")
		} else {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, "http://quarry"+target, rd)
		if err != nil || strings.ContainsAny(target, " \t\r\n") {
			return // not a request line a client can send
		}
		req.RemoteAddr = "192.0.2.1:1234"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: status %d: %s", method, path, body, rec.Code, rec.Body.Bytes())
		}
		out := rec.Body.Bytes()
		if !json.Valid(out) {
			t.Fatalf("%s %q: status %d: the answer is not JSON: %q", path, body, rec.Code, out)
		}
		if rec.Code == 200 {
			check(t, out)
			return
		}
		if openAI {
			var e struct {
				Error *struct {
					Message string `json:"message"`
					Type    string `json:"type"`
				} `json:"error"`
			}
			if err := json.Unmarshal(out, &e); err != nil || e.Error == nil || e.Error.Message == "" || e.Error.Type == "" {
				t.Fatalf("%q: status %d: not an OpenAI error body: %s", body, rec.Code, out)
			}
			return
		}
		var e struct {
			Error     *string `json:"error"`
			ErrorType *string `json:"error_type"`
		}
		if err := json.Unmarshal(out, &e); err != nil || e.Error == nil || e.ErrorType == nil || *e.Error == "" {
			t.Fatalf("%q: status %d: not a TEI error body: %s", body, rec.Code, out)
		}
	})
}

// shape decodes body into v strictly enough to check a route's shape.
func shape(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("200 of the wrong shape (%v): %s", err, body)
	}
}

func checkVectors(t *testing.T, body []byte) {
	var v [][]float64
	shape(t, body, &v)
	if len(v) == 0 {
		t.Fatalf("no vectors: %s", body)
	}
}

var embedSeeds = []string{
	`{"inputs": "What is Deep Learning?"}`, `{"inputs": ["a", "b"], "truncate": false}`, `{"inputs": [101, 2000, 102]}`,
	`{"inputs": [[101, 102], "x"], "dimensions": 3}`, `{"inputs": "x", "normalize": false}`, `{"inputs": []}`, `{}`, `[]`, `"x"`,
	`{"inputs": "x", "truncation_direction": "left", "prompt_name": "query"}`, `{"inputs": [1e30]}`, `{"inputs": "x", "model": "ce"}`,
}

func FuzzEmbed(f *testing.F) { fuzzRoute(f, "POST", "/embed", false, embedSeeds, checkVectors) }

func FuzzRoot(f *testing.F) { fuzzRoute(f, "POST", "/", false, embedSeeds, checkVectors) }

func FuzzEmbedSparse(f *testing.F) {
	seeds := []string{`{"inputs": "speech audio", "model": "splade"}`, `{"inputs": ["a", [101, 102]], "model": "splade"}`, `{"inputs": "x"}`}
	fuzzRoute(f, "POST", "/embed_sparse", false, seeds, func(t *testing.T, body []byte) {
		var v [][]struct {
			Index *int     `json:"index"`
			Value *float64 `json:"value"`
		}
		shape(t, body, &v)
		for _, vec := range v {
			for _, e := range vec {
				if e.Index == nil || e.Value == nil {
					t.Fatalf("sparse entry without index or value: %s", body)
				}
			}
		}
	})
}

func checkRanks(t *testing.T, body []byte) {
	var v []struct {
		Index *int     `json:"index"`
		Score *float64 `json:"score"`
	}
	shape(t, body, &v)
	for i, r := range v {
		if r.Index == nil || r.Score == nil || (i > 0 && *r.Score > *v[i-1].Score) {
			t.Fatalf("ranks: %s", body)
		}
	}
}

func FuzzRerank(f *testing.F) {
	seeds := []string{`{"query": "q", "texts": ["a", "b"]}`, `{"query": "q", "texts": ["a"], "raw_scores": true, "return_text": true}`,
		`{"query": "", "texts": [""], "truncate": false}`, `{"query": 1}`, `{"texts": []}`}
	fuzzRoute(f, "POST", "/rerank", false, seeds, checkRanks)
}

func FuzzRerankAPI(f *testing.F) {
	seeds := []string{`{"model": "ce", "query": "q", "documents": ["a", "b"], "top_n": 1, "return_documents": true}`,
		`{"query": "q", "documents": [{"text": "a"}], "max_tokens_per_doc": 3}`, `{"query": "q", "texts": ["a"]}`, `{"query": "q", "documents": [null]}`}
	check := func(t *testing.T, body []byte) {
		if strings.HasPrefix(string(body), "[") {
			checkRanks(t, body)
			return
		}
		var v struct {
			Results []struct {
				Index          *int     `json:"index"`
				RelevanceScore *float64 `json:"relevance_score"`
			} `json:"results"`
		}
		shape(t, body, &v)
		if v.Results == nil {
			t.Fatalf("no results: %s", body)
		}
		for _, r := range v.Results {
			if r.Index == nil || r.RelevanceScore == nil || *r.RelevanceScore < 0 || *r.RelevanceScore > 1 {
				t.Fatalf("result: %s", body)
			}
		}
	}
	fuzzRoute(f, "POST", "/v1/rerank", false, seeds, check)
}

func FuzzRerankV2(f *testing.F) {
	seeds := []string{`{"model": "ce", "query": "q", "documents": ["a", "b"], "top_n": 5}`, `{"query": "q", "documents": "a"}`}
	fuzzRoute(f, "POST", "/v2/rerank", false, seeds, func(t *testing.T, body []byte) {
		var v struct {
			ID      string            `json:"id"`
			Results []json.RawMessage `json:"results"`
			Meta    json.RawMessage   `json:"meta"`
		}
		shape(t, body, &v)
		if v.ID == "" || v.Results == nil || v.Meta == nil {
			t.Fatalf("cohere shape: %s", body)
		}
	})
}

func FuzzTokenize(f *testing.F) {
	seeds := []string{`{"inputs": "Hello, Wörld!"}`, `{"inputs": ["a", "[SEP] b"], "add_special_tokens": false}`, `{"inputs": "x", "prompt_name": "document"}`}
	fuzzRoute(f, "POST", "/tokenize", false, seeds, func(t *testing.T, body []byte) {
		var v [][]struct {
			ID      *int   `json:"id"`
			Text    string `json:"text"`
			Special bool   `json:"special"`
		}
		shape(t, body, &v)
	})
}

func FuzzDecode(f *testing.F) {
	seeds := []string{`{"ids": [101, 7592, 102]}`, `{"ids": [[101], [102, 2000]], "skip_special_tokens": false}`, `{"ids": []}`, `{"ids": [-5]}`}
	fuzzRoute(f, "POST", "/decode", false, seeds, func(t *testing.T, body []byte) {
		var v []string
		shape(t, body, &v)
	})
}

func FuzzOpenAIEmbeddings(f *testing.F) {
	seeds := []string{`{"input": "x", "model": "dense"}`, `{"input": ["a", "b"], "encoding_format": "base64"}`, `{"input": [[101, 102]], "dimensions": 4}`,
		`{"input": [101]}`, `{"input": "x", "encoding_format": "int8"}`, `{"model": "gpt"}`}
	fuzzRoute(f, "POST", "/v1/embeddings", true, seeds, func(t *testing.T, body []byte) {
		var v struct {
			Object string `json:"object"`
			Data   []struct {
				Object    string          `json:"object"`
				Embedding json.RawMessage `json:"embedding"`
				Index     *int            `json:"index"`
			} `json:"data"`
			Model string `json:"model"`
			Usage *struct {
				PromptTokens int `json:"prompt_tokens"`
			} `json:"usage"`
		}
		shape(t, body, &v)
		if v.Object != "list" || len(v.Data) == 0 || v.Usage == nil || v.Model == "" {
			t.Fatalf("openai shape: %s", body)
		}
	})
}

func checkSearch(t *testing.T, body []byte) {
	var v struct {
		QueryID *string `json:"query_id"`
		Results []struct {
			ID           *string         `json:"id"`
			Score        *float64        `json:"score"`
			ScoreKind    string          `json:"score_kind"`
			Scores       json.RawMessage `json:"scores"`
			PassageIndex *int            `json:"passage_index"`
		} `json:"results"`
	}
	shape(t, body, &v)
	if v.QueryID == nil || v.Results == nil {
		t.Fatalf("search shape: %s", body)
	}
	for _, r := range v.Results {
		if r.ID == nil || r.Score == nil || r.ScoreKind == "" || r.Scores == nil || r.PassageIndex == nil {
			t.Fatalf("result shape: %s", body)
		}
	}
}

func FuzzSearch(f *testing.F) {
	seeds := []string{`{"query": "transcribe french audio", "k": 3, "mode": "hybrid", "rerank": "ce", "rerank_top": 5}`,
		`{"query": "x", "filters": ["pipeline_tag=translation", "likes>=10"], "sort": "likes", "direction": "desc"}`,
		`{"query": "x", "mode": "bm25", "fusion": "weighted", "alpha": 0.2, "pool": 3}`, `{"query": "x", "filters": ["tags=common"], "sort": "lastModified:asc"}`,
		`{"query": "x", "mode": "sparse"}`, `{"query": "x", "rerank": true, "k": 10000}`}
	fuzzRoute(f, "POST", "/v1/indexes/hub/search", false, seeds, checkSearch)
}

func FuzzSearchGet(f *testing.F) {
	seeds := []string{"q=audio&k=3&mode=bm25", "q=x&filter=pipeline_tag%3Dtranslation&sort=likes&dir=desc&rerank=1", "q=x&alpha=nan&mode=hybrid&fusion=weighted", "k=-1"}
	fuzzRoute(f, "GET", "/v1/indexes/hub/search", false, seeds, checkSearch)
}

func writable(c *serve.Config) { c.Writable = true }

func FuzzAddDocuments(f *testing.F) {
	seeds := []string{`{"_id": "f1", "text": "a new document", "likes": 3}`, `[{"id": "f2", "title": "T", "text": "x"}]`,
		"{\"_id\": \"f3\", \"text\": \"a\"}\n{\"_id\": \"f3\", \"text\": \"b\"}\n", `[{"_id": "org/model-01", "text": "taken"}]`, `[{"text": 1}]`, `[]`, `{"_id": `}
	fuzzRouteWith(f, writable, "POST", "/v1/indexes/hub/documents", false, seeds, func(t *testing.T, body []byte) {
		var v struct {
			Committed  []string `json:"committed"`
			Generation *uint64  `json:"generation"`
			Documents  *int64   `json:"documents"`
		}
		shape(t, body, &v)
		if len(v.Committed) == 0 || v.Generation == nil || v.Documents == nil {
			t.Fatalf("add shape: %s", body)
		}
	})
}

func FuzzDeleteDocuments(f *testing.F) {
	seeds := []string{`{"ids": ["org/model-03", "nope"]}`, `{"ids": []}`, `{"ids": [1]}`, `{"ids": "x"}`}
	fuzzRouteWith(f, writable, "DELETE", "/v1/indexes/hub/documents", false, seeds, func(t *testing.T, body []byte) {
		var v struct {
			Deleted    []string `json:"deleted"`
			Missing    []string `json:"missing"`
			Generation *uint64  `json:"generation"`
		}
		shape(t, body, &v)
		if v.Deleted == nil || v.Missing == nil || v.Generation == nil {
			t.Fatalf("delete shape: %s", body)
		}
	})
}

func FuzzIndexDetail(f *testing.F) {
	seeds := []string{"values=3", "values=x", "values=-1", ""}
	fuzzRoute(f, "GET", "/v1/indexes/hub", false, seeds, func(t *testing.T, body []byte) {
		var v struct {
			Name   string                     `json:"name"`
			Info   json.RawMessage            `json:"info"`
			Facets map[string]json.RawMessage `json:"facets"`
		}
		shape(t, body, &v)
		if v.Name != "hub" || v.Info == nil || v.Facets == nil {
			t.Fatalf("index shape: %s", body)
		}
	})
}
