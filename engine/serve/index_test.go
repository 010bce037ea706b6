package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/quarry-search/quarry/engine"
)

// cliJSON is what `quarry search --json` prints for a response.
func cliJSON(t testing.TB, r *engine.Response) []byte {
	t.Helper()
	if r.Results == nil {
		r.Results = []engine.Result{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestSearchEqualsEngine: every mode, with filters, sort and rerank, the
// route answers byte for byte the CLI's --json line of engine.Search.
func TestSearchEqualsEngine(t *testing.T) {
	f := newFixture(t, nil)
	ix, err := engine.Open(f.dir, engine.OpenOptions{Encoder: f.dense})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	alpha := 0.3
	cases := []struct {
		body map[string]any
		req  engine.Request
	}{
		{map[string]any{"query": "transcribe french audio"}, engine.Request{Text: "transcribe french audio"}},
		{map[string]any{"query": "transcribe french audio", "k": 5, "mode": "bm25"}, engine.Request{Text: "transcribe french audio", K: 5, Mode: engine.ModeBM25}},
		{map[string]any{"query": "speech <b>&", "k": 7, "mode": "hybrid", "fusion": "weighted", "alpha": alpha, "id": "q7"},
			engine.Request{ID: "q7", Text: "speech <b>&", K: 7, Mode: engine.ModeHybrid, Fusion: "weighted", Alpha: &alpha}},
		{map[string]any{"query": "translate text", "filters": []string{"pipeline_tag=translation", "likes>=10"}, "sort": "likes", "direction": "desc"},
			engine.Request{Text: "translate text", Filters: []string{"pipeline_tag=translation", "likes>=10"}, Sort: "likes:desc"}},
		{map[string]any{"query": "classify reviews", "mode": "hybrid", "rerank": "ce", "rerank_top": 20, "k": 4},
			engine.Request{Text: "classify reviews", Mode: engine.ModeHybrid, K: 4, Rerank: &engine.Rerank{Model: f.ce, Top: 20}}},
		{map[string]any{"query": "classify reviews", "rerank": true, "pool": 30},
			engine.Request{Text: "classify reviews", Pool: 30, Rerank: &engine.Rerank{Model: f.ce}}},
		{map[string]any{"query": "speech recognition", "ef": 40, "exact": true, "k": 3},
			engine.Request{Text: "speech recognition", Ef: 40, Exact: true, K: 3}},
	}
	for _, c := range cases {
		if c.req.ID == "" {
			c.req.ID = "1"
		}
		want, err := ix.Search(context.Background(), c.req)
		if err != nil {
			t.Fatal(err)
		}
		got := f.do(t, "POST", "/v1/indexes/hub/search", c.body)
		if got.status != 200 {
			t.Fatalf("%v: status %d: %s", c.body, got.status, got.body)
		}
		if w := cliJSON(t, want); !bytes.Equal(got.body, w) {
			t.Fatalf("%v:\n got %s\nwant %s", c.body, got.body, w)
		}
		if got.header.Get("x-quarry-generation") == "" || got.header.Get("x-total-time") == "" {
			t.Fatalf("missing headers: %v", got.header)
		}
	}
	// GET with URL parameters is the same search.
	v := url.Values{"q": {"translate text"}, "filter": {"pipeline_tag=translation", "likes>=10"}, "sort": {"likes"}, "dir": {"desc"}}
	got := f.do(t, "GET", "/v1/indexes/hub/search?"+v.Encode(), nil)
	greq := cases[3].req
	greq.ID = "1"
	want, _ := ix.Search(context.Background(), greq)
	if w := cliJSON(t, want); !bytes.Equal(got.body, w) {
		t.Fatalf("GET:\n got %s\nwant %s", got.body, w)
	}
}

func TestSearchErrors(t *testing.T) {
	f := newFixture(t, nil)
	for _, c := range []struct {
		body   string
		status int
		typ    string
		part   string
	}{
		{``, 400, "Empty", "empty"},
		{`{"query": `, 400, "Validation", "not valid JSON"},
		{`[1]`, 400, "Validation", "JSON object"},
		{`{"query": ""}`, 400, "Empty", "query"},
		{`{"query": "x", "k": 0}`, 422, "Validation", "k: must be 1..10000"},
		{`{"query": "x", "k": 10001}`, 422, "Validation", "k: must be 1..10000"},
		{`{"query": "x", "k": "ten"}`, 422, "Validation", "k: want an integer"},
		{`{"query": "x", "k": 1.5}`, 422, "Validation", "k"},
		{`{"query": "x", "mode": "fuzzy"}`, 422, "Validation", "mode"},
		{`{"query": "x", "mode": "sparse"}`, 422, "Validation", "sparse"},
		{`{"query": "x", "alpha": 2}`, 422, "Validation", "alpha"},
		{`{"query": "x", "filters": ["nofield~~1"]}`, 422, "Validation", ""},
		{`{"query": "x", "filters": ["nosuchfield=1"]}`, 422, "Validation", ""},
		{`{"query": "x", "sort": "nosuchfield"}`, 422, "Validation", "nosuchfield"},
		{`{"query": "x", "direction": "up", "sort": "likes"}`, 422, "Validation", "direction"},
		{`{"query": "x", "rerank": "nope"}`, 422, "Validation", "rerank"},
		{`{"query": "x", "rerank": "dense"}`, 424, "Backend", "cross-encoder"},
		{`{"query": "x", "rerank": 3}`, 422, "Validation", "rerank"},
		{`{"query": "x", "ef": 0}`, 422, "Validation", "ef: must be 1..100000"},
		{`{"query": "x", "ef": 100001}`, 422, "Validation", "ef: must be 1..100000"},
		{`{"query": "x", "exact": "yes"}`, 422, "Validation", "exact"},
	} {
		r := f.do(t, "POST", "/v1/indexes/hub/search", c.body)
		wantError(t, r, c.status, c.typ, c.part)
	}
	wantError(t, f.do(t, "POST", "/v1/indexes/nope/search", `{"query":"x"}`), 404, "NotFound", "nope")
	wantError(t, f.do(t, "PUT", "/v1/indexes/hub/search", `{"query":"x"}`), 405, "MethodNotAllowed", "")
	wantError(t, f.do(t, "GET", "/v1/indexes/hub/search?q=x&k=abc", nil), 422, "Validation", "k")
	wantError(t, f.do(t, "GET", "/v1/indexes/hub/search?q=x&ef=abc", nil), 422, "Validation", "ef")
	wantError(t, f.do(t, "GET", "/v1/indexes/hub/search?q=x&exact=maybe", nil), 422, "Validation", "exact")
	wantError(t, f.do(t, "POST", "/v1/indexes/hub/documents", `[]`), 405, "MethodNotAllowed", "--writable")
}

func TestIndexesList(t *testing.T) {
	f := newFixture(t, nil)
	r := f.do(t, "GET", "/v1/indexes", nil)
	var out struct {
		Indexes []map[string]any `json:"indexes"`
	}
	r.json(t, &out)
	if len(out.Indexes) != 1 || out.Indexes[0]["name"] != "hub" || out.Indexes[0]["documents"] != float64(40) || out.Indexes[0]["model"] != "dense" {
		t.Fatalf("indexes: %s", r.body)
	}
	r = f.do(t, "GET", "/v1/indexes/hub", nil)
	var one map[string]any
	r.json(t, &one)
	if one["name"] != "hub" || one["info"] == nil || one["facets"] == nil {
		t.Fatalf("index: %s", r.body)
	}
	if r.status != http.StatusOK {
		t.Fatal(r.status)
	}
}
