package store

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// readSegmentBytes opens a segment held in memory and decodes everything,
// both whole and block by block.
func readSegmentBytes(b []byte) error {
	sr, err := NewSegmentReader(bytes.NewReader(b), int64(len(b)), "mem.qvec")
	if err != nil {
		return err
	}
	defer sr.Close()
	if _, err := sr.ReadAll(); err != nil {
		return err
	}
	var blk Block
	var rv Vectors
	for i := 0; i < sr.Info().NumBlocks; i++ {
		if err := sr.ReadBlock(i, &blk); err != nil {
			return err
		}
		if sr.Info().Rescore != 0 {
			if err := sr.ReadRescore(i, &rv); err != nil {
				return err
			}
		}
	}
	return nil
}

func readDocsBytes(b []byte) error {
	dr, err := NewDocReader(bytes.NewReader(b), int64(len(b)), "mem.zst")
	if err != nil {
		return err
	}
	defer dr.Close()
	for _, err := range dr.All() {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkDamage flips every byte of file (XOR 0xff, and one random bit), then
// truncates it at every length and appends a byte, and requires read to
// report ErrCorrupt each time.
func checkDamage(t *testing.T, name string, file []byte, read func([]byte) error) {
	t.Helper()
	if err := read(file); err != nil {
		t.Fatalf("%s: intact file: %v", name, err)
	}
	rng := rand.New(rand.NewPCG(uint64(len(file)), 99))
	b := make([]byte, len(file))
	for pos := range file {
		for _, mask := range []byte{0xff, 1 << rng.IntN(8)} {
			copy(b, file)
			b[pos] ^= mask
			if err := read(b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: byte %d ^ %#x of %d: got %v, want ErrCorrupt", name, pos, mask, len(file), err)
			}
		}
	}
	for n := 0; n < len(file); n++ {
		if err := read(file[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: truncated to %d of %d: got %v, want ErrCorrupt", name, n, len(file), err)
		}
	}
	if err := read(append(append([]byte(nil), file...), 0)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("%s: one byte appended: got %v", name, err)
	}
}

func TestSegmentCorruption(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	dir := t.TempDir()
	for i, c := range segCases {
		v, g, r := makeSegment(t, rng, c, 10, 16, 7)
		path := filepath.Join(dir, SegmentFileName(uint64(i)))
		if _, err := WriteSegmentParams(path, SegmentParams{DType: c.d, Dim: 16, Count: 10, Rescore: c.rescore, BlockRows: 4, MinSaving: -1}, v, g, r); err != nil {
			t.Fatal(err)
		}
		file, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		checkDamage(t, c.String(), file, readSegmentBytes)
	}
	// The error names the file and the block.
	v, g, r := makeSegment(t, rng, segCase{Int8, F16}, 10, 16, 0)
	path := filepath.Join(dir, SegmentFileName(100))
	if _, err := WriteSegmentParams(path, SegmentParams{DType: Int8, Dim: 16, Count: 10, Rescore: F16, BlockRows: 4}, v, g, r); err != nil {
		t.Fatal(err)
	}
	file, _ := os.ReadFile(path)
	file[headerSize+3] ^= 1
	os.WriteFile(path, file, 0o644)
	_, err := ReadSegment(path)
	wantErr(t, err, path, "block 0 (vectors, rows 0-3)", "CRC-32C mismatch")
}

func TestDocsCorruption(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	path := filepath.Join(t.TempDir(), DocsFileName(1))
	w, _ := NewDocWriter(path, DocParams{BlockBytes: 200})
	for _, r := range makeDocs(rng, 6, 3, true) {
		r.Passages = r.Passages[:min(len(r.Passages), 1)]
		for i := range r.Passages {
			r.Passages[i].Text = r.Passages[i].Text[:min(len(r.Passages[i].Text), 100)]
		}
		if err := w.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	file, _ := os.ReadFile(path)
	checkDamage(t, "docs", file, readDocsBytes)
}

func TestTombstoneCorruption(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, TombstonesFileName(1))
	if _, err := WriteTombstones(path, NewTombstones(1, 5, 6, 100, 1000)); err != nil {
		t.Fatal(err)
	}
	file, _ := os.ReadFile(path)
	tmp := filepath.Join(dir, "t")
	checkDamage(t, "tombstones", file, func(b []byte) error {
		os.WriteFile(tmp, b, 0o644)
		_, err := ReadTombstones(tmp)
		return err
	})
}
