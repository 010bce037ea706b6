package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/encoder/fake"
	"github.com/quarry-search/quarry/engine/modelgen"
)

// TestWriterLoadsNoSearchData: an index opened for writing reads no
// vectors, BM25 or SPLADE data until it searches, so adding to or deleting
// from a big index costs what the change costs, not what the index holds;
// a read-only open reads (and verifies) everything up front.
func TestWriterLoadsNoSearchData(t *testing.T) {
	ctx := context.Background()
	vocab, err := modelgen.LoadVocab("")
	if err != nil {
		t.Fatal(err)
	}
	enc, err := fake.New(vocab, fake.Options{Dim: 8})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ix")
	in := filepath.Join(t.TempDir(), "in.jsonl")
	var b strings.Builder
	for i := 0; i < 60; i++ {
		fmt.Fprintf(&b, "{\"_id\": \"d%d\", \"text\": \"document number %d about rivers\"}\n", i, i)
	}
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ix, err := Create(dir, CreateOptions{Encoder: enc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Add(ctx, AddOptions{Input: in, SegmentPassages: 20}); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	loaded := func(ix *Index) (n int) {
		for _, seg := range ix.cur.Load().segs {
			if seg.vecs.Data != nil || seg.lex != nil {
				n++
			}
		}
		return n
	}
	w, err := Open(dir, OpenOptions{Writable: true, Encoder: enc})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if n, _, err := w.Delete(ctx, []string{"d3", "d41"}); err != nil || n != 2 {
		t.Fatalf("delete: %d %v", n, err)
	}
	if n := loaded(w); n != 0 {
		t.Fatalf("a writer that only deleted loaded the search data of %d segments", n)
	}
	res, err := w.Search(ctx, Request{Text: "rivers", Mode: ModeBM25, K: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Results) != 58 || loaded(w) != 3 {
		t.Fatalf("search after delete: %d results, %d segments loaded", len(res.Results), loaded(w))
	}
	r, err := Open(dir, OpenOptions{Encoder: enc})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n := loaded(r); n != 3 {
		t.Fatalf("a read-only open loaded %d of 3 segments", n)
	}
}
