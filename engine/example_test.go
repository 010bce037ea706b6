//go:build cgo && !quarry_nonative

package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/modelgen"
)

// exampleModel writes a small generated model (random weights, real
// vocabulary) so the examples run anywhere; use a real GGUF in practice.
func exampleModel(dir, kind string) string {
	vocab, err := modelgen.LoadVocab("")
	if err != nil {
		panic(err)
	}
	p := filepath.Join(dir, kind+".gguf")
	if err := modelgen.Generate(p, modelgen.Spec{Preset: "tiny", Kind: kind, Type: "f32", Seed: 1}, vocab); err != nil {
		panic(err)
	}
	return p
}

func ExampleLoadModel() {
	dir, _ := os.MkdirTemp("", "quarry-example-")
	defer os.RemoveAll(dir)
	m, err := engine.LoadModel(exampleModel(dir, "mean"), engine.ModelOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	vecs, err := m.Embed(context.Background(), []string{"How many people live in Berlin?", "Berlin is well known for its museums."})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d vectors of %d dimensions\n", len(vecs), len(vecs[0]))
	// Output: 2 vectors of 32 dimensions
}

func ExampleCreate() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "quarry-example-")
	defer os.RemoveAll(dir)
	corpus := filepath.Join(dir, "corpus.jsonl")
	os.WriteFile(corpus, []byte(`{"_id": "py-requests", "title": "requests", "text": "elegant and simple HTTP library for Python", "section": "python"}
{"_id": "optipng", "title": "optipng", "text": "advanced PNG optimizer", "section": "graphics"}
{"_id": "gimp", "title": "gimp", "text": "GNU Image Manipulation Program", "section": "graphics"}
`), 0o644)
	ix, err := engine.Create(filepath.Join(dir, "index"), engine.CreateOptions{Model: exampleModel(dir, "mean")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ix.Close()
	if _, err := ix.Add(ctx, engine.AddOptions{Input: corpus}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ix.Info().Documents, "documents")
	res, err := ix.Search(ctx, engine.Request{Text: "http library", K: 1, Mode: engine.ModeBM25, Filters: []string{"section=python"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Results[0].ID)
	// Output:
	// 3 documents
	// py-requests
}
