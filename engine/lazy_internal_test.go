package engine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/encoder/fake"
	"github.com/quarry-search/quarry/engine/modelgen"
	"github.com/quarry-search/quarry/engine/search"
	"github.com/quarry-search/quarry/engine/store"
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

// TestGraphSegmentsSearchMappedRows: a segment with a graph searches the
// rows its graph file holds (mapped, not decoded from the vector file), and
// they are exactly the vector file's rows, rescore copy and ordinals; a
// segment without one decodes its vector file.
func TestGraphSegmentsSearchMappedRows(t *testing.T) {
	if !search.Native() {
		t.Skip("HNSW graphs need the native core")
	}
	ctx := context.Background()
	vocab, err := modelgen.LoadVocab("")
	if err != nil {
		t.Fatal(err)
	}
	enc, err := fake.New(vocab, fake.Options{Dim: 16})
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "in.jsonl")
	var b strings.Builder
	for i := 0; i < 90; i++ {
		fmt.Fprintf(&b, "{\"_id\": \"d%d\", \"text\": \"document %d about rivers and lakes number %d\"}\n", i, i, i*7)
	}
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dt := range []string{"f32", "f16", "int8"} {
		t.Run(dt, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ix")
			ix, err := Create(dir, CreateOptions{Encoder: enc, DType: dt, ANN: ANNHNSW})
			if err != nil {
				t.Fatal(err)
			}
			defer ix.Close()
			if _, err := ix.Add(ctx, AddOptions{Input: in, SegmentPassages: 40}); err != nil {
				t.Fatal(err)
			}
			if _, err := ix.Search(ctx, Request{Text: "rivers", K: 5}); err != nil {
				t.Fatal(err)
			}
			segs := ix.cur.Load().segs
			if len(segs) != 3 {
				t.Fatalf("%d segments", len(segs))
			}
			for _, seg := range segs {
				if seg.annf == nil {
					t.Fatalf("segment %d: rows not from its graph file", seg.meta.ID)
				}
				data, err := store.ReadSegment(filepath.Join(dir, seg.meta.Vectors.Name))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(seg.vecs.Data, data.Vectors.Data) || !slices.Equal(seg.vecs.Scales, data.Vectors.Scales) || !slices.Equal(seg.groups, data.Groups) {
					t.Fatalf("segment %d: mapped rows differ from the vector file's", seg.meta.ID)
				}
				if (data.Rescore == nil) != (seg.rescore == nil) || data.Rescore != nil && !bytes.Equal(seg.rescore.Data, data.Rescore.Data) {
					t.Fatalf("segment %d: mapped rescore copy differs from the vector file's", seg.meta.ID)
				}
				own := &seg.annf.Vectors // an int8 index searches its int8 rows
				if dt != "int8" {
					own = seg.annf.Rescore // an f16/f32 index its own rows, beside the int8 traversal copy
				}
				if &seg.vecs.Data[0] != &own.Data[0] || seg.trav.Type != search.VecInt8 || seg.travResc == nil {
					t.Fatalf("segment %d: rows copied, not used in place, or no int8 traversal rows", seg.meta.ID)
				}
				// The traversal rows are the stored rows quantized to int8.
				rows := make([][]float32, data.Vectors.N)
				for i := range rows {
					rows[i] = data.Vectors.Row(i)
				}
				want, err := store.Quantize(store.Int8, data.Vectors.Dim, rows)
				if err != nil {
					t.Fatal(err)
				}
				if dt == "int8" {
					want = data.Vectors
				}
				if !bytes.Equal(seg.trav.Data, want.Data) || !slices.Equal(seg.trav.Scales, want.Scales) {
					t.Fatalf("segment %d: traversal rows are not the stored rows in int8", seg.meta.ID)
				}
			}
		})
	}
}
