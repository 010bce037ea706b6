package store

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func testManifest() *Manifest {
	return &Manifest{
		Model: ModelIdentity{Name: "all-MiniLM-L6-v2", Path: "/models/minilm.gguf", SHA256: strings.Repeat("ab", 32),
			Dim: 16, Pooling: "mean", Normalize: true, MaxTokens: 256, Similarity: "cosine"},
		DType: Int8, Rescore: F16, Chunking: Chunking{Window: 128, Overlap: 32},
		Settings: map[string]string{"analyzer": "standard"}, NextSegmentID: 1,
	}
}

// addSegment writes a segment of nDocs documents (1–3 passages each) and its
// doc store, and appends it to m.
func addSegment(t testing.TB, dir string, m *Manifest, rng *rand.Rand, nDocs int) {
	t.Helper()
	id := m.NextSegmentID
	m.NextSegmentID++
	first := m.NextDocOrd()
	recs := makeDocs(rng, nDocs, first, false)
	var groups []uint32
	for _, r := range recs {
		for k := 0; k < 1+rng.IntN(3); k++ {
			groups = append(groups, r.Ord)
		}
	}
	rows := unitRows(rng, len(groups), m.Model.Dim)
	v, err := Quantize(m.DType, m.Model.Dim, rows)
	if err != nil {
		t.Fatal(err)
	}
	var rp *Vectors
	if m.Rescore != 0 {
		r, err := Quantize(m.Rescore, m.Model.Dim, rows)
		if err != nil {
			t.Fatal(err)
		}
		rp = &r
	}
	vref, err := WriteSegment(filepath.Join(dir, SegmentFileName(id)), v, groups, rp)
	if err != nil {
		t.Fatal(err)
	}
	dref, err := WriteDocs(filepath.Join(dir, DocsFileName(id)), recs)
	if err != nil {
		t.Fatal(err)
	}
	m.Segments = append(m.Segments, Segment{ID: id, DocOrdStart: first, DocOrdEnd: first + uint32(nDocs), NumDocs: int64(nDocs),
		NumPassages: int64(len(groups)), Vectors: vref, Docs: dref})
	m.Recount()
}

func TestCommitLoad(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	dir := t.TempDir()
	if _, err := LoadManifest(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("empty dir: %v", err)
	}
	m := testManifest()
	addSegment(t, dir, m, rng, 20)
	m.Inputs = []InputProgress{{Path: "corpus.jsonl", Size: 1000, Records: 20}}
	if err := Commit(dir, m); err != nil {
		t.Fatal(err)
	}
	if m.Generation != 1 || m.Created.IsZero() || m.FormatVersion != ManifestFormatVersion {
		t.Fatalf("after commit: gen %d, created %v", m.Generation, m.Created)
	}
	got, err := LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("loaded %+v\nwant %+v", got, m)
	}
	// Second generation with an extra per-segment file and tombstones.
	lex, err := CreateAtomic(filepath.Join(dir, FileName("lex", 1, "bm25")))
	if err != nil {
		t.Fatal(err)
	}
	lex.Write([]byte("lexical index bytes"))
	lref, err := lex.Commit()
	if err != nil {
		t.Fatal(err)
	}
	m.Segments[0].Files = map[string]FileRef{"lexical": lref}
	tref, err := WriteTombstones(filepath.Join(dir, TombstonesFileName(2)), NewTombstones(3, 4))
	if err != nil {
		t.Fatal(err)
	}
	m.Tombstones, m.Counts.Deleted = &tref, 2
	addSegment(t, dir, m, rng, 5)
	if err := Commit(dir, m); err != nil {
		t.Fatal(err)
	}
	got, err = LoadManifest(dir)
	if err != nil || got.Generation != 2 || !reflect.DeepEqual(got, m) {
		t.Fatalf("gen 2: %v", err)
	}
	if err := VerifyFiles(dir, got); err != nil {
		t.Fatal(err)
	}
	for i := range got.Segments {
		sr, err := got.OpenSegment(dir, i)
		if err != nil {
			t.Fatal(err)
		}
		sr.Close()
		dr, err := got.OpenDocs(dir, i)
		if err != nil {
			t.Fatal(err)
		}
		dr.Close()
	}
	// Files swapped for others: caught against the manifest.
	swapped := *got
	swapped.Segments = append([]Segment(nil), got.Segments...)
	swapped.Segments[0].Vectors, swapped.Segments[1].Vectors = got.Segments[1].Vectors, got.Segments[0].Vectors
	_, err = swapped.OpenSegment(dir, 0)
	wantErr(t, err, "seg-000002.qvec", "against the manifest's segments[0]")
	swapped.Segments[0].Docs, swapped.Segments[1].Docs = got.Segments[1].Docs, got.Segments[0].Docs
	_, err = swapped.OpenDocs(dir, 1)
	wantErr(t, err, "docs-000001.zst", "against the manifest's segments[1]")
	// Stale and new manifests are refused.
	stale := *got
	stale.Generation = 1
	wantErr(t, Commit(dir, &stale), "generation 1 but the index is at generation 2")
	wantErr(t, Commit(dir, testManifest()), "generation 0 but the index is at generation 2")
	// A missing referenced file is refused by Commit and reported by LoadManifest.
	bad := *got
	bad.Segments = append([]Segment(nil), got.Segments...)
	bad.Segments[1].Docs.Name = DocsFileName(77)
	wantErr(t, Commit(dir, &bad), "docs-000077.zst", "missing", "segments[1].docs")
	os.Rename(filepath.Join(dir, SegmentFileName(2)), filepath.Join(dir, "moved"))
	_, err = LoadManifest(dir)
	wantErr(t, err, "seg-000002.qvec", "missing", "segments[1].vectors", "restore")
	os.Rename(filepath.Join(dir, "moved"), filepath.Join(dir, SegmentFileName(2)))
	// A file of the wrong size.
	f, _ := os.OpenFile(filepath.Join(dir, DocsFileName(1)), os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte{0})
	f.Close()
	_, err = LoadManifest(dir)
	wantErr(t, err, "docs-000001.zst", "truncated or replaced")
	if !errors.Is(err, ErrCorrupt) {
		t.Fatal("size mismatch is not ErrCorrupt")
	}
}

func TestManifestValidate(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	dir := t.TempDir()
	base := testManifest()
	addSegment(t, dir, base, rng, 4)
	addSegment(t, dir, base, rng, 4)
	base.FormatVersion = ManifestFormatVersion
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		field  string
		mutate func(m *Manifest)
	}{
		{"dtype", func(m *Manifest) { m.DType = 0 }},
		{"rescore_dtype", func(m *Manifest) { m.Rescore = Int8 }},
		{"model.dim", func(m *Manifest) { m.Model.Dim = 0 }},
		{"model.sha256", func(m *Manifest) { m.Model.SHA256 = "abc" }},
		{"chunking", func(m *Manifest) { m.Chunking.Overlap = 128 }},
		{"segments[1].id", func(m *Manifest) { m.Segments[1].ID = m.Segments[0].ID }},
		{"segments[0].id", func(m *Manifest) { m.NextSegmentID = 1 }},
		{"segments[1].doc_ord_start", func(m *Manifest) { m.Segments[1].DocOrdStart = 2 }},
		{"segments[0].num_docs", func(m *Manifest) { m.Segments[0].NumDocs = 99 }},
		{"segments[1].vectors.name", func(m *Manifest) { m.Segments[1].Vectors.Name = "../etc/passwd" }},
		{"segments[1].docs.name", func(m *Manifest) { m.Segments[1].Docs.Name = m.Segments[0].Docs.Name }},
		{"segments[0].vectors.name", func(m *Manifest) { m.Segments[0].Vectors.Name = "manifest-000001.json" }},
		{"segments[0].files", func(m *Manifest) { m.Segments[0].Files = map[string]FileRef{"Bad Key": {Name: "lex-000001.bm25"}} }},
		{"counts", func(m *Manifest) { m.Counts.Documents++ }},
		{"counts.deleted", func(m *Manifest) { m.Counts.Deleted = 1 }},
		{"inputs[0]", func(m *Manifest) { m.Inputs = []InputProgress{{Path: "", Records: 1}} }},
		{"format_version", func(m *Manifest) { m.FormatVersion = 2 }},
	}
	for _, c := range cases {
		m := *base
		m.Segments = append([]Segment(nil), base.Segments...)
		c.mutate(&m)
		wantErr(t, m.Validate(), "manifest field "+c.field)
	}
}

func TestManifestCorruption(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	dir := t.TempDir()
	m := testManifest()
	addSegment(t, dir, m, rng, 3)
	if err := Commit(dir, m); err != nil {
		t.Fatal(err)
	}
	addSegment(t, dir, m, rng, 3)
	if err := Commit(dir, m); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{PointerFile, ManifestFileName(2)} {
		path := filepath.Join(dir, name)
		orig, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		load := func(b []byte) error {
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadManifest(dir)
			return err
		}
		checkDamage(t, name, orig, load)
		_ = load(orig)
	}
	// The message says which file and what to do.
	path := filepath.Join(dir, ManifestFileName(2))
	orig, _ := os.ReadFile(path)
	os.WriteFile(path, orig[:len(orig)/2], 0o644)
	_, err := LoadManifest(dir)
	wantErr(t, err, ManifestFileName(2), "truncated", "manifest-000001.json", "RecoverManifest")
	// Commit refuses to build on a damaged MANIFEST.
	pp := filepath.Join(dir, PointerFile)
	porig, _ := os.ReadFile(pp)
	os.WriteFile(pp, porig[:20], 0o644)
	wantErr(t, Commit(dir, m), PointerFile, "truncated or garbled")
	os.WriteFile(pp, porig, 0o644)
	// RecoverManifest rolls back to generation 1's content as generation 3.
	rec, err := RecoverManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Generation != 3 || len(rec.Segments) != 1 {
		t.Fatalf("recovered gen %d with %d segments", rec.Generation, len(rec.Segments))
	}
	if got, err := LoadManifest(dir); err != nil || got.Generation != 3 {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestModelIdentity(t *testing.T) {
	a := testManifest().Model
	b := a
	b.Path, b.Name = "/elsewhere.gguf", "renamed"
	if err := a.CheckCompatible(b); err != nil {
		t.Fatal(err)
	}
	b.Normalize = false
	b.QueryPrompt = "query: "
	wantErr(t, a.CheckCompatible(b), "normalize true vs false", "query_prompt", "reindex")
}

func TestFileNames(t *testing.T) {
	for name, want := range map[string]bool{
		SegmentFileName(1): true, DocsFileName(123456789): true, TombstonesFileName(7): true, FileName("lex", 2, "bm25"): true,
		"seg-1.qvec": false, "Seg-000001.qvec": false, ".seg-000001.qvec.tmp-1": false, "notes.txt": false, "seg-000001": false,
	} {
		if IsIndexFileName(name) != want {
			t.Errorf("IsIndexFileName(%q) != %v", name, want)
		}
	}
	if SegmentFileName(1) != "seg-000001.qvec" || ManifestFileName(7) != "manifest-000007.json" || DocsFileName(1234567) != "docs-1234567.zst" {
		t.Fatal("file name format")
	}
}
