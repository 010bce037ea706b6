package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/encoder/fake"
	"github.com/quarry-search/quarry/engine/modelgen"
)

// An index can be built and searched with any Encoder: here the pure-Go
// fake of engine/encoder/fake (what the engine's own tests use, so they run
// without the native core); a service could plug in a remote model.
func ExampleCreateOptions_encoder() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "quarry-example-")
	defer os.RemoveAll(dir)
	vocab, _ := modelgen.LoadVocab("")
	enc, err := fake.New(vocab, fake.Options{Dim: 16})
	if err != nil {
		fmt.Println(err)
		return
	}
	corpus := filepath.Join(dir, "corpus.jsonl")
	os.WriteFile(corpus, []byte(`{"_id": "a", "text": "the river flows to the sea"}
{"_id": "b", "text": "mountains covered in snow"}
`), 0o644)
	ix, err := engine.Create(filepath.Join(dir, "index"), engine.CreateOptions{Encoder: enc})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ix.Close()
	if _, err := ix.Add(ctx, engine.AddOptions{Input: corpus}); err != nil {
		fmt.Println(err)
		return
	}
	res, err := ix.Search(ctx, engine.Request{Text: "snow on the mountains", K: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Results[0].ID, res.Results[0].ScoreKind)
	// Output: b dense
}
