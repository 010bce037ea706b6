// Command texts prints the benchmark sentences (see internal/benchtext), one
// per line: go run ./scripts/bench/texts -n 2000 > texts.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/quarry-search/quarry/engine/modelgen"
	"github.com/quarry-search/quarry/internal/benchtext"
)

func main() {
	n := flag.Int("n", 2000, "sentences")
	minW := flag.Int("min", 10, "min words")
	maxW := flag.Int("max", 60, "max words")
	seed := flag.Uint64("seed", 1, "seed")
	flag.Parse()
	vocab, err := modelgen.LoadVocab("")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	for _, s := range benchtext.Sentences(vocab, *n, *minW, *maxW, *seed) {
		fmt.Fprintln(w, s)
	}
	w.Flush()
}
