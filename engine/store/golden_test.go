package store

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ for this build's zstd implementation")

// Golden files pin the format: testdata/v1/<build>/ holds files written by
// the cgo build (libzstd) and by the CGO_ENABLED=0 build (klauspost), and
// every build must read both. Regenerate with
//
//	go test -run TestGoldenFiles -update ./engine/store/
//	CGO_ENABLED=0 go test -run TestGoldenFiles -update ./engine/store/
//
// only when the format version changes (then also bump the v1 directory).

// goldenRows is deterministic data independent of any random generator.
func goldenRows(n, dim, seed int) [][]float32 {
	rows := make([][]float32, n)
	for i := range rows {
		r := make([]float32, dim)
		for j := range r {
			r[j] = float32(math.Sin(float64((i+seed)*dim+j)*0.37 + 0.1))
		}
		rows[i] = normalize(r)
	}
	return rows
}

func goldenGroups(n int, first uint32) []uint32 {
	g := make([]uint32, n)
	for i := range g {
		g[i] = first + uint32(i/2)
	}
	return g
}

func goldenDocs(first uint32, n int) []DocRecord {
	recs := make([]DocRecord, n)
	for i := range recs {
		ord := first + uint32(i)
		text := fmt.Sprintf("Document %d. It has two passages; this is the second one, with ünïcödé.", ord)
		recs[i] = DocRecord{Ord: ord, ID: fmt.Sprintf("doc/%d", ord), Title: fmt.Sprintf("Title %d", ord),
			Passages: []PassageRecord{{Text: text[:14], Start: 0, End: 14}, {Text: text[15:], Start: 15, End: len(text)}},
			Metadata: json.RawMessage(fmt.Sprintf(`{"n":%d}`, ord))}
	}
	return recs
}

type goldenSeg struct {
	name    string
	d, r    DType
	n, dim  int
	seed    int
	first   uint32
	blkRows int
}

var goldenSegs = []goldenSeg{
	{"index/seg-000001.qvec", Int8, F16, 37, 20, 0, 0, 16},
	{"index/seg-000002.qvec", Int8, F16, 10, 20, 100, 19, 16},
	{"dtypes/seg-000001.qvec", F32, 0, 21, 20, 1, 0, 8},
	{"dtypes/seg-000002.qvec", F16, 0, 21, 20, 2, 0, 8},
	{"dtypes/seg-000003.qvec", Binary, F32, 21, 70, 3, 0, 8},
}

func goldenBuild() string {
	if strings.Contains(zstdImpl, "DataDog") {
		return "cgo"
	}
	return "purego"
}

func writeGolden(t *testing.T, root string) {
	os.RemoveAll(root)
	for _, d := range []string{"index", "dtypes"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m := testManifest()
	m.Model.Dim = 20
	m.NextSegmentID = 3
	for i, s := range goldenSegs {
		rows := goldenRows(s.n, s.dim, s.seed)
		v := mustQuantize(t, s.d, s.dim, rows)
		var r *Vectors
		if s.r != 0 {
			rv := mustQuantize(t, s.r, s.dim, rows)
			r = &rv
		}
		ref, err := WriteSegmentParams(filepath.Join(root, s.name), SegmentParams{DType: s.d, Dim: s.dim, Count: s.n, Rescore: s.r, BlockRows: s.blkRows}, v, goldenGroups(s.n, s.first), r)
		if err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			ndocs := (s.n + 1) / 2
			dref, err := WriteDocs(filepath.Join(root, "index", DocsFileName(uint64(i+1))), goldenDocs(s.first, ndocs))
			if err != nil {
				t.Fatal(err)
			}
			m.Segments = append(m.Segments, Segment{ID: uint64(i + 1), DocOrdStart: s.first, DocOrdEnd: s.first + uint32(ndocs),
				NumDocs: int64(ndocs), NumPassages: int64(s.n), Vectors: ref, Docs: dref})
		}
	}
	tref, err := WriteTombstones(filepath.Join(root, "index", TombstonesFileName(1)), NewTombstones(3, 20))
	if err != nil {
		t.Fatal(err)
	}
	m.Tombstones, m.Counts.Deleted = &tref, 2
	m.Recount()
	if err := Commit(filepath.Join(root, "index"), m); err != nil {
		t.Fatal(err)
	}
}

func TestGoldenFiles(t *testing.T) {
	if *update {
		writeGolden(t, filepath.Join("testdata", "v1", goldenBuild()))
	}
	for _, build := range []string{"cgo", "purego"} {
		root := filepath.Join("testdata", "v1", build)
		t.Run(build, func(t *testing.T) {
			for _, s := range goldenSegs {
				d, err := ReadSegment(filepath.Join(root, s.name))
				if err != nil {
					t.Fatal(err)
				}
				rows := goldenRows(s.n, s.dim, s.seed)
				want := mustQuantize(t, s.d, s.dim, rows)
				sameVectors(t, s.name, &d.Vectors, &want)
				if !reflect.DeepEqual(d.Groups, goldenGroups(s.n, s.first)) {
					t.Fatalf("%s: groups %v", s.name, d.Groups)
				}
				if s.r != 0 {
					wr := mustQuantize(t, s.r, s.dim, rows)
					sameVectors(t, s.name+" rescore", d.Rescore, &wr)
				}
			}
			dir := filepath.Join(root, "index")
			m, err := LoadManifest(dir)
			if err != nil {
				t.Fatal(err)
			}
			if m.Generation != 1 || len(m.Segments) != 2 || m.DType != Int8 || m.Rescore != F16 || m.Model.Dim != 20 {
				t.Fatalf("manifest %+v", m)
			}
			if err := VerifyFiles(dir, m); err != nil {
				t.Fatal(err)
			}
			for i, s := range m.Segments {
				dr, err := OpenDocs(filepath.Join(dir, s.Docs.Name))
				if err != nil {
					t.Fatal(err)
				}
				var got []DocRecord
				for r, err := range dr.All() {
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, r)
				}
				dr.Close()
				if !reflect.DeepEqual(got, goldenDocs(goldenSegs[i].first, int(s.NumDocs))) {
					t.Fatalf("docs of segment %d differ", s.ID)
				}
			}
			ts, err := ReadTombstones(filepath.Join(dir, m.Tombstones.Name))
			if err != nil || !reflect.DeepEqual(ts.Ords(), []uint32{3, 20}) {
				t.Fatalf("tombstones %v, %v", ts.Ords(), err)
			}
		})
	}
}
