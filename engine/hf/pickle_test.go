package hf

import (
	"archive/zip"
	"path/filepath"
	"testing"

	"github.com/quarry-search/quarry/engine/hf/hftest"
)

func TestDecodeLong(t *testing.T) {
	for _, c := range []struct {
		b    []byte
		want int64
	}{
		{nil, 0}, {[]byte{0xff}, -1}, {[]byte{0x7f}, 127}, {[]byte{0x00, 0x80}, -32768},
		{[]byte{0xff, 0x00}, 255}, {[]byte{1, 0, 0, 0, 0, 0, 0, 0}, 1}, {[]byte{0, 0, 0, 0, 0, 0, 0, 0x80}, -1 << 63},
	} {
		if got, err := decodeLong(c.b); err != nil || got != c.want {
			t.Errorf("decodeLong(%x) = %d, %v; want %d", c.b, got, err, c.want)
		}
	}
	if _, err := decodeLong(make([]byte, 9)); err == nil {
		t.Error("9-byte integer accepted")
	}
}

// torchPickle returns the data.pkl hftest.WriteTorch writes for a few
// tensors.
func torchPickle(t testing.TB) []byte {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.bin")
	ts := []hftest.Tensor{
		{Name: "a.weight", Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}},
		{Name: "b", Shape: []int{}, Data: []float32{7}},
		{Name: "ids", Shape: []int{1, 4}, Ints: []int64{0, 1, 2, 3}},
	}
	if err := hftest.WriteTorch(path, ts, hftest.TorchOptions{}); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Name == "archive/data.pkl" {
			b, err := readZipEntry(f, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatal("no data.pkl")
	return nil
}

func TestUnpickleStateDict(t *testing.T) {
	obj, err := unpickle(torchPickle(t))
	if err != nil {
		t.Fatal(err)
	}
	d, ok := obj.(*pyDict)
	if !ok || len(d.keys) != 3 || d.keys[0] != "a.weight" {
		t.Fatalf("got %#v", obj)
	}
	a := d.m["a.weight"].(*torchTensor)
	if a.storage.dtype != "F32" || a.storage.numel != 6 || len(a.size) != 2 || a.size[1] != 3 || a.stride[0] != 3 {
		t.Errorf("a.weight = %+v %+v", a, a.storage)
	}
	if b := d.m["b"].(*torchTensor); len(b.size) != 0 {
		t.Errorf("b = %+v", b)
	}
	if ids := d.m["ids"].(*torchTensor); ids.storage.dtype != "I64" {
		t.Errorf("ids = %+v", ids.storage)
	}
}

// No input makes the reader panic or run away.
func FuzzUnpickle(f *testing.F) {
	f.Add(torchPickle(f))
	f.Add([]byte("\x80\x02}q\x00."))
	f.Add([]byte("(((((((((t."))
	f.Fuzz(func(t *testing.T, data []byte) {
		unpickle(data)
	})
}
