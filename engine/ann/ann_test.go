package ann

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/quarry-search/quarry/engine/search"
	"github.com/quarry-search/quarry/engine/store"
)

// rows makes n random f16 rows of dim in groups of two rows per document,
// documents from ordinal first.
func rows(t testing.TB, n, dim int, first uint32) (*store.Vectors, []uint32) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	vs := make([][]float32, n)
	groups := make([]uint32, n)
	for i := range vs {
		vs[i] = make([]float32, dim)
		for j := range vs[i] {
			vs[i][j] = float32(r.NormFloat64())
		}
		groups[i] = first + uint32(i/2)
	}
	v, err := store.Quantize(store.F16, dim, vs)
	if err != nil {
		t.Fatal(err)
	}
	return &v, groups
}

// TestBuildReadDamage: a written graph reads back with its header; it
// checks against its own rows and not against others; every flipped byte
// and every truncation is a *store.CorruptError naming the file.
func TestBuildReadDamage(t *testing.T) {
	if !search.Native() {
		t.Skip("HNSW graphs need the native core")
	}
	fsys := store.NewMemFS()
	if err := fsys.MkdirAll("ix", 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("ix", FileName(3))
	v, groups := rows(t, 300, 16, 40)
	ref, g, err := Build(context.Background(), fsys, path, v, groups, Params{M: 6, EfConstruction: 20, Threads: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	if ref.Name != "hnsw-000003.qhnsw" {
		t.Fatalf("ref %+v", ref)
	}
	h, g, err := Read(fsys, path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	want := Header{DType: store.F16, Dim: 16, M: 6, EfConstruction: 20, Rows: 300, Docs: 150, FirstOrd: 40, LastOrd: 189}
	h.blob = 0
	if h != want {
		t.Fatalf("header %+v, want %+v", h, want)
	}
	if err := h.Check(path, v, groups); err != nil {
		t.Fatal(err)
	}
	other, og := rows(t, 200, 16, 40)
	if err := h.Check(path, other, og); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("check against other rows: %v", err)
	}
	st, err := verifyFS(fsys, path)
	if err != nil || st.Passages != 300 || st.Docs != 150 || st.FirstOrd != 40 || st.LastOrd != 189 {
		t.Fatalf("verify: %+v %v", st, err)
	}
	b, err := store.ReadFileFS(fsys, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 9, 13, 20, 41, 64, 71, 72, 100, len(b) / 2, len(b) - 9, len(b) - 5, len(b) - 1} {
		c := append([]byte(nil), b...)
		c[i] ^= 0x10
		if _, _, err := Parse(path, c); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("byte %d flipped: %v", i, err)
		}
	}
	for _, n := range []int{0, 8, 71, 72, len(b) - 8, len(b) - 1} {
		var ce *store.CorruptError
		if _, _, err := Parse(path, b[:n]); !errors.As(err, &ce) || ce.Path != path {
			t.Errorf("truncated to %d: %v", n, err)
		}
	}
	// Compaction's rebuild: over the compacted segment's vector file.
	seg := filepath.Join("ix", store.SegmentFileName(4))
	if _, err := store.WriteSegmentParams(seg, store.SegmentParams{DType: store.F16, Dim: 16, Count: 200, FS: fsys}, *other, og, nil); err != nil {
		t.Fatal(err)
	}
	nref, nst, err := rebuildFS(fsys, filepath.Join("ix", FileName(4)), path, nil)
	if err != nil || nref.Name != FileName(4) || nst.Passages != 200 || nst.Docs != 100 {
		t.Fatalf("rebuild: %+v %+v %v", nref, nst, err)
	}
	nh, ng, err := Read(fsys, filepath.Join("ix", FileName(4)))
	if err != nil || nh.M != 6 || nh.EfConstruction != 20 || nh.Check(path, other, og) != nil {
		t.Fatalf("rebuilt graph: %+v %v", nh, err)
	}
	ng.Close()
}

// FuzzParse: the pure-Go reader of graph files never panics, and what it
// accepts has a consistent header.
func FuzzParse(f *testing.F) {
	h := Header{DType: store.F16, Dim: 4, M: 4, EfConstruction: 8, Rows: 3, Docs: 2, FirstOrd: 5, LastOrd: 6}
	f.Add(encode(h, []byte("graph bytes")))
	f.Add(encode(h, nil))
	f.Add([]byte("QHNSWSEG"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, blob, err := Parse("f.qhnsw", b)
		if err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("not a corruption error: %v", err)
			}
			return
		}
		if h.Rows < 1 || h.Docs > h.Rows || h.Dim < 1 || int64(len(blob)) != h.blob {
			t.Fatalf("accepted %+v with a blob of %d", h, len(blob))
		}
	})
}
