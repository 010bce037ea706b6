// Command gen writes deterministic random BERT models as GGUF files for tests
// and benchmarks.
//
//	go run ./testdata/gen -out DIR                  # the standard set
//	go run ./testdata/gen -out DIR -preset tiny -kind rank -labels 3 -type f16 -seed 4
//
// With none of -preset, -kind, -labels, -type, -seed it writes the standard
// set (modelgen.Standard: tiny-mean-f32, tiny-mean-f16, tiny-mean-q8_0,
// tiny-cls-f32, tiny-rank-f32, tiny-rank-f16, tiny-rank3-f32, small-mean-f32,
// small-rank-f16, minilm-mean-f16); with any of them, one model named
// PRESET-KIND[LABELS]-TYPE.gguf (defaults tiny, mean, f32, seed 1). Each path
// written is printed on its own line.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/quarry-search/quarry/engine/modelgen"
)

func main() {
	out := flag.String("out", "", "output directory (created if missing)")
	preset := flag.String("preset", "tiny", "model shape: tiny, small or minilm")
	kind := flag.String("kind", "mean", "mean or cls (bi-encoder), rank (cross-encoder) or splade (sparse encoder)")
	labels := flag.Int("labels", 0, "rank: number of output logits (default 1)")
	typ := flag.String("type", "f32", "matrix storage type: f32, f16 or q8_0")
	seed := flag.Uint64("seed", 1, "random seed")
	vocab := flag.String("vocab", "", "vocab.txt (default testdata/vocab/bert-base-uncased-vocab.txt under the module root)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: gen -out DIR [-preset tiny|small|minilm] [-kind mean|cls|rank|splade] [-labels N] [-type f32|f16|q8_0] [-seed N] [-vocab FILE]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	single := false
	flag.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "preset", "kind", "labels", "type", "seed":
			single = true
		}
	})
	specs := modelgen.Standard()
	if single {
		specs = []modelgen.Spec{{Preset: *preset, Kind: *kind, Labels: *labels, Type: *typ, Seed: *seed}}
	}
	if err := run(*out, *vocab, specs); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(out, vocabPath string, specs []modelgen.Spec) error {
	vocab, err := modelgen.LoadVocab(vocabPath)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, s := range specs {
		path := filepath.Join(out, s.Name()+".gguf")
		if err := modelgen.Generate(path, s, vocab); err != nil {
			return fmt.Errorf("%s: %w", s.Name(), err)
		}
		fmt.Println(path)
	}
	return nil
}
