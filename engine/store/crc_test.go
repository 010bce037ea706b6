package store

import (
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/quarry-search/quarry/engine/errs"
)

// TestCRC32C checks the exported checksum against hash/crc32's Castagnoli
// and the piecewise form against the whole.
func TestCRC32C(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 10_000)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	want := crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
	if got := CRC32C(b); got != want {
		t.Fatalf("CRC32C = %08x, want %08x", got, want)
	}
	if CRC32C([]byte("123456789")) != 0xe3069283 { // the CRC-32C check value
		t.Fatalf("check value %08x", CRC32C([]byte("123456789")))
	}
	for _, cut := range []int{0, 1, 4095, 9999, 10_000} {
		if got := UpdateCRC32C(UpdateCRC32C(0, b[:cut]), b[cut:]); got != want {
			t.Fatalf("split at %d: %08x, want %08x", cut, got, want)
		}
	}
}

// TestWriteFileAtomic checks the one publish helper: the FileRef describes
// the file, the mode is 0644, an existing file is never replaced and no
// temporary file is left behind either way.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, FileName("lex", 3, "bm25"))
	data := []byte("some index bytes")
	ref, err := WriteFileAtomic(p, data)
	if err != nil {
		t.Fatal(err)
	}
	if ref != (FileRef{Name: "lex-000003.bm25", Size: int64(len(data)), CRC32C: CRC32C(data)}) {
		t.Fatalf("ref %+v", ref)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	if err := VerifyFile(dir, ref); err != nil {
		t.Fatal(err)
	}
	_, err = WriteFileAtomic(p, []byte("other"))
	wantErr(t, err, "exists", "never overwritten")
	if b, _ := os.ReadFile(p); string(b) != string(data) {
		t.Fatalf("file replaced: %q", b)
	}
	if names := dirNames(t, dir); len(names) != 1 {
		t.Fatalf("directory holds %v", names)
	}
	if _, err := WriteFileAtomic(filepath.Join(dir, "missing", "x-000001.bin"), data); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

// TestCorruptErrorKind checks that a CorruptError, however deeply wrapped,
// classifies as errs.Corrupt and matches ErrCorrupt.
func TestCorruptErrorKind(t *testing.T) {
	var err error = Corruptf("/idx/seg-000001.qvec", "block 3", "CRC-32C %08x", 7)
	err = errors.Join(errors.New("context"), err)
	if errs.KindOf(err) != errs.Corrupt || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("kind %v of %v", errs.KindOf(err), err)
	}
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Path != "/idx/seg-000001.qvec" || ce.Where != "block 3" || ce.Detail != "CRC-32C 00000007" {
		t.Fatalf("%+v", ce)
	}
}
