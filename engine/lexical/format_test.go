package lexical

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/store"
)

func encode(t testing.TB, docs []Doc, an Analyzer) []byte {
	t.Helper()
	data, _, err := EncodeSegment(context.Background(), docs, an)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// sectionAt names the part of a valid segment file that byte i belongs to,
// as a *store.CorruptError's Where names it: "header", "footer" or
// "section NAME".
func sectionAt(data []byte, i int) string {
	if i < headerSize {
		return "header"
	}
	if i >= len(data)-footerSize {
		return "footer"
	}
	foot := data[len(data)-footerSize:]
	for s := range numSections {
		off := binary.LittleEndian.Uint64(foot[s*sectionRow:])
		n := binary.LittleEndian.Uint64(foot[s*sectionRow+8:])
		if uint64(i) >= off && uint64(i) < off+n {
			return "section " + sectionNames[s]
		}
	}
	return "?"
}

// checkCorruption flips every bit of the segment file data, one at a time,
// and truncates it at every length: each must be rejected with a
// *store.CorruptError naming path and the part of the file the damage is
// in, of kind errs.Corrupt.
func checkCorruption(t *testing.T, path string, data []byte) {
	t.Helper()
	if _, err := parseSegment(path, data); err != nil {
		t.Fatal(err)
	}
	for i := range data {
		for bit := range 8 {
			bad := bytes.Clone(data)
			bad[i] ^= 1 << bit
			_, err := parseSegment(path, bad)
			if err == nil {
				t.Fatalf("flipping bit %d of byte %d (%s) went unnoticed", bit, i, sectionAt(data, i))
			}
			var ce *store.CorruptError
			if !errors.Is(err, store.ErrCorrupt) || !errors.As(err, &ce) || errs.KindOf(err) != errs.Corrupt {
				t.Fatalf("byte %d: error %v is not a store.CorruptError", i, err)
			}
			want := sectionAt(data, i)
			if ce.Where != want || ce.Path != path || !strings.Contains(err.Error(), path+": "+want+": ") {
				t.Fatalf("byte %d (%s): error %q names %q", i, want, err, ce.Where)
			}
		}
	}
	for n := range len(data) {
		var ce *store.CorruptError
		if _, err := parseSegment(path, data[:n]); !errors.As(err, &ce) || ce.Path != path {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	if _, err := parseSegment(path, append(bytes.Clone(data), 0)); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("extra byte: %v", err)
	}
}

// TestCorruptionDetected runs checkCorruption over a small segment built by
// EncodeSegment.
func TestCorruptionDetected(t *testing.T) {
	checkCorruption(t, "/idx/lex-000003.bm25", encode(t, smallCorpus(10), English()))
}

// TestOpenReportsFile checks that Open's error names the damaged file.
func TestOpenReportsFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, SegmentFileName(1))
	bad := filepath.Join(dir, SegmentFileName(2))
	if _, _, err := BuildSegment(context.Background(), good, smallCorpus(0), English()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := BuildSegment(context.Background(), bad, smallCorpus(100), English()); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(bad)
	data[headerSize+3] ^= 0x40 // inside meta
	if err := os.WriteFile(bad, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open([]string{good, bad})
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "section meta") || !strings.Contains(err.Error(), "CRC-32C") {
		t.Fatalf("Open: %v", err)
	}
	if _, err := Open([]string{filepath.Join(dir, "missing.bm25")}); err == nil || errors.Is(err, store.ErrCorrupt) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// TestStructuralValidation corrupts fields behind a valid CRC (by
// re-encoding the CRCs), which only the structural checks can catch.
func TestStructuralValidation(t *testing.T) {
	data := encode(t, smallCorpus(0), Standard())
	secs, err := splitSections("x", data)
	if err != nil {
		t.Fatal(err)
	}
	clone := func() [numSections][]byte {
		var c [numSections][]byte
		for i, s := range secs {
			c[i] = bytes.Clone(s)
		}
		return c
	}
	cases := []struct {
		name, section string
		edit          func(*[numSections][]byte)
	}{
		{"doc length off by one", "doclens", func(s *[numSections][]byte) { s[secDocLens][1]++ }},
		{"postings delta zero", "postings", func(s *[numSections][]byte) { s[secPostings][0] = 0 }},
		{"shared prefix longer than the previous term", "dict", func(s *[numSections][]byte) { s[secDict][0] = 9 }},
		{"trailing meta byte", "meta", func(s *[numSections][]byte) { s[secMeta] = append(s[secMeta], 0) }},
		{"unknown analyzer", "meta", func(s *[numSections][]byte) { s[secMeta][1] = 'X' }},
		{"empty postings section", "meta", func(s *[numSections][]byte) { s[secPostings] = nil }},
	}
	for _, tc := range cases {
		s := clone()
		tc.edit(&s)
		_, err := parseSegment("x", assemble(s))
		var ce *store.CorruptError
		if !errors.As(err, &ce) || ce.Where != "section "+tc.section {
			t.Errorf("%s: %v (want a CorruptError in section %s)", tc.name, err, tc.section)
		}
	}
	// Terms out of order: "a" then "b", with "b" turned into "a".
	two, err := splitSections("x", encode(t, []Doc{{Ord: 0, Text: "b a"}}, Standard()))
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.IndexByte(two[secDict], 'b')
	two[secDict][i] = 'a'
	if _, err := parseSegment("x", assemble(two)); err == nil || !strings.Contains(err.Error(), "is not after") {
		t.Errorf("duplicate term: %v", err)
	}
}

func TestEncodeDeterministic(t *testing.T) {
	docs := synthDocs(5000, 3, 9)
	a := encode(t, docs, English())
	b := encode(t, docs, English())
	if !bytes.Equal(a, b) {
		t.Fatal("two encodings of the same documents differ")
	}
}

func TestEncodeArguments(t *testing.T) {
	ctx := context.Background()
	if _, _, err := EncodeSegment(ctx, nil, English()); err == nil {
		t.Error("no docs accepted")
	}
	if _, _, err := EncodeSegment(ctx, []Doc{{Ord: 1}, {Ord: 3}}, English()); err == nil {
		t.Error("gap in ordinals accepted")
	}
	if _, _, err := EncodeSegment(ctx, []Doc{{Ord: 1}}, Analyzer{}); err == nil {
		t.Error("zero analyzer accepted")
	}
	if _, _, err := EncodeSegment(ctx, []Doc{{Ord: 1<<32 - 1}, {Ord: 0}}, English()); err == nil {
		t.Error("ordinal overflow accepted")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := EncodeSegment(cancelled, smallCorpus(0), English()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	// A segment of documents without any term is valid.
	data, info, err := EncodeSegment(ctx, []Doc{{Ord: 5}, {Ord: 6, Text: "the of"}}, English())
	if err != nil || info.Terms != 0 || info.Docs != 2 {
		t.Fatalf("empty docs: %+v, %v", info, err)
	}
	if _, err := parseSegment("empty", data); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejectsMismatches(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	build := func(name string, docs []Doc, an Analyzer) string {
		p := filepath.Join(dir, name)
		if _, _, err := BuildSegment(ctx, p, docs, an); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := build("a.bm25", smallCorpus(0), English())
	b := build("b.bm25", smallCorpus(5), English())
	c := build("c.bm25", smallCorpus(100), Standard())
	if _, err := Open([]string{a, b}); err == nil || !strings.Contains(err.Error(), "overlap") {
		t.Errorf("overlap: %v", err)
	}
	if _, err := Open([]string{a, c}); err == nil || !strings.Contains(err.Error(), "analyzers") {
		t.Errorf("analyzers: %v", err)
	}
	ix, err := Open([]string{c})
	if err != nil || ix.Analyzer().Name() != AnalyzerStandard {
		t.Fatalf("standard index: %v", err)
	}
}

// TestBuildSegmentAtomic checks the publish step (store.WriteFileAtomic):
// the FileRef matches the file, which has mode 0644; nothing else is left in
// the directory; an existing file is never replaced; a failed write leaves
// no temporary file.
func TestBuildSegmentAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, SegmentFileName(7))
	ref, info, err := BuildSegment(context.Background(), p, smallCorpus(0), English())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Name != "lex-000007.bm25" || ref.Size != int64(len(data)) || ref.CRC32C != store.CRC32C(data) || info.Start != 0 || info.Docs != 12 || info.Analyzer != "en" {
		t.Fatalf("ref %+v, info %+v for %d bytes", ref, info, len(data))
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	if _, _, err := BuildSegment(context.Background(), p, smallCorpus(50), English()); err == nil || !strings.Contains(err.Error(), "never overwritten") {
		t.Fatalf("building over an existing file: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "lex-000007.bm25" {
		t.Fatalf("directory holds %v", entries)
	}
	ix, err := Open([]string{p})
	if err != nil || ix.segs[0].start != 0 {
		t.Fatalf("the first file was replaced: %v", err)
	}
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 { // root writes anywhere
		if _, _, err := BuildSegment(context.Background(), filepath.Join(ro, "x.bm25"), smallCorpus(0), English()); err == nil {
			t.Fatal("write into a read-only directory succeeded")
		}
	}
	if _, _, err := BuildSegment(context.Background(), filepath.Join(dir, "no", "such", "dir.bm25"), smallCorpus(0), English()); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
	if entries, _ := os.ReadDir(ro); len(entries) != 0 {
		t.Fatalf("left behind %v", entries)
	}
	if _, _, err := BuildSegment(context.Background(), filepath.Join(dir, SegmentFileName(8)), nil, English()); !errors.Is(err, store.ErrNoDocuments) {
		t.Fatalf("no documents: %v", err)
	}
}

// TestFormatGolden pins the exact bytes of a tiny segment (FORMAT.md walks
// through them), so that any change to the encoding is deliberate.
func TestFormatGolden(t *testing.T) {
	data := encode(t, []Doc{{Ord: 7, Title: "Go", Text: "go fast"}, {Ord: 8, Text: "fast"}}, Standard())
	secs, err := splitSections("golden", data)
	if err != nil {
		t.Fatal(err)
	}
	want := [numSections][]byte{
		// "standard", start 7, 2 docs, 2 terms, 3 postings,
		// title (1 doc, 1 term), text (2, 3), any (2, 4)
		secMeta: append(append([]byte{8}, "standard"...), 7, 2, 2, 3, 1, 1, 2, 3, 2, 4),
		// "fast": shared 0, suffix 4, df 0/2/2, 4 postings bytes;
		// "go": shared 0, suffix 2, df 1/1/1, 3 bytes
		secDict: append(append(append([]byte{0, 4}, "fast"...), 0, 2, 2, 4), append([]byte{0, 2, 'g', 'o'}, 1, 1, 1, 3)...),
		// fast: ord 7 (delta 1), text tf 1 (code 2); ord 8 (delta 1), code 2.
		// go: ord 7, text tf 1 + title flag (code 3), title tf 1.
		secPostings: {1, 2, 1, 2, 1, 3, 1},
		// doc 7: title 1, text 2; doc 8: 0, 1
		secDocLens: {1, 2, 0, 1},
	}
	for i := range numSections {
		if !bytes.Equal(secs[i], want[i]) {
			t.Errorf("section %s = %v, want %v", sectionNames[i], secs[i], want[i])
		}
	}
	if len(data) != headerSize+len(secs[0])+len(secs[1])+len(secs[2])+len(secs[3])+footerSize || footerSize != 112 {
		t.Fatalf("file is %d bytes", len(data))
	}
}
