package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// makeDocs returns n records with ordinals from first, skipping some.
func makeDocs(rng *rand.Rand, n int, first uint32, gaps bool) []DocRecord {
	recs := make([]DocRecord, n)
	ord := first
	for i := range recs {
		text := strings.Repeat(fmt.Sprintf("word%d ", rng.IntN(1000)), 1+rng.IntN(200))
		r := DocRecord{Ord: ord, ID: fmt.Sprintf("doc-%d", ord), Title: fmt.Sprintf("Title %d — ünïcode", i)}
		for p, start := 0, 0; p < rng.IntN(4); p++ {
			end := min(len(text), start+rng.IntN(len(text)/2+1))
			r.Passages = append(r.Passages, PassageRecord{Text: text[start:end], Start: start, End: end})
			start = end
		}
		if i%3 != 0 {
			r.Metadata = json.RawMessage(fmt.Sprintf(`{"n":%d,"tags":["a","b"]}`, i))
		}
		recs[i] = r
		ord++
		if gaps && rng.IntN(3) == 0 {
			ord += uint32(rng.IntN(5))
		}
	}
	return recs
}

func TestDocsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	dir := t.TempDir()
	for _, n := range []int{0, 1, 10, 2000} {
		for _, p := range []DocParams{{}, {BlockBytes: 100}, {BlockBytes: 5000, Level: -1}} {
			recs := makeDocs(rng, n, uint32(rng.IntN(100)), n > 10)
			path := filepath.Join(dir, FileName("docs", uint64(rng.Uint32()), "zst"))
			w, err := NewDocWriter(path, p)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if err := w.Add(r); err != nil {
					t.Fatal(err)
				}
			}
			ref, err := w.Commit()
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyFile(dir, ref); err != nil {
				t.Fatal(err)
			}
			dr, err := OpenDocs(path)
			if err != nil {
				t.Fatal(err)
			}
			if dr.Len() != n {
				t.Fatalf("Len %d, want %d", dr.Len(), n)
			}
			i := 0
			for r, err := range dr.All() {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(r, recs[i]) {
					t.Fatalf("record %d: %+v, want %+v", i, r, recs[i])
				}
				i++
			}
			if i != n {
				t.Fatalf("iterated %d of %d", i, n)
			}
			for k := 0; k < 200 && n > 0; k++ {
				want := recs[rng.IntN(n)]
				got, err := dr.Get(want.Ord)
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Fatalf("Get(%d) = %+v, %v", want.Ord, got, err)
				}
			}
			present := map[uint32]bool{}
			for _, r := range recs {
				present[r.Ord] = true
			}
			for ord := uint32(0); ord < 3000; ord += 7 {
				if !present[ord] {
					if _, err := dr.Get(ord); !errors.Is(err, ErrNotFound) {
						t.Fatalf("Get(%d) absent: %v", ord, err)
					}
				}
			}
			dr.Close()
		}
	}
}

func TestDocsConcurrentGet(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	recs := makeDocs(rng, 500, 0, false)
	path := filepath.Join(t.TempDir(), DocsFileName(1))
	w, _ := NewDocWriter(path, DocParams{BlockBytes: 2000})
	for _, r := range recs {
		w.Add(r)
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	dr, err := OpenDocs(path)
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 1))
			for k := 0; k < 300; k++ {
				want := recs[rng.IntN(len(recs))]
				got, err := dr.Get(want.Ord)
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("Get(%d): %v", want.Ord, err)
					return
				}
				got.Passages = append(got.Passages, PassageRecord{}) // must not touch the cache
			}
		}(uint64(g))
	}
	wg.Wait()
}

func TestDocsWriterErrors(t *testing.T) {
	dir := t.TempDir()
	w, _ := NewDocWriter(filepath.Join(dir, DocsFileName(1)), DocParams{})
	w.Add(DocRecord{Ord: 5})
	wantErr(t, w.Add(DocRecord{Ord: 5}), "ordinal 5 after 5")
	w, _ = NewDocWriter(filepath.Join(dir, DocsFileName(2)), DocParams{})
	wantErr(t, w.Add(DocRecord{Ord: 1, Metadata: json.RawMessage(`{"a":`)}), "metadata is not valid JSON")
	w, _ = NewDocWriter(filepath.Join(dir, DocsFileName(3)), DocParams{})
	wantErr(t, w.Add(DocRecord{Ord: 1, Passages: []PassageRecord{{Start: 5, End: 2}}}), "passage 0")
}

func TestTombstones(t *testing.T) {
	ts := NewTombstones(9, 3, 3, 7)
	if ts.Len() != 3 || !ts.Contains(7) || ts.Contains(8) || ts.Rank(8) != 2 || ts.CountIn(3, 9) != 2 {
		t.Fatalf("%v", ts.Ords())
	}
	ts2 := ts.Add(1, 9)
	if !reflect.DeepEqual(ts2.Ords(), []uint32{1, 3, 7, 9}) || ts.Len() != 3 {
		t.Fatalf("Add: %v, original %v", ts2.Ords(), ts.Ords())
	}
	if got := ts2.WithoutRange(2, 8).Ords(); !reflect.DeepEqual(got, []uint32{1, 9}) {
		t.Fatalf("WithoutRange: %v", got)
	}
	for ord, want := range map[uint32]int64{0: 0, 2: 1, 4: 2, 8: 5, 10: 6} {
		got, ok := ts2.Renumber(ord)
		if !ok || int64(got) != want {
			t.Fatalf("Renumber(%d) = %d %v, want %d", ord, got, ok, want)
		}
	}
	if _, ok := ts2.Renumber(7); ok {
		t.Fatal("Renumber of a deleted ordinal")
	}
	dir := t.TempDir()
	for _, set := range []Tombstones{{}, ts2, NewTombstones(manyOrds(tombBlock*2 + 5)...)} {
		path := filepath.Join(dir, FileName("tomb", uint64(set.Len()), "qtmb"))
		ref, err := WriteTombstones(path, set)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyFile(dir, ref); err != nil {
			t.Fatal(err)
		}
		back, err := ReadTombstones(path)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back.Ords(), set.Ords()) && set.Len() > 0 {
			t.Fatalf("round trip of %d ordinals", set.Len())
		}
	}
}

func manyOrds(n int) []uint32 {
	o := make([]uint32, n)
	for i := range o {
		o[i] = uint32(i * 3)
	}
	return o
}

func TestCopyFiltered(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	dir := t.TempDir()
	const n = 500
	v, g, r := makeSegment(t, rng, segCase{Int8, F16}, n, 16, 100)
	src := filepath.Join(dir, SegmentFileName(1))
	if _, err := WriteSegmentParams(src, SegmentParams{DType: Int8, Dim: 16, Count: n, Rescore: F16, BlockRows: 64}, v, g, r); err != nil {
		t.Fatal(err)
	}
	var dead []uint32
	for o := g[0]; o <= g[n-1]; o++ {
		if rng.IntN(3) == 0 {
			dead = append(dead, o)
		}
	}
	ts := NewTombstones(dead...)
	for name, remap := range map[string]Remap{"keep": KeepLive(ts), "renumber": ts.Renumber} {
		dst := filepath.Join(dir, FileName("seg"+name, 2, "qvec"))
		_, st, err := CopySegmentFiltered(dst, src, remap)
		if err != nil {
			t.Fatal(err)
		}
		d, err := ReadSegment(dst)
		if err != nil {
			t.Fatal(err)
		}
		k := 0
		docs := map[uint32]bool{}
		for i := 0; i < n; i++ {
			ng, ok := remap(g[i])
			if !ok {
				continue
			}
			docs[ng] = true
			if d.Groups[k] != ng || string(d.Vectors.Data[k*16:(k+1)*16]) != string(v.Data[i*16:(i+1)*16]) || d.Vectors.Scales[k] != v.Scales[i] ||
				string(d.Rescore.Data[k*32:(k+1)*32]) != string(r.Data[i*32:(i+1)*32]) {
				t.Fatalf("%s: row %d -> %d differs", name, i, k)
			}
			k++
		}
		if k != d.Info.Count || int64(k) != st.Passages || int64(len(docs)) != st.Docs {
			t.Fatalf("%s: %d rows kept, file has %d, stats %+v", name, k, d.Info.Count, st)
		}
	}
	// Doc store.
	recs := makeDocs(rng, 300, 0, true)
	dsrc := filepath.Join(dir, DocsFileName(1))
	if _, err := WriteDocs(dsrc, recs); err != nil {
		t.Fatal(err)
	}
	ts = NewTombstones(recs[0].Ord, recs[5].Ord, recs[299].Ord)
	ddst := filepath.Join(dir, DocsFileName(2))
	_, st, err := CopyDocsFiltered(ddst, dsrc, ts.Renumber)
	if err != nil {
		t.Fatal(err)
	}
	dr, err := OpenDocs(ddst)
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	if dr.Len() != 297 || st.Docs != 297 {
		t.Fatalf("Len %d, stats %+v", dr.Len(), st)
	}
	for _, want := range recs {
		nord, ok := ts.Renumber(want.Ord)
		if !ok {
			continue
		}
		got, err := dr.Get(nord)
		want.Ord = nord
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("Get(%d): %v", nord, err)
		}
	}
}
