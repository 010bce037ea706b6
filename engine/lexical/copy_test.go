package lexical

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/store"
)

// keptDocs returns the documents of docs that remap keeps, under their new
// ordinals: what a fresh build of the compacted segment indexes.
func keptDocs(docs []Doc, remap store.Remap) []Doc {
	var out []Doc
	for _, d := range docs {
		if o, ok := remap(d.Ord); ok {
			d.Ord = o
			out = append(out, d)
		}
	}
	return out
}

// randomTombstones deletes documents of [start, start+n) in one of several
// patterns, plus some ordinals of earlier segments (so that the renumbered
// segment does not start at 0).
func randomTombstones(rng *rand.Rand, start uint32, n int) store.Tombstones {
	var ords []uint32
	for o := range start {
		if rng.IntN(3) == 0 {
			ords = append(ords, o)
		}
	}
	p := rng.Float64()
	switch rng.IntN(5) {
	case 0: // a run
		lo := rng.IntN(n)
		for i := lo; i < min(n, lo+1+rng.IntN(n/2+1)); i++ {
			ords = append(ords, start+uint32(i))
		}
	case 1: // the first and the last
		ords = append(ords, start, start+uint32(n-1))
	default: // independent, density p
		for i := range n {
			if rng.Float64() < p {
				ords = append(ords, start+uint32(i))
			}
		}
	}
	return store.NewTombstones(ords...)
}

var testParams = []Params{DefaultParams(), BEIRParams(), {K1: 0.9, B: 0.4, Fields: BestFields, TieBreaker: 0.3, K1Plus1: true}}

// sameSearch checks that a and b return the same hits with the same scores
// (bit for bit) for queries made of the corpus' words, with and without a
// filter.
func sameSearch(t *testing.T, a, b *Index, docs []Doc, rng *rand.Rand) {
	t.Helper()
	ctx := context.Background()
	var words []string
	for _, d := range docs {
		words = append(words, strings.Fields(d.Title+" "+d.Text)...)
	}
	var allowed []uint64
	for _, d := range docs {
		if rng.IntN(2) == 0 {
			for uint32(len(allowed)) <= d.Ord/64 {
				allowed = append(allowed, 0)
			}
			allowed[d.Ord/64] |= 1 << (d.Ord % 64)
		}
	}
	for q := range 30 {
		var terms []string
		for range 1 + rng.IntN(4) {
			terms = append(terms, words[rng.IntN(len(words))])
		}
		query := strings.Join(terms, " ")
		for _, p := range testParams {
			filter := allowed
			if q%2 == 0 {
				filter = nil
			}
			ha, err := a.Search(ctx, query, 20, p, filter)
			if err != nil {
				t.Fatal(err)
			}
			hb, err := b.Search(ctx, query, 20, p, filter)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ha, hb) {
				t.Fatalf("query %q, %+v:\n copy  %v\n fresh %v", query, p, ha, hb)
			}
		}
	}
}

// TestCopyFilteredIsFreshBuild is the property CopyFiltered is for: for
// random documents and random deletions, the copy of a segment built from
// every document is byte for byte the segment EncodeSegment builds from the
// kept documents under their new ordinals (so no statistic drifts: df,
// docCount, sumTF and document lengths are those of a fresh analysis of the
// kept text), and an index of copies scores exactly like an index built
// fresh, segment split and all.
func TestCopyFilteredIsFreshBuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	dir := t.TempDir()
	ctx := context.Background()
	analyzers := []Analyzer{English(), Standard(), ElasticEnglish()}
	next := uint64(1)
	for round := range 24 {
		an := analyzers[round%len(analyzers)]
		// Two segments, so that the statistics are summed over several.
		start := uint32(rng.IntN(200))
		n1, n2 := 1+rng.IntN(120), 1+rng.IntN(60)
		docs := synthDocs(n1+n2, start, int64(round))
		if round%4 == 0 {
			docs = append(smallCorpus(start), synthDocs(n1+n2, start+12, int64(round))...)
			n1 += 12
		}
		segs := [][]Doc{docs[:n1], docs[n1:]}
		tomb := randomTombstones(rng, start, len(docs))
		var copies, fresh []string
		for _, seg := range segs {
			src := filepath.Join(dir, SegmentFileName(next))
			if _, _, err := BuildSegment(ctx, src, seg, an); err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(dir, SegmentFileName(next+1))
			next += 2
			kept := keptDocs(seg, tomb.Renumber)
			ref, info, err := CopyFiltered(dst, src, tomb.Renumber)
			if len(kept) == 0 {
				if !errors.Is(err, store.ErrNoDocuments) {
					t.Fatalf("round %d: every document deleted: %v", round, err)
				}
				if _, serr := os.Stat(dst); !errors.Is(serr, os.ErrNotExist) {
					t.Fatalf("round %d: an empty copy wrote %s", round, dst)
				}
				continue
			}
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			want, winfo, err := EncodeSegment(ctx, kept, an)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("round %d: the copy (%d bytes) differs from a fresh build of the %d kept documents (%d bytes)", round, len(got), len(kept), len(want))
			}
			if info != winfo || ref != (store.FileRef{Name: filepath.Base(dst), Size: int64(len(want)), CRC32C: store.CRC32C(want)}) {
				t.Fatalf("round %d: info %+v, ref %+v; fresh build %+v", round, info, ref, winfo)
			}
			copies = append(copies, dst)
			fp := filepath.Join(dir, fmt.Sprintf("fresh-%06d.bm25", next))
			if err := os.WriteFile(fp, want, 0o644); err != nil {
				t.Fatal(err)
			}
			fresh = append(fresh, fp)
		}
		if len(copies) == 0 {
			continue
		}
		a, err := Open(copies)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Open(fresh)
		if err != nil {
			t.Fatal(err)
		}
		if a.Stats() != b.Stats() {
			t.Fatalf("round %d: stats %+v vs %+v", round, a.Stats(), b.Stats())
		}
		sameSearch(t, a, b, keptDocs(docs, tomb.Renumber), rng)
	}
}

// TestCopyFilteredKeepsScores is the compaction bug CopyFiltered fixes,
// seen from a user: after deleting documents and compacting, the scores of
// the surviving documents are those of an index that never held the deleted
// ones, and with nothing deleted a copy changes no score at all.
func TestCopyFilteredKeepsScores(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	docs := smallCorpus(0)
	src := filepath.Join(dir, SegmentFileName(1))
	if _, _, err := BuildSegment(ctx, src, docs, English()); err != nil {
		t.Fatal(err)
	}
	same := filepath.Join(dir, SegmentFileName(2))
	if _, _, err := CopyFiltered(same, src, store.KeepLive(store.Tombstones{})); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(src)
	b, _ := os.ReadFile(same)
	if !bytes.Equal(a, b) {
		t.Fatal("a copy that keeps everything is not the same file")
	}
	tomb := store.NewTombstones(1, 4, 11) // a middle, an empty and the last document
	dst := filepath.Join(dir, SegmentFileName(3))
	if _, _, err := CopyFiltered(dst, src, tomb.Renumber); err != nil {
		t.Fatal(err)
	}
	got, err := Open([]string{dst})
	if err != nil {
		t.Fatal(err)
	}
	want := buildIndex(t, keptDocs(docs, tomb.Renumber), English())
	for _, q := range []string{"Berlin capital", "dogs running", "million people", "museums"} {
		for _, p := range testParams {
			hg, _ := got.Search(ctx, q, 10, p, nil)
			hw, _ := want.Search(ctx, q, 10, p, nil)
			if len(hg) == 0 || !slices.Equal(hg, hw) {
				t.Fatalf("%q: %v, want %v", q, hg, hw)
			}
		}
	}
}

func TestCopyFilteredRejects(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	src := filepath.Join(dir, SegmentFileName(1))
	if _, _, err := BuildSegment(ctx, src, smallCorpus(10), English()); err != nil {
		t.Fatal(err)
	}
	before := dirEntries(t, dir)
	dst := filepath.Join(dir, SegmentFileName(2))

	// Every document dropped: no file, an error the caller branches on.
	_, _, err := CopyFiltered(dst, src, func(uint32) (uint32, bool) { return 0, false })
	if !errors.Is(err, store.ErrNoDocuments) || !strings.Contains(err.Error(), "every document of [10, 22) is dropped") {
		t.Fatalf("all dropped: %v", err)
	}
	// KeepLive leaves a gap where a middle document was deleted: a lexical
	// segment cannot hold one.
	_, _, err = CopyFiltered(dst, src, store.KeepLive(store.NewTombstones(13)))
	wantErrText(t, err, "kept ordinal 14 the new ordinal 14, want 13", "consecutive")
	// Order reversed.
	_, _, err = CopyFiltered(dst, src, func(o uint32) (uint32, bool) { return 100 - o, true })
	wantErrText(t, err, "consecutive")
	// Past the end of the ordinal space.
	_, _, err = CopyFiltered(dst, src, func(o uint32) (uint32, bool) { return o - 10 + (1<<32 - 5), true })
	wantErrText(t, err, "want 4294967296")
	if got := dirEntries(t, dir); !slices.Equal(got, before) {
		t.Fatalf("refused copies left %v", got)
	}
	// An existing destination is never replaced.
	if err := os.WriteFile(dst, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = CopyFiltered(dst, src, store.KeepLive(store.Tombstones{}))
	wantErrText(t, err, "never overwritten")
	if b, _ := os.ReadFile(dst); string(b) != "mine" {
		t.Fatal("destination replaced")
	}
	// A damaged source is reported as such, naming it.
	data, _ := os.ReadFile(src)
	data[len(data)/2] ^= 1
	bad := filepath.Join(dir, SegmentFileName(3))
	if err := os.WriteFile(bad, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var ce *store.CorruptError
	if _, _, err := CopyFiltered(filepath.Join(dir, SegmentFileName(4)), bad, store.KeepLive(store.Tombstones{})); !errors.As(err, &ce) || ce.Path != bad {
		t.Fatalf("damaged source: %v", err)
	}
	if _, _, err := CopyFiltered(filepath.Join(dir, SegmentFileName(4)), filepath.Join(dir, "missing.bm25"), store.KeepLive(store.Tombstones{})); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing source: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, SegmentFileName(4))); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a failed copy left its destination")
	}
}

// TestCopyFilteredCorruption checks that damage anywhere in a file that
// CopyFiltered wrote is rejected: every bit flip and every truncation gives
// a *store.CorruptError naming the file and the part of it.
func TestCopyFilteredCorruption(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	src := filepath.Join(dir, SegmentFileName(1))
	if _, _, err := BuildSegment(ctx, src, smallCorpus(3), English()); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, SegmentFileName(2))
	if _, _, err := CopyFiltered(dst, src, store.NewTombstones(0, 5, 8).Renumber); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	checkCorruption(t, dst, data)
	// And on disk, through the registry's Verify.
	data[headerSize+1] ^= 4
	os.Remove(dst)
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
	k := FileKind()
	var ce *store.CorruptError
	if _, err := k.Verify(store.OS(), dst); !errors.As(err, &ce) || ce.Path != dst || ce.Where != "section meta" {
		t.Fatalf("Verify: %v", err)
	}
}

// TestFileKind checks the declaration the store's registry uses.
func TestFileKind(t *testing.T) {
	k := FileKind()
	if k.Key != FileKey || k.FileName(42) != SegmentFileName(42) || SegmentFileName(42) != "lex-000042.bm25" || k.Holds != store.HoldsDocs {
		t.Fatalf("kind %+v", k)
	}
	if _, err := store.NewRegistry(store.VectorsKind(), store.DocsKind(), k); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, k.FileName(1))
	if _, _, err := BuildSegment(context.Background(), src, smallCorpus(20), English()); err != nil {
		t.Fatal(err)
	}
	st, err := k.Verify(store.OS(), src)
	if err != nil || st != (store.CopyStats{Docs: 12, FirstOrd: 20, LastOrd: 31}) {
		t.Fatalf("Verify: %+v, %v", st, err)
	}
	tomb := store.NewTombstones(0, 1, 20, 25)
	ref, st, err := k.CopyFiltered(store.OS(), filepath.Join(dir, k.FileName(2)), src, tomb.Renumber)
	if err != nil || st != (store.CopyStats{Docs: 10, FirstOrd: 18, LastOrd: 27}) || ref.Name != k.FileName(2) {
		t.Fatalf("CopyFiltered: %+v, %+v, %v", ref, st, err)
	}
	if _, _, err := k.CopyFiltered(store.OS(), filepath.Join(dir, k.FileName(3)), src, func(uint32) (uint32, bool) { return 0, false }); !errors.Is(err, store.ErrNoDocuments) {
		t.Fatalf("empty copy: %v", err)
	}
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func wantErrText(t *testing.T, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", subs)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("error %q does not contain %q", err, s)
		}
	}
}
