package gguf

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"
)

// TestArrayMemory: a metadata array costs about its encoded size when parsed
// (once ~9×: u8/i32 elements widened to 64 bits, plus a read buffer), for
// every element type, and decodes back to the written values.
func TestArrayMemory(t *testing.T) {
	const n = 1 << 20
	for _, c := range []struct {
		et   ValueType
		size int
	}{{TypeUint8, 1}, {TypeInt16, 2}, {TypeInt32, 4}, {TypeFloat32, 4}, {TypeUint64, 8}, {TypeBool, 1}} {
		t.Run(c.et.String(), func(t *testing.T) {
			raw := make([]byte, n*c.size)
			for i := 0; i < n; i++ {
				switch c.size {
				case 1:
					raw[i] = byte(i % 2)
				case 2:
					binary.LittleEndian.PutUint16(raw[2*i:], uint16(i))
				case 4:
					binary.LittleEndian.PutUint32(raw[4*i:], uint32(i*7))
				case 8:
					binary.LittleEndian.PutUint64(raw[8*i:], uint64(i)<<33)
				}
			}
			w := NewWriter()
			w.SetValue("big", Value{Type: TypeArray, ArrayType: c.et, v: rawArray(raw)})
			var buf bytes.Buffer
			if _, err := w.WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			file := buf.Bytes()

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			f, err := Parse(bytes.NewReader(file), int64(len(file)))
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			// The array itself plus the parser's fixed buffers (64 KiB read buffer, maps).
			if limit := uint64(len(raw)) + 256<<10; alloc > limit {
				t.Errorf("parsing a %d-byte %s array allocated %d bytes (%.1f×), want ≤ %d", len(raw), c.et, alloc, float64(alloc)/float64(len(raw)), limit)
			}
			v, _ := f.Get("big")
			if v.Len() != n {
				t.Fatalf("Len = %d, want %d", v.Len(), n)
			}
			// Round trip: written again, the file is byte-identical.
			w2 := NewWriter()
			w2.SetValue("big", v)
			var buf2 bytes.Buffer
			if _, err := w2.WriteTo(&buf2); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf2.Bytes(), file) {
				t.Fatal("array does not round-trip byte for byte")
			}
			switch c.et {
			case TypeInt16:
				a, ok := v.Ints()
				if last := n - 1; !ok || a[last] != int64(int16(uint16(last))) {
					t.Fatalf("Ints()[last] = %v, %v", a[n-1], ok)
				}
			case TypeFloat32:
				a, ok := v.Floats()
				if !ok || len(a) != n {
					t.Fatalf("Floats: %v", ok)
				}
			case TypeUint64:
				a := v.Any().([]uint64)
				if a[n-1] != uint64(n-1)<<33 {
					t.Fatalf("Any()[last] = %d", a[n-1])
				}
			case TypeBool:
				a := v.Any().([]bool)
				if a[0] || !a[1] {
					t.Fatalf("bools %v %v", a[0], a[1])
				}
			}
		})
	}
}
