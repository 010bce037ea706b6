// Command crossenc writes a Hugging Face cross-encoder folder
// (BertForSequenceClassification, safetensors, the all-MiniLM-L6-v2
// tokenizer files) with deterministic random weights, MiniLM-L6 shaped by
// default, for scripts/bench/rerank.py: sentence-transformers' CrossEncoder
// loads the folder and `quarry convert` turns it into the GGUF quarry runs,
// so both sides score with the same weights. Speed does not depend on the
// weights' values; no real cross-encoder checkpoint is needed (or fetched).
//
//	go run ./scripts/bench/crossenc -out DIR [-seed 7] [-hidden 384 -layers 6 -heads 12 -intermediate 1536]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/quarry-search/quarry/engine/hf/hftest"
)

func main() {
	out := flag.String("out", "", "folder to write (created if missing)")
	seed := flag.Uint64("seed", 7, "random seed of the weights")
	hidden := flag.Int("hidden", 384, "hidden size (MiniLM-L6: 384)")
	layers := flag.Int("layers", 6, "layers (MiniLM-L6: 6)")
	heads := flag.Int("heads", 12, "attention heads (MiniLM-L6: 12)")
	inter := flag.Int("intermediate", 1536, "feed-forward size (MiniLM-L6: 1536)")
	dtype := flag.String("dtype", "F32", "stored weights: F32, F16 or BF16")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: crossenc -out DIR [-seed N] [-hidden N -layers N -heads N -intermediate N] [-dtype F32]")
		os.Exit(2)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "crossenc:", err)
		os.Exit(1)
	}
	f := hftest.Folder{Kind: "rank", Seed: *seed, DType: *dtype,
		Hidden: *hidden, Layers: *layers, Heads: *heads, Intermediate: *inter}
	if _, err := f.Write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "crossenc:", err)
		os.Exit(1)
	}
	fmt.Println(*out)
}
