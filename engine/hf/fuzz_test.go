package hf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/quarry-search/quarry/engine/errs"
)

// safetensorsBytes is a safetensors file: the 8-byte header length, the
// JSON header, the data.
func safetensorsBytes(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

// FuzzSafetensorsHeader feeds arbitrary bytes to the safetensors reader:
// it fails with ErrInvalid (kind bad input) or indexes tensors whose data
// lies inside the file and reads back as as many values as the shape says.
func FuzzSafetensorsHeader(f *testing.F) {
	f.Add(safetensorsBytes(`{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(safetensorsBytes(`{"w":{"dtype":"F16","shape":[1,2],"data_offsets":[0,4]},"ids":{"dtype":"I64","shape":[1],"data_offsets":[4,12]}}`, make([]byte, 12)))
	f.Add(safetensorsBytes(`{"b":{"dtype":"BF16","shape":[],"data_offsets":[0,2]}}`, []byte{0x80, 0x3f}))
	f.Add(safetensorsBytes(`{}`, nil))
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\xff{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ws := &weightSet{format: "safetensors", tensors: map[string]*rawTensor{}}
		err := indexSafetensors(ws, bytes.NewReader(b), int64(len(b)), "fuzz.safetensors")
		if err != nil {
			if !errors.Is(err, ErrInvalid) || !errs.Is(err, errs.BadInput) {
				t.Fatalf("error %v (kind %v), want ErrInvalid of kind bad input", err, errs.KindOf(err))
			}
			return
		}
		for name, rt := range ws.tensors {
			if rt.read == nil {
				continue
			}
			n, ok := numel(rt.shape)
			if !ok {
				t.Fatalf("tensor %s: accepted the bad shape %v", name, rt.shape)
			}
			v, err := rt.read()
			if err != nil {
				t.Fatalf("tensor %s of an accepted header does not read: %v", name, err)
			}
			if len(v) != n {
				t.Fatalf("tensor %s: %d values for shape %v", name, len(v), rt.shape)
			}
		}
	})
}
