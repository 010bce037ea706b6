package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/errs"
)

// fixCRCs recomputes every checksum of a (mutated) container file where its
// structure can be followed, so that fuzzing reaches the structural checks
// and the decoders behind the CRCs.
func fixCRCs(b []byte) []byte {
	b = append([]byte(nil), b...)
	if len(b) < headerSize+footerMetaLen+trailerSize {
		return b
	}
	binary.LittleEndian.PutUint32(b[60:], crc32c(b[:60]))
	t := b[len(b)-trailerSize:]
	footOff := binary.LittleEndian.Uint64(t[0:])
	footLen := uint64(binary.LittleEndian.Uint32(t[8:]))
	if footOff >= headerSize && footOff <= uint64(len(b)) && footOff+footLen == uint64(len(b)-trailerSize) && footLen >= footerMetaLen {
		footer := b[footOff : footOff+footLen]
		for e := footer[footerMetaLen:]; len(e) >= entrySize; e = e[entrySize:] {
			off, n := binary.LittleEndian.Uint64(e), uint64(binary.LittleEndian.Uint32(e[8:]))
			if off <= footOff && n <= footOff-off {
				binary.LittleEndian.PutUint32(e[16:], crc32c(b[off:off+n]))
			}
		}
		binary.LittleEndian.PutUint32(t[16:], crc32c(footer))
	}
	binary.LittleEndian.PutUint32(t[20:], crc32c(b[:60]))
	binary.LittleEndian.PutUint32(t[24:], crc32c(t[:24]))
	return b
}

func segmentSeeds(f *testing.F) {
	rng := rand.New(rand.NewPCG(61, 62))
	dir := f.TempDir()
	for i, c := range segCases {
		v, g, r := makeSegment(f, rng, c, 9, 12, 1)
		path := filepath.Join(dir, SegmentFileName(uint64(i)))
		if _, err := WriteSegmentParams(path, SegmentParams{DType: c.d, Dim: 12, Count: 9, Rescore: c.rescore, BlockRows: 4, MinSaving: -1}, v, g, r); err != nil {
			f.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		f.Add(b)
	}
}

// FuzzReadSegment feeds arbitrary bytes (and the same bytes with checksums
// repaired) to the segment reader: it must return an error or data, never
// panic or allocate without bound.
func FuzzReadSegment(f *testing.F) {
	segmentSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = readSegmentBytes(b)
		fixed := fixCRCs(b)
		sr, err := NewSegmentReader(strings.NewReader(string(fixed)), int64(len(fixed)), "fuzz.qvec")
		if err != nil {
			return
		}
		in := sr.Info()
		sr.Close()
		if in.Count*(RowBytes(in.DType, in.Dim)+RowBytes(in.Rescore, in.Dim)) > 64<<20 {
			return // a forged header may declare gigabytes; ReadAll would allocate them
		}
		_ = readSegmentBytes(fixed)
	})
}

// FuzzReadDocs does the same for doc stores.
func FuzzReadDocs(f *testing.F) {
	rng := rand.New(rand.NewPCG(63, 64))
	path := filepath.Join(f.TempDir(), DocsFileName(1))
	w, _ := NewDocWriter(path, DocParams{BlockBytes: 300})
	for _, r := range makeDocs(rng, 5, 2, true) {
		w.Add(r)
	}
	if _, err := w.Commit(); err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = readDocsBytes(b)
		_ = readDocsBytes(fixCRCs(b))
	})
}

// FuzzLoadManifest feeds arbitrary MANIFEST and manifest bytes to the
// parsers behind LoadManifest, and the manifest bytes again behind a
// matching pointer (so the JSON decoding and validation are reached). It
// works in memory: file I/O per input makes the fuzzer's minimization crawl;
// the file-level path is covered by TestManifestCorruption.
func FuzzLoadManifest(f *testing.F) {
	rng := rand.New(rand.NewPCG(65, 66))
	dir := f.TempDir()
	m := testManifest()
	addSegment(f, dir, m, rng, 3)
	m.Inputs = []InputProgress{{Path: "a.jsonl", Records: 3}}
	af, _ := CreateAtomic(filepath.Join(dir, "lex-000001.bm25"))
	af.Write([]byte("lexical"))
	lref, err := af.Commit()
	if err != nil {
		f.Fatal(err)
	}
	m.Segments[0].Files = map[string]FileRef{"lexical": lref}
	if err := Commit(dir, m); err != nil {
		f.Fatal(err)
	}
	ptr, _ := os.ReadFile(filepath.Join(dir, PointerFile))
	man, _ := os.ReadFile(filepath.Join(dir, ManifestFileName(1)))
	f.Add(ptr, man)
	f.Fuzz(func(t *testing.T, ptr, man []byte) {
		if p, err := parsePointer("MANIFEST", ptr); err == nil {
			_, _ = parseManifest("manifest", man, &p, p.gen)
		}
		good := pointer{name: ManifestFileName(1), gen: 1, size: int64(len(man)), crc: crc32c(man)}
		p, err := parsePointer("MANIFEST", good.encode())
		if err != nil {
			t.Fatalf("pointer written by encode does not parse: %v", err)
		}
		if m, err := parseManifest("manifest", man, &p, 1); err == nil {
			if _, err := json.Marshal(m); err != nil {
				t.Fatalf("a valid manifest does not encode: %v", err)
			}
		}
	})
}

// FuzzReadTombstones feeds arbitrary bytes (and the same bytes with
// checksums repaired) to the tombstone reader: it returns an errs.Corrupt
// error or a set that is sorted and unique, and that WriteTombstones writes
// back to a file reading as the same set.
func FuzzReadTombstones(f *testing.F) {
	dir := f.TempDir()
	for i, ords := range [][]uint32{nil, {0}, {3, 1, 2}, {7, 1 << 20, 1<<32 - 1}} {
		p := filepath.Join(dir, TombstonesFileName(uint64(i+1)))
		if _, err := WriteTombstones(p, NewTombstones(ords...)); err != nil {
			f.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, in := range [][]byte{b, fixCRCs(b)} {
			ts, err := readTombstones(bytes.NewReader(in), int64(len(in)), "fuzz.qtmb")
			if err != nil {
				if !errs.Is(err, errs.Corrupt) {
					t.Fatalf("error of kind %v, want corrupt: %v", errs.KindOf(err), err)
				}
				continue
			}
			ords := ts.Ords()
			for i := 1; i < len(ords); i++ {
				if ords[i] <= ords[i-1] {
					t.Fatalf("ordinals not sorted and unique: %v", ords)
				}
			}
			p := filepath.Join(t.TempDir(), "t.qtmb")
			if _, err := WriteTombstones(p, ts); err != nil {
				t.Fatal(err)
			}
			back, err := ReadTombstones(p)
			if err != nil || !slices.Equal(back.Ords(), ords) {
				t.Fatalf("round trip: %v, %v; want %v", back.Ords(), err, ords)
			}
		}
	})
}
