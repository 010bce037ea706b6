// Command passages prints the passages a quarry index embedded for each
// document, as JSONL {"_id": ..., "passages": [...]}, so that another
// implementation (scripts/eval/st_beir.py --passages) can embed exactly the
// same texts.
//
//	go run ./scripts/eval/passages -index IDX > passages.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/quarry-search/quarry/engine"
)

func main() {
	dir := flag.String("index", "", "quarry index directory")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "usage: passages -index IDX")
		os.Exit(2)
	}
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "passages:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	ix, err := engine.Open(dir, engine.OpenOptions{})
	if err != nil {
		return err
	}
	defer ix.Close()
	recs, err := ix.Documents()
	if err != nil {
		return err
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, r := range recs {
		ps := make([]string, len(r.Passages))
		for i, p := range r.Passages {
			ps[i] = p.Text
		}
		if err := enc.Encode(map[string]any{"_id": r.ID, "passages": ps}); err != nil {
			return err
		}
	}
	return nil
}
