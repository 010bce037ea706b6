package store

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestMapFile: a mapping holds the file's bytes, Close is idempotent and
// empties it; empty files, directories and missing files are errors.
func TestMapFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	want := bytes.Repeat([]byte("quarry"), 5000)
	if err := os.WriteFile(p, want, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := MapFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Bytes(), want) {
		t.Fatal("mapped bytes differ from the file's")
	}
	if err := m.Close(); err != nil || m.Close() != nil || m.Bytes() != nil {
		t.Fatalf("close: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{empty, dir, filepath.Join(dir, "missing")} {
		if m, err := MapFile(bad); err == nil {
			m.Close()
			t.Errorf("%s: mapped", bad)
		}
	}
}

// TestInPlaceViews: the float32 and uint32 views read little-endian values
// in place on this machine, and as copies from an unaligned slice.
func TestInPlaceViews(t *testing.T) {
	b := []byte{0, 0, 0x80, 0x3f, 2, 0, 0, 0, 0}
	if f := Float32sInPlace(b[:8]); len(f) != 2 || f[0] != 1 {
		t.Fatalf("float32s %v", f)
	}
	if u := Uint32sInPlace(b[:8]); len(u) != 2 || u[1] != 2 {
		t.Fatalf("uint32s %v", u)
	}
	c := append([]byte{9}, b[:8]...)
	if f := Float32sInPlace(c[1:]); len(f) != 2 || f[0] != 1 {
		t.Fatalf("unaligned float32s %v", f)
	}
	if Float32sInPlace(nil) != nil || Uint32sInPlace(b[:3]) != nil {
		t.Fatal("short input")
	}
}
