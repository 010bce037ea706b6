package sparse

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/store"
)

// corpus draws rows vectors over vocab grouped into documents of 1..3 rows
// (ordinals with gaps), a few of them empty.
func corpus(r *rand.Rand, vocab, rows, active int) ([]uint32, []Vec) {
	groups := make([]uint32, rows)
	g := uint32(r.IntN(3))
	for i := range groups {
		if i > 0 && r.IntN(3) != 0 {
			g += uint32(1 + r.IntN(4))
		}
		groups[i] = g
	}
	vecs := make([]Vec, rows)
	for i := range vecs {
		if r.IntN(10) != 0 {
			vecs[i] = randVec(r, vocab, 1+r.IntN(active))
		}
	}
	return groups, vecs
}

// sameVecs compares vectors bit for bit (an empty vector equals a nil one).
func sameVecs(t *testing.T, got, want []Vec) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d vectors, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Len() != want[i].Len() {
			t.Fatalf("row %d: %d active dims, want %d", i, got[i].Len(), want[i].Len())
		}
		for j := range want[i].IDs {
			if got[i].IDs[j] != want[i].IDs[j] || math.Float32bits(got[i].Weights[j]) != math.Float32bits(want[i].Weights[j]) {
				t.Fatalf("row %d entry %d: %d:%v, want %d:%v", i, j, got[i].IDs[j], got[i].Weights[j], want[i].IDs[j], want[i].Weights[j])
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	dir := t.TempDir()
	for n, tc := range []struct{ vocab, rows, active int }{{1, 1, 1}, {5, 0, 1}, {30522, 300, 120}, {100, 500, 40}, {7, 40, 7}} {
		groups, vecs := corpus(r, tc.vocab, tc.rows, tc.active)
		// Weights of every magnitude survive bit for bit.
		if tc.vocab == 100 {
			vecs[0] = vec(0, math.SmallestNonzeroFloat32, 1, 1e-30, 50, math.MaxFloat32, 99, 0.1)
		}
		path := filepath.Join(dir, FileName(uint64(n+1)))
		ref, info, err := WriteFile(path, tc.vocab, groups, vecs)
		if err != nil {
			t.Fatal(err)
		}
		var postings int64
		terms := map[int32]bool{}
		for _, v := range vecs {
			postings += int64(v.Len())
			for _, id := range v.IDs {
				terms[id] = true
			}
		}
		if info.Rows != tc.rows || info.Postings != postings || info.Terms != len(terms) {
			t.Errorf("info %+v, want %d rows, %d postings, %d terms", info, tc.rows, postings, len(terms))
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		if ref.Name != filepath.Base(path) || ref.Size != fi.Size() || ref.CRC32C != crc32c(b) {
			t.Errorf("ref %+v; file %d bytes, CRC %08x", ref, fi.Size(), crc32c(b))
		}
		s, err := ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if s.Vocab != tc.vocab || s.Rows() != tc.rows || s.Postings() != postings {
			t.Errorf("read back vocab %d, %d rows, %d postings", s.Vocab, s.Rows(), s.Postings())
		}
		if tc.rows > 0 && !reflect.DeepEqual(s.Groups, groups) {
			t.Errorf("groups %v, want %v", s.Groups, groups)
		}
		sameVecs(t, s.Vecs(), vecs)

		// RowStats by hand.
		mn, mx := 0, 0
		for i, v := range vecs {
			if i == 0 || v.Len() < mn {
				mn = v.Len()
			}
			mx = max(mx, v.Len())
		}
		gmn, gmx, used := s.RowStats()
		if gmn != mn || gmx != mx || len(used) != len(terms) {
			t.Errorf("RowStats = %d, %d, %d terms; want %d, %d, %d", gmn, gmx, len(used), mn, mx, len(terms))
		}
		for i, u := range used {
			if !terms[int32(u)] || i > 0 && u <= used[i-1] {
				t.Errorf("used terms %v", used)
				break
			}
		}
		// A file is never replaced.
		if _, _, err := WriteFile(path, tc.vocab, groups, vecs); err == nil {
			t.Errorf("WriteFile over an existing file succeeded")
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	for _, tc := range []struct {
		vocab  int
		groups []uint32
		vecs   []Vec
		want   string
	}{
		{0, nil, nil, "vocabulary of 0"},
		{MaxVocab + 1, nil, nil, "vocabulary of"},
		{10, []uint32{0}, nil, "1 groups for 0 vectors"},
		{10, []uint32{3, 2}, []Vec{vec(1, 1), vec(1, 1)}, "below the previous"},
		{10, []uint32{0, 1}, []Vec{vec(1, 1), vec(10, 1)}, "vector 1: id 10 outside"},
		{10, []uint32{0}, []Vec{vec(1, 0)}, "vector 0: id 1 has weight 0"},
		{10, []uint32{0}, []Vec{vec(2, 1, 1, 1)}, "not strictly increasing"},
	} {
		_, _, err := Encode(tc.vocab, tc.groups, tc.vecs)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Encode(%d, %v, %v) = %v, want %q", tc.vocab, tc.groups, tc.vecs, err, tc.want)
		}
	}
	path := filepath.Join(t.TempDir(), "x.qsp")
	if _, _, err := WriteFile(path, 0, nil, nil); err == nil {
		t.Error("WriteFile with vocabulary 0 succeeded")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a failed WriteFile left %s (%v)", path, err)
	}
}

func TestCopyFiltered(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	dir := t.TempDir()
	groups, vecs := corpus(r, 1000, 400, 30)
	src := filepath.Join(dir, FileName(1))
	if _, _, err := WriteFile(src, 1000, groups, vecs); err != nil {
		t.Fatal(err)
	}
	// Delete about a third of the documents and renumber the rest densely
	// (store.Tombstones.Renumber).
	var dead []uint32
	for g := uint32(0); g <= groups[len(groups)-1]; g++ {
		if r.IntN(3) == 0 {
			dead = append(dead, g)
		}
	}
	tomb := store.NewTombstones(dead...)
	var wantG []uint32
	var wantV []Vec
	var postings int64
	for i, g := range groups {
		if n, ok := tomb.Renumber(g); ok {
			wantG, wantV = append(wantG, n), append(wantV, vecs[i])
			postings += int64(vecs[i].Len())
		}
	}
	if len(wantG) == len(groups) || len(wantG) == 0 {
		t.Fatalf("degenerate deletion: %d of %d rows kept", len(wantG), len(groups))
	}
	dst := filepath.Join(dir, FileName(2))
	ref, info, err := CopyFiltered(dst, src, tomb.Renumber)
	if err != nil {
		t.Fatal(err)
	}
	if info.Rows != len(wantG) || info.Postings != postings {
		t.Errorf("info %+v, want %d rows, %d postings", info, len(wantG), postings)
	}
	s, err := ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Groups, wantG) {
		t.Errorf("groups %v, want %v", s.Groups, wantG)
	}
	sameVecs(t, s.Vecs(), wantV)
	// The copy is the file WriteFile makes of the kept rows, byte for byte.
	want, _, err := Encode(1000, wantG, wantV)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	if string(got) != string(want) || ref.CRC32C != crc32c(want) || ref.Size != int64(len(want)) {
		t.Errorf("the copy differs from the encoding of the kept rows")
	}
	// Everything deleted: an empty, valid file.
	none := filepath.Join(dir, FileName(3))
	if _, info, err := CopyFiltered(none, src, func(uint32) (uint32, bool) { return 0, false }); err != nil || info.Rows != 0 {
		t.Fatalf("CopyFiltered(none) = %+v, %v", info, err)
	}
	if s, err := ReadFile(none); err != nil || s.Rows() != 0 || s.Search(vec(1, 1), nil, 0, 10) != nil {
		t.Errorf("empty copy: %v", err)
	}
	// A remapping that breaks the order is refused.
	bad := filepath.Join(dir, FileName(4))
	if _, _, err := CopyFiltered(bad, src, func(o uint32) (uint32, bool) { return 1000 - o, true }); err == nil || !strings.Contains(err.Error(), "below the previous") {
		t.Errorf("CopyFiltered with a reversing remap = %v", err)
	}
	// A damaged source is reported, not copied.
	b, _ := os.ReadFile(src)
	b[headerSize] ^= 1
	dmg := filepath.Join(dir, "damaged.qsp")
	if err := os.WriteFile(dmg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := CopyFiltered(filepath.Join(dir, FileName(5)), dmg, tomb.Renumber); !errors.Is(err, ErrCorrupt) {
		t.Errorf("CopyFiltered of a damaged file = %v, want ErrCorrupt", err)
	}
}

// small is a short valid file for the corruption tests.
func small(t *testing.T) []byte {
	t.Helper()
	b, _, err := Encode(40, []uint32{0, 0, 2, 5}, []Vec{vec(1, 1, 7, 2), vec(7, 0.5), {}, vec(0, 3, 7, 1, 39, 0.25)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCorruptionDetected(t *testing.T) {
	b := small(t)
	if _, err := Parse("ok", b); err != nil {
		t.Fatal(err)
	}
	// Every single flipped bit, anywhere.
	for i := range b {
		for bit := range 8 {
			c := append([]byte(nil), b...)
			c[i] ^= 1 << bit
			_, err := Parse("x.qsp", c)
			var ce *store.CorruptError
			if !errors.Is(err, store.ErrCorrupt) || !errors.As(err, &ce) || ce.Path != "x.qsp" || ce.Where == "" || errs.KindOf(err) != errs.Corrupt {
				t.Fatalf("bit %d of byte %d flipped: %v, want a store.CorruptError naming the file", bit, i, err)
			}
			if !strings.HasPrefix(err.Error(), "x.qsp: ") || !strings.Contains(err.Error(), "rebuild the index") {
				t.Fatalf("unclear error: %v", err)
			}
		}
	}
	// Every truncation, and trailing garbage.
	for n := range len(b) {
		var ce *store.CorruptError
		if _, err := Parse("x.qsp", b[:n]); !errors.As(err, &ce) || ce.Path != "x.qsp" {
			t.Fatalf("truncated to %d bytes: %v, want ErrCorrupt", n, err)
		}
	}
	if _, err := Parse("x.qsp", append(append([]byte(nil), b...), 0)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a byte appended: %v", err)
	}
	_, err := Parse("x.qsp", b[:len(b)-1])
	if err == nil || !strings.Contains(err.Error(), "footer") || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncation message: %v", err)
	}
	// A missing or unreadable file is not "corrupt".
	if _, err := ReadFile(filepath.Join(t.TempDir(), "none.qsp")); err == nil || errors.Is(err, ErrCorrupt) || !os.IsNotExist(err) {
		t.Errorf("ReadFile(missing) = %v", err)
	}
}

// sections splits a valid file's bytes.
func sections(b []byte) (h, rows, terms []byte) {
	f := b[len(b)-footerSize:]
	rl, tl := binary.LittleEndian.Uint64(f[0:]), binary.LittleEndian.Uint64(f[8:])
	return b[:headerSize], b[headerSize : headerSize+rl], b[headerSize+rl : headerSize+rl+tl]
}

// reseal assembles a file from a header and sections with every checksum
// right, so that only the structural checks can catch what is wrong.
func reseal(h, rows, terms []byte, postings uint64) []byte {
	h = append([]byte(nil), h...)
	binary.LittleEndian.PutUint32(h[28:], crc32c(h[:28]))
	out := append(append(append([]byte(nil), h...), rows...), terms...)
	var f [footerSize]byte
	binary.LittleEndian.PutUint64(f[0:], uint64(len(rows)))
	binary.LittleEndian.PutUint64(f[8:], uint64(len(terms)))
	binary.LittleEndian.PutUint64(f[16:], postings)
	binary.LittleEndian.PutUint32(f[24:], crc32c(rows))
	binary.LittleEndian.PutUint32(f[28:], crc32c(terms))
	binary.LittleEndian.PutUint32(f[32:], crc32c(f[:32]))
	copy(f[36:], footerMagic)
	return append(out, f[:]...)
}

func TestStructureChecked(t *testing.T) {
	b := small(t)
	h, rows, terms := sections(b)
	const postings = 6
	if _, err := Parse("x", reseal(h, rows, terms, postings)); err != nil {
		t.Fatalf("resealed unchanged: %v", err)
	}
	set32 := func(off int, v uint32) []byte {
		c := append([]byte(nil), h...)
		binary.LittleEndian.PutUint32(c[off:], v)
		return c
	}
	f32 := func(x float32) []byte { return binary.LittleEndian.AppendUint32(nil, math.Float32bits(x)) }
	// The terms section of small: term 0 {row 3: 3}, term 1 {row 0: 1},
	// term 7 {rows 0, 1, 3: 2, 0.5, 1}, term 39 {row 3: 0.25}.
	want := []byte{0, 1, 3}
	want = append(want, f32(3)...)
	want = append(want, 0, 1, 0)
	want = append(want, f32(1)...)
	want = append(want, 5, 3, 0, 0, 1)
	want = append(want, f32(2)...)
	want = append(want, f32(0.5)...)
	want = append(want, f32(1)...)
	want = append(want, 31, 1, 3)
	want = append(want, f32(0.25)...)
	if string(terms) != string(want) {
		t.Fatalf("terms section %v, want %v", terms, want)
	}
	if string(rows) != string([]byte{0, 0, 2, 3}) {
		t.Fatalf("rows section %v", rows)
	}
	edit := func(off int, bs ...byte) []byte {
		c := append([]byte(nil), terms...)
		copy(c[off:], bs)
		return c
	}
	for _, tc := range []struct {
		name              string
		h, rows, terms    []byte
		postings          uint64
		want              string
		notCorruptVersion bool
	}{
		{"version", set32(8, 2), rows, terms, postings, "format version 2", true},
		{"flags", set32(12, 1), rows, terms, postings, "flags 1", false},
		{"vocab 0", set32(16, 0), rows, terms, postings, "vocabulary 0", false},
		{"vocab huge", set32(16, MaxVocab+1), rows, terms, postings, "vocabulary", false},
		{"terms over vocab", set32(24, 41), rows, terms, postings, "terms 41", false},
		{"smaller vocab", set32(16, 39), rows, terms, postings, "beyond the vocabulary of 39", false},
		{"more rows", set32(20, 5), rows, terms, postings, "5 rows cannot fit", false},
		{"more rows fit", set32(20, 5), append(append([]byte(nil), rows...), 0x80), terms, postings, "bad varint", false},
		{"fewer rows", set32(20, 3), rows, terms, postings, "after the last row", false},
		{"more terms", set32(24, 5), rows, terms, postings, "bad varint", false},
		{"fewer terms", set32(24, 3), rows, terms, postings, "trailing bytes", false},
		{"postings more", h, rows, terms, postings + 1, "postings decoded", false},
		{"postings fewer", h, rows, terms, postings - 1, "postings in all", false},
		{"postings huge", h, rows, terms, 1 << 40, "cannot fit", false},
		{"row beyond", h, rows, edit(2, 4), postings, "row beyond the 4 rows", false},
		{"zero postings", h, rows, edit(1, 0), postings, "has 0 postings", false},
		{"too many postings", h, rows, edit(1, 5), postings, "has 5 postings", false},
		{"negative weight", h, rows, edit(3, f32(-3)...), postings, "weight -3", false},
		{"zero weight", h, rows, edit(3, f32(0)...), postings, "weight 0", false},
		{"NaN weight", h, rows, edit(3, f32(float32(math.NaN()))...), postings, "weight NaN", false},
		{"Inf weight", h, rows, edit(3, f32(float32(math.Inf(1)))...), postings, "weight +Inf", false},
		{"term beyond", h, rows, edit(len(terms)-7, 32), postings, "beyond the vocabulary", false},
		{"weights cut", h, rows, terms[:len(terms)-1], postings, "weights cut short", false},
		{"varint cut", h, rows, append(append([]byte(nil), terms...), 0x80), postings, "trailing bytes", false},
		{"long varint", h, []byte{0, 0, 2, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, terms, postings, "bad varint", false},
		{"ordinal overflow", h, []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0, 2, 3}, terms, postings, "overflows", false},
		{"rows garbage", h, append(append([]byte(nil), rows...), 7), terms, postings, "after the last row", false},
	} {
		_, err := Parse("x.qsp", reseal(tc.h, tc.rows, tc.terms, tc.postings))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
			continue
		}
		if errors.Is(err, ErrCorrupt) == tc.notCorruptVersion {
			t.Errorf("%s: errors.Is(ErrCorrupt) = %v", tc.name, !tc.notCorruptVersion)
		}
	}
}

// checkParsed verifies what Parse accepted: a well-formed segment that
// encodes back to a file Parse accepts.
func checkParsed(t *testing.T, s *Segment) {
	vecs := s.Vecs()
	for i, v := range vecs {
		if err := v.Check(s.Vocab); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
	}
	for i := 1; i < len(s.Groups); i++ {
		if s.Groups[i] < s.Groups[i-1] {
			t.Fatalf("groups decrease at %d", i)
		}
	}
	again, _, err := Encode(s.Vocab, s.Groups, vecs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse("again", again); err != nil {
		t.Fatal(err)
	}
	s.Search(Vec{IDs: []int32{0, int32(s.Vocab - 1)}, Weights: []float32{1, 2}}, nil, 0, 3)
}

// FuzzParse: arbitrary bytes never panic.
func FuzzParse(f *testing.F) {
	b, _, _ := Encode(40, []uint32{0, 0, 2, 5}, []Vec{vec(1, 1, 7, 2), vec(7, 0.5), {}, vec(0, 3, 7, 1, 39, 0.25)})
	f.Add(b)
	f.Add([]byte(fileMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		if s, err := Parse("fuzz", data); err == nil {
			checkParsed(t, s)
		}
	})
}

// FuzzParseResealed: a header and sections with every checksum made right,
// so that only the structural checks stand between them and a panic.
func FuzzParseResealed(f *testing.F) {
	b, _, _ := Encode(40, []uint32{0, 0, 2, 5}, []Vec{vec(1, 1, 7, 2), vec(7, 0.5), {}, vec(0, 3, 7, 1, 39, 0.25)})
	h, rows, terms := sections(b)
	f.Add(h[:28], rows, terms, uint64(6))
	f.Fuzz(func(t *testing.T, h, rows, terms []byte, postings uint64) {
		if len(h) < 28 {
			return
		}
		hb := append(append([]byte(nil), h[:28]...), 0, 0, 0, 0)
		if v := binary.LittleEndian.Uint32(hb[16:]); v > 1<<16 {
			binary.LittleEndian.PutUint32(hb[16:], v%(1<<16)) // keep allocations small
		}
		if s, err := Parse("fuzz", reseal(hb, rows, terms, postings)); err == nil {
			checkParsed(t, s)
		}
	})
}

// TestFileKind checks the declaration the store's registry uses: names,
// what Verify and CopyFiltered report, and that a damaged file is a
// store.CorruptError naming it.
func TestFileKind(t *testing.T) {
	k := FileKind()
	if k.Key != FileKey || k.FileName(9) != FileName(9) || FileName(9) != "sparse-000009.qsp" || k.Holds != store.HoldsPassages {
		t.Fatalf("kind %+v", k)
	}
	if _, err := store.NewRegistry(store.VectorsKind(), store.DocsKind(), k); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, FileName(1))
	ref, _, err := WriteFile(src, 40, []uint32{3, 3, 5, 8}, []Vec{vec(1, 1, 7, 2), vec(7, 0.5), {}, vec(0, 3, 7, 1, 39, 0.25)})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := WriteFile(src, 40, nil, nil); err == nil || !strings.Contains(err.Error(), "never overwritten") {
		t.Fatalf("WriteFile over an existing file: %v", err)
	}
	if err := store.VerifyFile(dir, ref); err != nil {
		t.Fatal(err)
	}
	st, err := k.Verify(store.OS(), src)
	if err != nil || st != (store.CopyStats{Docs: 3, Passages: 4, FirstOrd: 3, LastOrd: 8}) {
		t.Fatalf("Verify: %+v, %v", st, err)
	}
	tomb := store.NewTombstones(0, 5)
	nref, st, err := k.CopyFiltered(store.OS(), filepath.Join(dir, FileName(2)), src, tomb.Renumber)
	if err != nil || st != (store.CopyStats{Docs: 2, Passages: 3, FirstOrd: 2, LastOrd: 6}) || nref.Name != FileName(2) {
		t.Fatalf("CopyFiltered: %+v, %+v, %v", nref, st, err)
	}
	if _, st, err := k.CopyFiltered(store.OS(), filepath.Join(dir, FileName(3)), src, func(uint32) (uint32, bool) { return 0, false }); err != nil || st != (store.CopyStats{}) {
		t.Fatalf("empty copy: %+v, %v", st, err)
	}
	b, _ := os.ReadFile(src)
	b[headerSize] ^= 1
	bad := filepath.Join(dir, "bad.qsp")
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var ce *store.CorruptError
	if _, err := k.Verify(store.OS(), bad); !errors.As(err, &ce) || ce.Path != bad || ce.Where != "rows section" || ce.Remedy != "rebuild the index" {
		t.Fatalf("Verify(damaged): %v", err)
	}
	if _, _, err := k.CopyFiltered(store.OS(), filepath.Join(dir, FileName(4)), bad, tomb.Renumber); !errors.As(err, &ce) || ce.Path != bad {
		t.Fatalf("CopyFiltered(damaged): %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName(4))); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a failed copy left its destination")
	}
}
