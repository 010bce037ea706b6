package serve_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/serve"
)

// nativeIndex indexes the hub corpus with the GGUF model at path.
func nativeIndex(t *testing.T, model string) string {
	t.Helper()
	m, err := engine.LoadModel(model, engine.ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	return makeIndex(t, m, hubCorpus(12))
}

// TestModelsShared: indexes built with one model share one loaded copy
// (its recorded path, or a --model with its sha256), an index of another
// model loads its own, and a cross-encoder among --model is served by the
// rerank routes.
func TestModelsShared(t *testing.T) {
	needNative(t)
	a, b, ce := genModelOf(t, "tiny", "mean", "f32"), genModelOf(t, "tiny", "cls", "f32"), genModel(t, "rank")
	ix1, ix2, ix3 := nativeIndex(t, a), nativeIndex(t, a), nativeIndex(t, b)
	models := func(srv *serve.Server) []map[string]any {
		f := &fixture{srv: srv}
		f.ts = newTestServer(t, srv)
		var info struct{ Models []map[string]any }
		f.do(t, "GET", "/info", nil).json(t, &info)
		return info.Models
	}
	srv, err := serve.New(serve.Config{Indexes: []serve.IndexSpec{{Name: "one", Dir: ix1}, {Name: "two", Dir: ix2}, {Name: "three", Dir: ix3}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if ms := models(srv); len(ms) != 2 {
		t.Fatalf("three indexes of two models: %d models loaded: %v", len(ms), ms)
	}
	// A --model with the indexes' sha256 is the one they use.
	srv2, err := serve.New(serve.Config{Indexes: []serve.IndexSpec{{Name: "one", Dir: ix1}, {Name: "two", Dir: ix2}},
		Models: []serve.ModelSpec{{Name: "mine", Path: a}, {Name: "ce", Path: ce}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	ms := models(srv2)
	if len(ms) != 2 || ms[0]["name"] != "mine" || ms[1]["kind"] != "cross-encoder" {
		t.Fatalf("models: %v", ms)
	}
	// An index whose recorded model is gone, without a --model: a clear
	// bad-input error; with the model moved and given, it serves.
	moved := filepath.Join(t.TempDir(), "moved.gguf")
	data, _ := os.ReadFile(b)
	os.WriteFile(moved, data, 0o644)
	os.Remove(b)
	_, err = serve.New(serve.Config{Indexes: []serve.IndexSpec{{Name: "three", Dir: ix3}}})
	if err == nil || errs.KindOf(err) != errs.BadInput || !strings.Contains(err.Error(), "--model") {
		t.Fatalf("missing model: %v", err)
	}
	srv3, err := serve.New(serve.Config{Indexes: []serve.IndexSpec{{Name: "three", Dir: ix3}}, Models: []serve.ModelSpec{{Path: moved}}})
	if err != nil {
		t.Fatal(err)
	}
	srv3.Close()
	// A --rerank-model that is a bi-encoder, a duplicate name: bad input.
	for _, cfg := range []serve.Config{
		{RerankModels: []serve.ModelSpec{{Path: a}}},
		{Models: []serve.ModelSpec{{Name: "x", Path: a}, {Name: "x", Path: moved}}},
		{Indexes: []serve.IndexSpec{{Name: "bad name", Dir: ix1}}},
		{},
	} {
		if _, err := serve.New(cfg); err == nil || errs.KindOf(err) != errs.BadInput {
			t.Errorf("%+v: %v, want a bad-input error", cfg, err)
		}
	}
}
