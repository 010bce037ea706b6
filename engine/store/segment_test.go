package store

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

type segCase struct {
	d       DType
	rescore DType
}

var segCases = []segCase{{F32, 0}, {F16, 0}, {Int8, F16}, {Binary, F16}, {Int8, 0}, {Binary, F32}, {F16, F32}}

func (c segCase) String() string { return c.d.String() + "+" + c.rescore.String() }

// makeSegment builds a segment's inputs: n rows of dim, groups from first.
func makeSegment(t testing.TB, rng *rand.Rand, c segCase, n, dim int, first uint32) (Vectors, []uint32, *Vectors) {
	rows := unitRows(rng, n, dim)
	v := mustQuantize(t, c.d, dim, rows)
	var r *Vectors
	if c.rescore != 0 {
		rv := mustQuantize(t, c.rescore, dim, rows)
		r = &rv
	}
	return v, groupsFor(rng, n, first), r
}

func sameVectors(t testing.TB, what string, got, want *Vectors) {
	t.Helper()
	if got.DType != want.DType || got.Dim != want.Dim || got.N != want.N || string(got.Data) != string(want.Data) {
		t.Fatalf("%s: %v×%d×%d (%d bytes) differs from %v×%d×%d", what, got.N, got.DType, got.Dim, len(got.Data), want.N, want.DType, want.Dim)
	}
	if len(got.Scales) != len(want.Scales) {
		t.Fatalf("%s: %d scales, want %d", what, len(got.Scales), len(want.Scales))
	}
	for i := range got.Scales {
		if got.Scales[i] != want.Scales[i] {
			t.Fatalf("%s: scale %d = %v, want %v", what, i, got.Scales[i], want.Scales[i])
		}
	}
}

func TestSegmentRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	dir := t.TempDir()
	for _, c := range segCases {
		for _, n := range []int{0, 1, 7, 64, 1000} {
			for _, p := range []SegmentParams{{BlockRows: 16}, {}, {BlockRows: 7, NoShuffle: true}, {BlockRows: 33, Level: -1}, {BlockRows: 64, MinSaving: -1, Level: 9}} {
				v, g, r := makeSegment(t, rng, c, n, 37, 5)
				p.DType, p.Dim, p.Count, p.Rescore = c.d, 37, n, c.rescore
				path := filepath.Join(dir, FileName("seg", uint64(rng.Uint32()), "qvec"))
				ref, err := WriteSegmentParams(path, p, v, g, r)
				if err != nil {
					t.Fatalf("%v n=%d %+v: %v", c, n, p, err)
				}
				if err := VerifyFile(dir, ref); err != nil {
					t.Fatal(err)
				}
				d, err := ReadSegment(path)
				if err != nil {
					t.Fatalf("%v n=%d: %v", c, n, err)
				}
				sameVectors(t, "vectors", &d.Vectors, &v)
				if !d.Vectors.Aligned() {
					t.Fatal("decoded vectors not aligned")
				}
				if len(d.Groups) != n {
					t.Fatalf("%d groups", len(d.Groups))
				}
				for i := range g {
					if d.Groups[i] != g[i] {
						t.Fatalf("group %d = %d, want %d", i, d.Groups[i], g[i])
					}
				}
				if (d.Rescore != nil) != (r != nil) {
					t.Fatal("rescore presence")
				}
				if r != nil {
					sameVectors(t, "rescore", d.Rescore, r)
				}
				checkStreaming(t, path, &v, g, r)
			}
		}
	}
}

// checkStreaming reads the segment block by block and compares.
func checkStreaming(t *testing.T, path string, v *Vectors, g []uint32, r *Vectors) {
	t.Helper()
	sr, err := OpenSegment(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	in := sr.Info()
	if in.Count != v.N || in.DType != v.DType || in.Dim != v.Dim {
		t.Fatalf("info %+v", in)
	}
	var blk Block
	var rv Vectors
	rows := 0
	for b := 0; b < in.NumBlocks; b++ {
		if err := sr.ReadBlock(b, &blk); err != nil {
			t.Fatal(err)
		}
		start, end := sr.BlockRange(b)
		if blk.Start != start || blk.Vectors.N != end-start || !blk.Vectors.Aligned() {
			t.Fatalf("block %d: start %d, %d rows", b, blk.Start, blk.Vectors.N)
		}
		want := v.Slice(start, end)
		sameVectors(t, "block", &blk.Vectors, &want)
		for i, x := range blk.Groups {
			if x != g[start+i] {
				t.Fatalf("block %d group %d", b, i)
			}
		}
		if r != nil {
			if err := sr.ReadRescore(b, &rv); err != nil {
				t.Fatal(err)
			}
			want := r.Slice(start, end)
			sameVectors(t, "rescore block", &rv, &want)
		}
		rows += blk.Vectors.N
	}
	if rows != v.N {
		t.Fatalf("streamed %d rows of %d", rows, v.N)
	}
}

func TestSegmentConcurrentBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	path := filepath.Join(t.TempDir(), SegmentFileName(1))
	v, g, r := makeSegment(t, rng, segCase{Int8, F16}, 3000, 64, 0)
	if _, err := WriteSegmentParams(path, SegmentParams{DType: Int8, Dim: 64, Count: 3000, Rescore: F16, BlockRows: 100}, v, g, r); err != nil {
		t.Fatal(err)
	}
	sr, err := OpenSegment(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var blk Block
			var rv Vectors
			for b := w; b < sr.Info().NumBlocks; b += 8 {
				if err := sr.ReadBlock(b, &blk); err != nil {
					errs <- err
					return
				}
				if err := sr.ReadRescore(b, &rv); err != nil {
					errs <- err
					return
				}
				want := v.Slice(blk.Start, blk.Start+blk.Vectors.N)
				if string(blk.Vectors.Data) != string(want.Data) {
					errs <- errors.New("block data differs")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestSegmentWriterErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	dir := t.TempDir()
	v, g, r := makeSegment(t, rng, segCase{Int8, F16}, 10, 8, 3)
	path := filepath.Join(dir, SegmentFileName(1))
	if _, err := WriteSegment(path, v, g, r); err != nil {
		t.Fatal(err)
	}
	// Never overwrite.
	wantErr(t, func() error { _, err := WriteSegment(path, v, g, r); return err }(), "exists")
	p2 := filepath.Join(dir, SegmentFileName(2))
	bad := append([]uint32(nil), g...)
	bad[5], bad[6] = 9, 1
	wantErr(t, func() error { _, err := WriteSegment(p2, v, bad, r); return err }(), "non-decreasing")
	wantErr(t, func() error { _, err := WriteSegment(p2, v, g[:3], r); return err }(), "3 groups for 10")
	wantErr(t, func() error {
		_, err := WriteSegmentParams(p2, SegmentParams{DType: Int8, Dim: 8, Count: 10, Rescore: F16}, v, g, nil)
		return err
	}(), "rescore vectors given: false")
	w, err := NewSegmentWriter(p2, SegmentParams{DType: Int8, Dim: 8, Count: 11, Rescore: F16})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append(v, g, r); err != nil {
		t.Fatal(err)
	}
	wantErr(t, func() error { _, err := w.Commit(); return err }(), "10 rows appended, header declares 11")
	f32 := mustQuantize(t, F32, 8, unitRows(rng, 10, 8))
	wantErr(t, func() error {
		_, err := WriteSegmentParams(p2, SegmentParams{DType: Int8, Dim: 8, Count: 10, Rescore: F16}, f32, g, r)
		return err
	}(), "vectors are f32×8, segment is int8×8")
	wantErr(t, func() error {
		_, err := NewSegmentWriter(p2, SegmentParams{DType: F32, Dim: 8, Count: 1, BlockRows: maxSegBlockBytes})
		return err
	}(), "block rows")
	// Failed writes leave nothing behind: only the first segment exists.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("directory holds %v", names)
	}
}

func TestSegmentReaderErrors(t *testing.T) {
	if _, err := ReadSegment(filepath.Join(t.TempDir(), "nope.qvec")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	rng := rand.New(rand.NewPCG(11, 12))
	path := filepath.Join(t.TempDir(), SegmentFileName(3))
	v, g, _ := makeSegment(t, rng, segCase{F32, 0}, 5, 4, 0)
	if _, err := WriteSegment(path, v, g, nil); err != nil {
		t.Fatal(err)
	}
	sr, err := OpenSegment(path)
	if err != nil {
		t.Fatal(err)
	}
	var blk Block
	wantErr(t, sr.ReadBlock(1, &blk), "out of range")
	wantErr(t, sr.ReadRescore(0, &Vectors{}), "no rescore")
	sr.Close()
	wantErr(t, sr.ReadBlock(0, &blk), "closed")
	// A doc store is not a segment.
	dpath := filepath.Join(t.TempDir(), DocsFileName(1))
	if _, err := WriteDocs(dpath, []DocRecord{{Ord: 1, ID: "a"}}); err != nil {
		t.Fatal(err)
	}
	_, err = ReadSegment(dpath)
	wantErr(t, err, "not a quarry vector segment")
	if !errors.Is(err, ErrCorrupt) {
		t.Fatal("not ErrCorrupt")
	}
}
