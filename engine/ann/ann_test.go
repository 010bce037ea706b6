package ann

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
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

// quantized is rows' f32 values quantized to d (n rows of dim, seed 1).
func quantized(t testing.TB, d store.DType, n, dim int) *store.Vectors {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	vs := make([][]float32, n)
	for i := range vs {
		vs[i] = make([]float32, dim)
		for j := range vs[i] {
			vs[i][j] = float32(r.NormFloat64())
		}
	}
	v, err := store.Quantize(d, dim, vs)
	if err != nil {
		t.Fatal(err)
	}
	return &v
}

// sameRows fails unless the file's rows are v's, rescore's and groups.
func sameRows(t *testing.T, f *File, v *store.Vectors, groups []uint32, rescore *store.Vectors) {
	t.Helper()
	eq := func(a, b *store.Vectors) bool {
		return a.DType == b.DType && a.Dim == b.Dim && a.N == b.N && bytes.Equal(a.Data, b.Data) && slices.Equal(a.Scales, b.Scales)
	}
	if !eq(&f.Vectors, v) || !slices.Equal(f.Groups, groups) || (rescore == nil) != (f.Rescore == nil) || rescore != nil && !eq(f.Rescore, rescore) {
		t.Fatalf("rows read back differ from the rows written")
	}
	if !f.Vectors.Aligned() || f.Rescore != nil && !f.Rescore.Aligned() {
		t.Fatalf("rows not 64-byte aligned")
	}
}

// TestBuildReadDamage: a written graph file reads back (Parse, Read, and
// Open through a mapping) with its header and exactly the rows it was
// built over; it checks against its manifest segment and not against
// others; every flipped byte and every truncation is a *store.CorruptError
// naming the file; compaction's rebuild keeps M and ef_construction.
func TestBuildReadDamage(t *testing.T) {
	if !search.Native() {
		t.Skip("HNSW graphs need the native core")
	}
	for _, tc := range []struct {
		dt, resc store.DType
	}{{store.F16, 0}, {store.Int8, store.F16}, {store.F32, 0}} {
		t.Run(tc.dt.String(), func(t *testing.T) {
			fsys := store.NewMemFS()
			if err := fsys.MkdirAll("ix", 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("ix", FileName(3))
			_, groups := rows(t, 300, 16, 40)
			v := quantized(t, tc.dt, 300, 16)
			var resc *store.Vectors
			if tc.resc != 0 {
				resc = quantized(t, tc.resc, 300, 16)
			}
			ref, g, err := Build(context.Background(), fsys, path, v, groups, resc, Params{M: 6, EfConstruction: 20, Threads: 1, Seed: 1})
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
			g.Close()
			wantFull := tc.resc
			if tc.dt != store.Int8 {
				wantFull = tc.dt
			}
			want := Header{DType: store.Int8, Rescore: wantFull, Dim: 16, M: 6, EfConstruction: 20, Rows: 300, Docs: 150, FirstOrd: 40, LastOrd: 189}
			got := h
			got.blob, got.rowsOff, got.rowsLen, got.blobCRC, got.rowsCRC = 0, 0, 0, 0, 0
			if got != want {
				t.Fatalf("header %+v, want %+v", got, want)
			}
			seg := store.Segment{ID: 3, NumPassages: 300, NumDocs: 150, DocOrdStart: 40, DocOrdEnd: 190}
			if err := h.CheckSegment(path, seg, tc.dt, tc.resc, 16); err != nil {
				t.Fatal(err)
			}
			for _, bad := range []store.Segment{{ID: 3, NumPassages: 299, NumDocs: 150, DocOrdStart: 40, DocOrdEnd: 190}, {ID: 3, NumPassages: 300, NumDocs: 150, DocOrdStart: 41, DocOrdEnd: 191}} {
				if err := h.CheckSegment(path, bad, tc.dt, tc.resc, 16); !errors.Is(err, store.ErrCorrupt) {
					t.Fatalf("check against %+v: %v", bad, err)
				}
			}
			if err := h.CheckSegment(path, seg, tc.dt, tc.resc, 32); !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("check against another dimension: %v", err)
			}
			st, err := verifyFS(fsys, path)
			if err != nil || st.Passages != 300 || st.Docs != 150 || st.FirstOrd != 40 || st.LastOrd != 189 {
				t.Fatalf("verify: %+v %v", st, err)
			}
			b, err := store.ReadFileFS(fsys, path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := Parse(path, b)
			if err != nil {
				t.Fatal(err)
			}
			trav, full := v, resc
			if tc.dt != store.Int8 {
				if trav, err = toInt8(v); err != nil {
					t.Fatal(err)
				}
				full = v
			}
			sameRows(t, f, trav, groups, full)

			// The same bytes on disk, mapped.
			disk := filepath.Join(t.TempDir(), FileName(3))
			if err := os.WriteFile(disk, b, 0o644); err != nil {
				t.Fatal(err)
			}
			mf, err := Open(disk)
			if err != nil {
				t.Fatal(err)
			}
			sameRows(t, mf, trav, groups, full)
			mg, err := mf.Graph(disk)
			if err != nil {
				t.Fatal(err)
			}
			mg.Close()
			if err := mf.Close(); err != nil || mf.Close() != nil {
				t.Fatalf("close twice: %v", err)
			}

			flips := []int{0, 9, 12, 13, 15, 20, 41, 57, 64, 73, 80, 84, 100, 121, 130, len(b) / 2, len(b) - 9, len(b) - 5, len(b) - 1}
			l := layout(h.DType, h.Rescore, h.Dim, h.Rows)
			for _, off := range []int64{l.data, l.scales, l.resc, l.rescScales, l.groups, l.end - 1} {
				flips = append(flips, int(h.rowsOff+off))
			}
			for _, i := range flips {
				c := append([]byte(nil), b...)
				c[i] ^= 0x10
				if _, err := Parse(path, c); !errors.Is(err, store.ErrCorrupt) {
					t.Errorf("byte %d flipped: %v", i, err)
				}
				if i%3 == 0 {
					if err := os.WriteFile(disk, c, 0o644); err != nil {
						t.Fatal(err)
					}
					var ce *store.CorruptError
					if f, err := Open(disk); !errors.As(err, &ce) || ce.Path != disk {
						t.Errorf("byte %d flipped on disk: %v", i, err)
						if f != nil {
							f.Close()
						}
					}
				}
			}
			for _, n := range []int{0, 8, 71, 72, 127, 128, len(b) - 8, len(b) - 1} {
				var ce *store.CorruptError
				if _, err := Parse(path, b[:n]); !errors.As(err, &ce) || ce.Path != path {
					t.Errorf("truncated to %d: %v", n, err)
				}
			}
			// Compaction's rebuild: over the compacted segment's vector file.
			_, og := rows(t, 200, 16, 40)
			ov := quantized(t, tc.dt, 200, 16)
			var oresc *store.Vectors
			if tc.resc != 0 {
				oresc = quantized(t, tc.resc, 200, 16)
			}
			vseg := filepath.Join("ix", store.SegmentFileName(4))
			if _, err := store.WriteSegmentParams(vseg, store.SegmentParams{DType: tc.dt, Dim: 16, Count: 200, Rescore: tc.resc, FS: fsys}, *ov, og, oresc); err != nil {
				t.Fatal(err)
			}
			nref, nst, err := rebuildFS(fsys, filepath.Join("ix", FileName(4)), path, nil)
			if err != nil || nref.Name != FileName(4) || nst.Passages != 200 || nst.Docs != 100 {
				t.Fatalf("rebuild: %+v %+v %v", nref, nst, err)
			}
			nb, err := store.ReadFileFS(fsys, filepath.Join("ix", FileName(4)))
			if err != nil {
				t.Fatal(err)
			}
			nf, err := Parse(path, nb)
			if err != nil || nf.M != 6 || nf.EfConstruction != 20 {
				t.Fatalf("rebuilt graph: %+v %v", nf, err)
			}
			otrav, ofull := ov, oresc
			if tc.dt != store.Int8 {
				if otrav, err = toInt8(ov); err != nil {
					t.Fatal(err)
				}
				ofull = ov
			}
			sameRows(t, nf, otrav, og, ofull)
		})
	}
}

// TestBuildParamsVersion1: compaction reads M and ef_construction from the
// header of a version 1 graph file (which kept no rows), and rejects a
// header it cannot trust.
func TestBuildParamsVersion1(t *testing.T) {
	fsys := store.NewMemFS()
	b := make([]byte, 200)
	copy(b, magic)
	binary.LittleEndian.PutUint32(b[8:], 1)
	binary.LittleEndian.PutUint32(b[20:], 12)
	binary.LittleEndian.PutUint32(b[24:], 150)
	binary.LittleEndian.PutUint32(b[64:], store.CRC32C(b[:64]))
	if _, err := store.WriteFileAtomicFS(fsys, "v1.qhnsw", b); err != nil {
		t.Fatal(err)
	}
	if m, efc, err := buildParams(fsys, "v1.qhnsw"); err != nil || m != 12 || efc != 150 {
		t.Fatalf("version 1: %d %d %v", m, efc, err)
	}
	b[21] = 1
	if _, err := store.WriteFileAtomicFS(fsys, "bad.qhnsw", b); err != nil {
		t.Fatal(err)
	}
	if _, _, err := buildParams(fsys, "bad.qhnsw"); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("damaged version 1 header: %v", err)
	}
	// Parse (searches) reads only this version.
	if _, err := Parse("v1.qhnsw", b); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("parse version 1: %v", err)
	}
}

// seedFile is a well-formed graph file whose blob is not a graph (Parse
// does not read the blob; Graph does).
func seedFile(t testing.TB, dt, resc store.DType) []byte {
	fsys := store.NewMemFS()
	v := quantized(t, dt, 3, 4)
	var r *store.Vectors
	if resc != 0 {
		r = quantized(t, resc, 3, 4)
	}
	h := Header{DType: dt, Dim: 4, M: 4, EfConstruction: 8, Rows: 3, Docs: 2, FirstOrd: 5, LastOrd: 6}
	if _, err := write(fsys, "f.qhnsw", h, []byte("graph bytes"), v, []uint32{5, 5, 6}, r); err != nil {
		t.Fatal(err)
	}
	b, err := store.ReadFileFS(fsys, "f.qhnsw")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzParse: the pure-Go reader of graph files never panics, and what it
// accepts has a consistent header and rows.
func FuzzParse(f *testing.F) {
	f.Add(seedFile(f, store.F16, 0))
	f.Add(seedFile(f, store.Int8, store.F16))
	f.Add(seedFile(f, store.Int8, store.Int8))
	f.Add([]byte("QHNSWSEG"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse("f.qhnsw", b)
		if err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("not a corruption error: %v", err)
			}
			return
		}
		if p.Rows < 1 || p.Docs > p.Rows || p.Dim < 1 || int64(len(p.blob)) != p.Header.blob || p.Vectors.N != int(p.Rows) || len(p.Groups) != p.Vectors.N ||
			len(p.Vectors.Data) != p.Vectors.N*p.Vectors.RowBytes() || p.Vectors.DType == store.Int8 && len(p.Vectors.Scales) != p.Vectors.N {
			t.Fatalf("accepted %+v", p.Header)
		}
	})
}
