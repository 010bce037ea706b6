package serve_test

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/encoder/fake"
	"github.com/quarry-search/quarry/engine/serve"
	"github.com/quarry-search/quarry/engine/tokenize"
)

// fakeVec is what the fake model gives text (truncated to its window).
func fakeVec(e *fake.Encoder, text string) []float32 {
	v := e.Vector(e.Tokenizer().Encode(text, e.Info().MaxTokens))
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func sameBits(t testing.TB, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: value %d is %v, want %v", what, i, got[i], want[i])
		}
	}
}

var longText = strings.Repeat("rivers and mountains ", 40)

func TestEmbed(t *testing.T) {
	f := newFixture(t, nil)
	var one [][]float32
	r := f.do(t, "POST", "/embed", `{"inputs": "What is Deep Learning?"}`)
	r.json(t, &one)
	if len(one) != 1 {
		t.Fatalf("single input: %s", r.body)
	}
	sameBits(t, "single", one[0], fakeVec(f.dense, "What is Deep Learning?"))
	for _, h := range []string{"x-compute-tokens", "x-compute-characters", "x-total-time", "x-tokenization-time", "x-queue-time", "x-inference-time", "x-compute-type"} {
		if r.header.Get(h) == "" {
			t.Fatalf("no %s header: %v", h, r.header)
		}
	}
	if r.header.Get("x-compute-tokens") != "7" || r.header.Get("x-quarry-truncated") != "0" {
		t.Fatalf("headers: %v", r.header)
	}
	// A batch with token ids, used as given.
	tok := f.dense.Tokenizer()
	ids := tok.Encode("hello world", 0).IDs
	var batch [][]float32
	body := fmt.Sprintf(`{"inputs": ["a", %s, "b c"]}`, jsonInts(ids))
	f.do(t, "POST", "/embed", body).json(t, &batch)
	if len(batch) != 3 {
		t.Fatal(len(batch))
	}
	sameBits(t, "ids", batch[1], fakeVec(f.dense, "hello world"))
	sameBits(t, "b c", batch[2], fakeVec(f.dense, "b c"))
	// A list of ids alone is one input.
	var idsOnly [][]float32
	f.do(t, "POST", "/embed", fmt.Sprintf(`{"inputs": %s}`, jsonInts(ids))).json(t, &idsOnly)
	if len(idsOnly) != 1 {
		t.Fatal(len(idsOnly))
	}
	sameBits(t, "ids only", idsOnly[0], fakeVec(f.dense, "hello world"))

	// Matryoshka dimensions: truncated and unit length.
	var d8 [][]float32
	f.do(t, "POST", "/embed", `{"inputs": "What is Deep Learning?", "dimensions": 8}`).json(t, &d8)
	if len(d8[0]) != 8 || math.Abs(norm(d8[0])-1) > 1e-6 {
		t.Fatalf("dimensions 8: %v (norm %v)", d8[0], norm(d8[0]))
	}
	for i := range d8[0] {
		if math.Abs(float64(d8[0][i])-float64(one[0][i])/norm(one[0][:8])) > 1e-6 {
			t.Fatalf("dimensions 8: value %d is %v, want %v", i, d8[0][i], float64(one[0][i])/norm(one[0][:8]))
		}
	}
	// Truncation: on by default and reported; off answers 422.
	r = f.do(t, "POST", "/embed", map[string]any{"inputs": []string{longText, "x"}})
	if r.status != 200 || r.header.Get("x-quarry-truncated") != "1" {
		t.Fatalf("auto truncate: %d %v %s", r.status, r.header, r.body)
	}
	wantError(t, f.do(t, "POST", "/embed", map[string]any{"inputs": longText, "truncate": false}), 422, "Validation", "must have less than 41 tokens")
	// Left truncation keeps the end.
	var left [][]float32
	f.do(t, "POST", "/embed", map[string]any{"inputs": "first " + longText + " zebra", "truncation_direction": "left"}).json(t, &left)
	full := tok.Encode("first "+longText+" zebra", 0).IDs
	n := len(full)
	kept := append(append([]int32{full[0]}, full[n-39:n-1]...), full[n-1])
	vec := f.dense.Vector(tokenize.Encoding{IDs: kept})
	want := make([]float32, len(vec))
	for i, x := range vec {
		want[i] = float32(x)
	}
	sameBits(t, "left", left[0], want)

	for _, c := range []struct {
		body         string
		status       int
		typ, message string
	}{
		{`{"inputs": []}`, 400, "Empty", "cannot be empty"},
		{`{}`, 422, "Validation", "inputs"},
		{`{"inputs": 3}`, 422, "Validation", "inputs"},
		{`{"inputs": [true]}`, 422, "Validation", "inputs[0]"},
		{`{"inputs": [1.5, 2]}`, 422, "Validation", "token id"},
		{`{"inputs": [99999999]}`, 422, "Validation", "outside the vocabulary"},
		{`{"inputs": [-1]}`, 422, "Validation", "outside the vocabulary"},
		{`{"inputs": [[]]}`, 400, "Empty", "no token ids"},
		{`{"inputs": "x", "dimensions": 25}`, 422, "Validation", "dimensions: 25: must be 1..24"},
		{`{"inputs": "x", "dimensions": 0}`, 422, "Validation", "dimensions"},
		{`{"inputs": "x", "normalize": false}`, 422, "Validation", "normalize"},
		{`{"inputs": "x", "truncation_direction": "up"}`, 422, "Validation", "truncation_direction"},
		{`{"inputs": "x", "prompt_name": "nope"}`, 422, "Validation", "prompt_name"},
		{`{"inputs": "x", "model": "ce"}`, 424, "Backend", "not an embedding model"},
		{`{"inputs": "x", "model": "splade"}`, 424, "Backend", "not an embedding model"},
		{`{"inputs": "x", "model": "nope"}`, 404, "NotFound", "nope"},
		{`{"inputs": ` + jsonStrings(33) + `}`, 413, "Validation", "batch size 33 > maximum allowed batch size 32"},
	} {
		wantError(t, f.do(t, "POST", "/embed", c.body), c.status, c.typ, c.message)
	}
	wantError(t, f.do(t, "GET", "/embed", nil), 405, "MethodNotAllowed", "")
}

func norm(v []float32) float64 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	return math.Sqrt(n)
}

func jsonInts(ids []int32) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprint(id)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func jsonStrings(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"text %d"`, i)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func TestEmbedSparse(t *testing.T) {
	f := newFixture(t, nil)
	var out [][]struct {
		Index int     `json:"index"`
		Value float32 `json:"value"`
	}
	f.do(t, "POST", "/embed_sparse", `{"inputs": ["speech speech audio", "x"], "model": "splade"}`).json(t, &out)
	want := f.sparse.SparseVector(f.sparse.Tokenizer().Encode("speech speech audio", 40))
	if len(out) != 2 || len(out[0]) != len(want.IDs) {
		t.Fatalf("%v vs %v", out, want)
	}
	for i, e := range out[0] {
		if e.Index != int(want.IDs[i]) || e.Value != want.Weights[i] {
			t.Fatalf("entry %d: %+v, want %d %v", i, e, want.IDs[i], want.Weights[i])
		}
	}
	// The default model is dense: 424.
	wantError(t, f.do(t, "POST", "/embed_sparse", `{"inputs": "x"}`), 424, "Backend", "not a SPLADE model")
}

func TestRerankTEI(t *testing.T) {
	f := newFixture(t, nil)
	texts := []string{"nothing here", "french audio transcription", "audio", "french audio"}
	var out []struct {
		Index int     `json:"index"`
		Score float64 `json:"score"`
		Text  *string `json:"text"`
	}
	f.do(t, "POST", "/rerank", map[string]any{"query": "french audio", "texts": texts, "return_text": true}).json(t, &out)
	logits, err := f.ce.Rerank(t.Context(), "french audio", texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(texts) {
		t.Fatal(len(out))
	}
	for i, r := range out {
		if i > 0 && r.Score > out[i-1].Score {
			t.Fatalf("not sorted: %+v", out)
		}
		if r.Score != engine.Sigmoid(logits[r.Index]) || r.Text == nil || *r.Text != texts[r.Index] {
			t.Fatalf("result %+v: want score %v text %q", r, engine.Sigmoid(logits[r.Index]), texts[r.Index])
		}
	}
	var raw []map[string]any
	f.do(t, "POST", "/rerank", map[string]any{"query": "french audio", "texts": texts, "raw_scores": true}).json(t, &raw)
	if raw[0]["score"] != float64(float32(raw[0]["score"].(float64))) || raw[0]["text"] != nil {
		t.Fatalf("raw: %v", raw)
	}
	if raw[0]["score"].(float64) != float64(logits[int(raw[0]["index"].(float64))]) {
		t.Fatalf("raw score %v", raw[0])
	}
	wantError(t, f.do(t, "POST", "/rerank", `{"query": "q", "texts": []}`), 400, "Empty", "`texts` cannot be empty")
	wantError(t, f.do(t, "POST", "/rerank", `{"texts": ["a"]}`), 422, "Validation", "query")
	wantError(t, f.do(t, "POST", "/rerank", `{"query": "q", "texts": ["a"], "model": "dense"}`), 424, "Backend", "not a re-ranker")
	wantError(t, f.do(t, "POST", "/rerank", map[string]any{"query": "q", "texts": []string{longText}, "truncate": false}), 422, "Validation", "tokens")
}

func TestRerankAPIs(t *testing.T) {
	f := newFixture(t, nil)
	docs := []string{"nothing here", "french audio transcription", "audio", "french audio"}
	logits, _ := f.ce.Rerank(t.Context(), "french audio", docs)
	order := engine.RankByScore(logits)
	type result struct {
		Index          int     `json:"index"`
		RelevanceScore float64 `json:"relevance_score"`
		Document       *struct {
			Text string `json:"text"`
		} `json:"document"`
	}
	var jina struct {
		Model   string   `json:"model"`
		Results []result `json:"results"`
		Usage   struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		} `json:"usage"`
	}
	f.do(t, "POST", "/v1/rerank", map[string]any{"model": "ce", "query": "french audio", "documents": docs, "top_n": 2, "return_documents": true}).json(t, &jina)
	if jina.Model != "ce" || len(jina.Results) != 2 || jina.Usage.TotalTokens == 0 {
		t.Fatalf("jina: %+v", jina)
	}
	for i, r := range jina.Results {
		if r.Index != order[i].Index || r.RelevanceScore != engine.Sigmoid(order[i].Score) || r.Document == nil || r.Document.Text != docs[r.Index] {
			t.Fatalf("jina result %d: %+v", i, r)
		}
	}
	var cohere struct {
		ID      string   `json:"id"`
		Results []result `json:"results"`
		Meta    struct {
			APIVersion struct {
				Version string `json:"version"`
			} `json:"api_version"`
			BilledUnits struct {
				SearchUnits int `json:"search_units"`
			} `json:"billed_units"`
		} `json:"meta"`
	}
	objs := []map[string]string{{"text": docs[0]}, {"text": docs[1]}, {"text": docs[2]}, {"text": docs[3]}}
	f.do(t, "POST", "/v2/rerank", map[string]any{"model": "ce", "query": "french audio", "documents": objs}).json(t, &cohere)
	if cohere.ID == "" || len(cohere.Results) != 4 || cohere.Meta.APIVersion.Version != "2" || cohere.Meta.BilledUnits.SearchUnits != 1 || cohere.Results[0].Document != nil {
		t.Fatalf("cohere: %+v", cohere)
	}
	if cohere.Results[0].Index != order[0].Index {
		t.Fatalf("cohere order: %+v", cohere.Results)
	}
	// A TEI body on /v1/rerank answers in TEI's shape.
	var tei []map[string]any
	f.do(t, "POST", "/v1/rerank", map[string]any{"query": "french audio", "texts": docs}).json(t, &tei)
	if len(tei) != 4 || tei[0]["score"] == nil || tei[0]["index"] != float64(order[0].Index) {
		t.Fatalf("texts body: %v", tei)
	}
	wantError(t, f.do(t, "POST", "/v1/rerank", `{"query": "q", "documents": ["a"], "top_n": 0}`), 422, "Validation", "top_n")
	wantError(t, f.do(t, "POST", "/v2/rerank", `{"query": "q", "documents": [3]}`), 422, "Validation", "documents[0]")
	wantError(t, f.do(t, "POST", "/v2/rerank", `{"query": "q", "documents": []}`), 400, "Empty", "documents")
	wantError(t, f.do(t, "POST", "/v2/rerank", `{"query": "q", "documents": ["a"], "model": "dense"}`), 424, "Backend", "re-ranker")
	wantError(t, f.do(t, "POST", "/v2/rerank", `{"query": "q"}`), 422, "Validation", "documents")
	// max_tokens_per_doc cuts each document before pairing.
	var cut struct{ Results []result }
	f.do(t, "POST", "/v2/rerank", map[string]any{"query": "french audio", "documents": []string{"french audio", "nothing nothing french audio"}, "max_tokens_per_doc": 2}).json(t, &cut)
	cl, _ := f.ce.Rerank(t.Context(), "french audio", []string{"french audio", "nothing nothing "})
	for _, r := range cut.Results {
		if r.RelevanceScore != engine.Sigmoid(cl[r.Index]) {
			t.Fatalf("max_tokens_per_doc: %+v vs %v", cut.Results, cl)
		}
	}
}

func TestOpenAIEmbeddings(t *testing.T) {
	f := newFixture(t, nil)
	type data struct {
		Object    string `json:"object"`
		Embedding any    `json:"embedding"`
		Index     int    `json:"index"`
	}
	type answer struct {
		Object string `json:"object"`
		Data   []data `json:"data"`
		Model  string `json:"model"`
		Usage  struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		} `json:"usage"`
	}
	texts := []string{"the first text", "a second one"}
	var fl, b64 answer
	f.do(t, "POST", "/v1/embeddings", map[string]any{"input": texts, "model": "dense"}).json(t, &fl)
	f.do(t, "POST", "/embeddings", map[string]any{"input": texts, "encoding_format": "base64"}).json(t, &b64)
	if fl.Object != "list" || fl.Model != "dense" || len(fl.Data) != 2 || fl.Usage.PromptTokens == 0 || fl.Usage.PromptTokens != fl.Usage.TotalTokens {
		t.Fatalf("float: %+v", fl)
	}
	for i, text := range texts {
		want := fakeVec(f.dense, text)
		var got []float32
		for _, x := range fl.Data[i].Embedding.([]any) {
			got = append(got, float32(x.(float64)))
		}
		if fl.Data[i].Object != "embedding" || fl.Data[i].Index != i {
			t.Fatalf("data %d: %+v", i, fl.Data[i])
		}
		sameBits(t, "float", got, want)
		raw, err := base64.StdEncoding.DecodeString(b64.Data[i].Embedding.(string))
		if err != nil || len(raw) != 4*len(want) {
			t.Fatalf("base64: %v %d", err, len(raw))
		}
		dec := make([]float32, len(want))
		for j := range dec {
			dec[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
		}
		sameBits(t, "base64", dec, want)
	}
	var d answer
	f.do(t, "POST", "/v1/embeddings", map[string]any{"input": "x y", "dimensions": 5}).json(t, &d)
	if len(d.Data[0].Embedding.([]any)) != 5 {
		t.Fatal(d)
	}
	// Errors in OpenAI's shape.
	var e struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
			Code    string  `json:"code"`
		} `json:"error"`
	}
	r := f.do(t, "POST", "/v1/embeddings", `{"input": "x", "model": "gpt-4"}`)
	r.json(t, &e)
	if r.status != 404 || e.Error.Type != "invalid_request_error" || e.Error.Code != "model_not_found" ||
		e.Error.Param == nil || *e.Error.Param != "model" || !strings.Contains(e.Error.Message, "gpt-4") {
		t.Fatalf("unknown model: %d %s", r.status, r.body)
	}
	r = f.do(t, "POST", "/v1/embeddings", `{"input": "x", "encoding_format": "int8"}`)
	r.json(t, &e)
	if r.status != 422 || !strings.Contains(e.Error.Message, "encoding_format") {
		t.Fatalf("encoding_format: %d %s", r.status, r.body)
	}
	r = f.do(t, "POST", "/v1/embeddings", `{"input": "x", "dimensions": 100}`)
	r.json(t, &e)
	if r.status != 422 || !strings.Contains(e.Error.Message, "dimensions") {
		t.Fatalf("dimensions: %d %s", r.status, r.body)
	}
	r = f.do(t, "POST", "/v1/embeddings", `{"input": []}`)
	r.json(t, &e)
	if r.status != 400 || e.Error.Code != "empty" || e.Error.Message != "`input` cannot be empty" {
		t.Fatalf("empty: %d %s", r.status, r.body)
	}
	// OpenAI's field is `input`: its errors name it, not TEI's `inputs`.
	for body, want := range map[string]string{
		`{"model": "dense"}`:         "input: missing field `input`",
		`{"input": 7}`:               "input: want a string",
		`{"input": ["x", 7]}`:        "input[1]: want a string or a list of token ids",
		`{"input": [[1, 2.5]]}`:      "input[0][1]: want a token id",
		`{"input": [[1, 99999999]]}`: "input[0][1]: token id 99999999 is outside the vocabulary",
	} {
		r = f.do(t, "POST", "/v1/embeddings", body)
		r.json(t, &e)
		if r.status/100 != 4 || !strings.HasPrefix(e.Error.Message, want) {
			t.Errorf("%s: %d %s, want a message starting %q", body, r.status, r.body, want)
		}
	}
}

func TestTokenizeDecode(t *testing.T) {
	f := newFixture(t, nil)
	var toks [][]struct {
		ID      int32  `json:"id"`
		Text    string `json:"text"`
		Special bool   `json:"special"`
		Start   *int   `json:"start"`
		Stop    *int   `json:"stop"`
	}
	text := "Hello, Wörld!"
	f.do(t, "POST", "/tokenize", map[string]any{"inputs": text}).json(t, &toks)
	enc := f.dense.Tokenizer().Encode(text, 0)
	if len(toks) != 1 || len(toks[0]) != len(enc.IDs) {
		t.Fatalf("%+v", toks)
	}
	first, last := toks[0][0], toks[0][len(toks[0])-1]
	if !first.Special || first.Text != "[CLS]" || first.Start != nil || !last.Special || last.Text != "[SEP]" {
		t.Fatalf("specials: %+v %+v", first, last)
	}
	for _, tk := range toks[0][1 : len(toks[0])-1] {
		if tk.Special || tk.Start == nil || text[*tk.Start:*tk.Stop] != tk.Text {
			t.Fatalf("token %+v", tk)
		}
	}
	var plain [][]map[string]any
	f.do(t, "POST", "/tokenize", map[string]any{"inputs": []string{text, "b"}, "add_special_tokens": false}).json(t, &plain)
	if len(plain) != 2 || len(plain[0]) != len(enc.IDs)-2 {
		t.Fatalf("no specials: %v", plain)
	}
	var dec []string
	f.do(t, "POST", "/decode", map[string]any{"ids": enc.IDs}).json(t, &dec)
	if len(dec) != 1 || dec[0] != "hello, world!" {
		t.Fatalf("decode: %q", dec)
	}
	f.do(t, "POST", "/decode", map[string]any{"ids": [][]int32{enc.IDs, {101, 102}}, "skip_special_tokens": false}).json(t, &dec)
	if len(dec) != 2 || dec[0] != "[CLS] hello, world! [SEP]" || dec[1] != "[CLS] [SEP]" {
		t.Fatalf("decode with specials: %q", dec)
	}
	wantError(t, f.do(t, "POST", "/decode", `{"ids": [999999]}`), 422, "Validation", "vocabulary")
	wantError(t, f.do(t, "POST", "/decode", `{"ids": "x"}`), 422, "Validation", "ids")
	wantError(t, f.do(t, "POST", "/tokenize", `{"inputs": []}`), 400, "Empty", "inputs")
	wantError(t, f.do(t, "POST", "/tokenize", `{"inputs": 5}`), 422, "Validation", "inputs")
}

func TestRootInfoHealthMetrics(t *testing.T) {
	f := newFixture(t, nil)
	var v [][]float32
	f.do(t, "POST", "/", `{"inputs": "x y z"}`).json(t, &v)
	sameBits(t, "POST /", v[0], fakeVec(f.dense, "x y z"))
	// A server whose only model is a cross-encoder reranks at POST /.
	ce := newFixture(t, func(c *serve.Config) { c.Models, c.Indexes = nil, nil })
	var ranks []map[string]any
	ce.do(t, "POST", "/", `{"query": "a", "texts": ["a", "b"]}`).json(t, &ranks)
	if len(ranks) != 2 {
		t.Fatalf("%v", ranks)
	}
	var info map[string]any
	f.do(t, "GET", "/info", nil).json(t, &info)
	if info["model_id"] != "dense" || info["max_client_batch_size"] != float64(32) || info["max_input_length"] != float64(40) || len(info["models"].([]any)) != 3 {
		t.Fatalf("info: %v", info)
	}
	if r := f.do(t, "GET", "/health", nil); r.status != 200 || len(r.body) != 0 {
		t.Fatalf("health: %d %q", r.status, r.body)
	}
	f.do(t, "POST", "/v1/indexes/hub/search", `{"query": "audio"}`)
	r := f.do(t, "GET", "/metrics", nil)
	for _, m := range []string{`te_request_count{route="/"}`, `te_request_success{route="/"}`, "te_request_duration_bucket", `te_queue_size{model="dense"}`,
		"te_batch_next_tokens", `te_batch_inference_count{model="dense"}`, `quarry_search_duration_seconds_count{index="hub",mode="dense"}`,
		`quarry_http_requests_total{code="200",route="/health"}`, "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(string(r.body), m) {
			t.Errorf("metrics without %s", m)
		}
	}
	if !strings.Contains(r.header.Get("Content-Type"), "text/plain") {
		t.Fatal(r.header)
	}
	// Unknown route: JSON 404; the page at GET /.
	wantError(t, f.do(t, "POST", "/nope", `{}`), 404, "NotFound", "/nope")
	if r := f.do(t, "GET", "/", nil); r.status != 200 || !strings.Contains(strings.ToLower(string(r.body)), "<html") {
		t.Fatalf("page: %d %.100s", r.status, r.body)
	}
}

func TestAuth(t *testing.T) {
	f := newFixture(t, func(c *serve.Config) { c.APIKey = "s3cret" })
	if r := f.do(t, "GET", "/health", nil); r.status != 200 {
		t.Fatal(r.status)
	}
	// The page's files are public (the page sends the key with its API calls).
	if r := f.do(t, "GET", "/", nil); r.status != 200 {
		t.Fatalf("page: %d", r.status)
	}
	for _, path := range []string{"/embed", "/v1/indexes/hub/search", "/info", "/metrics", "/", "/v1/indexes", "/v1/indexes/hub"} {
		method := "POST"
		if path == "/info" || path == "/metrics" || path == "/v1/indexes" || path == "/v1/indexes/hub" {
			method = "GET"
		}
		wantError(t, f.do(t, method, path, `{"inputs": "x", "query": "x"}`), 401, "Unauthorized", "API key")
		wantError(t, f.do(t, method, path, `{"inputs": "x", "query": "x"}`, "Authorization", "Bearer wrong"), 401, "Unauthorized", "")
		if r := f.do(t, method, path, `{"inputs": "x", "query": "x"}`, "Authorization", "Bearer s3cret"); r.status != 200 {
			t.Fatalf("%s %s with the key: %d %s", method, path, r.status, r.body)
		}
	}
	r := f.do(t, "POST", "/v1/embeddings", `{"input": "x"}`)
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	r.json(t, &e)
	if r.status != 401 || e.Error.Code != "invalid_api_key" {
		t.Fatalf("openai 401: %d %s", r.status, r.body)
	}
}

func TestPayloadLimit(t *testing.T) {
	f := newFixture(t, func(c *serve.Config) { c.PayloadLimit = 1000 })
	big := `{"inputs": "` + strings.Repeat("a ", 600) + `"}`
	wantError(t, f.do(t, "POST", "/embed", big), 413, "PayloadTooLarge", "payload limit of 1000 bytes")
	// Without a Content-Length (chunked), the reader stops at the limit.
	req, _ := http.NewRequest("POST", f.ts.URL+"/embed", strings.NewReader(big))
	req.ContentLength = -1
	req.TransferEncoding = []string{"chunked"}
	res, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 {
		t.Fatalf("chunked: %d", res.StatusCode)
	}
	if r := f.do(t, "POST", "/embed", `{"inputs": "small"}`); r.status != 200 {
		t.Fatal(r.status)
	}
}
