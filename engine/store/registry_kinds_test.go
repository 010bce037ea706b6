package store_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/lexical"
	"github.com/quarry-search/quarry/engine/sparse"
	"github.com/quarry-search/quarry/engine/store"
)

// Every per-segment file kind of a quarry index, as the engine registers
// them.
func allKinds(t *testing.T) *store.Registry {
	t.Helper()
	r, err := store.NewRegistry(store.VectorsKind(), store.DocsKind(), lexical.FileKind(), sparse.FileKind())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const (
	testDim   = 12
	testVocab = 300
)

// segmentSource is what a segment was written from.
type segmentSource struct {
	recs   []store.DocRecord
	lex    []lexical.Doc
	groups []uint32
	rows   [][]float32
	svecs  []sparse.Vec
}

var words = strings.Fields("berlin paris capital city museum river bridge dog cat runs running population million people " +
	"country europe island visited loyal independent together method locomotion humans animals rapidly foot bowl")

// writeSegment writes every file kind of segment id for n documents from
// ordinal first, as the engine's add does: overlapping passages of each
// document's text (so that BM25 of the joined passages would count words
// twice), one vector row and one sparse vector per passage, BM25 of the
// title and the whole text.
func writeSegment(t *testing.T, dir string, rng *rand.Rand, id uint64, first uint32, n int) (store.Segment, segmentSource) {
	t.Helper()
	var src segmentSource
	for i := range n {
		ord := first + uint32(i)
		ws := make([]string, 3+rng.IntN(40))
		for j := range ws {
			ws[j] = words[rng.IntN(len(words))]
		}
		text := strings.Join(ws, " ")
		title := ""
		if rng.IntN(3) > 0 {
			title = words[rng.IntN(len(words))]
		}
		rec := store.DocRecord{Ord: ord, ID: fmt.Sprintf("doc-%d", ord), Title: title}
		// Passages of 8 words overlapping by 3, by byte offsets into text.
		starts := []int{0}
		for k, c := range text {
			if c == ' ' {
				starts = append(starts, k+1)
			}
		}
		for w := 0; ; w += 5 {
			end := len(text)
			if w+8 < len(starts) {
				end = starts[w+8] - 1
			}
			rec.Passages = append(rec.Passages, store.PassageRecord{Text: text[starts[w]:end], Start: starts[w], End: end})
			src.groups = append(src.groups, ord)
			if end == len(text) {
				break
			}
		}
		src.recs = append(src.recs, rec)
		src.lex = append(src.lex, lexical.Doc{Ord: ord, Title: title, Text: text})
	}
	for range src.groups {
		row := make([]float32, testDim)
		for j := range row {
			row[j] = float32(rng.NormFloat64())
		}
		src.rows = append(src.rows, row)
		d := make([]float32, testVocab)
		for range 1 + rng.IntN(6) {
			d[rng.IntN(testVocab)] = 0.1 + rng.Float32()
		}
		src.svecs = append(src.svecs, sparse.FromDense(d))
	}
	v, err := store.Quantize(store.Int8, testDim, src.rows)
	if err != nil {
		t.Fatal(err)
	}
	resc, err := store.Quantize(store.F16, testDim, src.rows)
	if err != nil {
		t.Fatal(err)
	}
	seg := store.Segment{ID: id, DocOrdStart: first, DocOrdEnd: first + uint32(n), NumDocs: int64(n), NumPassages: int64(len(src.groups))}
	p := store.SegmentParams{DType: store.Int8, Dim: testDim, Count: len(src.groups), Rescore: store.F16, BlockRows: 8}
	if seg.Vectors, err = store.WriteSegmentParams(filepath.Join(dir, store.SegmentFileName(id)), p, v, src.groups, &resc); err != nil {
		t.Fatal(err)
	}
	if seg.Docs, err = store.WriteDocs(filepath.Join(dir, store.DocsFileName(id)), src.recs); err != nil {
		t.Fatal(err)
	}
	lref, _, err := lexical.BuildSegment(context.Background(), filepath.Join(dir, lexical.SegmentFileName(id)), src.lex, lexical.English())
	if err != nil {
		t.Fatal(err)
	}
	sref, _, err := sparse.WriteFile(filepath.Join(dir, sparse.FileName(id)), testVocab, src.groups, src.svecs)
	if err != nil {
		t.Fatal(err)
	}
	seg.Files = map[string]store.FileRef{lexical.FileKey: lref, sparse.FileKey: sref}
	return seg, src
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// checkCopy compares every file of the compacted segment ns with what the
// kept part of src gives when written fresh: the same vectors bit for bit
// (never re-quantized), the same records, and for BM25 and SPLADE the very
// bytes a fresh build of the kept documents and passages produces.
func checkCopy(t *testing.T, dir string, ns store.Segment, src segmentSource, remap store.Remap) {
	t.Helper()
	var want segmentSource
	var keptRows []int
	for i, g := range src.groups {
		if o, ok := remap(g); ok {
			want.groups = append(want.groups, o)
			want.svecs = append(want.svecs, src.svecs[i])
			keptRows = append(keptRows, i)
		}
	}
	for i, rec := range src.recs {
		if o, ok := remap(rec.Ord); ok {
			rec.Ord = o
			want.recs = append(want.recs, rec)
			d := src.lex[i]
			d.Ord = o
			want.lex = append(want.lex, d)
		}
	}
	if ns.NumDocs != int64(len(want.recs)) || ns.NumPassages != int64(len(want.groups)) || ns.DocOrdStart != want.recs[0].Ord || ns.DocOrdEnd != want.recs[len(want.recs)-1].Ord+1 {
		t.Fatalf("segment %+v; want %d documents [%d, %d], %d passages", ns, len(want.recs), want.recs[0].Ord, want.recs[len(want.recs)-1].Ord, len(want.groups))
	}
	// Vectors: the kept rows of the source file, bit for bit.
	got, err := store.ReadSegment(filepath.Join(dir, ns.Vectors.Name))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Groups, want.groups) {
		t.Fatalf("vector groups %v, want %v", got.Groups, want.groups)
	}
	wv, _ := store.Quantize(store.Int8, testDim, pick(src.rows, keptRows))
	wr, _ := store.Quantize(store.F16, testDim, pick(src.rows, keptRows))
	if !bytes.Equal(got.Vectors.Data, wv.Data) || !slices.Equal(got.Vectors.Scales, wv.Scales) || !bytes.Equal(got.Rescore.Data, wr.Data) {
		t.Fatal("the copied vectors differ from the kept rows")
	}
	// Docs.
	dr, err := store.OpenDocs(filepath.Join(dir, ns.Docs.Name))
	if err != nil {
		t.Fatal(err)
	}
	var recs []store.DocRecord
	for rec, err := range dr.All() {
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	dr.Close()
	if !reflect.DeepEqual(recs, want.recs) {
		t.Fatalf("records differ from the kept ones")
	}
	// BM25: a fresh build of the kept documents, byte for byte.
	lb, _, err := lexical.EncodeSegment(context.Background(), want.lex, lexical.English())
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ns.Files[lexical.FileKey].Name)); !bytes.Equal(b, lb) {
		t.Fatal("the BM25 copy differs from a fresh build of the kept documents")
	}
	// SPLADE: the encoding of the kept passages, byte for byte.
	sb, _, err := sparse.Encode(testVocab, want.groups, want.svecs)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ns.Files[sparse.FileKey].Name)); !bytes.Equal(b, sb) {
		t.Fatal("the SPLADE copy differs from the encoding of the kept passages")
	}
}

func pick(rows [][]float32, idx []int) [][]float32 {
	out := make([][]float32, len(idx))
	for i, j := range idx {
		out[i] = rows[j]
	}
	return out
}

func newManifest(segs []store.Segment, next uint64) *store.Manifest {
	m := &store.Manifest{
		Model: store.ModelIdentity{Name: "test", SHA256: strings.Repeat("cd", 32), Dim: testDim, Pooling: "mean", MaxTokens: 128},
		DType: store.Int8, Rescore: store.F16, Chunking: store.Chunking{Window: 8, Overlap: 3},
		NextSegmentID: next, Segments: segs,
	}
	m.Recount()
	return m
}

// TestCompactIndexAllKinds compacts an index of three segments holding
// every file kind, as the engine's Compact does with the registry: the
// first segment loses every document (the case that used to fail with
// "seg-….qvec exists" because its copies took the next segment's id), the
// second some, the third none. The compacted generation verifies, every
// copy equals a fresh write of the kept data, and GC leaves exactly the
// two generations.
func TestCompactIndexAllKinds(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	dir := t.TempDir()
	ctx := context.Background()
	reg := allKinds(t)
	lock, err := store.AcquireLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	var segs []store.Segment
	var srcs []segmentSource
	first := uint32(0)
	for id, n := range []int{7, 25, 9} {
		s, src := writeSegment(t, dir, rng, uint64(id+1), first, n)
		segs, srcs = append(segs, s), append(srcs, src)
		first += uint32(n)
	}
	m := newManifest(segs, 4)
	var dead []uint32
	for o := range uint32(7) {
		dead = append(dead, o) // all of segment 1
	}
	for o := uint32(7); o < 32; o++ {
		if rng.IntN(3) == 0 {
			dead = append(dead, o)
		}
	}
	tomb := store.NewTombstones(dead...)
	tref, err := store.WriteTombstones(filepath.Join(dir, store.TombstonesFileName(1)), tomb)
	if err != nil {
		t.Fatal(err)
	}
	m.Tombstones, m.Counts.Deleted = &tref, int64(tomb.Len())
	if err := store.Commit(dir, m); err != nil {
		t.Fatal(err)
	}
	if err := reg.Verify(dir, m); err != nil {
		t.Fatal(err)
	}
	gen1 := names(t, dir)

	// The compaction loop of the engine.
	next := m.NextSegmentID
	var out []store.Segment
	for i, s := range m.Segments {
		ns, empty, err := reg.CompactSegment(ctx, dir, s, next, tomb.Renumber)
		if err != nil {
			t.Fatal(err)
		}
		if empty {
			if i != 0 {
				t.Fatalf("segment %d reported empty", s.ID)
			}
			if got := names(t, dir); !slices.Equal(got, gen1) {
				t.Fatalf("the emptied segment wrote files: %v", got)
			}
			continue
		}
		if ns.ID != next {
			t.Fatalf("new segment id %d, want %d", ns.ID, next)
		}
		next++
		if err := reg.VerifySegment(dir, ns); err != nil {
			t.Fatal(err)
		}
		checkCopy(t, dir, ns, srcs[i], tomb.Renumber)
		out = append(out, ns)
	}
	if len(out) != 2 || out[0].ID != 4 || out[1].ID != 5 || out[0].DocOrdStart != 0 || out[1].DocOrdStart != out[0].DocOrdEnd {
		t.Fatalf("compacted segments %+v", out)
	}
	m.Segments, m.NextSegmentID, m.Tombstones, m.Counts.Deleted = out, next, nil, 0
	m.Recount()
	if err := store.Commit(dir, m); err != nil {
		t.Fatal(err)
	}
	if err := reg.Verify(dir, m); err != nil {
		t.Fatal(err)
	}
	// GC keeps generation 1 (readers may hold it) and 2.
	if res, err := reg.GC(dir, m); err != nil || len(res.Removed) != 0 || len(res.Unknown) != 0 {
		t.Fatalf("GC: %+v, %v", res, err)
	}
	m.Settings = map[string]string{"k": "v"}
	if err := store.Commit(dir, m); err != nil {
		t.Fatal(err)
	}
	res, err := reg.GC(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	var gone []string
	for _, n := range gen1 {
		if n != store.PointerFile && n != store.LockFile {
			gone = append(gone, n)
		}
	}
	slices.Sort(res.Removed)
	if !slices.Equal(res.Removed, gone) {
		t.Fatalf("GC removed %v, want generation 1's files %v", res.Removed, gone)
	}
	loaded, err := store.LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Verify(dir, loaded); err != nil {
		t.Fatal(err)
	}
}

// TestCompactSegmentFailureCleansUp makes each kind's copy fail in turn (its
// destination exists; the lexical copy refuses a remap that leaves a gap)
// and checks that the copies made before the failure are removed and the
// existing file is left as it was.
func TestCompactSegmentFailureCleansUp(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	dir := t.TempDir()
	ctx := context.Background()
	reg := allKinds(t)
	seg, _ := writeSegment(t, dir, rng, 1, 0, 12)
	tomb := store.NewTombstones(2, 5)
	for _, k := range reg.Kinds() {
		blocker := filepath.Join(dir, k.FileName(2))
		if err := os.WriteFile(blocker, []byte("not a "+k.Key+" file"), 0o644); err != nil {
			t.Fatal(err)
		}
		before := names(t, dir)
		_, _, err := reg.CompactSegment(ctx, dir, seg, 2, tomb.Renumber)
		if err == nil || !strings.Contains(err.Error(), k.Key+": ") || !strings.Contains(err.Error(), "never overwritten") {
			t.Fatalf("%s destination exists: %v", k.Key, err)
		}
		if got := names(t, dir); !slices.Equal(got, before) {
			t.Fatalf("%s destination exists: left %v\nwant %v", k.Key, got, before)
		}
		if b, _ := os.ReadFile(blocker); string(b) != "not a "+k.Key+" file" {
			t.Fatalf("%s: the existing file was changed", k.Key)
		}
		os.Remove(blocker)
	}
	// KeepLive leaves gaps, which vectors, docs and SPLADE can hold but a
	// lexical segment cannot.
	before := names(t, dir)
	_, _, err := reg.CompactSegment(ctx, dir, seg, 2, store.KeepLive(tomb))
	if err == nil || !strings.Contains(err.Error(), "lexical: ") || !strings.Contains(err.Error(), "consecutive") {
		t.Fatalf("gap: %v", err)
	}
	if got := names(t, dir); !slices.Equal(got, before) {
		t.Fatalf("gap: left %v", got)
	}
	// The same segment compacts once the way is clear.
	ns, empty, err := reg.CompactSegment(ctx, dir, seg, 2, tomb.Renumber)
	if err != nil || empty || ns.NumDocs != 10 {
		t.Fatalf("%+v, %v, %v", ns, empty, err)
	}
	if err := reg.VerifySegment(dir, ns); err != nil {
		t.Fatal(err)
	}
}
