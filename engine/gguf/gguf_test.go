package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/errs"
)

func sample(t testing.TB) []byte {
	t.Helper()
	w := NewWriter()
	w.SetString("general.architecture", "bert")
	w.SetUint32("bert.block_count", 2)
	w.SetInt32("i32", -7)
	w.SetUint64("u64", 1<<40)
	w.SetFloat32("eps", 1e-12)
	w.SetBool("flag", true)
	w.SetStrings("tokens", []string{"[PAD]", "▁hello", "world", ""})
	w.SetInt32s("types", []int32{3, 1, 1, -1})
	w.SetFloat32s("scores", []float32{0.5, -1})
	if err := w.AddFloat32("a.weight", []int64{4, 3}, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}); err != nil {
		t.Fatal(err)
	}
	if err := w.AddFloat16("b.weight", []int64{2}, []float32{0.5, -2}); err != nil {
		t.Fatal(err)
	}
	q := make([]byte, 34)
	binary.LittleEndian.PutUint16(q, F32ToF16(0.25))
	for i := 0; i < 32; i++ {
		q[2+i] = byte(int8(i - 16))
	}
	if err := w.AddTensor("c.weight", Q8_0, []int64{32}, q); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	b := sample(t)
	f, err := Parse(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 3 || len(f.KV) != 9 || len(f.Tensors) != 3 {
		t.Fatalf("version %d, %d kv, %d tensors", f.Version, len(f.KV), len(f.Tensors))
	}
	if s, _ := f.String("general.architecture"); s != "bert" {
		t.Errorf("architecture %q", s)
	}
	if n, _ := f.Int("bert.block_count"); n != 2 {
		t.Errorf("block_count %d", n)
	}
	if n, _ := f.Int("i32"); n != -7 {
		t.Errorf("i32 %d", n)
	}
	if n, _ := f.Int("u64"); n != 1<<40 {
		t.Errorf("u64 %d", n)
	}
	if x, _ := f.Float("eps"); float32(x) != 1e-12 {
		t.Errorf("eps %g", x)
	}
	if b, _ := f.Bool("flag"); !b {
		t.Error("flag")
	}
	if a, _ := f.Strings("tokens"); strings.Join(a, "|") != "[PAD]|▁hello|world|" {
		t.Errorf("tokens %q", a)
	}
	if a, _ := f.Ints("types"); len(a) != 4 || a[3] != -1 {
		t.Errorf("types %v", a)
	}
	ra := bytes.NewReader(b)
	a, ti, err := f.ReadFloat32(ra, "a.weight")
	if err != nil || ti.Dims[0] != 4 || ti.Dims[1] != 3 || a[11] != 12 {
		t.Fatalf("a.weight %v %v %v", a, ti, err)
	}
	h, _, err := f.ReadFloat32(ra, "b.weight")
	if err != nil || h[0] != 0.5 || h[1] != -2 {
		t.Fatalf("b.weight %v %v", h, err)
	}
	q, _, err := f.ReadFloat32(ra, "c.weight")
	if err != nil || q[0] != -4 || q[31] != 3.75 {
		t.Fatalf("c.weight %v %v", q, err)
	}
	for _, ti := range f.Tensors {
		if (f.DataOffset+ti.Offset)%f.Alignment != 0 {
			t.Errorf("%s not aligned", ti.Name)
		}
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.gguf")
	w := NewWriter()
	w.SetString("general.architecture", "bert")
	if err := w.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
}

func TestErrors(t *testing.T) {
	good := sample(t)
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "shorter than the 4-byte magic"},
		{"magic", []byte("GGUX\x03\x00\x00\x00"), "not a GGUF file"},
		{"version", append([]byte("GGUF\x09\x00\x00\x00"), make([]byte, 16)...), "version 9"},
		{"truncated header", good[:40], "truncated"},
		{"truncated data", good[:len(good)-40], "truncated"},
		{"huge string", func() []byte {
			b := append([]byte("GGUF\x03\x00\x00\x00"), make([]byte, 16)...)
			binary.LittleEndian.PutUint64(b[16:], 1)
			b = binary.LittleEndian.AppendUint64(b, 1<<62)
			return b
		}(), "string length"},
		{"huge tensor count", func() []byte {
			b := append([]byte("GGUF\x03\x00\x00\x00"), make([]byte, 16)...)
			binary.LittleEndian.PutUint64(b[8:], 1<<40)
			return b
		}(), "tensors exceeds"},
	}
	for _, c := range cases {
		_, err := Parse(bytes.NewReader(c.b), int64(len(c.b)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.name, err, c.want)
		}
		var fe *FormatError
		if err != nil && !errors.As(err, &fe) {
			t.Errorf("%s: %T is not a *FormatError", c.name, err)
		}
		if k := errs.KindOf(fmt.Errorf("load model: %w", err)); err != nil && k != errs.BadInput {
			t.Errorf("%s: kind %v, want bad_input", c.name, k)
		}
	}
	_, err := Parse(bytes.NewReader([]byte("GGUX1234")), 8)
	if !errors.Is(err, ErrNotGGUF) {
		t.Errorf("bad magic does not match ErrNotGGUF: %v", err)
	}
	if !errs.Is(err, errs.BadInput) {
		t.Errorf("bad magic: kind %v, want bad_input", errs.KindOf(err))
	}
}

func TestWriterRejects(t *testing.T) {
	w := NewWriter()
	if err := w.AddFloat32("x", []int64{3}, []float32{1, 2}); err == nil {
		t.Error("size mismatch accepted")
	}
	if err := w.AddTensor("q", Q8_0, []int64{31}, make([]byte, 34)); err == nil {
		t.Error("partial Q8_0 block accepted")
	}
	if err := w.AddFloat32("y", []int64{1}, []float32{1}); err != nil {
		t.Fatal(err)
	}
	if err := w.AddFloat32("y", []int64{1}, []float32{1}); err == nil {
		t.Error("duplicate tensor accepted")
	}
}

func TestF16(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := F16ToF32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if back := F32ToF16(f); back != uint16(h) {
			t.Fatalf("%#04x -> %g -> %#04x", h, f, back)
		}
	}
	cases := map[float32]uint16{1: 0x3c00, -2: 0xc000, 65504: 0x7bff, 1e6: 0x7c00, 5.960464477539063e-08: 0x0001, 1.0009765625: 0x3c01,
		1.00048828125: 0x3c00 /* tie to even */, 1.00146484375: 0x3c02 /* tie to even */}
	for f, want := range cases {
		if got := F32ToF16(f); got != want {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x", f, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sample(f))
	if b, err := os.ReadFile("../../testdata/vocab/ggml-vocab-bert-bge.gguf"); err == nil {
		f.Add(b[:4096])
	}
	f.Add([]byte("GGUF\x03\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		gf, err := Parse(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		// A file that parses has every tensor inside it.
		for _, ti := range gf.Tensors {
			if gf.DataOffset+ti.Offset+ti.Size > int64(len(b)) {
				t.Fatalf("tensor %s outside the file", ti.Name)
			}
			if _, _, err := gf.ReadTensor(bytes.NewReader(b), ti.Name); err != nil {
				t.Fatalf("tensor %s: %v", ti.Name, err)
			}
		}
	})
}
