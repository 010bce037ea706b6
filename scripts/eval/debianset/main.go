// Command debianset writes the corpus of testdata/beir/debian: a
// deterministic subset of the Debian package descriptions that
// scripts/demo/debian extracts from `apt-cache dumpavail`.
//
//	apt-cache dumpavail | go run ./scripts/demo/debian | go run ./scripts/eval/debianset -pool testdata/beir/debian/pool.txt > testdata/beir/debian/corpus.jsonl
//
// A package is kept when the FNV-1a 32-bit hash of its name is 0 modulo 25
// (a fixed ~4% sample of the archive: distractors) or when its name is in the
// pool file (the candidates that BM25 and all-MiniLM-L6-v2 retrieved for the
// queries over the whole archive, and every judged package). Records keep
// _id, title (the package name), text (the description) and section, in
// input order. The set was made from Debian 12 (bookworm) amd64 package
// lists; other releases give a slightly different file.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"os"
	"strings"
)

type rec struct {
	ID      string `json:"_id"`
	Title   string `json:"title"`
	Text    string `json:"text"`
	Section string `json:"section,omitempty"`
}

func main() {
	poolPath := flag.String("pool", "testdata/beir/debian/pool.txt", "file of package names to keep, one per line")
	mod := flag.Uint("mod", 25, "keep names whose FNV-1a 32 hash is 0 modulo this")
	flag.Parse()
	if err := run(*poolPath, uint32(*mod)); err != nil {
		fmt.Fprintln(os.Stderr, "debianset:", err)
		os.Exit(1)
	}
}

func run(poolPath string, mod uint32) error {
	b, err := os.ReadFile(poolPath)
	if err != nil {
		return err
	}
	pool := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			pool[l] = true
		}
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	n, line := 0, 0
	for in.Scan() {
		line++
		var r rec
		if err := json.Unmarshal(in.Bytes(), &r); err != nil {
			return fmt.Errorf("stdin:%d: %w", line, err)
		}
		h := fnv.New32a()
		h.Write([]byte(r.ID))
		if h.Sum32()%mod != 0 && !pool[r.ID] {
			continue
		}
		if err := enc.Encode(r); err != nil {
			return err
		}
		n++
	}
	if err := in.Err(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "debianset: %d packages\n", n)
	return nil
}
