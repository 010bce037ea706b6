package store

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// realEmbeddingsEnv names a file of real embeddings (raw little-endian
// float32, 384 per row) for TestBytesPerVector; see FORMAT.md for how the
// measured numbers were produced.
const realEmbeddingsEnv = "QUARRY_STORE_EMBEDDINGS"

func loadRealEmbeddings(t testing.TB, dim, n int) [][]float32 {
	path := os.Getenv(realEmbeddingsEnv)
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows := make([][]float32, 0, min(n, len(b)/(4*dim)))
	for off := 0; off+4*dim <= len(b) && len(rows) < n; off += 4 * dim {
		r := make([]float32, dim)
		for j := range r {
			r[j] = math.Float32frombits(binary.LittleEndian.Uint32(b[off+4*j:]))
		}
		rows = append(rows, r)
	}
	return rows
}

// TestBytesPerVector writes 384-d segments of each dtype and prints the
// bytes per vector on disk against the raw size: for the vector blocks alone
// (zstd level 1, 3 and, with -v, 19; with and without byte shuffling) and for
// the whole file at the default settings (vectors, int8 scales, group
// ordinals, rescore copies, footer). Data: random-normal vectors, synthetic
// embedding-like vectors and, when QUARRY_STORE_EMBEDDINGS names a file of
// raw little-endian float32 rows, real embeddings. Run:
//
//	go test -run TestBytesPerVector -v ./engine/store/
func TestBytesPerVector(t *testing.T) {
	const dim = 384
	n := 8192
	if !testing.Verbose() {
		n = 2048
	}
	rng := rand.New(rand.NewPCG(81, 82))
	type dataset struct {
		name string
		rows [][]float32
	}
	sets := []dataset{{"random-normal", unitRows(rng, n, dim)}, {"embedding-like", embeddingLike(rng, n, dim)}}
	if real := loadRealEmbeddings(t, dim, 1<<30); len(real) > 0 {
		sets = append(sets, dataset{fmt.Sprintf("real-%d", len(real)), real})
	}
	dir := t.TempDir()
	id := uint64(0)
	// write returns the file size and the stored bytes of the primary
	// vector blocks.
	write := func(p SegmentParams, v Vectors, g []uint32, r *Vectors) (file, vec int64) {
		id++
		path := filepath.Join(dir, SegmentFileName(id))
		ref, err := WriteSegmentParams(path, p, v, g, r)
		if err != nil {
			t.Fatal(err)
		}
		sr, err := OpenSegment(path)
		if err != nil {
			t.Fatal(err)
		}
		defer sr.Close()
		for _, e := range sr.c.entries {
			if e.series == seriesVectors {
				vec += int64(e.stored)
			}
		}
		return ref.Size, vec
	}
	var out strings.Builder
	fmt.Fprintf(&out, "\nzstd: %s; %d-d vectors, %d-row blocks; B/v = bytes per vector; ratio = stored/raw\n", zstdImpl, dim, DefaultBlockRows)
	fmt.Fprintf(&out, "%-16s %-7s %6s | %-26s | %-26s\n", "", "", "raw", "vector blocks (B/v, ratio)", "")
	fmt.Fprintf(&out, "%-16s %-7s %6s | %12s %12s %12s %12s\n", "data", "dtype", "B/v", "lvl3 noshuf", "lvl1 shuf", "lvl3 shuf", "lvl19 shuf")
	var files strings.Builder
	fmt.Fprintf(&files, "whole file at the defaults (level %d, shuffle, raw blocks where zstd saves < 3%%):\n%-16s %-11s %8s %8s %7s\n", DefaultLevel, "data", "dtype", "raw B/v", "file B/v", "ratio")
	for _, set := range sets {
		groups := make([]uint32, len(set.rows))
		for i := range groups {
			groups[i] = uint32(i / 3) // three passages per document
		}
		cell := func(stored int64, raw int) string {
			b := float64(stored) / float64(len(set.rows))
			return fmt.Sprintf("%6.1f %.3f", b, b/float64(raw))
		}
		for _, d := range allDTypes {
			v := mustQuantize(t, d, dim, set.rows)
			p := SegmentParams{DType: d, Dim: dim, Count: len(set.rows), MinSaving: -1}
			raw := RowBytes(d, dim)
			p.NoShuffle = true
			_, ns := write(p, v, groups, nil)
			p.NoShuffle, p.Level = false, 1
			_, l1 := write(p, v, groups, nil)
			p.Level = 3
			_, l3 := write(p, v, groups, nil)
			l19s := "-"
			if testing.Verbose() {
				p.Level = 19
				_, l19 := write(p, v, groups, nil)
				l19s = cell(l19, raw)
			}
			fmt.Fprintf(&out, "%-16s %-7s %6d | %12s %12s %12s %12s\n", set.name, d, raw, cell(ns, raw), cell(l1, raw), cell(l3, raw), l19s)
			if float64(l3) > float64(raw*len(set.rows))*1.001+64 {
				t.Errorf("%s %s: %d bytes stored for %d raw", set.name, d, l3, raw*len(set.rows))
			}
		}
		for _, c := range []struct{ d, r DType }{{F32, 0}, {F16, 0}, {Int8, 0}, {Binary, 0}, {Int8, F16}, {Binary, F16}} {
			v := mustQuantize(t, c.d, dim, set.rows)
			raw := RowBytes(c.d, dim) + 4 + RowBytes(c.r, dim)
			if c.d == Int8 {
				raw += 4
			}
			var r *Vectors
			if c.r != 0 {
				rv := mustQuantize(t, c.r, dim, set.rows)
				r = &rv
			}
			size, _ := write(SegmentParams{DType: c.d, Dim: dim, Count: len(set.rows), Rescore: c.r}, v, groups, r)
			b := float64(size) / float64(len(set.rows))
			fmt.Fprintf(&files, "%-16s %-11s %8d %8.1f %7.3f\n", set.name, benchName(c.d, c.r), raw, b, b/float64(raw))
		}
	}
	t.Log(out.String() + "\n" + files.String())
}

func benchSegment(b *testing.B, d DType, rescore DType) (Vectors, []uint32, *Vectors) {
	rng := rand.New(rand.NewPCG(91, 92))
	rows := embeddingLike(rng, 16384, 384)
	v := mustQuantize(b, d, 384, rows)
	var r *Vectors
	if rescore != 0 {
		rv := mustQuantize(b, rescore, 384, rows)
		r = &rv
	}
	g := make([]uint32, len(rows))
	for i := range g {
		g[i] = uint32(i / 3)
	}
	return v, g, r
}

var benchCases = []struct {
	d, rescore DType
}{{F32, 0}, {F16, 0}, {Int8, 0}, {Binary, 0}, {Int8, F16}}

func benchName(d, r DType) string {
	if r == 0 {
		return d.String()
	}
	return d.String() + "+" + r.String()
}

// BenchmarkWriteSegment: MB/s of raw vector bytes (incl. rescore) written,
// compressed and fsynced, 16384 × 384-d embedding-like rows, at zstd levels
// 1 and 3.
func BenchmarkWriteSegment(b *testing.B) {
	for _, c := range benchCases {
		for _, level := range []int{1, 3} {
			b.Run(fmt.Sprintf("%s/level%d", benchName(c.d, c.rescore), level), func(b *testing.B) {
				benchWrite(b, c.d, c.rescore, level)
			})
		}
	}
}

func benchWrite(b *testing.B, d, rescore DType, level int) {
	{
		{
			v, g, r := benchSegment(b, d, rescore)
			raw := len(v.Data)
			if r != nil {
				raw += len(r.Data)
			}
			p := SegmentParams{DType: d, Dim: v.Dim, Count: v.N, Rescore: rescore, Level: level}
			dir := b.TempDir()
			b.SetBytes(int64(raw))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				path := filepath.Join(dir, SegmentFileName(uint64(i)))
				if _, err := WriteSegmentParams(path, p, v, g, r); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				os.Remove(path)
				b.StartTimer()
			}
		}
	}
}

// BenchmarkReadSegment: MB/s of raw vector bytes decoded by ReadSegment
// (file in the page cache; CRCs verified).
func BenchmarkReadSegment(b *testing.B) {
	for _, c := range benchCases {
		b.Run(benchName(c.d, c.rescore), func(b *testing.B) {
			v, g, r := benchSegment(b, c.d, c.rescore)
			raw := len(v.Data)
			if r != nil {
				raw += len(r.Data)
			}
			path := filepath.Join(b.TempDir(), SegmentFileName(1))
			if _, err := WriteSegment(path, v, g, r); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(raw))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := ReadSegment(path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStreamSegment: MB/s of the primary vectors decoded block by
// block into one reused Block (what an out-of-core scan does).
func BenchmarkStreamSegment(b *testing.B) {
	for _, c := range benchCases[:4] {
		b.Run(benchName(c.d, c.rescore), func(b *testing.B) {
			v, g, r := benchSegment(b, c.d, c.rescore)
			path := filepath.Join(b.TempDir(), SegmentFileName(1))
			if _, err := WriteSegment(path, v, g, r); err != nil {
				b.Fatal(err)
			}
			sr, err := OpenSegment(path)
			if err != nil {
				b.Fatal(err)
			}
			defer sr.Close()
			var blk Block
			b.SetBytes(int64(len(v.Data)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for k := 0; k < sr.Info().NumBlocks; k++ {
					if err := sr.ReadBlock(k, &blk); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkDocsGet: random access by ordinal into a doc store of 20000
// documents.
func BenchmarkDocsGet(b *testing.B) {
	rng := rand.New(rand.NewPCG(93, 94))
	recs := makeDocs(rng, 20000, 0, false)
	path := filepath.Join(b.TempDir(), DocsFileName(1))
	if _, err := WriteDocs(path, recs); err != nil {
		b.Fatal(err)
	}
	dr, err := OpenDocs(path)
	if err != nil {
		b.Fatal(err)
	}
	defer dr.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := dr.Get(uint32(rng.IntN(len(recs)))); err != nil {
			b.Fatal(err)
		}
	}
}
