// Command goget-app is a Go application that uses quarry as a library, the
// way one outside quarry's repository does: it loads a model, embeds two
// texts, indexes a small corpus and searches it.
//
// In an empty directory holding this file:
//
//	go mod init app
//	go get github.com/quarry-search/quarry/engine
//	go run github.com/quarry-search/quarry/cmd/quarry-native
//	go build
//	./app MODEL.gguf
//
// Built before the quarry-native step, the program runs but fails at its
// first model call with an error that gives that command. scripts/goget/run.sh
// (make goget) checks all of this against the repository's current tree.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/quarry-search/quarry/engine"
)

const corpus = `{"_id": "py-requests", "title": "requests", "text": "elegant and simple HTTP library for Python"}
{"_id": "optipng", "title": "optipng", "text": "advanced PNG optimizer"}
{"_id": "gimp", "title": "gimp", "text": "GNU Image Manipulation Program"}
{"_id": "curl", "title": "curl", "text": "command line tool for transferring data with URL syntax"}
`

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: app MODEL.gguf")
		os.Exit(2)
	}
	if err := run(context.Background(), os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, model string) error {
	m, err := engine.LoadModel(model, engine.ModelOptions{})
	if err != nil {
		return err
	}
	defer m.Close()
	vecs, err := m.Embed(ctx, []string{"How many people live in Berlin?", "Berlin is well known for its museums."})
	if err != nil {
		return err
	}
	fmt.Printf("embedded %d texts: %d dimensions\n", len(vecs), len(vecs[0]))

	dir, err := os.MkdirTemp("", "goget-app-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "corpus.jsonl")
	if err := os.WriteFile(in, []byte(corpus), 0o644); err != nil {
		return err
	}
	ix, err := engine.Create(filepath.Join(dir, "index"), engine.CreateOptions{Model: model})
	if err != nil {
		return err
	}
	defer ix.Close()
	if _, err := ix.Add(ctx, engine.AddOptions{Input: in}); err != nil {
		return err
	}
	res, err := ix.Search(ctx, engine.Request{Text: "http library for python", K: 3})
	if err != nil {
		return err
	}
	if len(res.Results) == 0 {
		return errors.New("search found nothing")
	}
	for i, r := range res.Results {
		fmt.Printf("result %d: %s %.4f\n", i+1, r.ID, r.Score)
	}
	return ix.Close()
}
