package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// blobKind is a test file kind: a tiny file listing the documents and
// passages it holds ("ord:passages" per line), written through
// WriteFileAtomic. It stands for the kinds other packages declare.
func blobKind(key, prefix, ext string, holds Holds) FileKind {
	parse := func(path string) ([][2]uint32, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var out [][2]uint32
		for i, line := range strings.Fields(string(b)) {
			var o, p uint32
			if _, err := fmt.Sscanf(line, "%d:%d", &o, &p); err != nil {
				return nil, Corruptf(path, fmt.Sprintf("line %d", i+1), "%v", err)
			}
			out = append(out, [2]uint32{o, p})
		}
		return out, nil
	}
	stats := func(entries [][2]uint32) CopyStats {
		var st CopyStats
		for i, e := range entries {
			if i == 0 {
				st.FirstOrd = e[0]
			}
			st.LastOrd = e[0]
			st.Docs++
			st.Passages += int64(e[1])
		}
		return st
	}
	return FileKind{Key: key, Prefix: prefix, Ext: ext, Holds: holds,
		Verify: func(_ FS, path string) (CopyStats, error) {
			e, err := parse(path)
			return stats(e), err
		},
		CopyFiltered: func(_ FS, dst, src string, remap Remap) (FileRef, CopyStats, error) {
			e, err := parse(src)
			if err != nil {
				return FileRef{}, CopyStats{}, err
			}
			var kept [][2]uint32
			var b strings.Builder
			for _, x := range e {
				if o, ok := remap(x[0]); ok {
					kept = append(kept, [2]uint32{o, x[1]})
					fmt.Fprintf(&b, "%d:%d\n", o, x[1])
				}
			}
			ref, err := WriteFileAtomic(dst, []byte(b.String()))
			return ref, stats(kept), err
		}}
}

func writeBlob(t *testing.T, path string, recs []DocRecord) FileRef {
	t.Helper()
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "%d:%d\n", r.Ord, len(r.Passages))
	}
	ref, err := WriteFileAtomic(path, []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func testRegistry(t *testing.T, extra ...FileKind) *Registry {
	t.Helper()
	r, err := NewRegistry(append([]FileKind{VectorsKind(), DocsKind()}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// consistentSegment writes segment id of n documents from ordinal first:
// vectors (one row per passage), a doc store whose records list those
// passages (1–3 per document, some documents with none) and a "blob" file.
func consistentSegment(t *testing.T, dir string, rng *rand.Rand, id uint64, first uint32, n int) (Segment, []DocRecord) {
	t.Helper()
	recs := make([]DocRecord, n)
	var groups []uint32
	for i := range recs {
		r := DocRecord{Ord: first + uint32(i), ID: fmt.Sprintf("doc-%d", first+uint32(i))}
		np := rng.IntN(4)
		if i == 0 || i == n-1 {
			np = max(np, 1)
		}
		for p := range np {
			r.Passages = append(r.Passages, PassageRecord{Text: fmt.Sprintf("passage %d", p), Start: p, End: p + 1})
			groups = append(groups, r.Ord)
		}
		recs[i] = r
	}
	const dim = 8
	v := mustQuantize(t, Int8, dim, unitRows(rng, len(groups), dim))
	r := mustQuantize(t, F16, dim, unitRows(rng, len(groups), dim))
	vref, err := WriteSegmentParams(filepath.Join(dir, SegmentFileName(id)), SegmentParams{DType: Int8, Dim: dim, Count: len(groups), Rescore: F16, BlockRows: 4}, v, groups, &r)
	if err != nil {
		t.Fatal(err)
	}
	dref, err := WriteDocs(filepath.Join(dir, DocsFileName(id)), recs)
	if err != nil {
		t.Fatal(err)
	}
	bref := writeBlob(t, filepath.Join(dir, FileName("blob", id, "txt")), recs)
	return Segment{ID: id, DocOrdStart: first, DocOrdEnd: first + uint32(n), NumDocs: int64(n), NumPassages: int64(len(groups)),
		Vectors: vref, Docs: dref, Files: map[string]FileRef{"blob": bref}}, recs
}

func TestNewRegistryRejects(t *testing.T) {
	ok := blobKind("blob", "blob", "txt", HoldsDocs)
	with := func(edit func(*FileKind)) FileKind {
		k := ok
		edit(&k)
		return k
	}
	v, d := VectorsKind(), DocsKind()
	cases := []struct {
		name  string
		kinds []FileKind
		want  string
	}{
		{"nothing", nil, "pass store.VectorsKind() and store.DocsKind()"},
		{"no docs", []FileKind{v, ok}, "pass store.VectorsKind() and store.DocsKind()"},
		{"vectors twice", []FileKind{v, d, v}, "key already declared by kind 0"},
		{"duplicate key", []FileKind{v, d, ok, with(func(k *FileKind) { k.Prefix = "other" })}, "key already declared by kind 2"},
		{"duplicate prefix", []FileKind{v, d, ok, with(func(k *FileKind) { k.Key = "other" })}, `prefix "blob" already declared by kind 2`},
		{"prefix of the vectors", []FileKind{v, d, with(func(k *FileKind) { k.Prefix = "seg" })}, `prefix "seg" already declared by kind 0`},
		{"reserved key", []FileKind{v, d, with(func(k *FileKind) { k.Key = "docs" })}, "reserved for store.VectorsKind and store.DocsKind"},
		{"empty key", []FileKind{v, d, with(func(k *FileKind) { k.Key = "" })}, "key is not"},
		{"bad key", []FileKind{v, d, with(func(k *FileKind) { k.Key = "Blob" })}, "key is not"},
		{"bad prefix", []FileKind{v, d, with(func(k *FileKind) { k.Prefix = "my-kind" })}, `prefix "my-kind" is not`},
		{"empty prefix", []FileKind{v, d, with(func(k *FileKind) { k.Prefix = "" })}, `prefix "" is not`},
		{"tomb prefix", []FileKind{v, d, with(func(k *FileKind) { k.Prefix = "tomb" })}, "reserved (manifests and tombstones)"},
		{"manifest prefix", []FileKind{v, d, with(func(k *FileKind) { k.Prefix = "manifest" })}, "reserved"},
		{"bad ext", []FileKind{v, d, with(func(k *FileKind) { k.Ext = "t.x/t" })}, `extension "t.x/t"`},
		{"empty ext", []FileKind{v, d, with(func(k *FileKind) { k.Ext = "" })}, `extension ""`},
		{"no verify", []FileKind{v, d, with(func(k *FileKind) { k.Verify = nil })}, "Verify and CopyFiltered are required"},
		{"no copy", []FileKind{v, d, with(func(k *FileKind) { k.CopyFiltered = nil })}, "Verify and CopyFiltered are required"},
		{"holds", []FileKind{v, d, with(func(k *FileKind) { k.Holds = 8 })}, "unknown Holds bits 0x8"},
	}
	for _, tc := range cases {
		r, err := NewRegistry(tc.kinds...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || r != nil {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	r, err := NewRegistry(ok, d, v, with(func(k *FileKind) { k.Key, k.Prefix, k.Ext = "graph", "hnsw", "q.hnsw" }))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, k := range r.Kinds() {
		keys = append(keys, k.Key)
	}
	if !slices.Equal(keys, []string{"blob", "docs", "vectors", "graph"}) {
		t.Fatalf("kinds %v", keys)
	}
	if k, ok := r.Kind("graph"); !ok || k.FileName(7) != "hnsw-000007.q.hnsw" {
		t.Fatalf("Kind(graph) = %+v, %v", k, ok)
	}
}

func TestRegistryNames(t *testing.T) {
	r := testRegistry(t, blobKind("lexical", "lex", "bm25", HoldsDocs))
	for name, want := range map[string]string{
		"seg-000001.qvec":                "vectors",
		"docs-123456789.zst":             "docs",
		"lex-000042.bm25":                "lexical",
		"lex-00042.bm25":                 "", // five digits
		"lex-000042.bm25.x":              "",
		"lex-000042.bm2":                 "",
		"lex-12345678901234567890.bm25":  "lexical",
		"lex-123456789012345678901.bm25": "", // 21 digits
		"lex-0000a2.bm25":                "",
		"lexx-000042.bm25":               "",
		"seg-000001.zst":                 "",
		"hnsw-000001.qhnsw":              "", // a kind this registry does not declare
		"tomb-000003.qtmb":               "",
		"manifest-000003.json":           "",
	} {
		k, ok := r.KindOfFile(name)
		if ok != (want != "") || ok && k.Key != want {
			t.Errorf("KindOfFile(%q) = %q, %v; want %q", name, k.Key, ok, want)
		}
	}
	for name, want := range map[string]bool{
		"seg-000001.qvec": true, "lex-000002.bm25": true, "tomb-000003.qtmb": true, "manifest-000004.json": true,
		"hnsw-000001.qhnsw": false, "MANIFEST": false, "LOCK": false, ".seg-000001.qvec.tmp-1": false, "notes.txt": false,
		"manifest-1.json": false, "tomb-000003.qvec": false,
	} {
		if got := r.IsIndexFileName(name); got != want {
			t.Errorf("IsIndexFileName(%q) = %v", name, got)
		}
	}
	if k := VectorsKind(); k.FileName(3) != SegmentFileName(3) {
		t.Errorf("vectors kind names %s", k.FileName(3))
	}
	if k := DocsKind(); k.FileName(3) != DocsFileName(3) {
		t.Errorf("docs kind names %s", k.FileName(3))
	}
}

// TestRegistryGC checks that Registry.GC deletes unreferenced files of the
// kinds it declares and, unlike the generic GC, leaves files of undeclared
// kinds alone.
func TestRegistryGC(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	dir := t.TempDir()
	r := testRegistry(t, blobKind("blob", "blob", "txt", HoldsDocs|HoldsPassages))
	m := testManifest()
	m.DType, m.Rescore, m.Model.Dim = Int8, F16, 8
	seg, _ := consistentSegment(t, dir, rng, 1, 0, 6)
	m.Segments = []Segment{seg}
	m.NextSegmentID = 2
	m.Recount()
	if err := Commit(dir, m); err != nil {
		t.Fatal(err)
	}
	debris := []string{SegmentFileName(9), FileName("blob", 9, "txt"), TombstonesFileName(9), ".blob-000010.txt.tmp-1"}
	foreign := []string{"hnsw-000009.qhnsw", "notes.txt"}
	for _, name := range append(slices.Clone(debris), foreign...) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := r.GC(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(res.Removed)
	slices.Sort(debris)
	if !slices.Equal(res.Removed, debris) || !slices.Equal(res.Unknown, foreign) {
		t.Fatalf("removed %v, unknown %v", res.Removed, res.Unknown)
	}
	if err := r.Verify(dir, m); err != nil {
		t.Fatal(err)
	}
	// The generic GC takes hnsw-000009.qhnsw for an index file.
	res, err = GC(dir, m)
	if err != nil || !slices.Equal(res.Removed, []string{"hnsw-000009.qhnsw"}) {
		t.Fatalf("GC: %+v, %v", res, err)
	}
}

func TestVerifySegment(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	dir := t.TempDir()
	r := testRegistry(t, blobKind("blob", "blob", "txt", HoldsDocs|HoldsPassages))
	seg, _ := consistentSegment(t, dir, rng, 4, 10, 9)
	if err := r.VerifySegment(dir, seg); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		edit func(*Segment)
		want []string
	}{
		{"num_docs", func(s *Segment) { s.NumDocs++ }, []string{"docs-000004.zst", "against segment 4's docs", "9 documents; the segment has 10"}},
		{"num_passages", func(s *Segment) { s.NumPassages-- }, []string{"seg-000004.qvec", "passages; the segment has"}},
		{"range", func(s *Segment) { s.DocOrdStart++ }, []string{"document ordinals 10..18 lie outside the segment's range [11, 19)"}},
		{"name", func(s *Segment) {
			s.Files["blob"] = FileRef{Name: "seg-000004.qvec", Size: s.Vectors.Size, CRC32C: s.Vectors.CRC32C}
		}, []string{"seg-000004.qvec", "not a blob file name (blob-000004.txt)"}},
		{"crc", func(s *Segment) { s.Docs.CRC32C++ }, []string{"docs-000004.zst", "the manifest records"}},
		{"unknown kind", func(s *Segment) { s.Files["graph"] = s.Files["blob"] }, []string{"files[graph] is a file kind this quarry does not know (known: vectors, docs, blob)"}},
	}
	for _, tc := range cases {
		s := seg
		s.Files = map[string]FileRef{"blob": seg.Files["blob"]}
		tc.edit(&s)
		err := r.VerifySegment(dir, s)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v does not contain %q", tc.name, err, w)
			}
		}
		if tc.name != "unknown kind" && !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v is not ErrCorrupt", tc.name, err)
		}
	}
	// Damage inside a file with its manifest checksum updated: the kind's
	// own Verify finds it.
	p := filepath.Join(dir, seg.Vectors.Name)
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 0x10
	os.Remove(p)
	ref, err := WriteFileAtomic(p, b)
	if err != nil {
		t.Fatal(err)
	}
	s := seg
	s.Vectors = ref
	var ce *CorruptError
	if err := r.VerifySegment(dir, s); !errors.As(err, &ce) || ce.Path != p {
		t.Fatalf("damaged vectors: %v", err)
	}
}

// TestCompactSegmentStoreKinds compacts segments holding the store's kinds
// and a blob kind: counts come from the copies, an emptied segment writes
// nothing, and a failure midway removes what was written.
func TestCompactSegmentStoreKinds(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	dir := t.TempDir()
	r := testRegistry(t, blobKind("blob", "blob", "txt", HoldsDocs|HoldsPassages))
	ctx := context.Background()
	a, _ := consistentSegment(t, dir, rng, 1, 0, 10)
	b, recsB := consistentSegment(t, dir, rng, 2, 10, 12)
	// Every document of a deleted, two of b.
	tomb := NewTombstones(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15)
	before := dirNames(t, dir)
	ns, empty, err := r.CompactSegment(ctx, dir, a, 3, tomb.Renumber)
	if err != nil || !empty || ns.ID != 0 {
		t.Fatalf("compact a: %+v, %v, %v", ns, empty, err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, before) {
		t.Fatalf("an emptied segment wrote %v", got)
	}
	// The next segment gets the id the emptied one did not use.
	ns, empty, err = r.CompactSegment(ctx, dir, b, 3, tomb.Renumber)
	if err != nil || empty {
		t.Fatalf("compact b: %v, %v", empty, err)
	}
	var passages int64
	for _, rec := range recsB {
		if !tomb.Contains(rec.Ord) {
			passages += int64(len(rec.Passages))
		}
	}
	want := Segment{ID: 3, DocOrdStart: 0, DocOrdEnd: 10, NumDocs: 10, NumPassages: passages}
	if ns.ID != want.ID || ns.DocOrdStart != want.DocOrdStart || ns.DocOrdEnd != want.DocOrdEnd || ns.NumDocs != want.NumDocs || ns.NumPassages != want.NumPassages {
		t.Fatalf("new segment %+v, want %+v", ns, want)
	}
	if ns.Vectors.Name != "seg-000003.qvec" || ns.Docs.Name != "docs-000003.zst" || ns.Files["blob"].Name != "blob-000003.txt" || len(ns.Files) != 1 {
		t.Fatalf("new files %+v", ns)
	}
	if err := r.VerifySegment(dir, ns); err != nil {
		t.Fatal(err)
	}
	// KeepLive keeps the old ordinals: a segment with gaps, still valid.
	nl, empty, err := r.CompactSegment(ctx, dir, b, 4, KeepLive(tomb))
	if err != nil || empty || nl.DocOrdStart != 11 || nl.DocOrdEnd != 22 || nl.NumDocs != 10 {
		t.Fatalf("keep live: %+v, %v, %v", nl, empty, err)
	}
	if err := r.VerifySegment(dir, nl); err != nil {
		t.Fatal(err)
	}

	// A failure midway: the blob copy's destination exists. The vectors
	// and docs copies made before it are removed, the existing file is
	// left as it was.
	junk := filepath.Join(dir, FileName("blob", 5, "txt"))
	if err := os.WriteFile(junk, []byte("not mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	before = dirNames(t, dir)
	_, _, err = r.CompactSegment(ctx, dir, b, 5, tomb.Renumber)
	wantErr(t, err, "compact segment 2 into 5", "blob", "exists")
	if got := dirNames(t, dir); !slices.Equal(got, before) {
		t.Fatalf("after a failed compaction: %v\nwant %v", got, before)
	}
	if data, _ := os.ReadFile(junk); string(data) != "not mine" {
		t.Fatal("an existing file was touched")
	}
	// A cancelled context stops before the first copy.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := r.CompactSegment(cancelled, dir, b, 6, tomb.Renumber); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	// An unknown file kind is refused before anything is written.
	u := b
	u.Files = map[string]FileRef{"blob": b.Files["blob"], "graph": {Name: "hnsw-000002.qhnsw"}}
	_, _, err = r.CompactSegment(ctx, dir, u, 6, tomb.Renumber)
	wantErr(t, err, "files[graph] is a file kind this quarry does not know")
	if got := dirNames(t, dir); !slices.Equal(got, before) {
		t.Fatalf("after refusals: %v\nwant %v", got, before)
	}
	// Files that disagree (the blob lists one document fewer) are refused
	// and the copies removed.
	recsShort := recsB[:len(recsB)-1]
	os.Remove(filepath.Join(dir, b.Files["blob"].Name))
	d := b
	d.Files = map[string]FileRef{"blob": writeBlob(t, filepath.Join(dir, b.Files["blob"].Name), recsShort)}
	_, _, err = r.CompactSegment(ctx, dir, d, 6, tomb.Renumber)
	wantErr(t, err, "blob-000002.txt", "survive in it", "docs-000002.zst")
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("disagreement: %v is not ErrCorrupt", err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, before) {
		t.Fatalf("after a disagreement: %v\nwant %v", got, before)
	}
}

// TestCompactSegmentEmptyByCopy covers a segment whose range has ordinals
// the segment does not hold: remap keeps some of the range but none of its
// documents, so the emptiness shows only after copying; the copies are
// removed.
func TestCompactSegmentEmptyByCopy(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	dir := t.TempDir()
	r := testRegistry(t, blobKind("blob", "blob", "txt", HoldsDocs|HoldsPassages))
	s, recs := consistentSegment(t, dir, rng, 1, 0, 5)
	s.DocOrdEnd = 50 // ordinals 5..49 are held by no file
	var dead []uint32
	for _, rec := range recs {
		dead = append(dead, rec.Ord)
	}
	before := dirNames(t, dir)
	ns, empty, err := r.CompactSegment(context.Background(), dir, s, 2, KeepLive(NewTombstones(dead...)))
	if err != nil || !empty {
		t.Fatalf("%+v, %v, %v", ns, empty, err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, before) {
		t.Fatalf("left %v", got)
	}
}
