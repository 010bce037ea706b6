package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/encoder"
	"github.com/quarry-search/quarry/engine/encoder/fake"
	"github.com/quarry-search/quarry/engine/modelgen"
	"github.com/quarry-search/quarry/engine/serve"
)

var (
	vocabOnce sync.Once
	vocabList []string
	vocabErr  error
)

func testVocab(t testing.TB) []string {
	t.Helper()
	vocabOnce.Do(func() { vocabList, vocabErr = modelgen.LoadVocab("") })
	if vocabErr != nil {
		t.Fatal(vocabErr)
	}
	return vocabList
}

// fakeModel is a pure-Go model of kind (dense 24, window 40 tokens).
func fakeModel(t testing.TB, kind encoder.Kind, name string) *fake.Encoder {
	t.Helper()
	e, err := fake.New(testVocab(t), fake.Options{Kind: kind, Dim: 24, MaxTokens: 40, Seed: 7, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// hubCorpus is a small model-hub-like corpus: pipeline_tag, library_name,
// likes, downloads, lastModified, tags.
func hubCorpus(n int) string {
	tasks := []string{"automatic-speech-recognition", "text-classification", "translation", "image-classification"}
	libs := []string{"transformers", "sentence-transformers", "nemo"}
	topics := []string{"transcribe french audio speech", "classify the sentiment of reviews", "translate english to german",
		"recognize objects in photos", "speech to text for meetings", "detect spam email text"}
	var b strings.Builder
	for i := 0; i < n; i++ {
		d := map[string]any{
			"_id": fmt.Sprintf("org/model-%02d", i), "title": fmt.Sprintf("model %d", i),
			"text":         fmt.Sprintf("%s model number %d. %s", topics[i%len(topics)], i, topics[(i*5+2)%len(topics)]),
			"pipeline_tag": tasks[i%len(tasks)], "library_name": libs[i%len(libs)],
			"likes": (i * 37) % 101, "downloads": i * 1000, "lastModified": fmt.Sprintf("2024-%02d-01T00:00:00Z", 1+i%12),
			"tags": []string{"tag" + fmt.Sprint(i%3), "common"},
		}
		line, _ := json.Marshal(d)
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// makeIndex builds an index of corpus with enc and returns its directory.
func makeIndex(t testing.TB, enc engine.Encoder, corpus string) string {
	t.Helper()
	tmp := t.TempDir()
	in := filepath.Join(tmp, "corpus.jsonl")
	if err := os.WriteFile(in, []byte(corpus), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "ix")
	ix, err := engine.Create(dir, engine.CreateOptions{Encoder: enc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Add(context.Background(), engine.AddOptions{Input: in, SegmentPassages: 16}); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fixture is a server over fake models and a hub index.
type fixture struct {
	srv    *serve.Server
	ts     *httptest.Server
	dense  *fake.Encoder
	ce     *fake.Encoder
	sparse *fake.Encoder
	dir    string // the hub index
}

// newFixture starts a server with a dense model "dense", a SPLADE model
// "splade", a cross-encoder "ce" and the hub index "hub"; mod adjusts the
// configuration.
func newFixture(t testing.TB, mod func(*serve.Config)) *fixture {
	t.Helper()
	f := &fixture{dense: fakeModel(t, encoder.BiEncoder, "dense"), ce: fakeModel(t, encoder.CrossEncoder, "ce"), sparse: fakeModel(t, encoder.SparseEncoder, "splade")}
	f.dir = makeIndex(t, f.dense, hubCorpus(40))
	cfg := serve.Config{
		Indexes:      []serve.IndexSpec{{Name: "hub", Dir: f.dir}},
		Models:       []serve.ModelSpec{{Name: "dense", Encoder: f.dense}, {Name: "splade", Encoder: f.sparse}},
		RerankModels: []serve.ModelSpec{{Name: "ce", Ranker: f.ce}},
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := serve.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	f.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		f.ts.Close()
		srv.Close()
	})
	return f
}

// resp is an answer read whole.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("status %d: body is not the JSON expected (%v): %s", r.status, err, r.body)
	}
}

// do sends a request (body: a string, []byte or a value marshaled as JSON).
func (f *fixture) do(t testing.TB, method, path string, body any, headers ...string) resp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, f.ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// teiErr is TEI's error body.
type teiErr struct {
	Error     string `json:"error"`
	ErrorType string `json:"error_type"`
}

// wantError checks an answer's status, TEI error type and message part.
func wantError(t testing.TB, r resp, status int, typ, part string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	var e teiErr
	r.json(t, &e)
	if e.ErrorType != typ || !strings.Contains(e.Error, part) {
		t.Fatalf("error %+v, want type %s and a message with %q", e, typ, part)
	}
}
